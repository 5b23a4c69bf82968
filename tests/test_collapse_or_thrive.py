"""[KZ]'s Gaussian and KDE claims at smoke size: closed forms within Monte Carlo error, and ordering."""

import numpy as np
import pytest
from scipy import linalg
from sklearn import datasets

from collapse.core.learners import GaussianFit, KDESampler
from collapse.studies import collapse_or_thrive as cot

D, N, T, SEEDS = 3, 32, 10, 2_000


@pytest.fixture(scope="module")
def replace_runs():
    return cot.run_gaussian(D, N, "replace", T, SEEDS, seed=0)


def within(samples, expected, k=4.0):
    """|mean - expected| within k standard errors of the mean over seeds."""
    return abs(samples.mean() - expected) <= k * samples.std(ddof=1) / np.sqrt(len(samples))


@pytest.mark.parametrize("t", [1, 5, 10])
def test_replace_closed_forms_within_monte_carlo_error(replace_runs, t):
    assert within(replace_runs["mean_error"][t - 1], cot.replace_mean_error(D, N, t))
    assert within(replace_runs["log_det_ratio"][t - 1], cot.replace_log_det(D, N, t)[0])
    assert within(replace_runs["trace_ratio"][t - 1], cot.replace_trace_ratio(N, t))
    assert within(np.exp(replace_runs["log_det_ratio"][t - 1]), cot.replace_det_ratio(D, N, t))


def test_log_det_variance_matches_closed_form(replace_runs):
    """Sample variance over 2,000 seeds: relative standard error about sqrt(2/2000) = 3 %."""
    assert np.var(replace_runs["log_det_ratio"][T - 1]) == pytest.approx(cot.replace_log_det(D, N, T)[1], rel=0.15)


def test_accumulate_stays_below_its_bound_and_replace_ends_above_accumulate(replace_runs):
    accumulate = cot.run_gaussian(D, N, "accumulate", 20, 500, seed=0)["mean_error"]
    bound = cot.accumulate_mean_error_bound(D, N)
    assert np.all(accumulate.mean(axis=1) <= bound + 3 * accumulate.std(axis=1) / np.sqrt(500))
    assert replace_runs["mean_error"][-1].mean() > 3 * accumulate[T - 1].mean()


def test_unbiased_trace_is_a_martingale_whose_median_collapses():
    runs = cot.run_gaussian(D, N, "replace", 30, SEEDS, seed=1, unbiased=True)["trace_ratio"]
    assert within(runs[-1], 1.0)
    assert np.median(runs[-1]) < 0.8


def test_kde_replace_variance_follows_its_closed_form():
    """Mean over 400 seeds of the per-coordinate data variance; its fixed point is (n - 1) h^2."""
    run = cot.run_kde("moons", 0.5, 10, "replace", 20, 400, 0, test_points=10, every=100)
    v = run["variance"]
    expected = cot.kde_replace_variance(10, 0.5, np.arange(1, 20), v[0].mean())
    for g in (5, 19):
        assert within(v[g], expected[g - 1])
    assert cot.kde_replace_variance(10, 0.5, [2000], 0.3)[0] == pytest.approx(9 * 0.25)


def test_kde_replace_ends_above_accumulate_in_test_nll():
    final = {wf: cot.run_kde("moons", 0.5, 10, wf, 20, 4, 0, test_points=200, every=19)["nll"][-1].mean()
             for wf in ("replace", "accumulate")}
    assert final["replace"] > final["accumulate"]


def test_gaussian_fit_samples_its_covariance_even_when_singular(rng):
    data = rng.standard_normal((5, 3, 8))  # 5 points in 8 dimensions: rank-4 covariance per seed
    fit = GaussianFit().fit(data)
    x = fit.sample(100_000, rng)
    np.testing.assert_allclose(np.cov(x[:, 1].T, bias=True), fit.cov[1], atol=0.03)
    assert np.linalg.matrix_rank(x[:200, 1] - x[:200, 1].mean(0)) == 4


def test_kde_sampler_draws_around_training_points(rng):
    data = np.zeros((4, 2, 2))
    data[:, 1] = 5.0
    x = KDESampler(0.1).fit(data).sample(1000, rng)
    assert abs(x[:, 0].mean()) < 0.02 and abs(x[:, 1].mean() - 5) < 0.02 and abs(x[:, 0].std() - 0.1) < 0.01


@pytest.mark.parametrize("name, make", [("moons", lambda n, s: datasets.make_moons(n, noise=0.05, random_state=s)),
                                        ("circles", lambda n, s: datasets.make_circles(n, noise=0.05, factor=0.8,
                                                                                       random_state=s))])
def test_each_seed_draws_sklearns_lattice_as_kz_do(name, make):
    """One sklearn call per seed with that seed's n, as [KZ]'s code draws them: n/2 points per part."""
    x = cot.toy_data(name, 3)(10, np.random.default_rng(4))
    states = np.random.default_rng(4).integers(2**31, size=3)
    for s, state in enumerate(states):
        points, parts = make(10, int(state))
        np.testing.assert_array_equal(x[:, s], points)
        assert np.bincount(parts).tolist() == [5, 5]
    assert cot.toy_data("swiss_roll", 2)(7, np.random.default_rng(0)).shape == (7, 2, 3)


def test_accumulate_subsample_draws_an_independent_index_set_per_seed(rng):
    pool = np.broadcast_to(np.arange(50.0)[:, None, None], (50, 4, 1))  # each row holds its own index
    rows = cot.subsample_per_seed(pool, 10, rng)[..., 0].astype(int)  # (10, seeds)
    assert all(len(set(rows[:, s])) == 10 for s in range(4))  # without replacement within a seed
    assert len({tuple(sorted(rows[:, s])) for s in range(4)}) == 4  # and a different set for each seed


def test_gaussian_fit_samples_with_the_symmetric_root_whatever_the_eigenvector_signs(rng):
    """V sqrt(L) V^T does not depend on LAPACK's choice of signs: samples are mean + z sqrtm(cov)."""
    fit = GaussianFit().fit(rng.standard_normal((40, 2, 3)))
    x = fit.sample(5, np.random.default_rng(1))
    z = np.random.default_rng(1).standard_normal((2, 5, 3))
    for s in range(2):
        np.testing.assert_allclose(x[:, s], fit.mean[s] + z[s] @ linalg.sqrtm(fit.cov[s]).real, atol=1e-10)
