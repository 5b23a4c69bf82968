"""The one executor of independent jobs (one alpha, one run, one setting), each cached under its own inputs.

``run_jobs(fn, jobs)`` is ``[fn(**job) for job in jobs]`` where every job already computed is read back
instead of run: adding one alpha to a sweep computes one job, and a killed sweep keeps every finished one.
A job's key is its function, its inputs and the source of the library code the function can reach
(:mod:`collapse.infra.cache`). A function that takes ``checkpoints`` gets a per-job directory and can
resume mid-job. Jobs run in local worker processes (one BLAS thread each) that die with their parent, or on a
Dask cluster when ``$COLLAPSE_SCHEDULER`` names its scheduler (``tcp://host:8786``).
"""

from __future__ import annotations

import fcntl
import inspect
import logging
import multiprocessing
import os
import shutil
import signal
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from pathlib import Path

from tqdm.auto import tqdm

from collapse.infra import config
from collapse.infra.cache import Checkpoints, DataFile, atomic_write_bytes, code_version, digest

log = logging.getLogger("collapse")


def run_jobs(fn, jobs: list[dict], workers: int | None = None, desc: str = "jobs") -> list:
    """``[fn(**job) for job in jobs]``, each job read from the job cache when it ran before, the others
    spread over ``workers`` processes (default ``$COLLAPSE_WORKERS``). ``fn`` must live in the library,
    since workers are spawned fresh."""
    paths = [job_path(fn, job) for job in jobs]
    results = [DataFile(path).load() for path in paths]
    if _OPEN_TALLIES[0]:
        _TALLY.extend(paths)
    todo = [i for i, result in enumerate(results) if result is None]
    log.info("%s: %d of %d jobs cached, computing %d", desc, len(jobs) - len(todo), len(jobs), len(todo))
    if todo:
        _compute(fn, jobs, paths, results, todo, workers, desc)
    for recording in _RECORDINGS:
        outputs = recording.setdefault(f"{fn.__module__}.{fn.__qualname__}", {})
        outputs.update({digest(job): digest({"output": result}) for job, result in zip(jobs, results)})
    return results


def _compute(fn, jobs, paths, results, todo, workers, desc) -> None:
    """Run the jobs ``todo`` (indices), filling ``results`` in place."""
    workers = min(workers or config.default_workers(), len(todo))
    start, bar = time.perf_counter(), tqdm(total=len(todo), desc=desc, disable=not config.show_progress())
    if workers <= 1 and not config.scheduler():
        for done, i in enumerate(todo, 1):
            results[i] = run_one(fn, jobs[i], paths[i])
            _report(desc, done, len(todo), start, bar)
    else:
        with executor(workers) as pool:
            futures = {pool.submit(run_one, fn, jobs[i], paths[i]): i for i in todo}
            for done, future in enumerate(as_completed(futures), 1):
                results[futures[future]] = future.result()
                _report(desc, done, len(todo), start, bar)
    bar.close()


_RECORDINGS: list[dict] = []


@contextmanager
def recording():
    """Digests of the output of every job that ``run_jobs`` returns inside the block, as
    ``{"module.function": {job digest: output digest}}``: a probe's fingerprint (:mod:`collapse.infra.probe`)."""
    outputs: dict[str, dict[str, str]] = {}
    _RECORDINGS.append(outputs)
    try:
        yield outputs
    finally:
        _RECORDINGS.remove(outputs)


@contextmanager
def executor(workers: int):
    """Where a sweep's jobs run: the Dask cluster whose scheduler ``$COLLAPSE_SCHEDULER`` names (its workers must
    see the same ``$COLLAPSE_CACHE``; a job lost with its worker is rerun elsewhere), else ``workers`` local
    processes that die with this one. Either way a concurrent.futures executor."""
    address = config.scheduler()
    if not address:
        context = multiprocessing.get_context("spawn")  # fork is unsafe inside a threaded Jupyter kernel
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                                 initargs=(os.getpid(),)) as pool:
            yield pool
        return
    from dask.distributed import Client

    with Client(address) as client:
        log.info("jobs run on the Dask cluster at %s; dashboard %s", address, client.dashboard_link)
        client.register_plugin(_one_thread_plugin(), name="collapse-one-thread")  # workers that join later too
        yield client.get_executor(pure=False, retries=1)


