"""Exact Gaussian testbed: closed-form divergences and the moments of the discretised sampler.

When the score and its error are affine in x, each Euler-Maruyama step
y' = y + (y/2 + s(y, t) + e(y, t)) dt + dB is an affine map plus Gaussian noise, so the sampler's law
stays Gaussian and its mean and covariance follow exactly:

    m' = M m + b dt,   C' = M C M^T + dt I,   M = I + (I/2 + A(t)) dt,

with drift (I/2 + A) y + b. No sampling error enters, and the path energy E sum ||e(Y_k, t_k)||^2 dt
is exact too. An *affine field* is a function t -> (A, b) meaning x -> A x + b.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from collapse.core.diffusion import SamplerConfig, ou_coefficient, ou_variance

AffineField = Callable[[float], tuple[np.ndarray, np.ndarray]]


def kl_gaussian(m1, c1, m2, c2) -> float:
    """KL(N(m1, c1) || N(m2, c2))."""
    m1, c1, m2, c2 = _as_gaussian(m1, c1, m2, c2)
    c2_inv = np.linalg.inv(c2)
    delta = m1 - m2
    _, logdet1 = np.linalg.slogdet(c1)
    _, logdet2 = np.linalg.slogdet(c2)
    return 0.5 * float(np.trace(c2_inv @ c1) + delta @ c2_inv @ delta - len(m1) + logdet2 - logdet1)


def chi2_gaussian(m1, c1, m2, c2) -> float:
    """chi^2(N(m1, c1) || N(m2, c2)), infinite unless 2 c2 - c1 is positive definite:

    1 + chi^2 = |c2| / (|c1|^{1/2} |2 c2 - c1|^{1/2}) exp(delta^T (2 c2 - c1)^{-1} delta).
    """
    m1, c1, m2, c2 = _as_gaussian(m1, c1, m2, c2)
    s = 2 * c2 - c1
    if np.any(np.linalg.eigvalsh(s) <= 0):
        return float("inf")
    delta = m1 - m2
    _, logdet1 = np.linalg.slogdet(c1)
    _, logdet2 = np.linalg.slogdet(c2)
    _, logdet_s = np.linalg.slogdet(s)
    log1p_chi2 = logdet2 - 0.5 * logdet1 - 0.5 * logdet_s + delta @ np.linalg.solve(s, delta)
    return float(np.expm1(log1p_chi2))


def gaussian_score(mean, cov) -> AffineField:
    """The exact score of N(mean, cov) noised to time t: -V_t^{-1} (x - a_t mean), V_t = a_t^2 cov + (1 - a_t^2) I."""
    mean, cov = np.asarray(mean, float), np.asarray(cov, float)

    def field(t):
        a = ou_coefficient(t)
        v_inv = np.linalg.inv(a**2 * cov + ou_variance(a) * np.eye(len(mean)))
        return -v_inv, v_inv @ (a * mean)

    return field


def as_score(field: AffineField):
    """The affine field as a score function score(x, t) for :func:`collapse.core.diffusion.reverse_sde`."""
    def score(x, t):
        a, b = field(t)
        return x @ a.T + b
    return score


def add_fields(*fields: AffineField) -> AffineField:
    def field(t):
        parts = [f(t) for f in fields]
        return sum(p[0] for p in parts), sum(p[1] for p in parts)
    return field


@dataclass
class ChainMoments:
    mean: np.ndarray  # endpoint mean
    cov: np.ndarray  # endpoint covariance
    energy: float  # E sum_k ||e(Y_k, t_k)||^2 dt along this chain (0 if no error field was given)


def chain_moments(score: AffineField, mean0, cov0, config: SamplerConfig,
                  error: AffineField | None = None, measured: AffineField | None = None) -> ChainMoments:
    """Exact endpoint moments of the Euler-Maruyama chain driven by score + error from N(mean0, cov0).

    ``measured`` is the error field whose energy is accumulated along this chain (default: ``error``):
    on the ideal chain (error None) pass the learned error as ``measured`` to get eps_star^2.
    """
    m, c = np.array(mean0, float), np.array(cov0, float)
    d, dt = len(m), config.dt
    measured = measured if measured is not None else error
    energy = 0.0
    for t in config.times():
        a, b = score(t)
        if error is not None:
            ea, eb = error(t)
            a, b = a + ea, b + eb
        if measured is not None:
            ma, mb = measured(t)
            mean_e = ma @ m + mb
            energy += (np.trace(ma @ c @ ma.T) + mean_e @ mean_e) * dt
        step = np.eye(d) + (0.5 * np.eye(d) + a) * dt
        m, c = step @ m + b * dt, step @ c @ step.T + dt * np.eye(d)
    return ChainMoments(m, c, energy)


def _as_gaussian(m1, c1, m2, c2):
    m1, m2 = np.atleast_1d(np.asarray(m1, float)), np.atleast_1d(np.asarray(m2, float))
    c1, c2 = np.atleast_2d(np.asarray(c1, float)), np.atleast_2d(np.asarray(c2, float))
    return m1, c1, m2, c2
