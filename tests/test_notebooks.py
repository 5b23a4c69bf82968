"""Notebook hygiene: sources are cleared, parameters are plain values in a tagged cell."""

import ast

import nbformat
import pytest

from collapse.infra.config import ROOT

SOURCES = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))


def test_there_are_notebooks():
    assert SOURCES


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_source_notebook_is_cleared(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{path.name}: clear outputs"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_parameters_cell_holds_plain_values_including_mode(path):
    nb = nbformat.read(path, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    names = set()
    for node in ast.parse(tagged[0].source).body:
        assert isinstance(node, ast.Assign), "only assignments"
        ast.literal_eval(node.value)  # plain values only
        names |= {t.id for t in node.targets}
    assert "mode" in names


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_executed_copy_is_committed(path):
    assert (ROOT / "notebooks" / "executed" / path.name).exists(), "run `make reproduce`"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_executed_copy_holds_no_progress_bar(path):
    """A bar drawn while the canonical run computed would be frozen into the copy readers open."""
    copy = ROOT / "notebooks" / "executed" / path.name
    if copy.exists():
        text = copy.read_text()
        assert "it/s]" not in text and "application/vnd.jupyter.widget" not in text, "rerun its canonical run"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_the_paired_text_form_is_in_sync(path):
    """Reviewers read notebook changes in the paired py:percent file; it must say what the notebook says."""
    import jupytext

    paired = path.with_suffix(".py")
    assert paired.exists(), f"run `jupytext --set-formats ipynb,py:percent {path.name}`"
    assert jupytext.writes(jupytext.read(path), fmt="py:percent") == paired.read_text(), \
        f"run `jupytext --sync notebooks/{path.name}`"


# The decimal numbers a notebook's Markdown may state, each a paper constant, a reference number or a parameter of
# the setting; every other number in prose must be rendered from the results (a code cell printing Markdown).
ALLOWED_DECIMALS = {
    "3.1", "3.3", "3.4", "4.1", "4.2",  # [K]'s numbering: Prop 3.1, 3.3, Thm 3.4, Lemma 4.1, Thm 4.2
    "0.6", "0.36", "0.72", "0.02",  # [K]'s GMM: sigma = h = 0.6 (variances 0.36, 0.72), t0 = 0.02
    "0.1", "0.5", "0.9",  # [K]'s alpha grid
    "0.25", "0.35",  # [K]'s reported eta range on CIFAR-10
    "0.99",  # [K]'s EMA decay
    "1.05", "1.09", "1.22", "2.6",  # [KZ]'s reported language-model cross-entropies
    "0.05",  # [KZ]'s code: make_moons / make_circles noise
    "0.2", "0.3", "0.4", "0.7", "0.8", "1.2", "1.5",  # notebook 01's testbeds, notebook 02's schedule, a threshold
}


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_markdown_states_no_number_that_is_not_rendered_or_a_known_constant(path):
    import re

    nb = nbformat.read(path, as_version=4)
    prose = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    typed = set(re.findall(r"(?<![\w.])\d+\.\d+", prose)) - ALLOWED_DECIMALS
    assert not typed, f"{path.name}: render {sorted(typed)} from the results, or add a constant to ALLOWED_DECIMALS"