def _one_thread_plugin():
    from dask.distributed import WorkerPlugin

    class OneThread(WorkerPlugin):
        """Every worker of the cluster, present or future (a restarted or scaled-in one), runs one BLAS thread."""

        def setup(self, worker):
            _one_quiet_thread()

    return OneThread()


def job_path(fn, job: dict) -> Path:
    """Where ``fn(**job)`` is cached: ``<cache>/jobs/<module.function>/<key>.pt``."""
    name = f"{fn.__module__}.{fn.__qualname__}"
    key = digest({"function": name, "inputs": job, "code": code_version([fn.__module__])})
    return config.cache_dir() / "jobs" / name / f"{key}{DataFile.SUFFIX}"


def run_one(fn, job: dict, path: Path):
    """Run one job (with its checkpoint directory if ``fn`` takes one), cache its result and record its time. A job
    runs once at a time: a second run of it (another notebook, another user of a shared cache) waits for the first
    and reads its result; the checkpoints of a finished job are removed."""
    path, checkpoints = Path(path), Path(path).with_suffix(".checkpoints")
    with _locked(path.with_suffix(".lock")):
        done = DataFile(path).load()
        if done is not None:
            return done
        if "checkpoints" in inspect.signature(fn).parameters:
            job = {**job, "checkpoints": Checkpoints(checkpoints)}
        start = time.perf_counter()
        result = fn(**job)
        # the time first: a result on disk then always has its time beside it
        atomic_write_bytes(path.with_suffix(".seconds"), f"{time.perf_counter() - start:.1f}\n".encode())
        DataFile(path).save(result)
        shutil.rmtree(checkpoints, ignore_errors=True)
    return result


@contextmanager
def _locked(path: Path):
    """An exclusive lock on ``path`` (created if need be), released when the block ends or the process dies."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


_TALLY: list[Path] = []  # the job files run_jobs used while a tally() is open
_OPEN_TALLIES = [0]


@contextmanager
def tally():
    """Collect the jobs that run_jobs uses inside the block; the function it yields returns their total compute
    time, whether they ran now or were read from the cache (None if a job's time was never recorded: it ran
    before times were)."""
    start = len(_TALLY)

    def seconds() -> float | None:
        times = [Path(path).with_suffix(".seconds") for path in dict.fromkeys(_TALLY[start:])]  # each job once
        if not all(t.exists() for t in times):
            return None
        return round(sum(float(t.read_text()) for t in times), 1)

    _OPEN_TALLIES[0] += 1
    try:
        yield seconds
    finally:
        _OPEN_TALLIES[0] -= 1
        if not _OPEN_TALLIES[0]:
            _TALLY.clear()


def _report(desc, done, total, start, bar):
    """Update the bar; log a line at each tenth of the jobs (every job when there are few)."""
    elapsed = time.perf_counter() - start
    bar.update()
    if done == total or done % max(1, total // 10) == 0:
        log.info("%s: %d of %d jobs done after %.0f s, about %.0f s left", desc, done, total, elapsed,
                 elapsed / done * (total - done))


def _init_worker(parent: int):
    die_with(parent)
    _one_quiet_thread()


def _one_quiet_thread():
    os.environ["COLLAPSE_PROGRESS"] = "0"  # the parent's bar counts jobs; workers' bars would interleave
    config.set_threads(1)


def die_with(parent: int, how: int = signal.SIGKILL):
    """Ask the operating system to send ``how`` to this process when its parent dies (a killed kernel, papermill
    or ``collapse reproduce`` must not leave workers computing)."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, how)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)
