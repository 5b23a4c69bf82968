"""Modes, the one table of experiment sizes, output locations and thread settings.

Every notebook reads one mode: ``smoke`` (CI: every code path at tiny size), ``full`` (the default:
statistically meaningful on a 2-core CPU) or ``paper`` (the paper's own sizes, for a GPU). The mode
comes from the notebook's ``mode`` parameter when papermill sets it, else from ``$COLLAPSE_MODE``,
else ``full``.
"""

from __future__ import annotations

import ast
import json
import os
import tomllib
from functools import cache
from pathlib import Path

MODES = ("smoke", "full", "paper")
DEFAULT_MODE = "full"

ROOT = Path(__file__).resolve().parents[3]
"""The repository root (the library lives in ``ROOT/lib/collapse/infra``)."""

SIZES_FILE = Path(__file__).with_name("sizes.toml")
"""The one table of sizes per experiment and mode. A data file, not code: results record their sizes in
their parameters, so the cache follows it, and adding an experiment never changes another's code version."""


def resolve_mode(mode: str | None = None) -> str:
    """The mode to run in: ``mode`` if given, else ``$COLLAPSE_MODE``, else ``full``."""
    chosen = mode if mode is not None else os.environ.get("COLLAPSE_MODE") or DEFAULT_MODE
    if chosen not in MODES:
        source = "mode" if mode is not None else "COLLAPSE_MODE"
        raise ValueError(f"{source}={chosen!r} is not a mode; use one of {', '.join(MODES)}")
    return chosen


def sizes(experiment: str, mode: str | None = None) -> dict:
    """The sizes of ``experiment`` in ``mode`` (a copy: callers may adjust it)."""
    table = size_table()
    if experiment not in table:
        raise KeyError(f"experiment={experiment!r} has no sizes; add a [{experiment}.<mode>] table to {SIZES_FILE}")
    return dict(table[experiment][resolve_mode(mode)])


def probe_sizes(experiment: str) -> dict:
    """The sizes a probe runs ``experiment`` at (:mod:`collapse.infra.probe`): its smoke sizes with its ``probe``
    table on top, which raises counts past the code's size thresholds so the probe takes a full run's paths."""
    table = size_table()[experiment]
    return {**table["smoke"], **table.get("probe", {})}


@cache
def size_table() -> dict[str, dict[str, dict]]:
    with SIZES_FILE.open("rb") as f:
        return tomllib.load(f)


TRAINING_FILE = Path(__file__).with_name("training.toml")
"""Learning rates, batch sizes and architectures per experiment and mode: not sizes, so kept apart."""


def training(experiment: str, mode: str | None = None) -> dict:
    """The training settings of ``experiment`` in ``mode`` (empty for experiments that train nothing)."""
    with TRAINING_FILE.open("rb") as f:
        return dict(tomllib.load(f).get(experiment, {}).get(resolve_mode(mode), {}))


EXPERIMENTS_FILE = Path(__file__).with_name("experiments.toml")
"""One declaration per experiment (its notebook, job functions, work and data); every list of experiments derives
from it."""


@cache
def experiments() -> dict[str, dict]:
    with EXPERIMENTS_FILE.open("rb") as f:
        return tomllib.load(f)


NOTEBOOKS = {name: declared["notebook"] for name, declared in experiments().items()}
"""The notebook of each experiment: its parameters cell holds the defaults that make a run canonical."""

def notebook_defaults(experiment: str) -> dict:
    """The parameters cell of ``experiment``'s notebook, ``mode`` and ``sizes`` aside."""
    return {k: v for k, v in parameters_cell(NOTEBOOKS[experiment]).items() if k not in ("mode", "sizes")}


@cache
def parameters_cell(notebook: str) -> dict:
    cells = json.loads((ROOT / "notebooks" / notebook).read_text())["cells"]
    cell = next(c for c in cells if "parameters" in c.get("metadata", {}).get("tags", []))
    tree = ast.parse("".join(cell["source"]))
    return {node.targets[0].id: ast.literal_eval(node.value) for node in tree.body}


def notebook_path(name: str) -> Path:
    """``name`` as a notebook of ``notebooks/``: ``03``, ``03_gmm_recursive_diffusion`` or its file name."""
    matches = sorted(p for p in (ROOT / "notebooks").glob("[0-9]*.ipynb") if p.name == name or p.stem == name
                     or p.name.startswith(f"{name}_"))
    if len(matches) != 1:
        known = ", ".join(p.stem for p in sorted((ROOT / "notebooks").glob("[0-9]*.ipynb")))
        raise SystemExit(f"notebook {name!r} is {'ambiguous' if matches else 'unknown'}; use one of: {known}")
    return matches[0]


def executed_notebooks() -> list[Path]:
    """The committed executed copies, which a strict nbval run checks."""
    return sorted((ROOT / "notebooks" / "executed").glob("[0-9]*.ipynb"))


