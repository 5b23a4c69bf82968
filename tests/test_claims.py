"""The claims ledger: verdicts re-evaluated on the committed results, the generated report, executed copies in sync."""

import json
import re
import shutil

import nbformat
import pytest
import xarray as xr

from collapse import claims
from collapse.infra import config, ledger, report

LEDGERS = sorted(e for e in config.NOTEBOOKS if (config.canonical_dirs(e, "full")[0] / "claims.json").exists())


def test_every_notebook_has_a_committed_ledger():
    assert set(LEDGERS) >= set(config.NOTEBOOKS) - {"language_model_smollm"}  # optional, opt-in


@pytest.mark.parametrize("experiment", LEDGERS)
def test_criteria_on_the_committed_results_give_the_committed_verdicts(experiment):
    assert ledger.recheck(experiment) == []


def test_a_changed_result_that_flips_a_verdict_is_caught(tmp_path):
    folder = tmp_path / "error_accumulation"
    shutil.copytree(config.canonical_dirs("error_accumulation", "full")[0], folder)
    with xr.open_dataset(folder / "compute.nc", engine="scipy") as ds:
        damaged = ds.load()
    damaged["deviation"] = damaged.deviation + 1e-3  # the exact decomposition no longer closes
    (folder / "compute.nc").write_bytes(bytes(damaged.to_netcdf(engine="scipy")))
    problems = ledger.recheck("error_accumulation", folder)
    assert any("K-decomposition was 'reproduced', now 'not reproduced'" in p for p in problems), problems


def test_claims_have_known_kinds_and_verdicts_and_say_why_when_inconclusive():
    for claim in report.ledger():
        assert claim.kind in claims.KINDS and claim.verdict in claims.VERDICTS
        if claim.verdict == "inconclusive" or claim.kind == "not-reproducible-here":
            assert claim.note or "decided" in claim.criterion, f"{claim.id}: say what would decide it"


def _claim(verdict, **tests):
    return claims.Claim("X", "[K]", "a statement", "empirical", "a criterion", {}, verdict, "numbers", **tests)


def test_a_verdict_against_the_paper_needs_its_refute_test():
    """Failing to confirm is not refuting: only a refute test that holds gives 'not reproduced' or 'contradicts'."""
    for verdict in ("not reproduced", "contradicts the paper", "reproduced"):
        with pytest.raises(ValueError, match="does not follow from its tests"):
            _claim(verdict)
    assert _claim(claims.Decision(False, False)).verdict == "inconclusive"
    assert _claim(claims.Decision(False, True, "contradicts the paper")).verdict == "contradicts the paper"
    assert _claim("not reproduced", refuted=True).verdict == "not reproduced"
    with pytest.raises(ValueError, match="overlap"):
        claims.Decision(True, True)
    refuted = _claim(claims.Decision(False, True, rule="refuted if so"))
    assert refuted.refuted and refuted.criterion.endswith("; refuted if so")


def test_the_shared_decisions_leave_room_for_inconclusive():
    """Orderings and effects are refuted only by a resolved reversal; an unresolved one is inconclusive."""
    assert claims.decreasing([3.0, 2.0, 1.0], [0.1, 0.1, 0.1]).verdict == "reproduced"
    assert claims.decreasing([3.0, 2.9, 1.0], [0.1, 0.1, 0.1]).verdict == "inconclusive"
    assert claims.decreasing([3.0, 3.5, 1.0], [0.1, 0.1, 0.1]).verdict == "not reproduced"
    assert claims.decreasing([3.0, 2.0], [float("nan")] * 2).verdict == "inconclusive"
    assert [claims.sign(m, 1.0).verdict for m in (3.0, 1.0, -3.0)] == ["reproduced", "inconclusive", "not reproduced"]
    assert claims.every([claims.sign(3.0, 1.0), claims.sign(1.0, 1.0)]).verdict == "inconclusive"
    assert claims.within([0.5, 3.5], 3).verdict == "not reproduced"


@pytest.mark.parametrize("experiment", LEDGERS)
def test_every_committed_verdict_follows_its_tests(experiment):
    """The committed ledger records both tests; every verdict against the paper has its refute test holding."""
    entries = json.loads((config.canonical_dirs(experiment, "full")[0] / "claims.json").read_text())
    for entry in entries:
        assert {"confirmed", "refuted"} <= entry.keys(), f"{entry['id']}: the ledger lacks its tests"
        against = entry["verdict"] in ("not reproduced", "contradicts the paper")
        assert entry["refuted"] == against and entry["confirmed"] == (entry["verdict"] == "reproduced"), entry["id"]


