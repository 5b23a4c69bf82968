"""Registered criteria: each claim's criterion, the date of the first committed result it judged, and every later
change (old, new, when, why), kept in ``data/results/criteria.json``.

A criterion changed after its result existed may have been fitted to that result; the registry keeps such changes
in plain view (RESULTS.md lists them under each claim), and ``make test`` fails when a ledger's criterion differs
from the registry's current text, until the change is registered with its reason:

    .venv/bin/python -m collapse criteria --register "why the criterion changed"
"""

from __future__ import annotations

import datetime
import json
import subprocess

from collapse.claims import Claim
from collapse.infra import config
from collapse.infra.cache import atomic_write_bytes

REGISTRY = config.ROOT / "data" / "results" / "criteria.json"


def load() -> dict:
    return json.loads(REGISTRY.read_text()) if REGISTRY.exists() else {}


def current(entry: dict) -> str:
    """The criterion an entry holds now: its last change's, or the one it was registered with."""
    return entry["changes"][-1]["to"] if entry["changes"] else entry["criterion"]


def problems(claims: list[Claim], registry: dict) -> list[str]:
    """One line per claim whose criterion is not the registry's current one, or that the registry lacks."""
    found = []
    for claim in claims:
        entry = registry.get(claim.id)
        if entry is None:
            found.append(f"{claim.id}: not registered")
        elif current(entry) != claim.criterion:
            found.append(f"{claim.id}: its criterion changed without a registered reason")
    return found


def register(claims: list[Claim], registry: dict, why: str, date: str | None = None, new_only: bool = False) -> dict:
    """``registry`` with the new claims registered and (unless ``new_only``) each changed criterion recorded with
    ``why``."""
    date = date or datetime.date.today().isoformat()
    commit = _head()
    out = {key: {**entry, "changes": list(entry["changes"])} for key, entry in registry.items()}
    for claim in claims:
        entry = out.get(claim.id)
        if entry is None:
            out[claim.id] = {"registered": date, "commit": commit, "criterion": claim.criterion, "changes": []}
        elif current(entry) != claim.criterion and not new_only:
            entry["changes"].append({"date": date, "commit": commit, "from": current(entry), "to": claim.criterion,
                                     "why": why})
    return dict(sorted(out.items()))


def write(registry: dict) -> None:
    atomic_write_bytes(REGISTRY, (json.dumps(registry, indent=1, ensure_ascii=False, sort_keys=True) + "\n").encode())


def _head() -> str:
    done = subprocess.run(["git", "-C", str(config.ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True)
    return done.stdout.strip() or "uncommitted"