def canonical_dirs(experiment: str, mode: str) -> tuple[Path, Path]:
    """(results, figures) of the committed set: what ``make reproduce`` writes with default parameters.
    Full mode writes ``data/results/<experiment>`` and ``figures``; paper mode ``paper/`` subfolders."""
    if mode == "full":
        return ROOT / "data" / "results" / experiment, ROOT / "figures"
    if mode == "paper":
        return ROOT / "data" / "results" / "paper" / experiment, ROOT / "figures" / "paper"
    raise ValueError(f"mode={mode!r} has no committed set; smoke runs write under {EXPLORE}")


def stored_result(folder: Path) -> Path | None:
    """The result in ``folder``: one ``.nc`` named after the notebook's compute function (``compute``,
    ``compute_range``, ...), or None."""
    found = sorted(folder.glob("compute*.nc"))
    return found[0] if found else None


EXPLORE = ROOT / "build" / "explore"
"""Ignored: every run that is not canonical (smoke mode, or any non-default parameter or size) writes here,
one folder per mode, experiment and parameter set."""


def cache_dir() -> Path:
    """The job cache and per-generation checkpoints (ignored by git; safe to delete; shared storage when jobs
run on a cluster): ``$COLLAPSE_CACHE``, default ``data/cache``."""
    return Path(os.environ.get("COLLAPSE_CACHE", ROOT / "data" / "cache"))


def default_threads() -> int:
    """BLAS/torch threads per process: ``$COLLAPSE_THREADS``, default 1 (oversubscribing 2 cores
    was measured to slow runs by up to 70x)."""
    return _positive_int_env("COLLAPSE_THREADS", 1)


def default_workers() -> int:
    """Worker processes for independent jobs (seeds, alphas): ``$COLLAPSE_WORKERS``, default the
    number of cores."""
    return _positive_int_env("COLLAPSE_WORKERS", os.cpu_count() or 1)


def scheduler() -> str | None:
    """The address of a Dask scheduler that runs the jobs of every sweep (``tcp://host:8786``, e.g. a
    ``dask-jobqueue`` cluster's ``scheduler_address``): ``$COLLAPSE_SCHEDULER``; unset, jobs run in local
    processes."""
    return os.environ.get("COLLAPSE_SCHEDULER") or None


def probing() -> bool:
    """True inside a probe run (``$COLLAPSE_PROBE`` names the experiment probed, set by :mod:`collapse.infra.probe`):
    a notebook runs at its probe sizes up to that experiment's computation, whose job outputs are digested instead of
    stored (another experiment of the notebook computed on the way is kept under build/explore/probe/)."""
    return bool(os.environ.get("COLLAPSE_PROBE"))


def probed() -> str | None:
    """The experiment a probe run fingerprints (see :func:`probing`)."""
    return os.environ.get("COLLAPSE_PROBE") or None


def store_only() -> bool:
    """True when a result missing from the store is an error rather than a computation (``$COLLAPSE_STORE_ONLY=1``:
    the strict stage of ``make test``, which must never start hours of work)."""
    return os.environ.get("COLLAPSE_STORE_ONLY") == "1"


def write_figures() -> bool:
    """Whether ``Experiment.save_figure`` writes files: not in the store-only strict stage (it checks what notebooks
    print and writes nothing), nor where ``$COLLAPSE_FIGURES=0`` (figures drawn inline only: `make test`'s smoke
    stage, whose figure files nobody reads; a run through ``python -m collapse`` always writes them)."""
    return not store_only() and os.environ.get("COLLAPSE_FIGURES") != "0"


def show_progress() -> bool:
    """Progress bars on, unless ``$COLLAPSE_PROGRESS=0`` (set by ``make`` so that executed notebooks
    hold no frozen bars, and in worker processes, whose bars would interleave)."""
    return os.environ.get("COLLAPSE_PROGRESS", "1") != "0"


def set_threads(n: int | None = None) -> int:
    """Limit BLAS (via threadpoolctl) and torch to ``n`` threads in this process."""
    n = default_threads() if n is None else n
    if n < 1:
        raise ValueError(f"threads={n} must be at least 1")
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)  # for libraries loaded later, and for child processes
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=n)
    import sys

    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)
    return n


def _positive_int_env(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"{name}={raw!r} must be a positive integer")
    return value


def console_log():
    """The library's logger (``collapse``): progress lines, cache reads and recomputations, to the console and
    never into a notebook. Inside a Jupyter kernel ``sys.stderr.fileno()`` is the kernel's original stderr (the
    terminal running papermill or JupyterLab), not the pipe whose output lands in cells."""
    import logging
    import sys

    log = logging.getLogger("collapse")
    if not log.handlers:
        try:
            fd = sys.stderr.fileno()
        except (AttributeError, OSError, ValueError):
            fd = 2
        handler = logging.StreamHandler(os.fdopen(os.dup(fd), "w", buffering=1))
        handler.setFormatter(logging.Formatter("[collapse %(asctime)s] %(message)s", "%H:%M:%S"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    return log