def test_the_readme_and_results_page_are_generated_from_the_ledger():
    assert report.write(check=True) == 0, "run `python -m collapse report`"


def test_a_hand_edit_of_a_generated_number_is_caught(monkeypatch, tmp_path):
    readme = tmp_path / "README.md"
    text = config.ROOT.joinpath("README.md").read_text()
    number = re.search(r"\d\.\d\d", text.split(report.START)[1])
    readme.write_text(text.replace(number.group(0), "9.99", 1))
    monkeypatch.setattr(report, "README", readme)
    monkeypatch.setattr(report, "RESULTS", config.ROOT / "RESULTS.md")
    assert report.write(check=True) == 1


def test_the_speed_paragraph_is_rendered_from_the_benchmarks_record(monkeypatch, tmp_path):
    record = json.loads(report.SPEED.read_text())
    assert report.speed_section(record) in config.ROOT.joinpath("README.md").read_text()
    moved = tmp_path / "kde_score.json"
    moved.write_text(json.dumps({**record, "fraction": record["fraction"] + 0.05}))
    monkeypatch.setattr(report, "SPEED", moved)
    monkeypatch.setattr(report, "RESULTS", config.ROOT / "RESULTS.md")
    assert report.write(check=True) == 1


def test_every_verdict_row_of_the_readme_has_a_ledger_entry():
    rows = [line for line in config.ROOT.joinpath("README.md").read_text().split(report.START)[1]
            .split(report.END)[0].splitlines() if line.startswith("| ") and not line.startswith("| claim")]
    assert len(rows) == len(report.ledger())


SOURCES = sorted((config.ROOT / "notebooks").glob("[0-9]*.ipynb"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_the_executed_copy_runs_the_same_code_as_its_source(path):
    def code(nb):
        return [c.source for c in nb.cells if c.cell_type == "code"
                and "injected-parameters" not in c.metadata.get("tags", [])]

    executed = config.ROOT / "notebooks" / "executed" / path.name
    assert code(nbformat.read(executed, as_version=4)) == code(nbformat.read(path, as_version=4)), \
        f"notebooks/executed/{path.name} is stale: run `make reproduce`"


def test_ledgers_are_plain_json_lists():
    for experiment in LEDGERS:
        entries = json.loads((config.canonical_dirs(experiment, "full")[0] / "claims.json").read_text())
        assert isinstance(entries, list) and all("verdict" in e for e in entries)


def test_every_criterion_is_the_registered_one():
    from collapse.infra import criteria

    assert criteria.problems(report.ledger(), criteria.load()) == []


def test_a_criterion_changed_after_its_result_fails_until_registered_with_a_reason():
    import dataclasses

    from collapse.infra import criteria

    ledger, registry = report.ledger(), criteria.load()
    edited = [dataclasses.replace(c, criterion=c.criterion + " (loosened)") if i == 0 else c
              for i, c in enumerate(ledger)]
    assert criteria.problems(edited, registry) == [f"{ledger[0].id}: its criterion changed without a registered reason"]
    registered = criteria.register(edited, registry, "a scratch edit", date="2026-12-07")
    assert criteria.problems(edited, registered) == []
    assert registered[ledger[0].id]["changes"][-1] == {"date": "2026-12-07", "commit": criteria._head(),
                                                      "from": ledger[0].criterion, "to": edited[0].criterion,
                                                      "why": "a scratch edit"}
    assert "Changed after its result existed*, 2026-12-07" in report.results_page(edited, registered)


def test_seeds_for_power_gives_the_textbook_paired_t_sample_sizes():
    from collapse.claims import paired_t_power, seeds_for_power

    # a one-sample two-sided t test at 5 % needs 10 pairs for an effect of one standard deviation, 34 for half of
    # one, to reach 80 % power (Cohen's tables); a null effect is never detected more often than the level
    assert seeds_for_power([0.0, 1.0, 2.0]) == 10 and seeds_for_power([-0.5, 0.5, 1.5]) == 34
    assert seeds_for_power([-1.0, 0.0, 1.0]) is None and paired_t_power(0.0, 6) < 0.05
