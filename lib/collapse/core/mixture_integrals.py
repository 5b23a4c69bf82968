"""Closed-form integrals of diagonal Gaussian mixtures: L^2 and weighted inner products (hence chi^2 to a
Gaussian) and a rigorous variational lower bound on chi^2 between two mixtures.

Every quantity here is a finite sum of Gaussian integrals, computed exactly (no Monte Carlo), in log space.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import logsumexp

from collapse.core.mixture import GaussianMixture

# A signed combination sum_i c_i M_i of mixtures, as [(c_i, M_i), ...]: e.g. p_hat - q is [(1, p_hat), (-1, q)].
Combination = list[tuple[float, GaussianMixture]]


def _groups(m: GaussianMixture):
    """The components of ``m`` grouped by their variance vector (a KDE has one group): (variance, means, log w)."""
    variances, index = np.unique(m.variances, axis=0, return_inverse=True)
    for g, v in enumerate(variances):
        members = index.ravel() == g
        yield v, m.means[members], np.log(m.weights[members])


def _log_inner(m1: GaussianMixture, m2: GaussianMixture, reference: GaussianMixture | None) -> float:
    """log int m1 m2 / r for one Gaussian r = N(c, diag s), or log int m1 m2 dx without a reference.

    Per coordinate, int N(x; a, u) N(x; b, w) / N(x; c, s) dx = sqrt(s / (u w lam)) exp((beta^2 / lam - gamma) / 2)
    with lam = 1/u + 1/w - 1/s, beta = a/u + b/w - c/s and gamma = a^2/u + b^2/w - c^2/s; it is finite iff lam > 0.
    Without a reference, 1/s = 0 and the prefactor is 1 / sqrt(2 pi u w lam). Within a pair of variance groups the
    a.b term is one matrix product.
    """
    flat = reference is None
    c, inv_s = (np.zeros(m1.dim), np.zeros(m1.dim)) if flat else (reference.means[0], 1 / reference.variances[0])
    terms = []
    for u, a, log_wa in _groups(m1):
        for w, b, log_wb in _groups(m2):
            lam = 1 / u + 1 / w - inv_s
            if np.any(lam <= 0):
                raise ValueError("the integral of m1 m2 / reference is infinite: use a wider reference (its variance "
                                 "must exceed u w / (u + w) for every pair of component variances u, w)")
            shifted = a / u - c * inv_s
            # each pair's log integral is (beta^2 / lam - gamma) / 2 + log w_a + log w_b; the sum over pairs is a
            # log-sum-exp of those terms (halving must come before it, not after: with several pairs per group,
            # 0.5 logsumexp(2 y) is not logsumexp(y))
            row = 0.5 * (shifted**2 / lam - a**2 / u).sum(1) + 0.5 * (c**2 * inv_s).sum() + log_wa
            col = 0.5 * (b**2 / (w**2 * lam) - b**2 / w).sum(1) + log_wb
            cross = (shifted / lam) @ (b / w).T
            prefactor = 1 / (2 * np.pi) if flat else 1 / inv_s
            constant = 0.5 * np.log(prefactor / (u * w * lam)).sum()
            terms.append(constant + logsumexp(row[:, None] + col[None, :] + cross))
    return float(logsumexp(terms))


def inner_product(first: Combination, second: Combination, reference: GaussianMixture | None = None) -> float:
    """<f, g> = int f g / r for signed combinations f, g of mixtures and a single Gaussian r (the weight 1/r), or the
    plain L^2 product int f g without a reference.

    With f = g = P and r = Q Gaussian this is 1 + chi^2(P || Q), exactly.
    """
    if reference is not None and len(reference) != 1:
        raise ValueError(f"reference has {len(reference)} components; the weight 1/r needs a single Gaussian")
    return float(sum(c1 * c2 * np.exp(_log_inner(m1, m2, reference)) for c1, m1 in first for c2, m2 in second))


def _log_exp_quadratic_moment(m: GaussianMixture, lam: np.ndarray) -> np.ndarray:
    """log E_m exp(lam ||x||^2 / 2) for each lam (all lam v < 1): per coordinate of N(a, v),
    (1 - lam v)^(-1/2) exp(lam a^2 / (2 (1 - lam v)))."""
    one_minus = 1 - lam[:, None, None] * m.variances[None]  # (lam, K, d)
    log_terms = (-0.5 * np.log(one_minus) + lam[:, None, None] * m.means[None] ** 2 / (2 * one_minus)).sum(-1)
    return logsumexp(log_terms + np.log(m.weights)[None], axis=1)


def chi2_lower_bound(p: GaussianMixture, q: GaussianMixture, steps: int = 400) -> tuple[float, float]:
    """A rigorous lower bound on chi^2(p || q) and the parameter attaining it: (bound, lam).

    For any f with finite variance under q, chi^2(p || q) >= (E_p f - E_q f)^2 / Var_q f (Cauchy-Schwarz on
    int (p/q - 1)(f - E_q f) q). With f = exp(lam ||x||^2 / 2) every expectation is closed form for a mixture, and
    f is proportional to p/q when both are centred Gaussians of isotropic variances (then the bound is chi^2 itself).
    The bound is maximised over lam on a grid from -4/v to just under 1/(2 v), v = q's largest variance (Var_q f
    is finite there); any lam gives a valid bound, so choosing it on the same laws keeps the bound rigorous.
    """
    v = float(q.variances.max())
    grid = np.linspace(-4.0, 0.499, steps) / v
    values = _variational_chi2(p, q, grid)
    best = int(np.argmax(values))
    low, high = grid[max(best - 1, 0)], grid[min(best + 1, steps - 1)]
    refined = minimize_scalar(lambda lam: -_variational_chi2(p, q, np.array([lam]))[0], bounds=(low, high),
                              method="bounded", options={"xatol": 1e-10 / v})
    if -refined.fun > values[best]:
        return float(-refined.fun), float(refined.x)
    return float(values[best]), float(grid[best])


def _variational_chi2(p: GaussianMixture, q: GaussianMixture, lam: np.ndarray) -> np.ndarray:
    """(E_p f - E_q f)^2 / Var_q f for f = exp(lam ||x||^2 / 2), per lam (0 where lam = 0: f constant)."""
    log_p, log_q, log_q2 = (_log_exp_quadratic_moment(p, lam), _log_exp_quadratic_moment(q, lam),
                            _log_exp_quadratic_moment(q, 2 * lam))
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        numerator = np.expm1(log_p - log_q) ** 2
        denominator = np.expm1(log_q2 - 2 * log_q)
        return np.where(denominator > 0, numerator / denominator, 0.0)


def marginal(m: GaussianMixture, coordinates) -> GaussianMixture:
    """The mixture's law on the given coordinates (chi^2 only falls under this projection: data processing)."""
    return GaussianMixture(m.means[:, coordinates], m.variances[:, coordinates], m.weights)


