"""Gaussian mixtures with diagonal covariances: the workhorse of the companion.

A data GMM, a Gaussian KDE (N equal-weight components), the training mixture
q_i = alpha p + (1 - alpha) p_hat_i, and their OU-noised versions are all of this one type.
Under the OU forward process ``X_t = a_t X_0 + sqrt(1 - a_t^2) Z`` with ``a_t = exp(-t/2)``, a
component N(m, diag v) becomes N(a_t m, diag(a_t^2 v + 1 - a_t^2)): noising never leaves the type.

Densities and scores are evaluated in blocks of queries so that the (queries x components) matrix
never exceeds ``CHUNK_ELEMENTS`` entries, and with log-sum-exp so that far-away queries do not
underflow.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

CHUNK_ELEMENTS = 2**21  # entries of one (queries x components) block: 16 MiB in float64


def ou_coefficient(t: float) -> float:
    """a_t = exp(-t/2), the OU forward process's mean factor: X_t | X_0 ~ N(a_t X_0, (1 - a_t^2) I)."""
    return float(np.exp(-0.5 * t))


class GaussianMixture:
    """sum_k w_k N(means_k, diag(variances_k)).

    ``variances`` may be a scalar (one isotropic variance), shape (K,) (isotropic per component) or
    shape (K, d) (diagonal per component). ``weights`` default to uniform.
    """

    def __init__(self, means, variances, weights=None):
        means = np.array(means, dtype=float, ndmin=2)
        k, d = means.shape
        variances = np.asarray(variances, dtype=float)
        if variances.ndim == 1:
            if variances.shape[0] != k:
                raise ValueError(f"variances has shape {variances.shape}; use a scalar, ({k},) or ({k}, {d})")
            variances = variances[:, None]
        variances = np.broadcast_to(variances, (k, d)).copy()
        if not np.all(variances > 0):
            raise ValueError("variances must be positive")
        weights = np.full(k, 1.0 / k) if weights is None else np.asarray(weights, dtype=float)
        if weights.shape != (k,) or np.any(weights < 0) or not np.isclose(weights.sum(), 1.0):
            raise ValueError(f"weights must be {k} non-negative numbers summing to 1")
        self.means, self.variances, self.weights = means, variances, weights / weights.sum()

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    def __len__(self) -> int:
        return self.means.shape[0]

    def __repr__(self) -> str:
        return f"GaussianMixture(components={len(self)}, dim={self.dim})"

    # ------------------------------------------------------------------ transformations
    def noised(self, t: float) -> GaussianMixture:
        """The law of X_t under the OU forward process started from this mixture."""
        if t == 0:
            return self
        a = ou_coefficient(t)
        return GaussianMixture(a * self.means, a**2 * self.variances + (1 - a**2), self.weights)

    def smoothed(self, variance: float) -> GaussianMixture:
        """This mixture convolved with N(0, variance I) (e.g. what a Gaussian KDE adds)."""
        return GaussianMixture(self.means, self.variances + variance, self.weights)

    # ------------------------------------------------------------------ moments and sampling
    def mean(self) -> np.ndarray:
        return self.weights @ self.means

    def covariance(self) -> np.ndarray:
        """Total covariance: sum_k w_k (diag v_k + m_k m_k^T) - m m^T."""
        m = self.mean()
        second = (self.means * self.weights[:, None]).T @ self.means + np.diag(self.weights @ self.variances)
        return second - np.outer(m, m)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        k = rng.choice(len(self), size=n, p=self.weights)
        return self.means[k] + np.sqrt(self.variances[k]) * rng.standard_normal((n, self.dim))

    # ------------------------------------------------------------------ density and score
    def log_prob(self, x, t: float = 0.0) -> np.ndarray:
        """log density at x of this mixture noised to time t (t = 0: the mixture itself)."""
        p = self.noised(t)
        x = np.array(x, dtype=float, ndmin=2)
        out = np.empty(len(x))
        for rows in _chunks(len(x), len(p)):
            out[rows] = logsumexp(p._log_joint(x[rows]), axis=1)
        return out

    def score(self, x, t: float = 0.0) -> np.ndarray:
        """grad_x log density at x of this mixture noised to time t.

        For diagonal components, grad log N(x; m_k, diag v_k) = (m_k - x) / v_k, so with posterior
        responsibilities r_k(x): score = r @ (m / v) - x * (r @ (1 / v)), two matrix products.
        """
        p = self.noised(t)
        x = np.array(x, dtype=float, ndmin=2)
        inv_var = 1.0 / p.variances
        mean_over_var = p.means * inv_var
        out = np.empty_like(x)
        for rows in _chunks(len(x), len(p)):
            logits = p._log_joint(x[rows])
            logits -= logits.max(axis=1, keepdims=True)
            r = np.exp(logits)
            r /= r.sum(axis=1, keepdims=True)
            out[rows] = r @ mean_over_var - x[rows] * (r @ inv_var)
        return out

    def _log_joint(self, x: np.ndarray) -> np.ndarray:
        """log w_k + log N(x; m_k, diag v_k) for each query row and component, via matrix products:
        sum_j (x_j - m_kj)^2 / v_kj = x^2 @ (1/v)^T - 2 x @ (m/v)^T + sum_j m_kj^2 / v_kj."""
        inv_var = 1.0 / self.variances
        quad = (x**2) @ inv_var.T - 2.0 * x @ (self.means * inv_var).T
        const = (
            np.log(np.maximum(self.weights, np.finfo(float).tiny))
            - 0.5 * np.sum(self.means**2 * inv_var + np.log(2 * np.pi * self.variances), axis=1)
        )
        return const - 0.5 * quad


def blend(p: GaussianMixture, r: GaussianMixture, alpha: float) -> GaussianMixture:
    """alpha p + (1 - alpha) r: the training mixture q_i = alpha p_data + (1 - alpha) p_hat_i."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha={alpha} must lie in [0, 1]")
    if alpha == 1.0:
        return p
    if alpha == 0.0:
        return r
    return GaussianMixture(
        np.vstack([p.means, r.means]),
        np.vstack([p.variances, r.variances]),
        np.concatenate([alpha * p.weights, (1 - alpha) * r.weights]),
    )


def kde(data, bandwidth: float) -> GaussianMixture:
    """The Gaussian kernel density estimate of ``data`` with bandwidth h: (1/N) sum_j N(x_j, h^2 I)."""
    if bandwidth <= 0:
        raise ValueError(f"bandwidth={bandwidth} must be positive")
    return GaussianMixture(np.asarray(data, dtype=float), bandwidth**2)


def _chunks(n_rows: int, n_components: int):
    step = max(1, CHUNK_ELEMENTS // max(n_components, 1))
    for start in range(0, n_rows, step):
        yield slice(start, min(start + step, n_rows))


def paper_gmm(dim: int = 10, sigma: float = 0.6, spread: float = 4.0) -> GaussianMixture:
    """The data GMM of [K]'s synthetic experiment: 5 equally weighted isotropic components of std
    sigma at the origin and at (+-spread, +-spread, 0, ..., 0). The paper does not publish its means;
    these are the companion's choice (PAPER.md section 3)."""
    if dim < 2:
        raise ValueError(f"dim={dim} must be at least 2 (the means differ in the first two coordinates)")
    means = np.zeros((5, dim))
    means[1:, :2] = spread * np.array([[1, 1], [1, -1], [-1, 1], [-1, -1]])
    return GaussianMixture(means, sigma**2)
