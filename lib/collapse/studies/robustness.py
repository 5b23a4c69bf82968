"""A learned recursion around the ideal one (notebooks/07_limiting_distribution.ipynb, [F]'s robustness).

Both recursions run on the 1-D grid with the same discretised sampler, started from the exact law at T: the ideal
one with the exact score of q_i, the learned one with that score plus an error. Their distance per generation is
W2, exact in 1-D from the quantile functions.

Our bound: mixing with alpha p shrinks W2^2 by 1 - alpha (W2^2 is jointly convex) and P_t0 shrinks W2 by
a = e^{-t0/2} (the synchronous coupling of two OU processes), so d_{i+1} <= sqrt(1 - alpha) a d_i + delta_{i+1}
with delta_i generation i's own error: the W2 between one learned and one exact step from the same (learned) law.
Both are measured, so the bound d_i <= sum_k (sqrt(1 - alpha) a)^(i-k) delta_k is checked at every generation, and
the ball's radius is sup_i delta_i / (1 - sqrt(1 - alpha) a).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from collapse.core.diffusion import SamplerConfig, ou_coefficient
from collapse.core.grid import propagate
from collapse.core.semigroup import hermite_coefficients, transition_matrix
from collapse.studies.accumulation import grid_density_score
from collapse.studies.single_generation import one_d_mixture


def wasserstein2(p: np.ndarray, q: np.ndarray, x: np.ndarray, levels: int = 4000) -> float:
    """W2 between two 1-D grid densities, from their quantile functions (exact in 1-D up to the grid)."""
    u = (np.arange(levels) + 0.5) / levels
    quantiles = [np.interp(u, np.cumsum(d) / d.sum(), x) for d in (p, q)]
    return float(np.sqrt(np.mean((quantiles[0] - quantiles[1]) ** 2)))


def robustness_study(alphas, t0, generations, grid_points, steps, error_scale) -> xr.Dataset:
    """W2 between the learned and the ideal recursion per generation, with the learned score off by c a_t tanh(x)
    (notebook 01's tanh error), and each generation's own error delta (see the module's docstring)."""
    x = np.linspace(-8, 8, grid_points)
    p, config = np.exp(one_d_mixture().log_prob(x[:, None])), SamplerConfig(t0=t0, steps=steps)
    start_kernel = transition_matrix(x, config.T)

    def error(y, t):
        return error_scale * ou_coefficient(t) * np.tanh(y)

    def step(alpha, previous, err):
        q = alpha * p + (1 - alpha) * previous
        return propagate(x, start_kernel @ q, grid_density_score(x, q), config, error=err).density

    w2, delta = np.empty((len(alphas), generations)), np.empty((len(alphas), generations))
    for a, alpha in enumerate(alphas):
        ideal = learned = p
        for i in range(generations):
            ideal, learned, exact_step = (step(alpha, ideal, None), step(alpha, learned, error),
                                          step(alpha, learned, None))
            w2[a, i], delta[a, i] = wasserstein2(learned, ideal, x), wasserstein2(learned, exact_step, x)
    return xr.Dataset({"w2": (("alpha", "robust_generation"), w2), "delta": (("alpha", "robust_generation"), delta)},
                      coords={"alpha": list(alphas), "robust_generation": np.arange(1, generations + 1)})


def contraction(alpha, t0):
    """sqrt(1 - alpha) e^{-t0/2}: how much one generation shrinks the W2 between two recursions."""
    return np.sqrt(1 - np.asarray(alpha)) * np.exp(-t0 / 2)


def ball_radius(delta, alpha, t0) -> np.ndarray:
    """sup_i delta_i / (1 - sqrt(1 - alpha) e^{-t0/2}) over the last axis of ``delta``: the W2 ball the learned
    recursion stays in when no generation's own error exceeds the largest measured."""
    return np.max(delta, axis=-1) / (1 - contraction(alpha, t0))


def distance_bound(delta, alpha, t0) -> np.ndarray:
    """d_i <= sum_{k <= i} rho^(i-k) delta_k, rho = :func:`contraction`, per generation (last axis of ``delta``)."""
    rho, delta = contraction(alpha, t0), np.asarray(delta, float)
    bound = np.zeros_like(delta)
    for i in range(delta.shape[-1]):
        bound[..., i] = delta[..., i] + (rho * bound[..., i - 1] if i else 0)
    return bound


def error_modes(alphas, t0, grid_points, steps, error_scale, modes) -> xr.Dataset:
    """How the recursion treats an error in each Hermite mode: the learned and the ideal first generation differ by
    d (the tanh score error, as above); with exact scores afterwards, d_{i+1} = (1 - alpha) P_t0 d_i, so mode n of the
    error contracts by (1 - alpha) lambda_n per generation -- faster for higher modes. Measured: the ratio of each
    mode's coefficient after one more generation (exact semigroup on the grid) to before, per alpha."""
    x = np.linspace(-8, 8, grid_points)
    p, config = np.exp(one_d_mixture().log_prob(x[:, None])), SamplerConfig(t0=t0, steps=steps)
    score = grid_density_score(x, p)

    def error(y, t):
        return error_scale * ou_coefficient(t) * np.tanh(y)

    start = transition_matrix(x, config.T) @ p
    d = propagate(x, start, score, config, error=error).density - propagate(x, start, score, config).density
    before = hermite_coefficients(d, x, modes)
    kernel = transition_matrix(x, t0)
    after = np.array([hermite_coefficients((1 - alpha) * kernel @ d, x, modes) for alpha in alphas])
    return xr.Dataset({"error_modes_before": ("mode", before), "error_modes_after": (("alpha", "mode"), after)},
                      coords={"alpha": list(alphas), "mode": np.arange(modes)})
