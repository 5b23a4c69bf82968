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
def test_the_paired_text_form_is_in_sync(path):
    """Reviewers read notebook changes in the paired py:percent file; it must say what the notebook says."""
    import jupytext

    paired = path.with_suffix(".py")
    assert paired.exists(), f"run `jupytext --set-formats ipynb,py:percent {path.name}`"
    assert jupytext.writes(jupytext.read(path), fmt="py:percent") == paired.read_text(), \
        f"run `jupytext --sync notebooks/{path.name}`"
