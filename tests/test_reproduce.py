"""A rerun reuses the cache and rewrites the figures byte for byte (the tour, in smoke mode)."""

import os
import subprocess
import sys

import pytest

from collapse import config, figures

TOUR = config.ROOT / "notebooks" / "00_tour.ipynb"


def run_tour(tmp_path, name):
    out = tmp_path / name
    env = {**os.environ, "COLLAPSE_MODE": "smoke", "TQDM_DISABLE": "1"}
    subprocess.run([sys.executable, "-m", "papermill", "--cwd", str(TOUR.parent), "-p", "mode", "smoke",
                    str(TOUR), str(out)], check=True, env=env, capture_output=True)


@pytest.mark.skipif(not TOUR.exists(), reason="the tour notebook is missing")
def test_rerun_hits_the_cache_and_figures_are_byte_identical(tmp_path):
    results_dir, figures_dir = config.output_dirs("smoke")
    names = [n for n, entry in figures.registry().items() if entry["notebook"] == TOUR.name]
    run_tour(tmp_path, "first.ipynb")
    sidecar = results_dir / "tour.json"
    first_meta = sidecar.read_bytes()
    first = {n: [(figures_dir / f"{n}.{ext}").read_bytes() for ext in ("pdf", "png")] for n in names}
    run_tour(tmp_path, "second.ipynb")
    assert sidecar.read_bytes() == first_meta, "the second run recomputed instead of using the cache"
    assert {n: [(figures_dir / f"{n}.{ext}").read_bytes() for ext in ("pdf", "png")] for n in names} == first
