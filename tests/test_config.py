import pytest

from collapse import Experiment, config


def test_mode_comes_from_argument_then_environment_then_default(monkeypatch):
    monkeypatch.delenv("COLLAPSE_MODE", raising=False)
    assert config.resolve_mode() == "full"
    monkeypatch.setenv("COLLAPSE_MODE", "smoke")
    assert config.resolve_mode() == "smoke"
    assert config.resolve_mode("paper") == "paper"


@pytest.mark.parametrize("source", ["argument", "environment"])
def test_unknown_mode_is_one_clear_error(monkeypatch, source):
    monkeypatch.setenv("COLLAPSE_MODE", "fast" if source == "environment" else "full")
    name = "COLLAPSE_MODE" if source == "environment" else "mode"
    with pytest.raises(ValueError, match=f"{name}='fast' is not a mode; use one of smoke, full, paper"):
        config.resolve_mode(None if source == "environment" else "fast")


def test_every_experiment_has_every_mode_and_sizes_grow():
    for name, table in config.size_table().items():
        assert set(table) == set(config.MODES), name
        for key, smoke in table["smoke"].items():
            if key not in ("nll_every", "lr"):  # a cadence and a learning rate, not sizes
                assert smoke <= table["full"][key] <= table["paper"][key], (name, key)


def test_smoke_never_writes_into_committed_outputs():
    results, figures = config.output_dirs("smoke")
    for committed in config.output_dirs("full"):
        assert committed not in results.parents and committed not in figures.parents
        assert committed not in (results, figures)


def test_experiment_reads_mode_and_sizes(monkeypatch):
    monkeypatch.setenv("COLLAPSE_MODE", "smoke")
    exp = Experiment("tour")
    assert exp.mode == "smoke" and exp.sizes == config.size_table()["tour"]["smoke"]
    with pytest.raises(KeyError, match="sizes.toml"):
        Experiment("no-such-experiment")


def test_thread_settings_are_validated(monkeypatch):
    monkeypatch.setenv("COLLAPSE_THREADS", "zero")
    with pytest.raises(ValueError, match="COLLAPSE_THREADS"):
        config.default_threads()
