"""Claims of [K]'s theory on the exact testbeds of notebooks 01 and 02, at smoke size."""

import numpy as np
import pytest

from collapse import SamplerConfig
from collapse.core import bounds
from collapse.core.gaussian import chain_moments, chi2_gaussian, gaussian_score, kl_gaussian
from collapse.core.grid import chi2_grid, normal_density, propagate
from collapse.studies import accumulation as acc
from collapse.studies.single_generation import build_testbed, one_d_mixture, path_statistics

STEPS, GRID = 100, 401
RHOS = (0.0, 0.25, 0.5, 0.75, 1.0)


@pytest.fixture(scope="module")
def testbeds():
    return {kind: build_testbed(kind, STEPS, GRID, RHOS) for kind in ("gaussian", "grid")}


def test_gaussian_chi2_and_kl_closed_forms_agree_with_monte_carlo(rng):
    """n = 400,000 draws; tolerance 5 standard errors of each Monte Carlo mean."""
    m1, c1 = np.array([0.3, -0.2]), np.array([[1.2, 0.3], [0.3, 0.8]])
    m2, c2 = np.zeros(2), np.eye(2)
    n = 400_000
    from scipy.stats import multivariate_normal as mvn

    y = rng.multivariate_normal(m2, c2, n)
    ratio = mvn(m1, c1).pdf(y) / mvn(m2, c2).pdf(y)
    assert abs(chi2_gaussian(m1, c1, m2, c2) - (np.mean(ratio**2) - 1)) < 5 * np.std(ratio**2) / np.sqrt(n)
    x = rng.multivariate_normal(m1, c1, n)
    log_ratio = mvn(m1, c1).logpdf(x) - mvn(m2, c2).logpdf(x)
    assert abs(kl_gaussian(m1, c1, m2, c2) - log_ratio.mean()) < 5 * log_ratio.std() / np.sqrt(n)
    assert chi2_gaussian(m1, 2.5 * c2, m2, c2) == np.inf  # 2 c2 - c1 not positive definite


def test_grid_propagation_reproduces_exact_gaussian_chain():
    config = SamplerConfig(steps=STEPS)
    field = gaussian_score([0.7], [[0.5]])
    exact = chain_moments(field, [0.0], [[1.0]], config)
    x = np.linspace(-8, 8, 801)
    dx = x[1] - x[0]
    from collapse.core.gaussian import as_score

    density = propagate(x, normal_density(x), as_score(field), config).density
    mean = np.sum(x * density) * dx
    assert abs(np.sum(density) * dx - 1) < 1e-12
    assert abs(mean - exact.mean[0]) < 1e-8 and abs(np.sum((x - mean) ** 2 * density) * dx - exact.cov[0, 0]) < 1e-8


@pytest.mark.parametrize("kind, name", [("gaussian", "covariance"), ("grid", "weight")])
def test_ito_isometry_within_confidence_interval(testbeds, kind, name, rng):
    """Var(M_T) = eps_star^2 = beta^2 on the discretised chain; 4 standard errors of the sample variance."""
    testbed, _ = testbeds[kind]
    stats = path_statistics(testbed, name, 0.3, 20_000, rng)
    assert abs(stats["var_m"] - 0.09) < 4 * stats["var_m_se"]
    assert abs(stats["eps_star2"] - 0.09) < 4 * stats["eps_star2_se"]


@pytest.mark.parametrize("kind", ["gaussian", "grid"])
def test_prop_3_1_holds_on_every_testbed(testbeds, kind):
    testbed, shapes = testbeds[kind]
    for name in shapes:
        for beta in (0.01, 0.1, 0.5, 1.0, 2.0):
            r = testbed.exact(name, beta)
            assert r["kl"] <= bounds.girsanov_upper(r["eps_hat2"]) * (1 + 1e-9), (name, beta)


@pytest.mark.parametrize("kind", ["gaussian", "grid"])
def test_eta_hat_within_0_05_of_exact_eta_across_the_sweep(testbeds, kind):
    """n = 20,000 paths: the estimator's standard error is about 0.014, so 0.05 is 3.5 of them."""
    testbed, _ = testbeds[kind]
    rng = np.random.default_rng(1)
    for rho in RHOS:
        name = f"rho={rho:g}"
        eta_hat = path_statistics(testbed, name, 1.0, 20_000, rng)["eta_hat"]
        assert abs(eta_hat - testbed.eta(name)) < 0.05, (rho, eta_hat, testbed.eta(name))


def test_eta_spans_zero_to_one_and_time_only_oscillation_is_invisible(testbeds):
    testbed, _ = testbeds["gaussian"]
    assert testbed.eta("rho=0") < 0.01 and testbed.eta("rho=1") > 0.9
    assert testbed.exact("oscillating", 1.0)["kl"] < 1e-3 * testbed.exact("covariance", 1.0)["kl"]


@pytest.mark.parametrize("kind", ["gaussian", "grid"])
def test_first_order_chi2_over_eta_eps2_within_5_percent_at_smallest_error(testbeds, kind):
    testbed, shapes = testbeds[kind]
    for name in shapes:
        eta = testbed.eta(name)
        if eta > 0.1:
            r = testbed.exact(name, 0.01)
            assert abs(r["chi2"] / (eta * r["eps_star2"]) - 1) < 0.05, name


def test_forgetting_identity_to_1e_12(rng):
    x = np.linspace(-8, 8, GRID)
    dx = x[1] - x[0]
    p = acc.data_density(x)
    others = [np.interp(x - 0.5, x, p), normal_density(x, 0.0, 4.0)]
    discrete = rng.dirichlet(np.ones(30), size=2)
    for base, other, width in [(p, o, dx) for o in others] + [(discrete[0], discrete[1], 1.0)]:
        for alpha in (0.0, 0.1, 0.5, 0.9, 1.0):
            lhs = chi2_grid(alpha * base + (1 - alpha) * other, base, width)
            rhs = bounds.forgetting_factor(alpha) * chi2_grid(other, base, width)
            assert abs(lhs - rhs) <= 1e-12 * max(rhs, 1.0)


