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


@dataclass(frozen=True)
class Decision:
    """A verdict from two tests fixed in code before the numbers are seen: ``confirm`` (the paper's statement holds
    on these data with the stated margin) and ``refute`` (the data positively contradict it: an interval that
    excludes the paper's value or ordering, a bound that fails by more than its uncertainty). Failing to confirm
    is not refuting: with neither, the verdict is inconclusive. ``against`` is the verdict when refuted."""

    confirm: bool
    refute: bool
    against: str = "not reproduced"
    rule: str = ""  # the refute test in words, appended to the claim's criterion

    def __post_init__(self):
        if self.confirm and self.refute:
            raise ValueError("confirm and refute both hold: the two tests overlap; make them exclusive")
        if self.against not in VERDICTS[1:3]:
            raise ValueError(f"against={self.against!r}; use one of {', '.join(VERDICTS[1:3])}")

    @property
    def verdict(self) -> str:
        return "reproduced" if self.confirm else self.against if self.refute else "inconclusive"


UNDECIDED = Decision(False, False)


@dataclass
class Claim:
    id: str  # e.g. "K-Prop3.1-gmm": paper, statement number, setting
    paper: str  # "[K] Prop. 3.1"
    statement: str  # what the paper claims, in our words
    kind: str  # a key of KINDS
    criterion: str  # how the verdict is decided: its confirm and refute tests, their tolerance and why
    measured: dict  # the numbers behind the verdict (floats; "<name>_se" for a standard error)
    verdict: str | Decision  # a Decision; stored as one of VERDICTS with ``confirmed`` and ``refuted``
    summary: str  # the key numbers in one line, for the verdict table
    figure: str = ""  # the figure that shows it
    note: str = ""  # for inconclusive: what would decide it; for not-reproducible: why; else a caveat
    check_in_smoke: bool = False  # meaningful at smoke size: asserted when the notebook runs in smoke mode
    notebook: str = field(default="", compare=False)
    confirmed: bool = False  # the confirm test held
    refuted: bool = False  # the refute test held

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"claim {self.id}: kind={self.kind!r}; use one of {', '.join(KINDS)}")
        if isinstance(self.verdict, Decision):
            if self.verdict.rule:
                self.criterion += f"; {self.verdict.rule}"
            self.confirmed, self.refuted, self.verdict = self.verdict.confirm, self.verdict.refute, \
                self.verdict.verdict
        if self.verdict not in VERDICTS:
            raise ValueError(f"claim {self.id}: verdict={self.verdict!r}; use one of {', '.join(VERDICTS)}")
        if self.verdict != decided(self.confirmed, self.refuted, self.verdict):
            raise ValueError(f"claim {self.id}: verdict {self.verdict!r} does not follow from its tests (confirmed "
                             f"{self.confirmed}, refuted {self.refuted}); pass a Decision")
        self.measured = {k: _number(v) for k, v in self.measured.items()}


def decided(confirmed: bool, refuted: bool, verdict: str) -> str:
    """The verdict the two tests allow: 'reproduced' only if confirmed, 'not reproduced' or 'contradicts the paper'
    (whichever ``verdict`` names) only if refuted, otherwise 'inconclusive'."""
    return "reproduced" if confirmed else (verdict if verdict in VERDICTS[1:3] else "not reproduced") if refuted \
        else "inconclusive"


def _number(value):
    value = float(value)
    return value if math.isfinite(value) else str(value)  # JSON has no inf or nan


def exact(holds: bool, against: str = "not reproduced") -> Decision:
    """For a statement checked on exact numbers (closed forms, quadrature, an identity of the code): no sampling
    noise stands between the numbers and the statement, so failing it refutes it."""
    return Decision(bool(holds), not holds, against, "exact numbers, so a failure refutes")


