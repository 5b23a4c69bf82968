"""The results store: keys made of declared inputs, infrastructure outside keys, job-level caching, damage caught."""

import json
import os
import shutil
import textwrap
import warnings

import numpy as np
import pytest
import xarray as xr

import collapse.infra.cache as cache
from collapse import Experiment
from collapse.core.recursion import RecursionState
from collapse.infra import config
from collapse.infra.cache import Checkpoints, ResultFile, UndeclaredInput, atomic_write_bytes
from collapse.infra.jobs import run_jobs

THRESHOLD = 0.5
CALLS = []


@pytest.fixture
def exp(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "EXPLORE", tmp_path / "explore")
    monkeypatch.setattr(config, "cache_dir", lambda: tmp_path / "cache")
    CALLS.clear()
    save = ResultFile.save

    def counted_save(self, dataset, key, **provenance):  # one save per computation
        CALLS.append(provenance["inputs"])
        save(self, dataset, key, **provenance)

    monkeypatch.setattr(ResultFile, "save", counted_save)
    return Experiment("tour", "smoke")


def compute(a, b):
    return xr.Dataset({"x": ("alpha", np.arange(3.0) * a)}, coords={"alpha": [0.1, 0.5, 0.9]})


def test_second_call_uses_the_store_and_the_sidecar_has_provenance(exp):
    first = exp.cached(compute, a=1, b=[1, 2])
    second = exp.cached(compute, a=1, b=[1, 2])
    assert CALLS == [{"a": 1, "b": [1, 2]}]
    xr.testing.assert_identical(first, second)
    meta = json.loads((exp.results_dir / "compute.json").read_text())
    assert {"key", "inputs", "mode", "code_version", "modules", "sha256", "wall_time_s", "versions"} <= set(meta)


def test_other_inputs_recompute_and_their_order_does_not_matter(exp):
    exp.cached(compute, a=1, b=[1, 2])
    exp.cached(compute, b=[1, 2], a=1)
    exp.cached(compute, a=2, b=[1, 2])
    exp.cached(compute, a=1.0000000001, b=[1, 2])
    assert len(CALLS) == 3


def reads_a_global(a):
    return xr.Dataset({"x": ((), a * THRESHOLD)})


def calls_a_helper_defined_beside_it(a):
    return compute(a, 0)


def test_a_global_read_is_refused_with_the_fix(exp):
    with pytest.raises(UndeclaredInput, match=r"reads the global 'THRESHOLD' \(a float\).*THRESHOLD=THRESHOLD"):
        exp.cached(reads_a_global, a=1)
    with pytest.raises(UndeclaredInput, match="'compute' \\(a function defined beside it\\)"):
        exp.cached(calls_a_helper_defined_beside_it, a=1)

    def captures(a):
        return xr.Dataset({"x": ((), a * threshold)})

    threshold = 2.0
    with pytest.raises(UndeclaredInput, match="captures a variable"):
        exp.cached(captures, a=1)
    assert CALLS == []


def test_arguments_must_match_the_declared_inputs(exp):
    with pytest.raises(TypeError, match=r"compute takes \['a', 'b'\] but exp.cached was given \['a'\]"):
        exp.cached(compute, a=1)


def test_a_result_must_be_labelled(exp):
    def unlabelled(a):
        return {"x": np.zeros(3)}

    with pytest.raises(TypeError, match="return an xarray.Dataset"):
        exp.cached(unlabelled, a=1)


def test_editing_the_compute_function_recomputes(exp):
    def compute(a):
        return xr.Dataset({"x": ((), 0.0)})

    first = compute
    assert float(exp.cached(first, a=1).x) == 0

    def compute(a):  # noqa: F811 -- the same name, edited
        return xr.Dataset({"x": ((), 1.0)})

    assert float(exp.cached(compute, a=1).x) == 1


def test_the_key_covers_the_library_code_a_computation_reaches_and_no_infrastructure():
    closure = cache.dependency_closure(cache.referenced_modules(_tour_like))
    assert {"collapse.studies.tour", "collapse.core.mixture", "collapse.core.kde_diffusion"} <= set(closure)
    assert "collapse.core.learners" not in closure  # not imported by anything the tour runs
    assert not [m for m in closure if m.startswith("collapse.infra")]  # figures, cache, jobs, config


