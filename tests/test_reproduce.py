"""Whole-notebook runs of the tour: a rerun reads the store and redraws byte-identical figures; a run with any
non-default input writes only under the exploration folder, never over the committed set."""

import hashlib
import os
import subprocess
import sys

import pytest

from collapse import Experiment
from collapse.infra import config, figures
from collapse.infra.experiment import notebook_defaults

TOUR = config.ROOT / "notebooks" / "00_tour.ipynb"
COMMITTED = [config.ROOT / "data" / "results", config.ROOT / "figures", config.ROOT / "notebooks" / "executed"]


def run_tour(tmp_path, name, mode, *papermill_args):
    env = {**os.environ, "COLLAPSE_MODE": mode, "TQDM_DISABLE": "1"}
    subprocess.run([sys.executable, "-m", "papermill", "--cwd", str(TOUR.parent), "-p", "mode", mode,
                    *papermill_args, str(TOUR), str(tmp_path / name)], check=True, env=env, capture_output=True)


def tree_digest(folders) -> dict:
    return {path: hashlib.sha256(path.read_bytes()).hexdigest()
            for folder in folders for path in sorted(folder.rglob("*")) if path.is_file()}


@pytest.mark.skipif(not TOUR.exists(), reason="the tour notebook is missing")
def test_rerun_reads_the_store_and_figures_are_byte_identical(tmp_path):
    exp = Experiment("tour", "smoke", **notebook_defaults("tour"))
    names = [n for n, entry in figures.registry().items() if entry["notebook"] == TOUR.name]
    run_tour(tmp_path, "first.ipynb", "smoke")
    sidecar = exp.results_dir / "compute.json"
    first_meta = sidecar.read_bytes()
    first = {n: [(exp.figures_dir / f"{n}.{ext}").read_bytes() for ext in ("pdf", "png")] for n in names}
    run_tour(tmp_path, "second.ipynb", "smoke")
    assert sidecar.read_bytes() == first_meta, "the second run recomputed instead of reading the store"
    assert {n: [(exp.figures_dir / f"{n}.{ext}").read_bytes() for ext in ("pdf", "png")] for n in names} == first


@pytest.mark.skipif(not TOUR.exists(), reason="the tour notebook is missing")
def test_a_non_default_full_mode_run_changes_no_committed_file(tmp_path):
    sizes = dict(n=60, generations=2, steps=10, seeds=1, kl_samples=200)
    before = tree_digest(COMMITTED)
    run_tour(tmp_path, "explore.ipynb", "full", "-y", f"sizes: {sizes}")
    assert tree_digest(COMMITTED) == before
    exp = Experiment("tour", "full", **notebook_defaults("tour"), sizes=sizes)
    assert (exp.results_dir / "compute.nc").exists() and (exp.figures_dir / "figS2_tour_drift.png").exists()
