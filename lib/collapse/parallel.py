"""Independent jobs (seeds, alphas) in worker processes, one BLAS thread each."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

from tqdm.auto import tqdm

from . import config


def run_jobs(fn, jobs: list[dict], workers: int | None = None, desc: str = "jobs") -> list:
    """``[fn(**job) for job in jobs]``, spread over ``workers`` processes (default $COLLAPSE_WORKERS).

    ``fn`` must be importable (defined in the library), since workers are spawned fresh.
    """
    workers = min(workers or config.default_workers(), len(jobs))
    if workers <= 1:
        return [fn(**job) for job in tqdm(jobs, desc=desc, disable=not config.show_progress())]
    context = multiprocessing.get_context("spawn")  # fork is unsafe inside a threaded Jupyter kernel
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker) as pool:
        futures = [pool.submit(fn, **job) for job in jobs]
        return [f.result() for f in tqdm(futures, desc=desc, disable=not config.show_progress())]


def _init_worker():
    os.environ["COLLAPSE_PROGRESS"] = "0"  # the parent's bar counts jobs; workers' bars would interleave
    config.set_threads(1)
