"""The cost model: every notebook's work is counted in every mode, grows with the mode, and the table renders."""

import pytest

from collapse.infra import config, plan

RATES = {unit: 1e6 for unit in plan.UNITS}  # fixed rates: the table's arithmetic without measuring


@pytest.mark.parametrize("experiment", [e for e in config.NOTEBOOKS if e != "language_model_smollm"])
def test_work_is_counted_and_grows_from_smoke_to_paper(experiment):
    smoke, full, paper = (plan.work(experiment, mode) for mode in ("smoke", "full", "paper"))
    assert set(smoke) == set(full) == set(paper) and set(full) <= set(plan.UNITS)
    for unit in full:
        assert 0 < smoke[unit] < full[unit] <= paper[unit], (unit, smoke[unit], full[unit], paper[unit])


def test_the_plan_prints_a_row_per_notebook_with_its_calibration():
    rows, rates = plan.plan("paper", rates=RATES, full_rates=RATES)
    text = plan.render(rows, rates, "paper")
    assert rates is RATES and [r["experiment"] for r in rows] == list(config.NOTEBOOKS)
    for row in rows:
        assert row["experiment"] in text
        modelled = sum(plan.work(row["experiment"], "paper").values()) / 1e6
        assert row["one_core_s"] == pytest.approx(modelled)
        if row["factor"]:
            assert row["machine_s"] == pytest.approx(modelled * row["factor"] / config.default_workers())
    with pytest.raises(KeyError, match="has no declaration"):
        plan.work("no_such_experiment", "full")
