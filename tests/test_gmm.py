"""[K]'s GMM experiment at smoke size: the claims of notebook 03 that must hold at any size."""

import numpy as np
import pytest

from collapse import SamplerConfig, kde, paper_gmm
from collapse.core.kde_diffusion import component_variance, second_moment
from collapse.infra.cache import Checkpoints
from collapse.studies import gmm

SMOKE = dict(n=300, steps=500, bandwidth=0.6, paths=0, kl_samples=2_000, shown_points=1)


def runs(alpha, replicates, generations):
    jobs = [gmm.run_job(alpha, r, seed=7, generations=generations, **SMOKE) for r in range(replicates)]
    return {key: np.array([job[key] for job in jobs]) for key in ("drift_kl", "within")}


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
    """Both samplers are exact time reversals, so eps_star^2 / 2 = KL(q || p_hat) and eps_hat^2 / 2 =
    KL(p_hat || q), up to Monte Carlo error and the Euler-Maruyama shortfall (about 2 % at 500 steps)."""
    rng = np.random.default_rng(3)
    data = paper_gmm(dim=gmm.DIM)
    learned, t0 = kde(data.sample(300, rng), 0.6), SamplerConfig().t0
    stats = gmm.path_statistics(learned, data, SamplerConfig(), 2_000, rng)
    div = gmm.divergences(learned.noised(t0), data.noised(t0), data, 5_000, rng)
    for energy, kl in (("eps_star2", "kl_reverse"), ("eps_hat2", "kl")):
        gap = abs(stats[energy] / 2 - div[kl])
        tolerance = 3 * np.hypot(stats[energy + "_se"] / 2, div[kl + "_se"]) + 0.03 * div[kl]
        assert gap < tolerance, (energy, stats[energy] / 2, div[kl])
    assert abs(stats["martingale_var"] / stats["eps_star2"] - 1) < 0.15  # Ito isometry, 2,000 paths
    assert 0.3 < stats["eta"] <= 1.1


def test_an_interrupted_run_resumes_to_the_same_result(tmp_path):
    """Stop after 2 generations, rerun for 3 from the checkpoints: identical to 3 generations in one go
    (the learner's previous KDE, which defines q_g, travels in the checkpoint)."""
    sizes = dict(n=100, steps=50, bandwidth=0.6, paths=50, kl_samples=500, shown_points=1)
    straight = gmm.run_job(0.5, 0, seed=3, generations=3, **sizes)
    gmm.run_job(0.5, 0, seed=3, generations=2, checkpoints=Checkpoints(tmp_path), **sizes)
    resumed = gmm.run_job(0.5, 0, seed=3, generations=3, checkpoints=Checkpoints(tmp_path), **sizes)
    for key in ("kl", "drift_kl", "within", "eps_star2", "eta"):
        np.testing.assert_array_equal(resumed[key], straight[key])
