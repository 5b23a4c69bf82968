"""The library's layers point one way: core <- models <- studies <- claims, with infra above them all."""

import ast

import networkx as nx

from collapse.infra.cache import LIBRARY


def _module(path) -> str:
    parts = path.relative_to(LIBRARY.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> nx.DiGraph:
    """Every explicit import between library modules, including those inside functions (``from collapse.core
    import mixture`` counts as an import of ``collapse.core.mixture``)."""
    graph = nx.DiGraph()
    modules = {_module(p): p for p in LIBRARY.rglob("*.py")}
    for name, path in modules.items():
        graph.add_node(name)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]) if node.level else ""
                target = ".".join(p for p in (base, node.module) if p)
                found = [f"{target}.{a.name}" if f"{target}.{a.name}" in modules else target for a in node.names]
            elif isinstance(node, ast.Import):
                found = [a.name for a in node.names]
            else:
                continue
            graph.add_edges_from((name, t) for t in found if t in modules and t != name)
    return graph


def test_no_import_cycle():
    graph = import_graph()
    graph.remove_node("collapse")  # the package's __init__ re-exports; importing a submodule never runs it first
    assert list(nx.simple_cycles(graph)) == []


def test_core_models_and_claims_import_nothing_from_infra():
    lower = ("collapse.core", "collapse.models", "collapse.claims")
    upward = [(a, b) for a, b in import_graph().edges if a.startswith(lower) and b.startswith("collapse.infra")]
    assert upward == []


def test_the_graph_sees_imports_inside_functions():
    assert ("collapse.infra.experiment", "collapse.infra.ledger") in import_graph().edges
