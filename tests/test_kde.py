import numpy as np
import pytest

from collapse import SamplerConfig, Workflow, paper_gmm, run_recursion
from collapse.core.kde_diffusion import KDEScoreDiffusion, component_variance, population_recursion


@pytest.mark.parametrize("alpha", [0.0, 0.1, 0.5, 0.9])
def test_population_variance_follows_closed_form_without_early_stopping(alpha):
    """With t0 = 0 the excess total variance after n generations is d h^2 (1 - (1-alpha)^n) / alpha
    (n h^2 per coordinate at alpha = 0)."""
    data, h, d, sigma = paper_gmm(dim=3), 0.6, 3, 0.6
    for n, law in enumerate(population_recursion(data, alpha, h, 0.0, 8), start=1):
        excess = np.trace(law.covariance()) - np.trace(data.covariance())
        assert excess == pytest.approx(d * (component_variance(sigma, h, alpha, n) - sigma**2), rel=1e-12)


def test_simulated_kde_recursion_tracks_population_model():
    """Finite-N KDE diffusion against the population model, total variance per generation, with
    T = 8 so that the sampler's start-up bias (see test_diffusion) does not blur the comparison.
    Tolerance: 4 standard errors of a trace-covariance estimate, times sqrt(g + 1) because each
    generation inherits the sampling noise of the ones before it."""
    data, h, alpha, n, gens = paper_gmm(dim=2), 0.6, 0.0, 1_000, 3
    sampler = SamplerConfig(T=8.0, steps=200)
    rng = np.random.default_rng(3)
    result = run_recursion(KDEScoreDiffusion(h, sampler), data.sample, Workflow("fresh", alpha), gens, n, rng,
                           measure=lambda g, learner, train, x, rng: {
                               "tv": np.trace(np.cov(x.T)),
                               "se": np.sum((x - x.mean(0)) ** 2, axis=1).std() / np.sqrt(n)})
    expected = [np.trace(law.covariance()) for law in population_recursion(data, alpha, h, sampler.t0, gens)]
    for g in range(gens):
        assert abs(result.metrics["tv"][g] - expected[g]) < 4 * np.sqrt(g + 1) * result.metrics["se"][g]
