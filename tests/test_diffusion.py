import numpy as np
import pytest

from collapse import PathStatistics, SamplerConfig, paper_gmm, reverse_sde


def test_exact_score_sampling_reproduces_mean_and_covariance(rng):
    """With the exact score the sampler returns p noised to t0, up to the Euler-Maruyama error and
    the N(0, I) start. T = 8 makes the start negligible (a_T = e^-4); at the paper's T = 4 the start
    misses the spread a_T m of the means and the output's total variance is ~1.7 % low, a bias the
    GMM notebooks discuss. Tolerance: 5 standard errors of each mean and covariance entry, estimated
    from the 20,000 samples themselves."""
    p, config, n = paper_gmm(dim=2), SamplerConfig(T=8.0, t0=0.02, steps=200), 20_000
    target = p.noised(config.t0)
    y = reverse_sde(p.score, rng.standard_normal((n, 2)), rng, config)
    centred = y - y.mean(0)
    assert np.all(np.abs(y.mean(0) - target.mean()) < 5 * y.std(0) / np.sqrt(n))
    products = centred[:, :, None] * centred[:, None, :]
    se = products.reshape(n, -1).std(0).reshape(2, 2) / np.sqrt(n)
    assert np.all(np.abs(np.cov(y.T) - target.covariance()) < 5 * se)


def test_sampler_grid():
    c = SamplerConfig(T=4.0, t0=0.02, steps=4)
    np.testing.assert_allclose(c.times(), [4.0, 3.005, 2.01, 1.015])
    with pytest.raises(ValueError, match="t0"):
        SamplerConfig(T=1.0, t0=2.0)


def test_time_only_error_energy_is_exact(rng):
    """e = c (constant): the energy is ||c||^2 (T - t0) on every path, whichever path drives."""
    p, c, config = paper_gmm(dim=2), np.array([0.3, -0.4]), SamplerConfig(steps=50)
    ideal = PathStatistics(lambda y, t: p.score(y, t) + c, driven_by="true")
    learned = PathStatistics(p.score, driven_by="learned")
    reverse_sde(p.score, rng.standard_normal((100, 2)), rng, config, recorders=(ideal,))
    reverse_sde(lambda y, t: p.score(y, t) + c, rng.standard_normal((100, 2)), rng, config, recorders=(learned,))
    np.testing.assert_allclose(ideal.energy, 0.25 * (config.T - config.t0))
    np.testing.assert_allclose(learned.energy, 0.25 * (config.T - config.t0))


def test_martingale_variance_equals_energy_ito_isometry(rng):
    """A state-dependent error e = beta x: Var(M_T) = E[energy]. With n paths, the sample variance
    of M_T has relative standard error about sqrt(2/n) (more for heavy tails), so 5 of those."""
    p, n, beta = paper_gmm(dim=2), 20_000, 0.2
    stats = PathStatistics(lambda y, t: p.score(y, t) + beta * y, driven_by="true")
    reverse_sde(p.score, rng.standard_normal((n, 2)), rng, SamplerConfig(steps=100), recorders=(stats,))
    m, energy = stats.martingale, stats.energy
    assert abs(m.mean()) < 5 * m.std() / np.sqrt(n)
    kurtosis = np.mean((m - m.mean()) ** 4) / m.var() ** 2
    rel_se = np.sqrt((kurtosis - 1) / n)
    assert abs(m.var() / energy.mean() - 1) < 5 * rel_se


def test_protocol_start_bias_at_T4_is_the_reweighted_forward_law(rng):
    """At the protocol's T = 4 the exact-score sampler starts at N(0, I) instead of p_T, so it returns the law of
    X_t0 reweighted by (N(0, I) / p_T)(X_T) along the forward process (the reverse kernel is exact). Predicted from
    forward samples, the total second moment must match the sampler's within 4 combined standard errors -- and it
    must sit below the unbiased value (the bias, estimated paired on the same forward samples), the bias
    notebook 03 compounds over generations."""
    p, config, n = paper_gmm(dim=2), SamplerConfig(T=4.0, t0=0.02, steps=500), 40_000
    a0, a1 = np.exp(-config.t0 / 2), np.exp(-(config.T - config.t0) / 2)
    x_t0 = a0 * p.sample(n, rng) + np.sqrt(1 - a0**2) * rng.standard_normal((n, 2))
    x_T = a1 * x_t0 + np.sqrt(1 - a1**2) * rng.standard_normal((n, 2))
    weight = np.exp(-0.5 * (x_T**2).sum(1) - np.log(2 * np.pi) - p.log_prob(x_T, config.T))
    moment = (x_t0**2).sum(1)
    predicted = np.sum(weight * moment) / weight.sum()
    predicted_se = np.std(weight * (moment - predicted)) / weight.mean() / np.sqrt(n)
    y = reverse_sde(p.score, rng.standard_normal((n, 2)), rng, config)
    sampled, sampled_se = (y**2).sum(1).mean(), (y**2).sum(1).std() / np.sqrt(n)
    assert abs(sampled - predicted) < 4 * np.hypot(predicted_se, sampled_se), (sampled, predicted)
    bias = (weight - 1) * moment  # E[weight] = 1, so its mean is predicted minus the unbiased moment (paired)
    assert bias.mean() < -4 * bias.std() / np.sqrt(n), bias.mean()
