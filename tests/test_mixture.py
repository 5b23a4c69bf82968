import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from collapse import GaussianMixture, SamplerConfig, blend, kde, ou_coefficient, ou_forward, paper_gmm
from collapse.core import mixture as mixture_module
from collapse.core.kde_diffusion import KDEScoreDiffusion


def test_log_prob_matches_scipy(mixture3d, rng):
    x = rng.normal(size=(50, 3)) * 2
    expected = np.log(sum(w * multivariate_normal(m, np.diag(v)).pdf(x)
                          for w, m, v in zip(mixture3d.weights, mixture3d.means, mixture3d.variances)))
    np.testing.assert_allclose(mixture3d.log_prob(x), expected, rtol=1e-10)


@pytest.mark.parametrize("t", [0.0, 0.02, 0.3, 1.0, 4.0])
def test_score_is_gradient_of_log_density(mixture3d, rng, t):
    x = rng.normal(size=(20, 3)) * 3  # includes points far from every component
    eps = 1e-5
    fd = np.stack([(mixture3d.log_prob(x + eps * e, t) - mixture3d.log_prob(x - eps * e, t)) / (2 * eps)
                   for e in np.eye(3)], axis=1)
    np.testing.assert_allclose(mixture3d.score(x, t), fd, rtol=1e-6, atol=1e-6)


def test_score_far_from_all_components_does_not_underflow(mixture3d):
    x = np.array([[60.0, -80.0, 40.0]])  # every density underflows to 0 here; log-sum-exp must not
    s = mixture3d.score(x)
    assert np.all(np.isfinite(s)) and np.all(np.isfinite(mixture3d.log_prob(x)))


