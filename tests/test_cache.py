import json
import warnings

import numpy as np
import pytest

from collapse.cache import Checkpoints, ResultEntry, atomic_write_bytes, result_key
from collapse.recursion import RecursionState


def entry(tmp_path, **params):
    return ResultEntry("exp", params or {"a": 1}, "smoke", tmp_path)


def counting_compute(calls):
    def compute(_entry):
        calls.append(1)
        return {"x": np.arange(5.0), "y": np.eye(2)}
    return compute


def test_key_depends_on_experiment_params_mode_and_code():
    base = result_key("exp", {"a": 1, "b": [1, 2]}, "full", "code")
    assert base == result_key("exp", {"b": [1, 2], "a": 1}, "full", "code")  # order of keys is irrelevant
    assert base != result_key("exp2", {"a": 1, "b": [1, 2]}, "full", "code")
    assert base != result_key("exp", {"a": 2, "b": [1, 2]}, "full", "code")
    assert base != result_key("exp", {"a": 1, "b": [1, 2]}, "smoke", "code")
    assert base != result_key("exp", {"a": 1, "b": [1, 2]}, "full", "other code")


def test_code_version_follows_imports_not_unrelated_modules(tmp_path, monkeypatch):
    """A result's code version covers the modules it can have run: what it loaded and everything
    they import. A module added for another notebook leaves it unchanged; an edit to a dependency
    changes it."""
    import shutil

    import collapse.cache as cache

    closure = cache.dependency_closure(("collapse.experiments.tour",))
    assert {"collapse", "collapse.mixture", "collapse.kde_diffusion", "collapse.recursion"} <= set(closure)
    assert "collapse.learners" not in closure
    assert "collapse.experiments.single_generation" in cache.dependency_closure(("collapse.experiments.accumulation",))

    library = tmp_path / "collapse"
    shutil.copytree(cache._LIBRARY, library, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(cache, "_LIBRARY", library)
    versions = []
    for change in (None, "new module", "edit mixture"):
        if change == "new module":
            (library / "brand_new.py").write_text("X = 1\n")
        elif change == "edit mixture":
            (library / "mixture.py").write_text((library / "mixture.py").read_text() + "\n# edited\n")
        cache._hash_sources.cache_clear()
        versions.append((cache.code_version(("collapse.experiments.tour",)), cache.code_version()))
    cache._hash_sources.cache_clear()
    assert versions[1][0] == versions[0][0] and versions[1][1] != versions[0][1]  # unrelated module added
    assert versions[2][0] != versions[1][0]  # a dependency edited


def test_second_call_uses_cache_and_sidecar_has_provenance(tmp_path):
    calls = []
    first = entry(tmp_path).get_or_compute(counting_compute(calls))
    second = entry(tmp_path).get_or_compute(counting_compute(calls))
    assert len(calls) == 1
    np.testing.assert_array_equal(first["y"], second["y"])
    meta = json.loads((tmp_path / "exp.json").read_text())
    assert {"key", "params", "mode", "code_version", "sha256", "wall_time_s", "versions"} <= set(meta)


def test_other_params_recompute(tmp_path):
    calls = []
    entry(tmp_path, a=1).get_or_compute(counting_compute(calls))
    entry(tmp_path, a=2).get_or_compute(counting_compute(calls))
    assert len(calls) == 2


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete_sidecar", "garbage_sidecar"])
def test_damaged_result_is_detected_and_recomputed(tmp_path, damage):
    calls = []
    entry(tmp_path).get_or_compute(counting_compute(calls))
    npz, sidecar = tmp_path / "exp.npz", tmp_path / "exp.json"
    data = npz.read_bytes()
    if damage == "truncate":
        npz.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        npz.write_bytes(data[:-10] + bytes(b ^ 0xFF for b in data[-10:]))
    elif damage == "delete_sidecar":
        sidecar.unlink()
    else:
        sidecar.write_text("{not json")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert entry(tmp_path).load() is None
        result = entry(tmp_path).get_or_compute(counting_compute(calls))
    assert len(calls) == 2 and np.array_equal(result["x"], np.arange(5.0))


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
    last = tmp_path / "gen_0003.pkl"
    last.write_bytes(last.read_bytes()[:-5])  # a torn write
    with pytest.warns(UserWarning, match="damaged"):
        state = ckpt.latest()
    assert state.generation == 2 and not last.exists()
    assert Checkpoints(tmp_path / "none").latest() is None


def test_editing_the_compute_function_recomputes(tmp_path, monkeypatch):
    from collapse import Experiment, config

    monkeypatch.setattr(config, "output_dirs", lambda mode: (tmp_path, tmp_path / "figures"))
    exp, calls = Experiment("tour", "smoke"), []

    def compute(entry):
        calls.append("first")
        return {"x": np.zeros(1)}

    def compute_edited(entry):
        calls.append("edited")
        return {"x": np.ones(1)}

    assert exp.cached({"a": 1}, compute)["x"][0] == 0
    assert exp.cached({"a": 1}, compute)["x"][0] == 0 and calls == ["first"]
    assert exp.cached({"a": 1}, compute_edited)["x"][0] == 1 and calls == ["first", "edited"]
