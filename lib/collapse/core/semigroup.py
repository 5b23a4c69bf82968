"""The OU semigroup P_t on laws, and the recursion it drives when the scores are exact.

An exact score and an exact reverse-time sampler stopped at t0 return P_t0 q, not q (P_t the law of X_t under the
forward OU process dX = -X/2 dt + dW started from q). The recursion with a fresh fraction alpha is therefore
p_hat_{i+1} = P_t0 (alpha p + (1 - alpha) p_hat_i), which this module computes three ways:

- on Gaussian mixtures, exactly (P_t maps N(m, v) to N(a m, a^2 v + 1 - a^2), a = e^{-t/2});
- on 1-D grid densities, with the Gaussian transition kernel as a matrix (quadrature);
- on Hermite coefficients: with f = p / gamma = sum_n c_n He_n (gamma = N(0, 1)), P_t multiplies c_n by
  lambda_n = e^{-n t / 2} (Mehler), so the limit's coefficients are c_n alpha lambda_n / (1 - (1 - alpha) lambda_n).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.polynomial import hermite_e

from collapse.core.diffusion import ou_kernel
from collapse.core.mixture import GaussianMixture, blend


def transition_matrix(x: np.ndarray, t: float) -> np.ndarray:
    """K with (K p)(x_i) = sum_j K_ij p(x_j): the density at x_i of X_t given X_0 = x_j, times dx, each column
    normalised to conserve mass (so that a kernel narrower than the grid step tends to the identity, not to 0)."""
    kernel, _, _ = ou_kernel(x, x, t)
    return kernel / kernel.sum(axis=0, keepdims=True)


def exact_recursion_mixture(data: GaussianMixture, alpha: float, t0s) -> list[GaussianMixture]:
    """[p_hat_1, ..., p_hat_N] of the exact-score recursion, generation i stopped at t0s[i - 1] (p_hat_0 = p)."""
    out, previous = [], data
    for t0 in t0s:
        previous = blend(data, previous, alpha).noised(t0)
        out.append(previous)
    return out


def exact_recursion_grid(p: np.ndarray, x: np.ndarray, alpha: float, t0s) -> list[np.ndarray]:
    """The same recursion on a 1-D grid density (one transition matrix per distinct stopping time)."""
    kernels, out, previous = {}, [], p
    for t0 in t0s:
        if t0 not in kernels:
            kernels[t0] = transition_matrix(x, t0)
        previous = kernels[t0] @ (alpha * p + (1 - alpha) * previous)
        out.append(previous)
    return out


def limit_terms(alpha: float, tolerance: float) -> int:
    """How many terms K of sum_k alpha (1 - alpha)^k P_{(k+1) t0} p leave a tail of total mass (1 - alpha)^K below
    ``tolerance`` (the truncated, renormalised sum is then within total variation 2 tolerance of the limit)."""
    if not 0 < alpha <= 1:
        raise ValueError(f"alpha={alpha} must lie in (0, 1]: with alpha = 0 the limit is N(0, I) (no data term)")
    return 1 if alpha == 1 else int(math.ceil(math.log(tolerance) / math.log(1 - alpha)))


def limit_mixture(data: GaussianMixture, alpha: float, t0: float, tolerance: float = 1e-12) -> GaussianMixture:
    """p_hat_infinity = sum_k alpha (1 - alpha)^k P_{(k+1) t0} p, truncated as :func:`limit_terms` says."""
    terms = limit_terms(alpha, tolerance)
    parts = [data.noised((k + 1) * t0) for k in range(terms)]
    weights = np.concatenate([alpha * (1 - alpha) ** k * data.weights for k in range(terms)])
    return GaussianMixture(np.vstack([q.means for q in parts]), np.vstack([q.variances for q in parts]),
                           weights / weights.sum())


def limit_grid(p: np.ndarray, x: np.ndarray, alpha: float, t0: float, tolerance: float = 1e-12) -> np.ndarray:
    """The same limit on a grid density."""
    kernel, term, total = transition_matrix(x, t0), p, np.zeros_like(p)
    for k in range(limit_terms(alpha, tolerance)):
        term = kernel @ term
        total += alpha * (1 - alpha) ** k * term
    return total / (total.sum() * (x[1] - x[0]))


def hermite_coefficients(p: np.ndarray, x: np.ndarray, modes: int) -> np.ndarray:
    """c_n = int p He_n dx / n! for n < ``modes``: p / gamma = sum_n c_n He_n in L^2(gamma) (quadrature)."""
    dx = x[1] - x[0]
    return np.array([np.sum(p * hermite_e.hermeval(x, np.eye(modes)[n])) * dx / math.factorial(n)
                     for n in range(modes)])


def limit_multiplier(n, alpha: float, t0: float) -> np.ndarray:
    """c_n(limit) / c_n(data) = alpha lambda_n / (1 - (1 - alpha) lambda_n), lambda_n = e^{-n t0 / 2}."""
    lam = np.exp(-np.asarray(n, float) * t0 / 2)
    return alpha * lam / (1 - (1 - alpha) * lam)
