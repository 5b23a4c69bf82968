"""[K]'s GMM experiment at smoke size: the claims of notebook 03 that must hold at any size."""

from functools import cache

import numpy as np
import pytest

from collapse import GaussianMixture, SamplerConfig, kde, paper_gmm
from collapse.core.kde_diffusion import component_variance, second_moment
from collapse.infra.cache import Checkpoints
from collapse.studies import gmm

SMOKE = dict(n=300, steps=250, bandwidth=0.6, paths=0, kl_samples=2_000, shown_points=1)


@cache
def run(alpha, replicate):
    """One smoke-size recursion of 5 generations, shared by the tests below (a run's first generations do not
    depend on how many follow)."""
    return gmm.run_job(alpha, replicate, seed=7, generations=5, **SMOKE)


def runs(alpha, replicates, generations):
    jobs = [run(alpha, r) for r in range(replicates)]
    return {key: np.array([job[key][:generations] for job in jobs]) for key in ("drift_kl", "within")}


@pytest.mark.parametrize("alpha", [0.0, 0.1, 0.5, 1.0])
def test_second_moment_closed_form_is_the_recursion(alpha):
    n = np.arange(8)
    t0, h, start = 0.02, 0.6, 0.36
    m, expected = start, [start]
    for _ in n[1:]:
        m = np.exp(-t0) * (alpha * start + (1 - alpha) * m + h**2) + 1 - np.exp(-t0)
        expected.append(m)
    np.testing.assert_allclose(second_moment(start, h, alpha, n, t0), expected, rtol=1e-12)
    paper = start + h**2 * (n if alpha == 0 else (1 - (1 - alpha) ** n) / alpha)
    np.testing.assert_allclose(component_variance(0.6, h, alpha, n), paper, rtol=1e-12)


def test_drift_at_last_generation_is_ordered_in_alpha():
    drift = [runs(a, replicates=3, generations=5)["drift_kl"][:, -1] for a in (0.1, 0.5, 0.9)]
    for larger, smaller in zip(drift, drift[1:]):  # each gap in standard errors of the difference, across runs
        se = np.sqrt(larger.var(ddof=1) / len(larger) + smaller.var(ddof=1) / len(smaller))
        assert larger.mean() - smaller.mean() > 3 * se, (larger, smaller)


@pytest.mark.parametrize("alpha", [0.1, 0.5])
def test_within_component_variance_matches_closed_form(alpha):
    """The expected second moment is exact at finite N (a KDE's second moment is its training set's plus
    h^2), so the runs' mean must agree with the closed form within its standard error across runs."""
    within = runs(alpha, replicates=6, generations=4)["within"]
    closed = second_moment(0.36, 0.6, alpha, np.arange(1, 5), SamplerConfig().t0)
    se = within.std(axis=0, ddof=1) / np.sqrt(len(within))
    z = (within.mean(axis=0) - closed) / se
    assert np.all(np.abs(z) < 4), z
    assert np.all(np.abs(within.mean(axis=0) / closed - 1) < 0.05)  # and the standard error is small


def test_energies_are_twice_the_kl_of_exact_time_reversals():
    """Both samplers are exact time reversals started from their own laws at T, so eps_star^2 / 2 =
    KL(q || p_hat) - KL(q_T || p_hat_T) and eps_hat^2 / 2 = KL(p_hat || q) - KL(p_hat_T || q_T), up to Monte Carlo
    error and the Euler-Maruyama shortfall (about 2 % at 500 steps). Both forms of eta_hat may not exceed 1 beyond
    their noise (3 standard errors), and the R^2 form not at all."""
    rng = np.random.default_rng(3)
    data = paper_gmm(dim=gmm.DIM)
    learned, t0 = kde(data.sample(300, rng), 0.6), SamplerConfig().t0
    stats = gmm.path_statistics(learned, data, SamplerConfig(), 2_000, rng)
    div = gmm.divergences(learned.noised(t0), data.noised(t0), data, 5_000, rng)
    for energy, kl, start in (("eps_star2", "kl_reverse", "kl_T_reverse"), ("eps_hat2", "kl", "kl_T")):
        gap = abs(stats[energy] / 2 - (div[kl] - stats[start]))
        tolerance = 3 * np.hypot(np.hypot(stats[energy + "_se"] / 2, div[kl + "_se"]), stats[start + "_se"]) \
            + 0.03 * div[kl]
        assert gap < tolerance, (energy, stats[energy] / 2, div[kl], stats[start])
    assert abs(stats["martingale_var"] / stats["eps_star2"] - 1) < 0.15  # Ito isometry, 2,000 paths
    assert 0.3 < stats["eta"] <= 1 + 3 * stats["eta_se"]
    assert 0.3 < stats["eta_r2"] <= 1


