"""Independent jobs (seeds, alphas) in worker processes, one BLAS thread each."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor

from tqdm.auto import tqdm

from . import config


def run_jobs(fn, jobs: list[dict], workers: int | None = None, desc: str = "jobs") -> list:
    """``[fn(**job) for job in jobs]``, spread over ``workers`` processes (default $COLLAPSE_WORKERS).

    ``fn`` must be importable (defined in the library), since workers are spawned fresh.
    """
    workers = min(workers or config.default_workers(), len(jobs))
    if workers <= 1:
        return [fn(**job) for job in tqdm(jobs, desc=desc, disable=None)]
    context = multiprocessing.get_context("spawn")  # fork is unsafe inside a threaded Jupyter kernel
    with ProcessPoolExecutor(workers, mp_context=context, initializer=config.set_threads, initargs=(1,)) as pool:
        futures = [pool.submit(fn, **job) for job in jobs]
        return [f.result() for f in tqdm(futures, desc=desc, disable=None)]  # None: on a terminal only
