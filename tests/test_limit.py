"""Notebook 07's mechanics at smoke size: the exact-score recursion, its limit, its spectrum, annealed stopping and
the error that only rotates."""

import numpy as np
import pytest

from collapse.core import semigroup
from collapse.core.grid import kl_grid
from collapse.studies import limit
from collapse.studies.single_generation import one_d_mixture


@pytest.fixture(scope="module")
def grid():
    return limit.grid_study([0.0, 0.1, 0.5], t0=0.02, generations=15, grid_points=801, modes=12)


def test_closed_form_and_grid_routes_agree_and_simulation_matches(grid):
    assert float(grid.route_gap.max()) < 1e-10
    simulated = limit.simulation_study([0.5], t0=0.02, generations=2, samples=4000, steps=200, seed=1)
    assert float(simulated.simulation_z.max()) < 4.5  # the largest of 44 |z|: 4.5 leaves about 3 % to chance


def test_limit_rate_and_hermite_multipliers(grid):
    for alpha in (0.1, 0.5):
        tv = grid.tv_limit.sel(alpha=alpha).values
        assert np.all(tv[1:] <= (1 - alpha) * tv[:-1] * (1 + 1e-9))
        data, lim = grid.hermite_data.sel(alpha=alpha).values, grid.hermite_limit.sel(alpha=alpha).values
        kept = np.abs(data) > 1e-6
        np.testing.assert_allclose(lim[kept] / data[kept],
                                   semigroup.limit_multiplier(np.arange(12)[kept], alpha, 0.02), atol=1e-6)
    drifting = grid.kl_data.sel(alpha=0.0).values
    assert np.all(np.diff(drifting) > 0)  # alpha = 0: nothing pulls back to the data


def test_annealed_schedule_drifts_less_than_fixed():
    study = limit.schedule_study([0.5], t0=0.02, generations=15, grid_points=801)
    last = study.schedule_kl.isel(generation=-1).sel(alpha=0.5)
    for schedule in ("t0/i", "t0/i^2", "geometric"):
        assert float(last.sel(schedule=schedule)) < float(last.sel(schedule="fixed"))


def test_rotation_error_leaves_the_endpoint_and_a_gradient_error_does_not():
    table = limit.divergence_free_study(scale=0.3, variance=0.5, samples=4000, steps=200, seed=3).divfree
    rotation, gradient = table.sel(error="rotation"), table.sel(error="gradient")
    assert float(rotation.sel(quantity="eps_star2")) == pytest.approx(float(gradient.sel(quantity="eps_star2")))
    se = float(rotation.sel(quantity="mc_var_se"))
    for k in ("mc_var_1", "mc_var_2"):
        assert abs(float(rotation.sel(quantity=k)) - float(rotation.sel(quantity="exact_var_1"))) < 4 * se
        assert float(gradient.sel(quantity=k)) - float(gradient.sel(quantity="exact_var_1")) > 10 * se
    assert float(rotation.sel(quantity="eta")) < 1e-6 < 0.05 < float(gradient.sel(quantity="eta"))


def test_limit_truncation_and_bad_alpha():
    assert semigroup.limit_terms(0.5, 1e-12) == 40
    with pytest.raises(ValueError, match="alpha"):
        semigroup.limit_terms(0.0, 1e-12)
    x = np.linspace(-8, 8, 801)
    p = np.exp(one_d_mixture().log_prob(x[:, None]))
    assert kl_grid(semigroup.limit_grid(p, x, 1.0, 0.02), semigroup.transition_matrix(x, 0.02) @ p, x[1] - x[0]) < 1e-12


def test_error_modes_contract_by_one_minus_alpha_lambda_n():
    from collapse.studies import robustness

    out = robustness.error_modes([0.1, 0.5], t0=0.02, grid_points=401, steps=50, error_scale=0.3, modes=10)
    kept = np.abs(out.error_modes_before.values) > 1e-8
    for alpha in (0.1, 0.5):
        ratio = (out.error_modes_after.sel(alpha=alpha) / out.error_modes_before).values[kept]
        np.testing.assert_allclose(ratio, (1 - alpha) * np.exp(-np.arange(10)[kept] * 0.01), atol=1e-6)
        assert np.all(np.diff(ratio) < 0)  # higher modes fade faster