def test_exact_start_energy_extrapolates_to_the_kl_of_a_gaussian_pair():
    """Two centred Gaussians (variances 0.72 and 0.36 in 10-D, like a KDE component against a data component) at
    the protocol's T = 4: with exact starts, eps_hat^2 / 2 at k steps is A - B / k, and the extrapolated A must
    equal the closed-form KL(p_hat_t0 || q_t0) - KL(p_hat_T || q_T) within 3 standard errors."""
    wide, narrow = (GaussianMixture(np.zeros((1, gmm.DIM)), v) for v in (0.72, 0.36))
    config, paths = SamplerConfig(), 10_000

    def kl(t):
        v1, v2 = wide.noised(t).variances[0, 0], narrow.noised(t).variances[0, 0]
        return gmm.DIM / 2 * (v1 / v2 - 1 - np.log(v1 / v2))

    runs = [gmm.path_statistics(wide, narrow, SamplerConfig(steps=k), paths, np.random.default_rng(k))
            for k in (125, 500)]
    (e1, s1), (e2, s2) = ((r["eps_hat2"] / 2, r["eps_hat2_se"] / 2) for r in runs)
    limit, limit_se = (4 * e2 - e1) / 3, np.hypot(4 * s2, s1) / 3  # A from k = 125 and 500
    assert abs(limit - (kl(config.t0) - kl(config.T))) < 3 * limit_se, (limit, kl(config.t0), kl(config.T))


def test_projected_chi2_bound_is_rigorous_and_decides_generation_0():
    """At generation 0 (q = p, Gaussian on coordinates 3-10) the certified bound is the exact projected chi^2, at
    least the variational bound, and already far above 4 eps_star^2 (about 8 here) at n = 300."""
    rng = np.random.default_rng(5)
    data, t0 = paper_gmm(dim=gmm.DIM), SamplerConfig().t0
    certified = gmm.chi2_certified(kde(data.sample(300, rng), 0.6).noised(t0), data.noised(t0))
    assert certified["chi2_exact_proj"] >= certified["chi2_variational"] > 0
    assert certified["chi2_bound"] == certified["chi2_exact_proj"] > 100


def test_drift_decomposition_sums_to_the_drift():
    """sum_k c_k = ||p_hat_N - p||^2 exactly (the unrolled recursion), and the shares of an alpha = 1 run sit on the
    last generation alone (nothing is remembered)."""
    for alpha in (0.5, 1.0):
        out = gmm.run_job(alpha, 0, seed=2, n=100, generations=3, steps=50, bandwidth=0.6, paths=0, kl_samples=200,
                          shown_points=1)
        np.testing.assert_allclose(out["contribution"].sum(), out["drift_l2"], rtol=1e-9)
        if alpha == 1.0:
            np.testing.assert_allclose(out["contribution"][:-1], 0, atol=1e-12 * out["drift_l2"])


def test_an_interrupted_run_resumes_to_the_same_result(tmp_path):
    """Stop after 2 generations, rerun for 3 from the checkpoints: identical to 3 generations in one go
    (the learner's previous KDE, which defines q_g, travels in the checkpoint)."""
    sizes = dict(n=100, steps=50, bandwidth=0.6, paths=50, kl_samples=500, shown_points=1)
    straight = gmm.run_job(0.5, 0, seed=3, generations=3, **sizes)
    gmm.run_job(0.5, 0, seed=3, generations=2, checkpoints=Checkpoints(tmp_path), **sizes)
    resumed = gmm.run_job(0.5, 0, seed=3, generations=3, checkpoints=Checkpoints(tmp_path), **sizes)
    for key in ("kl", "drift_kl", "within", "eps_star2", "eta"):
        np.testing.assert_array_equal(resumed[key], straight[key])
