"""Notebook 08's testbed: exact precision and recall, the verifier's and the corrector's laws, and the practitioner's
rule against a measured recursion."""

import numpy as np
import pytest
from scipy.stats import norm

from collapse.core.grid import kl_grid
from collapse.studies import strategies as study
from collapse.studies.accumulation import data_density

X = np.linspace(-10, 10, 4001)
DX = X[1] - X[0]


@pytest.mark.parametrize("shift", [0.5, 1.0, 2.0])
def test_precision_and_recall_of_two_gaussians_match_their_closed_form(shift):
    """N(0, 1) against N(shift, 1): lambda phi(x) < phi(x - shift) beyond x* = (shift^2 / 2 + log lambda) / shift,
    so precision(lambda) = lambda (1 - Phi(x*)) + Phi(x* - shift) and recall = precision / lambda."""
    precision, recall = study.precision_recall_curve(norm.pdf(X), norm.pdf(X, shift), DX)
    lam = np.tan(np.linspace(0, np.pi / 2, study.PRD_ANGLES + 2)[1:-1])
    cut = (shift**2 / 2 + np.log(lam)) / shift
    exact = lam * norm.sf(cut) + norm.cdf(cut - shift)
    np.testing.assert_allclose(precision, np.minimum(exact, 1), atol=1e-5)
    np.testing.assert_allclose(recall, np.minimum(exact / lam, 1), atol=1e-5)
    assert study.f_beta(precision, recall, 8) < 1 and study.f_beta(precision, recall, 1 / 8) < 1


def test_a_model_equal_to_the_data_has_precision_and_recall_one_and_a_narrow_one_loses_recall():
    same = study.metrics(norm.logpdf(X), norm.logpdf(X), DX)
    assert same["precision"] == pytest.approx(1, abs=1e-3) and same["recall"] == pytest.approx(1, abs=1e-3)
    narrow = study.metrics(norm.logpdf(X), norm.logpdf(X, scale=0.3), DX)
    assert narrow["recall"] < 0.6 < 0.9 < narrow["precision"]
    assert np.isfinite(narrow["kl_coverage"]) and narrow["kl_coverage"] > narrow["kl_quality"] > 0  # no underflow


def test_the_verifier_passes_the_share_asked_and_moves_the_law_towards_its_picture():
    x = np.linspace(-8, 8, 801)
    p = data_density(x)
    learner = study.GridKDE(x, 0.3, log_verifier=np.log(p), keep=0.5).fit(np.full(50, 0.5))  # far from the data
    passed = learner.sampling_law()
    assert passed.sum() * (x[1] - x[0]) == pytest.approx(0.5, rel=1e-6)
    law = passed / (passed.sum() * (x[1] - x[0]))
    assert kl_grid(p, law, x[1] - x[0]) < kl_grid(p, learner.density, x[1] - x[0])
    assert np.array_equal(study.GridKDE(x, 0.3, log_verifier=np.log(p), keep=1.0).fit(np.zeros(5)).sampling_law() > 0,
                          study.GridKDE(x, 0.3).fit(np.zeros(5)).density > 0)


def test_draws_from_a_grid_density_have_its_mean():
    """The trapezoidal inverse is unbiased to O(dx^2); a cumulative sum starting at q_0 dx put every draw dx/2 to
    the left (7 standard errors here)."""
    x = np.linspace(-8, 8, 801)
    p = data_density(x)
    draws = study.sample_grid(p, x, 1_000_000, np.random.default_rng(0))
    mean = np.sum(x * p) * (x[1] - x[0])
    assert abs(draws.mean() - mean) < 3 * draws.std() / 1_000


def test_langevin_correction_keeps_the_data_and_pulls_a_widened_sample_back_towards_it():
    """p is stationary under the corrector, and a sample of p blurred by N(0, 0.5^2) regains p's spread (the mode
    weights, separated by a barrier, are not what a short correction fixes)."""
    x = np.linspace(-8, 8, 801)
    p, dx, rng = data_density(x), x[1] - x[0], np.random.default_rng(0)
    mean, variance = np.sum(x * p) * dx, np.sum((x - np.sum(x * p) * dx) ** 2 * p) * dx
    draws = study.sample_grid(p, x, 20_000, rng)
    kept = study.langevin(draws, x, np.log(p), 1.0, rng)
    assert abs(kept.mean() - mean) < 0.05 and abs(kept.var() / variance - 1) < 0.05
    blurred = draws + 0.5 * rng.standard_normal(draws.shape)
    corrected = study.langevin(blurred, x, np.log(p), 1.0, rng)
    assert abs(corrected.var() / variance - 1) < 0.5 * abs(blurred.var() / variance - 1)


def test_a_loop_with_only_real_data_keeps_its_quality_and_a_fully_synthetic_one_loses_it():
    options = dict(seed=0, n=300, bandwidth=0.3, generations=12, grid_points=401)
    real = np.array([study.run_loop("fresh", 1.0, replicate=r, **options)["kl_coverage"] for r in range(3)])
    synthetic = np.array([study.run_loop("fresh", 0.0, replicate=r, **options)["kl_coverage"] for r in range(3)])
    assert synthetic[:, -1].mean() > 3 * real[:, -1].mean()


@pytest.mark.parametrize("errors", ["independent", "coherent"])
def test_the_fresh_fraction_rule_keeps_a_measured_recursion_near_its_target(errors):
    """Notebook 02's recursion with a floor of imposed errors, run at the fraction the rule gives: its plateau is
    within 25 % of the target (first order in the drift; these drifts are small)."""
    eps2, target = 0.002, 0.01
    alpha = float(study.fresh_fraction_needed(eps2, target, errors))
    assert eps2 / (alpha * (2 - alpha) if errors == "independent" else alpha**2) == pytest.approx(target)
    level = study.plateau(alpha, eps2, errors, generations=120, replicates=8, grid_points=801, seed=1)["plateau"]
    assert abs(level / target - 1) < 0.25, level
    assert np.isnan(study.fresh_fraction_needed(2 * target, target, errors))  # no fresh fraction reaches it
