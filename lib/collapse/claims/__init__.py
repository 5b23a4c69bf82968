"""The claims ledger: every claim the companion makes, as data, with a criterion fixed in code.

Each notebook has a module here, ``claims(result, parameters, sizes) -> list[Claim]``, that evaluates its claims
from its stored result alone (and the notebook's default parameters and sizes, which a canonical result was
computed with). The notebook records them with :func:`record`; a canonical run writes them beside the result
(``data/results/<experiment>/claims.json``), the report renders the README's verdict table from them, and the
tests evaluate the same functions on the committed results again, so a change that flips a verdict fails CI.

These modules are never imported by a computation, so editing a criterion re-keys no result.
"""

from __future__ import annotations

import importlib
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


def evaluate(experiment: str, result, parameters: dict, sizes: dict) -> list[Claim]:
    """The claims of ``experiment`` evaluated on ``result`` (a labelled Dataset)."""
    from collapse.infra.config import NOTEBOOKS

    module = importlib.import_module(f"collapse.claims.{experiment}")
    claims = module.claims(result, parameters, sizes)
    for claim in claims:
        claim.notebook = NOTEBOOKS[experiment]
    return claims


def to_json(claims: list[Claim]) -> str:
    return json.dumps([asdict(c) for c in claims], indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def from_json(text: str) -> list[Claim]:
    return [Claim(**c) for c in json.loads(text)]


def table(claims: list[Claim]):
    """The claims as a table for a notebook."""
    import pandas as pd

    return pd.DataFrame([dict(claim=c.id, paper=c.paper, kind=c.kind, verdict=c.verdict, numbers=c.summary)
                         for c in claims]).set_index("claim")


def record(exp, claims: list[Claim], expected: list[Claim] | None = None):
    """Write ``claims`` beside ``exp``'s results (the committed ledger when the run is canonical) and return them
    as a table. In smoke mode, each claim meaningful at smoke size must come out as its committed full-mode
    verdict (``expected``), so a flipped verdict fails the notebook under nbval."""
    from collapse.infra.cache import atomic_write_bytes

    atomic_write_bytes(exp.results_dir / "claims.json", to_json(claims).encode())
    if exp.mode == "smoke" and expected:
        committed = {c.id: c.verdict for c in expected}
        flipped = [f"{c.id}: {c.verdict} (committed: {committed[c.id]})" for c in claims
                   if c.check_in_smoke and c.id in committed and c.verdict != committed[c.id]]
        assert not flipped, "verdicts flipped in smoke mode: " + "; ".join(flipped)
    return table(claims)


def recheck(experiment: str, results_dir=None) -> list[str]:
    """Evaluate ``experiment``'s criteria again on its committed result and compare with its committed ledger:
    one line per claim whose verdict or numbers differ, or that appeared or vanished."""
    import xarray as xr

    from collapse.infra import config
    from collapse.infra.experiment import notebook_defaults

    folder = results_dir or config.canonical_dirs(experiment, "full")[0]
    committed = {c.id: c for c in from_json((folder / "claims.json").read_text())}
    source = "compute_smollm" if experiment == "language_model_smollm" else "compute"
    with xr.open_dataset(folder / f"{source}.nc", engine="scipy") as result:
        fresh = {c.id: c for c in evaluate(experiment, result.load(), notebook_defaults(experiment),
                                           config.sizes(experiment, "full"))}
    problems = [f"{experiment}: claim {i} is in the ledger but no longer evaluated"
                for i in committed.keys() - fresh.keys()]
    problems += [f"{experiment}: claim {i} is evaluated but not in the ledger" for i in fresh.keys() - committed.keys()]
    for i in committed.keys() & fresh.keys():
        old, new = committed[i], fresh[i]
        if old.verdict != new.verdict:
            problems.append(f"{experiment}: {i} was {old.verdict!r}, now {new.verdict!r}")
        elif old.measured.keys() != new.measured.keys() or \
                any(not _close(old.measured.get(k), v) for k, v in new.measured.items()):
            problems.append(f"{experiment}: {i} measures {new.measured}, the ledger {old.measured}")
    return problems


def _close(a, b) -> bool:
    if isinstance(a, str) or isinstance(b, str) or a is None:
        return a == b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