@pytest.mark.parametrize("isotropic", [True, False])
def test_tiling_does_not_change_results(rng, monkeypatch, isotropic):
    k, d = 300, 3
    variances = rng.uniform(0.2, 2.0, size=(k, 1) if isotropic else (k, d))
    mixture = GaussianMixture(rng.normal(size=(k, d)) * 3, variances, rng.dirichlet(np.ones(k)))
    x = rng.normal(size=(101, d)) * 3
    one_tile = mixture.score(x, 0.5), mixture.log_prob(x, 0.5)
    monkeypatch.setattr(mixture_module, "CPU_TILE", (14, 7))  # 2 queries x 7 components: 51 x 43 tiles
    np.testing.assert_allclose(mixture.score(x, 0.5), one_tile[0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(mixture.log_prob(x, 0.5), one_tile[1], rtol=1e-12)
    noised = mixture.noised(0.5)
    log_joint = np.log(noised.weights) + np.stack(
        [multivariate_normal(m, np.diag(v)).logpdf(x) for m, v in zip(noised.means, noised.variances)], axis=1)
    np.testing.assert_allclose(one_tile[1], logsumexp(log_joint, axis=1), rtol=1e-12)


def test_tiles_that_overflow_or_underflow_are_redone_exactly(monkeypatch):
    """The kernel shifts each tile by the log-normaliser of the tiles before it; a component 50 standard deviations
    closer than any earlier one overflows that shift (a logit ~1250 above it), and a query 300 away underflows a first
    tile. Both must come out as the dense log-sum-exp computes them."""
    means = np.concatenate([np.linspace(-3, 3, 40), [10.0]])[:, None]
    mixture = GaussianMixture(means, 0.01)
    x = np.array([[10.0], [9.9], [0.05], [300.0], [-300.0]])
    monkeypatch.setattr(mixture_module, "CPU_TILE", (14, 7))  # the close component sits in the last of 6 tiles
    log_joint = np.log(mixture.weights) - 0.5 * (x - means.T) ** 2 / 0.01 - 0.5 * np.log(2 * np.pi * 0.01)
    posterior = np.exp(log_joint - logsumexp(log_joint, axis=1, keepdims=True))
    np.testing.assert_allclose(mixture.log_prob(x), logsumexp(log_joint, axis=1), rtol=1e-13)
    np.testing.assert_allclose(mixture.score(x), (posterior @ means - x) / 0.01, rtol=1e-10, atol=1e-9)


def test_the_window_that_skips_the_maxima_keeps_full_precision_and_finite_sums(monkeypatch):
    """The fast path's [floor, ceiling]: a first tile accepted while its terms are denormal would lose precision
    (floor), and one whose normaliser times max|values| passes the float64 range would give nan (ceiling)."""
    far = GaussianMixture([[0.0], [1.0]], 1.0).log_prob([[39.3]])  # every logit ~ -750: only denormals at s = 0
    exact = logsumexp([np.log(0.5) - 0.5 * 39.3**2 - 0.5 * np.log(2 * np.pi),
                       np.log(0.5) - 0.5 * 38.3**2 - 0.5 * np.log(2 * np.pi)])
    np.testing.assert_allclose(far, exact, rtol=1e-14)
    monkeypatch.setattr(mixture_module, "CPU_TILE", (1, 1))
    d = np.sqrt(2 * 705e-4)  # the second component's logit exceeds the first's by 705: e^705 * values overflows
    assert np.all(np.isfinite(GaussianMixture([[0.0], [d]], 1e-4).score([[d]])))


def test_blocks_run_unchecked_until_one_leaves_the_window_then_tile_by_tile(monkeypatch, rng):
    """Speed is part of the kernel's contract: a KDE's queries need no per-tile checks, even away from the origin,
    where the ||x||^2 term the shift carries is ~3e3 nats; a query far from every component (all its densities
    underflow) sends its block, and every block after it, tile by tile."""
    passes = []  # per _accumulate call: whether it checked each tile
    accumulate = mixture_module._accumulate
    monkeypatch.setattr(mixture_module, "_accumulate", lambda *a: passes.append(len(a) > 3) or accumulate(*a))
    monkeypatch.setattr(mixture_module, "CPU_TILE", (1000, 50))  # 20 queries x 50 components: 5 blocks of 100
    mixture = kde(paper_gmm().sample(500, rng) + 20.0, 0.6)
    x = mixture.sample(100, rng)
    x[45] = 300.0  # in the third block
    assert np.all(np.isfinite(mixture.score(x, 0.5)))
    assert passes == [False, False, False, True, True, True]


def test_a_shared_variance_mixture_where_the_norm_term_is_huge_matches_the_dense_formula(rng):
    """Components sharing one variance leave the ||x||^2 logit column out of the GEMM (it starts each row's shift).
    In 196 dimensions at t = 0.001 that term is ~3e4 nats, as in notebook 04's training-set score."""
    mixture, t = GaussianMixture(rng.uniform(0, 1, (300, 196)), 1e-10), 1e-3
    noised = mixture.noised(t)
    x = noised.sample(40, rng)
    v = noised.variances[0, 0]
    log_joint = (np.log(noised.weights) - 0.5 * ((x[:, None, :] - noised.means) ** 2).sum(-1) / v
                 - 0.5 * x.shape[1] * np.log(2 * np.pi * v))
    posterior = np.exp(log_joint - logsumexp(log_joint, axis=1, keepdims=True))
    np.testing.assert_allclose(mixture.log_prob(x, t), logsumexp(log_joint, axis=1), rtol=1e-12)
    np.testing.assert_allclose(mixture.score(x, t), (posterior @ noised.means - x) / v, rtol=1e-9, atol=1e-6)


def test_float32_scores_stay_close_at_the_smallest_noise_level(rng):
    """The sampler's float32 option on the GMM experiment's KDE (h = 0.6, d = 10) at t0, where the noised
    components are narrowest: per-query relative error well under 1e-4 (`make bench` prints it at N = 10,000)."""
    mixture, t0 = kde(paper_gmm().sample(2_000, rng), 0.6), SamplerConfig().t0
    x = mixture.noised(t0).sample(500, rng)
    exact, fast = mixture.score(x, t0), mixture.score(x, t0, precision="float32")
    assert np.max(np.linalg.norm(fast - exact, axis=1) / np.linalg.norm(exact, axis=1)) < 1e-4
    with pytest.raises(ValueError, match="precision"):
        mixture.score(x, t0, precision="half")
    with pytest.raises(ValueError, match="precision='half'; use one of 'float64', 'float32'"):
        KDEScoreDiffusion(0.6, precision="half")  # at construction, before any fitting or sampling


def test_noised_mixture_is_law_of_ou_forward(mixture3d, rng):
    t, n = 0.7, 200_000
    xt = ou_forward(mixture3d.sample(n, rng), t, rng)
    noised = mixture3d.noised(t)
    a = ou_coefficient(t)
    np.testing.assert_allclose(noised.mean(), a * mixture3d.mean())
    se = np.sqrt(np.diag(noised.covariance()) / n)
    assert np.all(np.abs(xt.mean(0) - noised.mean()) < 5 * se)
    np.testing.assert_allclose(np.cov(xt.T), noised.covariance(), atol=0.02)


def test_blend_and_kde():
    p, r = paper_gmm(dim=2), kde(np.zeros((4, 2)), 0.5)
    q = blend(p, r, 0.25)
    assert len(q) == 9 and np.isclose(q.weights[:5].sum(), 0.25)
    np.testing.assert_allclose(q.mean(), 0.25 * p.mean() + 0.75 * r.mean())
    assert blend(p, r, 1.0) is p and blend(p, r, 0.0) is r
    np.testing.assert_allclose(r.variances, 0.25)


@pytest.mark.parametrize("bad", [dict(alpha=1.5), dict(alpha=-0.1)])
def test_blend_rejects_alpha_outside_unit_interval(bad):
    with pytest.raises(ValueError, match="alpha"):
        blend(paper_gmm(2), paper_gmm(2), **bad)


def test_invalid_mixtures_are_rejected():
    with pytest.raises(ValueError, match="weights"):
        GaussianMixture([[0.0], [1.0]], 1.0, [0.5, 0.6])
    with pytest.raises(ValueError, match="variances"):
        GaussianMixture([[0.0], [1.0]], [1.0, -1.0])
    with pytest.raises(ValueError, match="bandwidth"):
        kde(np.zeros((3, 2)), 0.0)
