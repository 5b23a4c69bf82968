"""One-dimensional densities on a uniform grid: the exact testbed for non-Gaussian laws.

Each Euler-Maruyama step y' = y + drift(y, t) dt + sqrt(dt) Z is a Gaussian transition kernel, so the
density of the *discretised* sampler can be propagated step by step on a grid, with no sampling error:
p'(x_j) = sum_i p(x_i) K(x_i -> x_j). The kernel is truncated to +-8 standard deviations around its
mean and renormalised, so mass is conserved to rounding; the remaining error is the quadrature's,
checked against the Gaussian closed form in the tests. Divergences are then Riemann sums.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from collapse.core.diffusion import SamplerConfig

_WIDTH = 8.0  # kernel truncation, in standard deviations: the neglected mass is below 1e-15


@dataclass
class GridChain:
    density: np.ndarray  # endpoint density on the grid
    energy: float  # E sum_k e(Y_k, t_k)^2 dt along this chain (0 if no error was measured)


def normal_density(x, mean=0.0, var=1.0) -> np.ndarray:
    return np.exp(-0.5 * (x - mean) ** 2 / var) / np.sqrt(2 * np.pi * var)


def propagate(x: np.ndarray, p0: np.ndarray, score, config: SamplerConfig, error=None, measured=None) -> GridChain:
    """Density of the Euler-Maruyama chain driven by ``score + error`` from density ``p0`` on grid ``x``.

    ``score(x, t)`` and ``error(x, t)`` take and return (n, 1) arrays, like every score in the library,
    so the same functions drive the Monte Carlo sampler. ``measured`` is the error whose energy is
    accumulated (default ``error``); on the ideal chain pass the learned error as ``measured``.
    """
    dx, dt, n = x[1] - x[0], config.dt, len(x)
    offsets = np.arange(-int(np.ceil(_WIDTH * np.sqrt(dt) / dx)), int(np.ceil(_WIDTH * np.sqrt(dt) / dx)) + 1)
    measured = measured if measured is not None else error
    p, energy, column = np.array(p0, float), 0.0, x[:, None]
    for t in config.times():
        drift = 0.5 * x + score(column, t)[:, 0]
        if error is not None:
            drift += error(column, t)[:, 0]
        if measured is not None:
            energy += float(np.sum(p * measured(column, t)[:, 0] ** 2) * dx * dt)
        target = x + drift * dt
        j = np.rint((target - x[0]) / dx).astype(int)[:, None] + offsets[None, :]
        inside = (j >= 0) & (j < n)
        w = np.exp(-0.5 * (x[np.clip(j, 0, n - 1)] - target[:, None]) ** 2 / dt) * inside
        w /= np.maximum(w.sum(axis=1, keepdims=True), np.finfo(float).tiny)
        p = np.bincount(j[inside], weights=(p[:, None] * w)[inside], minlength=n)
    return GridChain(p, energy)


def kl_grid(p: np.ndarray, q: np.ndarray, dx: float) -> float:
    """KL(p || q) by quadrature on a grid (cells where p underflows contribute 0)."""
    mask = p > 0
    return float(np.sum(p[mask] * np.log(p[mask] / q[mask])) * dx)


def chi2_grid(p: np.ndarray, q: np.ndarray, dx: float) -> float:
    """chi^2(p || q) = int (p - q)^2 / q by quadrature on a grid."""
    mask = q > 0
    return float(np.sum((p[mask] - q[mask]) ** 2 / q[mask]) * dx)


def fisher_grid(dp: np.ndarray, p: np.ndarray, dx: float) -> float:
    """Fisher information int (dp/dbeta)^2 / p, given the derivative ``dp`` of a density family at p."""
    mask = p > 0
    return float(np.sum(dp[mask] ** 2 / p[mask]) * dx)
