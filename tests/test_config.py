import pytest

from collapse import Experiment
from collapse.infra import config


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


def test_every_experiment_has_every_mode_a_probe_and_sizes_grow():
    for name, table in config.size_table().items():
        assert set(table) == {*config.MODES, "probe"}, name
        assert set(table["probe"]) <= set(table["smoke"]), name  # a probe only changes sizes the modes have
        assert config.probe_sizes(name).keys() == table["full"].keys(), name
        for key, smoke in table["smoke"].items():
            if key != "nll_every":  # a cadence, not a size
                assert smoke <= table["full"][key] <= table["paper"][key], (name, key)


TOUR_DEFAULTS = dict(seed=0, alphas=[0.0, 0.1, 0.5, 0.9], bandwidth=0.6, show_generations=[1, 2, 5, 10])


def test_default_parameters_in_full_mode_are_canonical_and_anything_else_is_an_exploration():
    canonical = Experiment("tour", "full", **TOUR_DEFAULTS, sizes={})
    assert canonical.canonical and canonical.results_dir == config.ROOT / "data" / "results" / "tour"
    assert canonical.figures_dir == config.ROOT / "figures"
    explorations = [Experiment("tour", "smoke", **TOUR_DEFAULTS),
                    Experiment("tour", "full", **{**TOUR_DEFAULTS, "seed": 1}),
                    Experiment("tour", "full", **TOUR_DEFAULTS, sizes={"n": 100})]
    for exp in explorations:
        assert not exp.canonical and config.EXPLORE in exp.results_dir.parents
        assert config.EXPLORE in exp.figures_dir.parents
    assert len({exp.results_dir for exp in explorations}) == 3  # each parameter set keeps its own folder
    assert explorations[2].sizes["n"] == 100


def test_parameters_are_checked_against_the_notebook(monkeypatch):
    with pytest.raises(TypeError, match=r"lacks \['show_generations'\]"):
        Experiment("tour", "full", seed=0, alphas=[0.1], bandwidth=0.6)
    with pytest.raises(TypeError, match=r"alphas='\[0.2, 0.7\]' is a string.*-y 'alphas: \[0.2, 0.7\]'"):
        Experiment("tour", "full", **{**TOUR_DEFAULTS, "alphas": "[0.2, 0.7]"})
    with pytest.raises(KeyError, match="'steps_typo'.*valid: generations, kl_samples, n, seeds, steps"):
        Experiment("tour", "full", **TOUR_DEFAULTS, sizes={"steps_typo": 3})
    with pytest.raises(ValueError, match=r"size n=1.5: must be an integer >= 1, like the table's 1000"):
        Experiment("tour", "full", **TOUR_DEFAULTS, sizes={"n": 1.5})
    with pytest.raises(ValueError, match="size generations=0: must be an integer >= 1"):
        Experiment("tour", "full", **TOUR_DEFAULTS, sizes={"generations": 0})
    with pytest.raises(ValueError, match=r"alphas=\[-0.1\]: must be a list of finite numbers in \[0, 1\]"):
        Experiment("tour", "smoke", **{**TOUR_DEFAULTS, "alphas": [-0.1]})  # checked in every mode
    with pytest.raises(ValueError, match=r"seed=-1: must be an integer >= 0 \(default 0\)"):
        Experiment("tour", "full", **{**TOUR_DEFAULTS, "seed": -1})
    with pytest.raises(ValueError, match="bandwidth=inf: must be a finite number > 0"):
        Experiment("tour", "full", **{**TOUR_DEFAULTS, "bandwidth": float("inf")})


def test_every_notebook_parameter_has_a_domain_that_holds_its_default():
    from collapse.infra import domains

    for experiment, notebook in config.NOTEBOOKS.items():
        for name, default in config.notebook_defaults(experiment).items():
            domains.check(notebook, name, default, default)


def test_thread_settings_are_validated(monkeypatch):
    monkeypatch.setenv("COLLAPSE_THREADS", "zero")
    with pytest.raises(ValueError, match="COLLAPSE_THREADS"):
        config.default_threads()
