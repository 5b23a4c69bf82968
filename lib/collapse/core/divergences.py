"""Divergences between distributions with known densities."""

from __future__ import annotations

import numpy as np

from collapse.core.mixture import GaussianMixture
from collapse.core.stats import standard_error


def kl_monte_carlo(p: GaussianMixture, q: GaussianMixture, n: int, rng: np.random.Generator) -> tuple[float, float]:
    """KL(p || q) = E_p[log p - log q] by Monte Carlo with n draws from p: (estimate, standard error)."""
    x = p.sample(n, rng)
    log_ratio = p.log_prob(x) - q.log_prob(x)
    return float(log_ratio.mean()), float(standard_error(log_ratio))
