"""Divergences between distributions with known densities."""

from __future__ import annotations

import numpy as np

from .mixture import GaussianMixture


def kl_monte_carlo(p: GaussianMixture, q: GaussianMixture, n: int, rng: np.random.Generator) -> tuple[float, float]:
    """KL(p || q) = E_p[log p - log q] by Monte Carlo with n draws from p: (estimate, standard error)."""
    x = p.sample(n, rng)
    log_ratio = p.log_prob(x) - q.log_prob(x)
    return float(log_ratio.mean()), float(log_ratio.std(ddof=1) / np.sqrt(n))
