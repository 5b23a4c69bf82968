"""Modes, the one table of experiment sizes, output locations and thread settings.

Every notebook reads one mode: ``smoke`` (CI: every code path at tiny size), ``full`` (the default:
statistically meaningful on a 2-core CPU) or ``paper`` (the paper's own sizes, for a GPU). The mode
comes from the notebook's ``mode`` parameter when papermill sets it, else from ``$COLLAPSE_MODE``,
else ``full``.
"""

from __future__ import annotations

import os
from pathlib import Path

MODES = ("smoke", "full", "paper")
DEFAULT_MODE = "full"

ROOT = Path(__file__).resolve().parents[2]
"""The repository root (the library lives in ``ROOT/lib/collapse``)."""

# Sizes per experiment and mode. Scientific parameters (alpha grids, bandwidths) live in the
# notebooks' parameter cells; only what scales the cost lives here.
SIZES: dict[str, dict[str, dict]] = {
    "tour": {
        "smoke": dict(n=150, generations=3, steps=40, seeds=1, kl_samples=1_000),
        "full": dict(n=1_000, generations=10, steps=500, seeds=3, kl_samples=20_000),
        "paper": dict(n=10_000, generations=20, steps=500, seeds=10, kl_samples=100_000),
    },
    "single_generation": {
        "smoke": dict(steps=60, grid_points=321, n_paths=4_000, n_betas=4),
        "full": dict(steps=500, grid_points=1_601, n_paths=50_000, n_betas=10),
        "paper": dict(steps=500, grid_points=3_201, n_paths=200_000, n_betas=16),
    },
    "error_accumulation": {
        "smoke": dict(grid_points=401, generations=20, replicates=4, long_generations=100, long_replicates=2),
        "full": dict(grid_points=1_601, generations=40, replicates=50, long_generations=2_000, long_replicates=20),
        "paper": dict(grid_points=3_201, generations=60, replicates=200, long_generations=10_000, long_replicates=50),
    },
    # accumulate workflows refit on a pool of n (t + 1) points; they run where n d^2 <= max_pool_cost
    "collapse_or_thrive": {
        "smoke": dict(dims=(1, 3, 10), ns=(10, 32, 100), iterations=20, seeds=40, max_pool_cost=10_000,
                      kde_ns=(10, 32), kde_iterations=20, kde_seeds=4, test_points=200, nll_every=5),
        "full": dict(dims=(1, 3, 10, 31, 100), ns=(10, 32, 100, 316, 1000), iterations=100, seeds=100,
                     max_pool_cost=200_000, kde_ns=(10, 32, 100, 316, 1000), kde_iterations=100, kde_seeds=10,
                     test_points=300, nll_every=20),
        "paper": dict(dims=(1, 3, 10, 31, 100), ns=(10, 32, 100, 316, 1000), iterations=100, seeds=1000,
                      max_pool_cost=10**12, kde_ns=(10, 32, 100, 316, 1000), kde_iterations=100, kde_seeds=100,
                      test_points=1000, nll_every=5),
    },
}


def resolve_mode(mode: str | None = None) -> str:
    """The mode to run in: ``mode`` if given, else ``$COLLAPSE_MODE``, else ``full``."""
    chosen = mode if mode is not None else os.environ.get("COLLAPSE_MODE") or DEFAULT_MODE
    if chosen not in MODES:
        source = "mode" if mode is not None else "COLLAPSE_MODE"
        raise ValueError(f"{source}={chosen!r} is not a mode; use one of {', '.join(MODES)}")
    return chosen


def sizes(experiment: str, mode: str | None = None) -> dict:
    """The sizes of ``experiment`` in ``mode`` (a copy: callers may adjust it)."""
    if experiment not in SIZES:
        raise KeyError(f"experiment={experiment!r} has no sizes; add it to collapse.config.SIZES")
    return dict(SIZES[experiment][resolve_mode(mode)])


def output_dirs(mode: str) -> tuple[Path, Path]:
    """(results, figures) directories for ``mode``.

    Full mode writes the committed ``data/results`` and ``figures``; paper mode writes beside them in
    ``paper/`` subfolders; smoke mode writes under the ignored ``build/smoke`` so that a CI run never
    overwrites a full-mode result or figure.
    """
    mode = resolve_mode(mode)
    if mode == "full":
        return ROOT / "data" / "results", ROOT / "figures"
    if mode == "paper":
        return ROOT / "data" / "results" / "paper", ROOT / "figures" / "paper"
    return ROOT / "build" / "smoke" / "results", ROOT / "build" / "smoke" / "figures"


def cache_dir() -> Path:
    """Where per-generation checkpoints live (ignored by git; safe to delete)."""
    return Path(os.environ.get("COLLAPSE_CACHE", ROOT / "data" / "cache"))


def default_threads() -> int:
    """BLAS/torch threads per process: ``$COLLAPSE_THREADS``, default 1 (oversubscribing 2 cores
    was measured to slow runs by up to 70x)."""
    return _positive_int_env("COLLAPSE_THREADS", 1)


def default_workers() -> int:
    """Worker processes for independent jobs (seeds, alphas): ``$COLLAPSE_WORKERS``, default the
    number of cores."""
    return _positive_int_env("COLLAPSE_WORKERS", os.cpu_count() or 1)


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
