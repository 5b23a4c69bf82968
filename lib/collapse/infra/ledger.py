"""The claims ledger kept: each notebook's claims evaluated on its result, written beside it, and checked again
against the committed ledger (the claims themselves, and their criteria, live in :mod:`collapse.claims`)."""

from __future__ import annotations

import importlib
import math

from collapse.claims import Claim, from_json, to_json
from collapse.infra import config
from collapse.infra.cache import atomic_write_bytes


def evaluate(experiment: str, result, parameters: dict, sizes: dict) -> list[Claim]:
    """The claims of ``experiment`` evaluated on ``result`` (a labelled Dataset)."""
    module = importlib.import_module(f"collapse.claims.{experiment}")
    claims = module.claims(result, parameters, sizes)
    for claim in claims:
        claim.notebook = config.NOTEBOOKS[experiment]
    return claims


def table(claims: list[Claim]):
    """The claims as a table for a notebook."""
    import pandas as pd

    return pd.DataFrame([dict(claim=c.id, paper=c.paper, kind=c.kind, verdict=c.verdict, numbers=c.summary)
                         for c in claims]).set_index("claim")


def record(exp, claims: list[Claim], expected: list[Claim] | None = None):
    """Write ``claims`` beside ``exp``'s results (the committed ledger when the run is canonical) and return them
    as a table. In smoke mode, each claim meaningful at smoke size must come out as its committed full-mode
    verdict (``expected``), so a flipped verdict fails the notebook under nbval."""
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

    folder = results_dir or config.canonical_dirs(experiment, "full")[0]
    committed = {c.id: c for c in from_json((folder / "claims.json").read_text())}
    with xr.open_dataset(config.stored_result(folder), engine="scipy") as result:
        fresh = {c.id: c for c in evaluate(experiment, result.load(), config.notebook_defaults(experiment),
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