@pytest.mark.parametrize("alpha", [0.1, 0.5, 0.9])
def test_exact_decomposition_and_its_contributions(alpha):
    x = np.linspace(-8, 8, GRID)
    dx = x[1] - x[0]
    p = acc.data_density(x)
    rng = np.random.default_rng(4)
    p_hats, qs = acc.recursion(p, x, alpha, acc.schedule("floor", 0.01, 15), rng, np.interp(x - 0.5, x, p))
    terms, deviation = acc.decomposition(p, p_hats, qs, alpha)
    assert deviation < 1e-12
    assert np.isclose(acc.contributions(terms, p, dx).sum(), chi2_grid(p_hats[-1], p, dx), rtol=1e-10)
    assert np.allclose([chi2_grid(ph, q, dx) for ph, q in zip(p_hats[1:], qs)], 0.01, atol=1e-12)
    # the diagonal of the decomposition is the discounted sum of J_k = int Delta_k^2 / p and of D_0
    j = [chi2_grid(ph - q + p, p, dx) for ph, q in zip(p_hats[1:], qs)]
    diagonal = bounds.discounted_sum(j, bounds.forgetting_factor(alpha), chi2_grid(p_hats[0], p, dx))
    assert np.trace(acc.contributions(terms, p, dx)) == pytest.approx(diagonal[-1], rel=1e-10)


def test_initial_drift_is_forgotten_like_one_minus_alpha_squared():
    x = np.linspace(-8, 8, GRID)
    d = acc.regime_runs(x, 0.3, "none", 0.0, 10, 1, 0, np.interp(x - 0.5, x, acc.data_density(x)))[0]
    np.testing.assert_allclose(d, d[0] * 0.49 ** np.arange(11), rtol=1e-10)


@pytest.mark.parametrize("alpha", [0.1, 0.5, 0.9])
def test_prop_4_1_floor_holds(alpha):
    x = np.linspace(-8, 8, GRID)
    runs = acc.regime_runs(x, alpha, "floor", 0.01, 20, 4, 0)
    limsup = runs[:, 10:].max(axis=1)
    assert np.all(limsup >= alpha * 0.01 / (2 * (1 + bounds.forgetting_factor(alpha))))
    assert np.all(limsup >= bounds.persistent_floor(alpha, 1.0, 0.01))


def test_alpha_zero_keeps_drifting_while_alpha_positive_saturates():
    """Means over 20 runs (per-run D is heavy-tailed); the expected gaps are 5x or more."""
    x = np.linspace(-8, 8, GRID)
    no_forgetting = acc.regime_runs(x, 0.0, "floor", 0.01, 40, 20, 0).mean(axis=0)
    forgetting = acc.regime_runs(x, 0.1, "floor", 0.01, 40, 20, 0).mean(axis=0)
    assert no_forgetting[40] > 2 * no_forgetting[10] and no_forgetting[40] > 2 * forgetting[40]


def test_discounted_sum_matches_its_definition():
    errors, alpha, d0 = np.array([0.3, 0.1, 0.05, 0.2]), 0.4, 2.0
    f = 0.36
    expected = [sum(f ** (n - i) * errors[i] for i in range(n + 1)) + f ** (n + 1) * d0 for n in range(4)]
    np.testing.assert_allclose(bounds.discounted_sum(errors, bounds.forgetting_factor(alpha), d0), expected)
    assert bounds.effective_memory(0.5) == pytest.approx(1 / 0.75)


def test_systematic_errors_plateau_at_eps2_over_alpha2_to_first_order():
    """Errors of one sign and shape add coherently: where the drift stays small (alpha = 0.9, eps^2 = 0.0025), the
    floor-regime plateau is eps^2 / alpha^2 within 5 %, above the independent-error level eps^2 / (alpha (2 -
    alpha))."""
    x = np.linspace(-8, 8, 1601)
    runs = acc.regime_runs(x, 0.9, "floor", 0.0025, 40, 1, seed=0, systematic=True)
    assert runs[0, -1] == pytest.approx(acc.systematic_plateau(0.0025, 0.9), rel=0.05)
    assert runs[0, -1] > 1.15 * 0.0025 * bounds.effective_memory(0.9)


def test_grid_density_score_is_the_exact_noised_score():
    """The score of a grid density noised by the OU process, against the mixture's closed-form noised score."""
    x, data = np.linspace(-8, 8, 1601), one_d_mixture()
    score = acc.grid_density_score(x, acc.data_density(x))
    y = np.linspace(-3, 3, 61)[:, None]
    for t in (0.05, 0.5, 3.0):
        np.testing.assert_allclose(score(y, t), data.score(y, t), atol=1e-6)


def test_learned_recursion_measures_consistently():
    """Generation 0 trains on q_0 = p, so D_1 = I_0 exactly; eps_star^2 > 0, eta in (0, 1], and the ideal chain's
    own error (early stop, discretisation) is small next to the drift."""
    out = acc.learned_recursion(0.5, 2, n=200, bandwidth=0.2, grid_points=401, steps=50, seed=0, replicate=0)
    assert out["D"][0] == pytest.approx(out["I"][0], rel=1e-12)
    assert np.all(out["eps_star2"] > 0) and np.all((out["eta"] > 0) & (out["eta"] <= 1 + 1e-6))
    assert np.all(out["I_ideal"] < out["I"])