def within(z, limit: float) -> Decision:
    """Agreement within noise: confirmed if every |z| <= ``limit``, refuted if any |z| > ``limit`` (a difference
    beyond ``limit`` standard errors is positive evidence of a difference); inconclusive without finite z."""
    import numpy as np

    z = np.abs(np.asarray(z, float))
    if not np.all(np.isfinite(z)):
        return UNDECIDED
    return Decision(bool(np.all(z <= limit)), bool(np.any(z > limit)), rule=f"refuted by some |z| > {limit:g}")


def equivalent(difference, halfwidth, margin: float) -> Decision:
    """Agreement within a margin: confirmed if every |``difference``| plus its interval's ``halfwidth`` is within
    ``margin``, refuted if some |difference| minus its halfwidth exceeds it (resolved beyond the margin);
    inconclusive with nothing to compare or a value that is not finite."""
    import numpy as np

    distance, halfwidth = np.abs(np.asarray(difference, float)), np.abs(np.asarray(halfwidth, float))
    if distance.size == 0 or not (np.all(np.isfinite(distance)) and np.all(np.isfinite(halfwidth))):
        return UNDECIDED
    return Decision(bool(np.all(distance + halfwidth <= margin)), bool(np.any(distance - halfwidth > margin)),
                    rule=f"refuted if some difference minus its interval's half-width exceeds {margin:.3g}")


def sign(mean, se, k: float = 2.0) -> Decision:
    """A positive effect: confirmed if ``mean`` > k ``se``, refuted if ``mean`` < -k ``se`` (the opposite effect,
    resolved); between them, or without a standard error, inconclusive."""
    import numpy as np

    if not (np.isfinite(mean) and np.isfinite(se)):
        return UNDECIDED
    return Decision(bool(mean > k * se), bool(mean < -k * se),
                    rule=f"refuted by the opposite effect beyond {k:g} standard errors")


def paired_t_power(effect: float, seeds: int, level: float = 0.95) -> float:
    """The chance that :func:`sign` with the two-sided ``level`` Student t factor for ``seeds`` - 1 degrees of
    freedom confirms a paired effect of size ``effect`` (mean over standard deviation of the per-seed differences):
    P(T > t) for T noncentral t with noncentrality ``effect`` sqrt(seeds)."""
    import numpy as np
    import scipy.stats

    factor = scipy.stats.t.ppf(0.5 + level / 2, seeds - 1)
    return float(scipy.stats.nct.sf(factor, seeds - 1, abs(effect) * np.sqrt(seeds)))


def seeds_for_power(differences, power: float = 0.8, level: float = 0.95, most: int = 1000) -> int | None:
    """The fewest seeds (at least 2) at which a paired effect the size of a pilot's per-seed ``differences``
    (their mean over their standard deviation, taken at face value) is confirmed with probability ``power``;
    None if more than ``most`` would be needed."""
    import numpy as np

    differences = np.asarray(differences, float)
    effect = differences.mean() / differences.std(ddof=1)
    return next((n for n in range(2, most + 1) if paired_t_power(effect, n, level) >= power), None)


def decreasing(values, errors) -> Decision:
    """An ordering: confirmed if each value exceeds the next by more than 2 combined standard errors, refuted if
    some later value exceeds an earlier one by more than 2 (a resolved reversal); otherwise, or with a single run
    (no standard errors), inconclusive."""
    import numpy as np

    values, errors = np.asarray(values, float), np.asarray(errors, float)
    if not np.all(np.isfinite(errors)):
        return UNDECIDED
    gaps, slack = -np.diff(values), 2 * np.hypot(errors[1:], errors[:-1])
    return Decision(bool(np.all(gaps > slack)), bool(np.any(gaps < -slack)),
                    rule="refuted by a gap reversed by more than 2 combined standard errors")


def every(decisions) -> Decision:
    """All of several parts: confirmed if every part is, refuted if any part is."""
    decisions = list(decisions)
    refute = any(d.refute for d in decisions)
    rules = dict.fromkeys(d.rule for d in decisions if d.rule)
    return Decision(all(d.confirm for d in decisions) and not refute, refute, rule="; ".join(rules))


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
