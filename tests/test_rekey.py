"""Verified re-keying and the store-only strict stage, on a scratch copy of the library with notebook 00's result.

The copy is a git repository of its own (rekey finds the old source of a changed module there), its tour probe cut to
smoke sizes so that each probe takes seconds; its fingerprint is recorded once, then each test edits the library,
runs the command line as a user would, and restores the copy.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from collapse.infra import config

TOUR = "lib/collapse/studies/tour.py"
SIDECAR = "data/results/tour/compute.json"


def _run(copy: Path, *args, env=None):
    environment = {**os.environ, "PYTHONPATH": str(copy / "lib"), "COLLAPSE_CACHE": str(copy / "cache"), **(env or {})}
    environment.pop("COLLAPSE_MODE", None)  # pytest runs in smoke mode; the committed result is full mode's
    return subprocess.run(args, cwd=copy, env=environment, capture_output=True, text=True)


def _git(copy: Path, *args):
    subprocess.run(["git", "-C", str(copy), *args], check=True, capture_output=True)


@pytest.fixture(scope="module")
def copy(tmp_path_factory):
    root = tmp_path_factory.mktemp("rekey")
    shutil.copytree(config.ROOT / "lib", root / "lib", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for path in ("notebooks/00_tour.ipynb", "notebooks/executed/00_tour.ipynb", "data/results/tour"):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if (config.ROOT / path).is_dir() else shutil.copy)(config.ROOT / path, root / path)
    sizes = root / "lib/collapse/infra/sizes.toml"
    sizes.write_text(sizes.read_text().replace("[tour.probe]\nn = 1000\ngenerations = 2", "[tour.probe]\n"))
    recorded = _run(root, sys.executable, "-m", "collapse", "probe", "00")
    assert recorded.returncode == 0 and "probe recorded" in recorded.stdout, recorded.stdout + recorded.stderr
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "scratch")
    yield root


@pytest.fixture
def edit(copy):
    """Replace text in the copy's tour study; the copy is restored afterwards."""
    def change(old, new):
        path = copy / TOUR
        assert old in path.read_text()
        path.write_text(path.read_text().replace(old, new))

    yield change
    _git(copy, "checkout", "-q", "--", ".")


def test_a_refactor_that_moves_no_number_is_rekeyed_without_a_recompute(copy, edit):
    before = json.loads((copy / SIDECAR).read_text())
    edit("    laws = population_recursion(data, alpha, bandwidth, t0, generations)\n",
         "    recursion = population_recursion\n    laws = recursion(data, alpha, bandwidth, t0, generations)\n")
    edit("def population(", "def half(x):  # new and never called: only a changed line could call it\n"
                            "    return x / 2\n\n\ndef population(")
    done = _run(copy, sys.executable, "-m", "collapse", "rekey", "00")
    assert done.returncode == 0 and "re-keyed" in done.stdout, done.stdout + done.stderr
    after = json.loads((copy / SIDECAR).read_text())
    assert after["key"] != before["key"] and after["sha256"] == before["sha256"]  # the same bytes, a new key
    assert after["rekeyed"][-1] == {"from": before["key"], "to": after["key"], "changed": ["collapse.studies.tour"],
                                    "commit": after["rekeyed"][-1]["commit"]}
    assert not (copy / "cache" / "jobs").exists()  # nothing was computed at full size


def test_an_output_that_moves_and_a_changed_line_the_probe_does_not_run_are_refused_by_name(copy, edit):
    """One probe run for both refusals: a moved output names its job function, an unexecuted changed line its place
    (the `if` lines run, the raise is exempt: a run that reaches it stops)."""
    edit("kl_monte_carlo(learner.target(), data, kl_samples, rng)",
         "kl_monte_carlo(learner.target(), data, kl_samples + 1, rng)")
    seeded = "    rng = np.random.default_rng([seed, 10**6])\n"
    edit(seeded, "    if kl_samples < 0:\n        kl_samples = -kl_samples\n"
                 "    if kl_samples == 0:\n        raise ValueError('kl_samples')\n" + seeded)
    refused = _run(copy, sys.executable, "-m", "collapse", "rekey", "00")
    assert refused.returncode == 1, refused.stdout
    reasons = [line.strip() for line in refused.stdout.splitlines()[1:]]
    row = (copy / TOUR).read_text().splitlines().index("        kl_samples = -kl_samples") + 1
    assert reasons == ["outputs moved: collapse.studies.tour.run_job; recompute (make reproduce-00)",
                       f"{TOUR}:{row} changed and did not run in the probe: kl_samples = -kl_samples"], reasons
    assert json.loads((copy / SIDECAR).read_text())["key"] == json.loads(
        (config.ROOT / SIDECAR).read_text())["key"]  # nothing rewritten


def test_the_strict_stage_fails_at_once_on_a_key_miss_and_computes_nothing(copy, edit):
    edit("    laws = population_recursion(data, alpha, bandwidth, t0, generations)\n",
         "    recursion = population_recursion\n    laws = recursion(data, alpha, bandwidth, t0, generations)\n")
    failed = _run(copy, sys.executable, "-m", "pytest", "--nbval", "-q", "-o", "addopts=", "-p", "no:cacheprovider",
                  "notebooks/executed/00_tour.ipynb", env={"COLLAPSE_MODE": "full", "COLLAPSE_STORE_ONLY": "1"})
    assert failed.returncode != 0
    assert "StoreMiss" in failed.stdout and "make rekey NB=00" in failed.stdout, failed.stdout[-3000:]
    assert "Library modules changed since it was stored: collapse.studies.tour" in failed.stdout
    assert not (copy / "cache" / "jobs").exists()  # no job started


def test_a_fingerprint_taken_on_another_machine_is_refused_first():
    from collapse.infra import probe

    meta, fresh = {"experiment": "tour", "versions": {}}, {"machine": probe.machine()}
    (refusal,) = probe._refusals(meta, {"machine": "another CPU; BLAS Zen; torch AVX2 on cpu"}, fresh)
    assert "another machine" in refusal and "python -m collapse probe 00" in refusal


def test_a_module_whose_old_version_is_not_in_git_counts_as_wholly_changed():
    from collapse.infra import probe

    lines = probe.unexecuted_changes({"collapse.studies.tour": "0000000000000000"},
                                     {"collapse.studies.tour": "1111111111111111"}, {})
    assert lines == ["lib/collapse/studies/tour.py: the version the fingerprint was taken with is not in git history, "
                     "so what changed cannot be told; recompute"]


def test_a_changed_declaration_or_raise_needs_no_run_but_a_changed_call_does():
    from collapse.infra import probe

    before = "def f(x):\n    if x < 0:\n        raise ValueError('x')\n    return g(x)\n"
    after = "def f(x):\n    global g\n    if x < 0:\n        raise ValueError(f'x={x} < 0')\n    return g(x + 0)\n"
    assert [first for first, _, _ in probe._changed_statements(before, after)] == [5]
