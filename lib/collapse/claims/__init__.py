"""The claims ledger: every claim the companion makes, as data, with a criterion fixed in code.

Each notebook has a module here, ``claims(result, parameters, sizes) -> list[Claim]``, that evaluates its claims
from its stored result alone (and the notebook's default parameters and sizes, which a canonical result was
computed with). The notebook records them through :mod:`collapse.infra.ledger`; a canonical run writes them beside
the result (``data/results/<experiment>/claims.json``), the report renders the README's verdict table from them,
and the tests evaluate the same functions on the committed results again, so a change that flips a verdict fails
CI. Nothing here reads or writes files: claims are judged, the infrastructure keeps the ledger.

These modules are never imported by a computation, so editing a criterion re-keys no result.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field

KINDS = {
    "empirical": "could have failed on these data",
    "identity": "holds by construction (an algebraic identity, or an inequality that follows from the "
                "definitions): a check of the code, not of the paper",
    "outside-hypotheses": "the theorem's assumptions do not hold here; the numbers are reported all the same",
    "not-reproducible-here": "cannot be measured with what is available offline",
}
VERDICTS = ("reproduced", "not reproduced", "contradicts the paper", "inconclusive")


@dataclass
class Claim:
    id: str  # e.g. "K-Prop3.1-gmm": paper, statement number, setting
    paper: str  # "[K] Prop. 3.1"
    statement: str  # what the paper claims, in our words
    kind: str  # a key of KINDS
    criterion: str  # how the verdict is decided, with its tolerance and why
    measured: dict  # the numbers behind the verdict (floats; "<name>_se" for a standard error)
    verdict: str  # one of VERDICTS
    summary: str  # the key numbers in one line, for the verdict table
    figure: str = ""  # the figure that shows it
    note: str = ""  # for inconclusive: what would decide it; for not-reproducible: why; else a caveat
    check_in_smoke: bool = False  # meaningful at smoke size: asserted when the notebook runs in smoke mode
    notebook: str = field(default="", compare=False)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"claim {self.id}: kind={self.kind!r}; use one of {', '.join(KINDS)}")
        if self.verdict not in VERDICTS:
            raise ValueError(f"claim {self.id}: verdict={self.verdict!r}; use one of {', '.join(VERDICTS)}")
        self.measured = {k: _number(v) for k, v in self.measured.items()}


def _number(value):
    value = float(value)
    return value if math.isfinite(value) else str(value)  # JSON has no inf or nan


def held(condition: bool) -> str:
    return "reproduced" if condition else "not reproduced"


def decreasing(values, errors) -> str:
    """'reproduced' if each value exceeds the next by more than 2 combined standard errors, 'not reproduced' if
    not, 'inconclusive' without standard errors (a single run)."""
    import numpy as np

    values, errors = np.asarray(values, float), np.asarray(errors, float)
    if not np.all(np.isfinite(errors)):
        return "inconclusive"
    return held(bool(np.all(-np.diff(values) > 2 * np.hypot(errors[1:], errors[:-1]))))


def plus_minus(mean, se, digits: int = 3, sign: str = "") -> list[str]:
    """Cells "mean ± se" (se to 2 significant digits) for a results table; the mean alone where there is no spread
    (a deterministic computation repeated, or one run). ``sign="+"`` shows the sign of a change."""
    import numpy as np

    return [f"{m:{sign}.{digits}g} ± {e:.2g}" if np.isfinite(e) and e > 1e-12 * abs(m) else f"{m:{sign}.{digits}g}"
            for m, e in zip(np.atleast_1d(mean), np.atleast_1d(se))]


def to_json(claims: list[Claim]) -> str:
    return json.dumps([asdict(c) for c in claims], indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def from_json(text: str) -> list[Claim]:
    return [Claim(**c) for c in json.loads(text)]
