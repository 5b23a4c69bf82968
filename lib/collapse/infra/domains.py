"""The domain of every notebook parameter and size, checked before any work (the ``domains`` of each experiment's
declaration in ``experiments.toml``).

One function, :func:`check`, serves the command line (before papermill starts) and ``Experiment`` (the notebook's
first cell, so JupyterLab, papermill and nbval runs are checked alike). A value outside its domain is one
``ValueError`` naming the parameter, what it must be, and its default.
"""

from __future__ import annotations

import math
from pathlib import Path

KINDS = {
    "fraction": ("a finite number in [0, 1]", lambda v: _number(v) and 0 <= v <= 1),
    "positive": ("a finite number > 0", lambda v: _number(v) and v > 0),
    "nonnegative": ("a finite number >= 0", lambda v: _number(v) and v >= 0),
    "number": ("a finite number", lambda v: _number(v)),
    "seed": ("an integer >= 0", lambda v: _integer(v) and v >= 0),
    "count": ("an integer >= 1", lambda v: _integer(v) and v >= 1),
    "flag": ("true, false or None", lambda v: v is None or isinstance(v, bool)),
}


def table() -> dict[str, dict]:
    """{notebook file: {parameter: domain}}, from the declarations (experiments sharing a notebook share them)."""
    from collapse.infra import config

    found = {}
    for declared in config.experiments().values():
        found.setdefault(declared["notebook"], {}).update(declared.get("domains", {}))
    return found


def check(notebook: str, name: str, value, default) -> None:
    """Raise ValueError unless ``value`` lies in the domain of parameter ``name`` of ``notebook`` (a file name)."""
    domain = table().get(Path(notebook).name, {}).get(name)
    if domain is None:
        raise ValueError(f"parameter {name} of {notebook} has no domain; declare it in the [<experiment>.domains] "
                         f"table of experiments.toml")
    kind = (f"one of {', '.join(map(repr, domain))}", lambda v: v in domain) if isinstance(domain, list) \
        else KINDS[domain]
    _require(f"parameter {name}", value, default, kind, f" (default {default!r})")


def checked_sizes(experiment: str, mode: str, overrides: dict) -> dict:
    """``overrides`` of ``experiment``'s size table in ``mode``, each a known size within its domain."""
    from collapse.infra import config

    table = config.sizes(experiment, mode)
    unknown = set(overrides) - set(table)
    if unknown:
        raise KeyError(f"sizes {sorted(unknown)} are not sizes of {experiment}; valid: {', '.join(sorted(table))}")
    for name, value in overrides.items():
        check_size(name, value, table[name])
    return overrides


def check_size(name: str, value, default) -> None:
    """Sizes are counts (integers >= 1, or lists of them, like the table's ``default``); a size the table gives as a
    float is a finite positive number."""
    kind = KINDS["positive" if isinstance(default, float) else "count"]
    _require(f"size {name}", value, default, kind, f", like the table's {default!r}")


def _require(what: str, value, default, kind: tuple, tail: str) -> None:
    """ValueError naming ``what`` unless every element of ``value`` passes ``kind``'s test, in ``default``'s shape."""
    description, test = kind
    if not all(test(v) for v in _elements(value, default)):
        shape = f"a list of {_plural(description)}" if isinstance(default, list) else description
        raise ValueError(f"{what}={value!r}: must be {shape}{tail}")


def _elements(value, default) -> list:
    """The scalars to check: a list default takes a list (of lists, for nested defaults), a scalar one a scalar."""
    if isinstance(default, list) != isinstance(value, list):
        return [_WRONG_SHAPE]
    if not isinstance(value, list):
        return [value]
    inner = default[0] if default else None
    return [x for v in value for x in (_elements(v, inner) if isinstance(inner, list) else [v])]


_WRONG_SHAPE = object()  # fails every test


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _integer(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _plural(description: str) -> str:
    return description.replace("a finite number", "finite numbers").replace("an integer", "integers") \
        .replace("true, false or None", "flags")
