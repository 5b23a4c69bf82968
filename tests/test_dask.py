"""Sweeps on a Dask cluster: the same results as the serial and process-pool runs, a job lost with its worker is
rerun, and finished jobs are read from the job cache instead of recomputed."""

import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from collapse.infra import config
from collapse.infra.jobs import run_jobs

distributed = pytest.importorskip("dask.distributed")


def draw(seed: int, folder: str, slow: bool = False):
    """A seeded job that leaves a file per attempt (to count runs) and, asked to, stalls on its first attempt."""
    attempts = sorted(Path(folder).glob(f"{seed}-*"))
    (Path(folder) / f"{seed}-{os.getpid()}-{len(attempts)}").touch()
    if slow and not attempts:
        time.sleep(180)  # longer than the killer waits: this attempt ends by being killed
    return np.random.default_rng(seed).standard_normal(3)


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  silence_logs=40) as cluster:
        yield cluster


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "cache_dir", lambda: tmp_path / "cache")
    (tmp_path / "runs").mkdir()
    return tmp_path


def attempts(folder: Path) -> int:
    return len(list((folder / "runs").iterdir()))


def test_serial_process_pool_and_dask_give_identical_results(cache, cluster, monkeypatch):
    monkeypatch.delenv("COLLAPSE_SCHEDULER", raising=False)  # serial and pool first, whatever the shell exports
    jobs = [dict(seed=s, folder=str(cache / "runs")) for s in range(4)]
    serial = run_jobs(draw, jobs, workers=1)
    monkeypatch.setattr(config, "cache_dir", lambda: cache / "pool")
    pooled = run_jobs(draw, jobs, workers=2)
    monkeypatch.setattr(config, "cache_dir", lambda: cache / "dask")
    monkeypatch.setenv("COLLAPSE_SCHEDULER", cluster.scheduler_address)
    on_dask = run_jobs(draw, jobs)
    assert all(np.array_equal(a, b) and np.array_equal(a, c) for a, b, c in zip(serial, pooled, on_dask))
    assert attempts(cache) == 12
    run_jobs(draw, jobs)  # finished jobs come from the cache: nothing runs again
    assert attempts(cache) == 12


def test_a_job_lost_with_its_worker_is_rerun_with_the_same_result(cache, cluster, monkeypatch):
    monkeypatch.setenv("COLLAPSE_SCHEDULER", cluster.scheduler_address)
    runs = cache / "runs"
    (cache / "here").mkdir()
    expected = draw(7, str(cache / "here"))  # the same job run here, into a folder of its own
    with distributed.Client(cluster.scheduler_address) as client:
        future = client.submit(_killer, str(runs), pure=False)  # kills the worker of the stalled job
        result = run_jobs(draw, [dict(seed=7, folder=str(runs), slow=True)])
        future.cancel()
    assert np.array_equal(result[0], expected)
    pids = {p.name.split("-")[1] for p in runs.iterdir()}
    assert len(pids) == 2, "the job ran once on the killed worker and once elsewhere"


def _killer(folder: str):
    deadline = time.time() + 120  # the stalled job may wait for a free worker on a loaded machine
    while time.time() < deadline:
        started = list(Path(folder).glob("7-*"))
        if started:
            os.kill(int(started[0].name.split("-")[1]), signal.SIGKILL)
            return
        time.sleep(0.05)
