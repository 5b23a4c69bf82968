import matplotlib.pyplot as plt
import numpy as np
import pytest

from collapse.infra import config, figures


def draw():
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot(np.linspace(0, 1, 50), np.sin(np.linspace(0, 6, 50)), label="a")
    ax.set_title("title")
    ax.legend()
    return fig


def test_saving_twice_is_byte_identical(tmp_path):
    name = next(iter(figures.registry()))
    first = [p.read_bytes() for p in figures.save_figure(draw(), name, tmp_path / "a")]
    second = [p.read_bytes() for p in figures.save_figure(draw(), name, tmp_path / "b")]
    assert first == second and first[0].startswith(b"%PDF") and first[1].startswith(b"\x89PNG")
    plt.close("all")


def test_unregistered_figure_is_refused(tmp_path):
    with pytest.raises(KeyError, match="figures.toml"):
        figures.save_figure(draw(), "fig99_unknown", tmp_path)
    plt.close("all")


@pytest.mark.parametrize("switch", ["COLLAPSE_STORE_ONLY=1", "COLLAPSE_FIGURES=0"])
def test_test_stages_write_no_figure_but_still_refuse_an_unregistered_one(switch, monkeypatch, tmp_path):
    from collapse import Experiment

    for name in ("COLLAPSE_STORE_ONLY", "COLLAPSE_FIGURES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(*switch.split("="))
    exp = Experiment("tour", "full", **config.notebook_defaults("tour"), sizes={"n": 61})  # an exploration run
    exp.figures_dir = tmp_path
    name = next(n for n, entry in figures.registry().items() if entry["notebook"].startswith("00_"))
    assert exp.save_figure(draw(), name) is None and not any(tmp_path.iterdir())
    with pytest.raises(KeyError, match="figures.toml"):
        exp.save_figure(draw(), "fig99_unknown")
    plt.close("all")


def test_manifest_file_matches_registry():
    assert (config.ROOT / "figures" / "MANIFEST").read_text() == figures.manifest()


def test_registered_notebooks_exist():
    for name, entry in figures.registry().items():
        assert (config.ROOT / "notebooks" / entry["notebook"]).exists(), name
