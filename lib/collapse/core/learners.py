"""Simple learners for :func:`collapse.core.recursion.run_recursion`, vectorised across seeds.

Data for S independent seeds are held as one array of shape (n, S, d): row i holds the i-th point of
every seed. The recursion builds training sets by stacking and subsampling rows, which acts on all
seeds at once, and each learner fits one model per seed.
"""

from __future__ import annotations

import numpy as np

from collapse.core.mixture import kde


class GaussianFit:
    """Fit a Gaussian per seed (sample mean and covariance) and sample from it ([KZ]'s first setting).

    ``unbiased=False`` uses the maximum-likelihood covariance (divide by m), ``True`` divides by m - 1.
    """

    def __init__(self, unbiased: bool = False):
        self.unbiased = unbiased
        self.mean = self.cov = None

    def fit(self, data: np.ndarray) -> GaussianFit:
        m = data.shape[0]
        if m < 2:
            raise ValueError(f"need at least 2 points to fit a covariance; got {m}")
        self.mean = data.mean(axis=0)  # (S, d)
        centred = (data - self.mean).transpose(1, 0, 2)  # (S, m, d): batched matrix products use BLAS
        self.cov = centred.transpose(0, 2, 1) @ centred / (m - 1 if self.unbiased else m)
        return self

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        # A symmetric square root, not Cholesky: with fewer points than dimensions the fitted
        # covariance is singular, and sampling must stay inside its range.
        values, vectors = np.linalg.eigh(self.cov)
        tolerance = values.max(axis=1, keepdims=True) * values.shape[1] * np.finfo(float).eps
        values = np.where(values > tolerance, values, 0.0)  # rounding noise in the null space is zero
        # V sqrt(L) V^T, not V sqrt(L): eigenvector signs are LAPACK's choice and may differ between CPUs, and the
        # symmetric root does not depend on them, so the same seed draws the same points everywhere
        root = (vectors * np.sqrt(values)[:, None, :]) @ vectors.transpose(0, 2, 1)  # (S, d, d)
        z = rng.standard_normal((self.mean.shape[0], n, self.mean.shape[1]))  # (S, n, d)
        return self.mean + (z @ root.transpose(0, 2, 1)).transpose(1, 0, 2)


class KDESampler:
    """A Gaussian KDE of bandwidth h per seed, sampled exactly: a random training point plus
    N(0, h^2 I) ([KZ]'s second setting)."""

    def __init__(self, bandwidth: float):
        if bandwidth <= 0:
            raise ValueError(f"bandwidth={bandwidth} must be positive")
        self.bandwidth = bandwidth
        self.data = None

    def fit(self, data: np.ndarray) -> KDESampler:
        self.data = data
        return self

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        m, seeds, d = self.data.shape
        rows = rng.integers(0, m, size=(n, seeds))
        return self.data[rows, np.arange(seeds)] + self.bandwidth * rng.standard_normal((n, seeds, d))

    def nll(self, points: np.ndarray) -> np.ndarray:
        """Exact mean negative log-likelihood under each seed's KDE of ``points``: (T, d) shared by every seed, or
        (T, S, d), each seed its own. Shape (S,)."""
        seeds = self.data.shape[1]
        per_seed = points if points.ndim == 3 else np.repeat(points[:, None], seeds, axis=1)
        return np.array([-kde(self.data[:, s], self.bandwidth).log_prob(per_seed[:, s]).mean() for s in range(seeds)])
