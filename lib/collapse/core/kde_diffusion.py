"""The learner of [K]'s GMM experiment and its population model.

The learner fits a Gaussian KDE of bandwidth h to its training set and samples with the reverse SDE
driven by the KDE's exact noised score. With exact sampling the output law is the KDE noised to t0,
so in the population limit (N -> infinity, exact sampler) one generation maps

    q_i  ->  p_hat_{i+1} = P_{t0}( q_i * N(0, h^2 I) ),     q_i = alpha p + (1 - alpha) p_hat_i,

with P_{t0} the OU semigroup: a closed-form mixture recursion to check the finite-N simulation
against. Without the early-stopping contraction (t0 -> 0) each component's variance grows as
sigma^2 + h^2 (1 - (1 - alpha)^n) / alpha (:func:`component_variance`).
"""

from __future__ import annotations

from functools import partial

import numpy as np

from collapse.core.diffusion import SamplerConfig, reverse_sde
from collapse.core.mixture import GaussianMixture, blend, dtype_of, kde


class KDEScoreDiffusion:
    """Score of a Gaussian KDE of the training set, sampled by the reverse SDE from N(0, I)."""

    def __init__(self, bandwidth: float, sampler: SamplerConfig = SamplerConfig(), precision: str = "float64"):
        dtype_of(precision)  # a misspelt precision fails here, not after fitting
        self.bandwidth, self.sampler, self.precision = bandwidth, sampler, precision
        self.model: GaussianMixture | None = None

    def fit(self, data: np.ndarray) -> KDEScoreDiffusion:
        self.model = kde(data, self.bandwidth)
        return self

    def target(self) -> GaussianMixture:
        """The law an exact sampler would return: the KDE noised to t0."""
        return self.model.noised(self.sampler.t0)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        x_T = rng.standard_normal((n, self.model.dim))
        return reverse_sde(partial(self.model.score, precision=self.precision), x_T, rng, self.sampler)


def population_recursion(data: GaussianMixture, alpha: float, bandwidth: float, t0: float,
                         generations: int) -> list[GaussianMixture]:
    """[p_hat_1, ..., p_hat_G] of the N -> infinity, exact-sampler limit of the KDE recursion."""
    out, previous = [], data
    for _ in range(generations):
        q = blend(data, previous, alpha)
        previous = q.smoothed(bandwidth**2).noised(t0)
        out.append(previous)
    return out


def second_moment(start, bandwidth: float, alpha: float, generation, t0: float = 0.0) -> np.ndarray:
    """Per-coordinate second moment of p_hat_n in the population model, for coordinates whose second
    moment under the data is ``start`` (sigma^2 where every component mean is 0).

    One generation mixes (alpha data, 1 - alpha previous), adds the KDE's h^2 and noises to t0:
    m_n = a^2 (alpha start + (1 - alpha) m_{n-1} + h^2) + 1 - a^2, a^2 = exp(-t0), m_0 = start. The
    recursion is linear and the KDE's second moment is that of its training set plus h^2 whatever N, so
    this is also the *expected* value at finite N (the sampler being exact). Closed form:
    m_n = m* + (start - m*) (a^2 (1 - alpha))^n with fixed point m*; at t0 = 0 it is the paper's
    start + h^2 (1 - (1 - alpha)^n) / alpha (start + n h^2 at alpha = 0).
    """
    n = np.asarray(generation, dtype=float)
    a2, h2 = np.exp(-t0), bandwidth**2
    rate = a2 * (1 - alpha)
    if rate == 1.0:  # alpha = 0 and t0 = 0: nothing forgets and nothing contracts
        return start + n * h2
    fixed = (a2 * (alpha * start + h2) + 1 - a2) / (1 - rate)
    return fixed + (start - fixed) * rate**n


def component_variance(sigma: float, bandwidth: float, alpha: float, generation, t0: float = 0.0) -> np.ndarray:
    """Per-coordinate variance of a component of p_hat_n in the population model: sigma^2 + h^2 (1 -
    (1 - alpha)^n) / alpha without early stopping (t0 = 0), sigma^2 + n h^2 at alpha = 0."""
    return second_moment(sigma**2, bandwidth, alpha, generation, t0)


def within_component_variance(x: np.ndarray, means: np.ndarray) -> float:
    """Mean squared distance of each sample to its nearest data-component mean, per coordinate: the
    sample-based counterpart of :func:`component_variance` while components stay apart (once they
    overlap, nearest-mean assignment truncates it; compare with the population law's samples)."""
    d2 = np.sum((x[:, None, :] - means[None]) ** 2, axis=2)
    return float(d2.min(axis=1).mean() / x.shape[1])
