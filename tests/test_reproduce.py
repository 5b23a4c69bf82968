"""Whole-notebook runs of the tour: a run with any non-default input writes only under the exploration folder, never
over the committed set, and a rerun reads the store and redraws byte-identical figures. The two runs are shared by
both tests (each run of the notebook costs a kernel start and every figure)."""

import hashlib
import os
import subprocess
import sys

import pytest

from collapse import Experiment
from collapse.infra import config, figures
from collapse.infra.config import notebook_defaults

TOUR = config.ROOT / "notebooks" / "00_tour.ipynb"
COMMITTED = [config.ROOT / "data" / "results", config.ROOT / "figures", config.ROOT / "notebooks" / "executed"]
SIZES = dict(n=60, generations=2, steps=10, seeds=1, kl_samples=200)  # not the full table's: an exploration run


def run_tour(folder, name):
    env = {**os.environ, "COLLAPSE_MODE": "full", "TQDM_DISABLE": "1", "COLLAPSE_FIGURES": "1"}
    subprocess.run([sys.executable, "-m", "papermill", "--cwd", str(TOUR.parent), "-p", "mode", "full",
                    "-y", f"sizes: {SIZES}", str(TOUR), str(folder / name)], check=True, env=env, capture_output=True)


def tree_digest(folders) -> dict:
    return {path: hashlib.sha256(path.read_bytes()).hexdigest()
            for folder in folders for path in sorted(folder.rglob("*")) if path.is_file()}


@pytest.fixture(scope="module")
def explored(tmp_path_factory):
    """The tour run twice with non-default sizes: what it stored and drew after each run, and the committed set's
    digest before and after both."""
    if not TOUR.exists():
        pytest.skip("the tour notebook is missing")
    folder, exp = tmp_path_factory.mktemp("tour"), Experiment("tour", "full", **notebook_defaults("tour"), sizes=SIZES)
    names = [n for n, entry in figures.registry().items() if entry["notebook"] == TOUR.name]

    def outputs():
        return {"sidecar": (exp.results_dir / "compute.json").read_bytes(),
                "figures": {n: [(exp.figures_dir / f"{n}.{ext}").read_bytes() for ext in ("pdf", "png")]
                            for n in names}}

    before = tree_digest(COMMITTED)
    run_tour(folder, "first.ipynb")
    first = outputs()
    run_tour(folder, "second.ipynb")
    return dict(exp=exp, before=before, after=tree_digest(COMMITTED), first=first, second=outputs())


def test_a_non_default_run_changes_no_committed_file(explored):
    assert explored["after"] == explored["before"]
    exp = explored["exp"]
    assert exp.results_dir.is_relative_to(config.EXPLORE) and (exp.results_dir / "compute.nc").exists()


def test_rerun_reads_the_store_and_figures_are_byte_identical(explored):
    first, second = explored["first"], explored["second"]
    assert second["sidecar"] == first["sidecar"], "the second run recomputed instead of reading the store"
    assert second["figures"] == first["figures"]
