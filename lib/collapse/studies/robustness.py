"""A learned recursion around the ideal one (notebooks/07_limiting_distribution.ipynb, [F]'s robustness).

Both recursions run on the 1-D grid with the same discretised sampler, started from the exact law at T: the ideal
one with the exact score of q_i, the learned one with that score plus an error. Their distance per generation is
W2, exact in 1-D from the quantile functions.

Our bound: mixing with alpha p shrinks W2^2 by 1 - alpha (W2^2 is jointly convex) and P_t0 shrinks W2 by
a = e^{-t0/2} (the synchronous coupling of two OU processes), so d_{i+1} <= sqrt(1 - alpha) a d_i + delta_i with
delta_i the one-generation W2 of the error; with delta_i <= delta_1, d stays below delta_1 / (1 - sqrt(1 - alpha) a).
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
    (notebook 01's tanh error)."""
    x = np.linspace(-8, 8, grid_points)
    p, config = np.exp(one_d_mixture().log_prob(x[:, None])), SamplerConfig(t0=t0, steps=steps)
    start_kernel = transition_matrix(x, config.T)

    def error(y, t):
        return error_scale * ou_coefficient(t) * np.tanh(y)

    w2 = []
    for alpha in alphas:
        ideal = learned = p
        distances = []
        for _ in range(generations):
            laws = []
            for previous, err in ((ideal, None), (learned, error)):
                q = alpha * p + (1 - alpha) * previous
                laws.append(propagate(x, start_kernel @ q, grid_density_score(x, q), config, error=err).density)
            ideal, learned = laws
            distances.append(wasserstein2(learned, ideal, x))
        w2.append(distances)
    return xr.Dataset({"w2": (("alpha", "robust_generation"), w2)},
                      coords={"alpha": list(alphas), "robust_generation": np.arange(1, generations + 1)})


def ball_radius(first_w2, alpha, t0) -> np.ndarray:
    """delta_1 / (1 - sqrt(1 - alpha) e^{-t0/2}): the W2 ball the learned recursion stays in if no generation's own
    error exceeds the first's."""
    return np.asarray(first_w2) / (1 - np.sqrt(1 - np.asarray(alpha)) * np.exp(-t0 / 2))


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