def _tour_like(alphas):
    from collapse.studies import tour  # noqa: F401 -- referenced like a notebook's imported module

    return tour.run_job


def _documented(text: str) -> str:
    """The module with its docstring reworded and a comment added: no number can change."""
    first = text.index('"""') + 3
    return text[:first] + "Reworded. " + text[first:] + "\n# a comment\n"


def test_a_figure_style_or_documentation_change_rekeys_no_result_and_a_math_change_does(tmp_path, monkeypatch):
    library = tmp_path / "collapse"
    shutil.copytree(cache.LIBRARY, library, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(cache, "LIBRARY", library)
    studies = [f"collapse.studies.{p.stem}" for p in (library / "studies").glob("[a-z]*.py")]
    edits = {"infra/figures.py": lambda text: text + "\n_STYLE = 1\n",
             "infra/cache.py": lambda text: text + "\n_X = 1\n", "core/mixture.py": _documented}
    versions = []
    for edit in (None, *edits, "math"):
        path = library / ("core/mixture.py" if edit == "math" else edit or "")
        if edit:
            path.write_text(path.read_text() + "\n_EDITED = 1\n" if edit == "math" else edits[edit](path.read_text()))
        cache._hash_sources.cache_clear()
        versions.append({m: cache.code_version([m]) for m in studies})
    cache._hash_sources.cache_clear()
    assert versions[1] == versions[2] == versions[3] == versions[0]  # figure style, cache internals, documentation
    changed = {m for m in studies if versions[4][m] != versions[0][m]}
    assert "collapse.studies.tour" in changed and "collapse.studies.language" not in changed


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete_sidecar", "garbage_sidecar"])
def test_a_damaged_result_is_detected_and_recomputed(exp, damage):
    exp.cached(compute, a=1, b=0)
    path = exp.results_dir / "compute.nc"
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        path.write_bytes(data[:-10] + bytes(b ^ 0xFF for b in data[-10:]))
    elif damage == "delete_sidecar":
        path.with_suffix(".json").unlink()
    else:
        path.with_suffix(".json").write_text("{not json")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = exp.cached(compute, a=1, b=0)
    assert len(CALLS) == 2 and np.array_equal(result.x, np.arange(3.0))


def test_a_result_file_round_trips_labels_and_refuses_another_key(tmp_path):
    ds = xr.Dataset({"kl": (("alpha", "generation"), np.ones((2, 3)))},
                    coords={"alpha": [0.1, 0.5], "generation": [1, 2, 3], "workflow": ("alpha", ["a", "b"])})
    file = ResultFile(tmp_path / "r")
    file.save(ds, "key1")
    xr.testing.assert_identical(file.load("key1"), ds)
    assert file.load("key2") is None


def test_atomic_write_leaves_old_file_when_interrupted(tmp_path, monkeypatch):
    path = tmp_path / "f.bin"
    atomic_write_bytes(path, b"old")

    def dying_fsync(fd):
        raise KeyboardInterrupt  # killed mid-write

    monkeypatch.setattr("os.fsync", dying_fsync)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_bytes(path, b"new content")
    assert path.read_bytes() == b"old" and list(tmp_path.iterdir()) == [path]  # no temp file left


def test_checkpoints_fall_back_past_a_corrupted_one(tmp_path):
    ckpt = Checkpoints(tmp_path)
    for g in (1, 2, 3):
        ckpt.save(RecursionState(generation=g, original=np.zeros(2)))
    last = tmp_path / "gen_0003.pt"
    last.write_bytes(last.read_bytes()[:-5])  # a torn write
    with pytest.warns(UserWarning, match="damaged"):
        state = ckpt.latest()
    assert state.generation == 2 and not last.exists()
    assert Checkpoints(tmp_path / "none").latest() is None


# ------------------------------------------------------------------------------------------------ jobs
def square(alpha):
    if alpha in KILLED_AT:
        raise RuntimeError("killed")
    CALLS.append(alpha)
    return {"y": alpha**2}


KILLED_AT = set()


def test_adding_one_alpha_runs_one_new_job(exp):
    first = run_jobs(square, [dict(alpha=a) for a in (0.1, 0.5)], workers=1)
    second = run_jobs(square, [dict(alpha=a) for a in (0.1, 0.5, 0.9)], workers=1)
    assert CALLS == [0.1, 0.5, 0.9] and second[:2] == first and second[2] == {"y": 0.81}


def test_an_interrupted_sweep_keeps_every_finished_job(exp, monkeypatch):
    jobs = [dict(alpha=a) for a in (0.1, 0.5, 0.9)]
    monkeypatch.setattr(f"{__name__}.KILLED_AT", {0.5})
    with pytest.raises(RuntimeError, match="killed"):
        run_jobs(square, jobs, workers=1)
    assert CALLS == [0.1]
    monkeypatch.setattr(f"{__name__}.KILLED_AT", set())
    results = run_jobs(square, jobs, workers=1)
    assert CALLS == [0.1, 0.5, 0.9] and [r["y"] for r in results] == pytest.approx([0.01, 0.25, 0.81])


def test_a_damaged_job_result_is_recomputed(exp):
    run_jobs(square, [dict(alpha=0.3)], workers=1)
    from collapse.infra.jobs import job_path

    path = job_path(square, dict(alpha=0.3))
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.warns(UserWarning, match="damaged"):
        assert run_jobs(square, [dict(alpha=0.3)], workers=1) == [{"y": 0.09}]
    assert CALLS == [0.3, 0.3]


def test_a_tally_sums_the_recorded_time_of_every_job_used_cached_or_not(exp):
    from collapse.infra.jobs import job_path, tally

    with tally() as seconds:
        run_jobs(square, [dict(alpha=0.1)], workers=1)
        first = seconds()
    with tally() as seconds:
        run_jobs(square, [dict(alpha=a) for a in (0.1, 0.2)], workers=1)  # one cached, one new
        files = [job_path(square, dict(alpha=a)).with_suffix(".seconds") for a in (0.1, 0.2)]
        assert seconds() == pytest.approx(sum(float(f.read_text()) for f in files)) and first >= 0
        files[0].unlink()  # a job whose time was never recorded
        assert seconds() is None


def test_code_text_drops_documentation_but_keeps_every_character_a_value_can_see():
    documented = 'def f(x):  # why\n    """Doc\n\n    string."""\n\n    return x + 1\n'
    assert cache.code_text(documented) == cache.code_text("def f(x):\n    return x + 1\n")
    spaced, packed = 'X = """a\n\nb"""\n', 'X = """a\nb"""\n'  # not a docstring: its blank line is a value
    assert cache.code_text(spaced) != cache.code_text(packed)
    assert cache.code_text('s = "# not a comment"\n') == 's = "# not a comment"'
    nested = '    def g():\n        return """\nflush left"""\n'  # dedent cannot help: kept whole, no error
    assert "flush left" in cache.code_text(nested)


def test_a_digest_does_not_follow_the_hash_seed():
    """A Dataset's pickle holds sets of names, whose order follows PYTHONHASHSEED: digests use contents instead."""
    import subprocess
    import sys

    script = ("import numpy as np, xarray as xr; from collapse.infra.cache import digest; "
              "d = xr.Dataset({'a': ('x', np.arange(3.0))}, coords={'x': ['p', 'q', 'r'], 'y': [1, 2]}); "
              "print(digest({'d': d, 's': {'alpha', 'beta', 'gamma'}}))")
    digests = {subprocess.run([sys.executable, "-c", script], env={**os.environ, "PYTHONHASHSEED": seed},
                              capture_output=True, text=True, check=True).stdout for seed in ("1", "2", "3")}
    assert len(digests) == 1, digests


# ------------------------------------------------------------------------------------------------ data, not code
class Payload:
    """Unpickled, it would run a shell command: what a crafted cache entry could hold."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def crafted(path, marker, legacy=False):
    """A cache entry with a valid digest whose payload runs a command when unpickled."""
    import pickle

    import torch

    if legacy:
        payload = pickle.dumps(Payload(marker))
    else:
        buffer = __import__("io").BytesIO()
        torch.save({"y": Payload(marker)}, buffer)
        payload = buffer.getvalue()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(__import__("hashlib").sha256(payload).digest() + payload)


@pytest.mark.parametrize("legacy", [False, True], ids=["torch-format", "plain-pickle"])
def test_a_crafted_job_entry_runs_no_code_and_is_recomputed(exp, tmp_path, legacy):
    from collapse.infra.jobs import job_path

    marker = tmp_path / "ran"
    crafted(job_path(square, dict(alpha=0.3)), marker, legacy)
    with pytest.warns(UserWarning, match="other than data"):
        assert run_jobs(square, [dict(alpha=0.3)], workers=1) == [{"y": 0.09}]
    assert not marker.exists() and CALLS == [0.3]


def test_an_entry_of_the_old_pickle_format_is_never_read(exp, tmp_path):
    from collapse.infra.jobs import job_path

    marker = tmp_path / "ran"
    crafted(job_path(square, dict(alpha=0.3)).with_suffix(".pkl"), marker, legacy=True)
    assert run_jobs(square, [dict(alpha=0.3)], workers=1) == [{"y": 0.09}]
    assert not marker.exists() and CALLS == [0.3]


def test_a_crafted_checkpoint_runs_no_code(tmp_path):
    marker, ckpt = tmp_path / "ran", Checkpoints(tmp_path / "job")
    ckpt.save(RecursionState(generation=1, original=np.zeros(2)))
    crafted(tmp_path / "job" / "gen_0002.pt", marker)
    with pytest.warns(UserWarning, match="damaged"):
        assert ckpt.latest().generation == 1  # the crafted one refused, the intact one used
    assert not marker.exists()


def test_learners_and_their_networks_round_trip_as_data(tmp_path):
    """Every kind of state a job returns or checkpoints: a recursion's state with each learner, torch layers in it."""
    import torch

    from collapse.core.diffusion import SamplerConfig
    from collapse.core.kde_diffusion import KDEScoreDiffusion
    from collapse.core.recursion import Workflow
    from collapse.models.ddpm import UNet
    from collapse.models.lm import NGramLM, TransformerLM

    rng = np.random.default_rng(0)
    blocks = rng.integers(0, 20, (8, 16))
    learners = [KDEScoreDiffusion(0.5, SamplerConfig(steps=5)).fit(rng.standard_normal((30, 2))),
                NGramLM(order=3).fit(blocks), TransformerLM(width=8, layers=1, heads=2, steps=2, batch=2).fit(blocks)]
    value = {"state": RecursionState(generation=3, original=np.ones((4, 2)), kept={1: np.zeros(2)},
                                     rng_state=rng.bit_generator.state), "learners": learners,
             "workflow": Workflow("fresh", 0.5), "net": UNet((8, 16)), "tensor": torch.arange(3.0), "set": {1, 2},
             "dataset": [xr.Dataset({"x": ("e", [1.0, 2.0])}, coords={"e": ["a", "b"]})]}  # notebook 01's jobs
    file = cache.DataFile(tmp_path / "x.pt")
    file.save(value)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        back = file.load()
    xr.testing.assert_identical(back.pop("dataset")[0], value.pop("dataset")[0])
    assert cache.digest(back) == cache.digest(value)


def test_two_identical_runs_at_once_compute_each_job_once(tmp_path):
    import subprocess
    import sys

    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(f"""
        import time
        from collapse.infra.jobs import run_jobs

        def slow(x, checkpoints):
            with open({str(tmp_path / "computed")!r}, "a") as f:
                f.write("once\\n")
            time.sleep(2)
            return {{"x": x}}

        print(run_jobs(slow, [dict(x=1)], workers=1))
    """))
    env = {**os.environ, "COLLAPSE_CACHE": str(tmp_path / "cache")}
    runs = [subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE, text=True)
            for _ in range(2)]
    outputs = [run.communicate()[0] for run in runs]
    assert outputs == ["[{'x': 1}]\n"] * 2
    assert (tmp_path / "computed").read_text() == "once\n"
    assert not list((tmp_path / "cache").rglob("*.checkpoints"))  # a finished job keeps no checkpoints
