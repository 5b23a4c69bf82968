"""The bounds of [K] (numbering of v2) as plain functions of measured quantities, and the
observability estimator.

Single generation, with eps_star^2 (ideal-path energy), eps_hat^2 (learned-path energy) and
eta (observability):

- Prop 3.1   KL(p_hat || q) <= eps_hat^2 / 2                                :func:`girsanov_upper`
- Prop 3.3   chi^2(p_hat || q) >= eta eps^2 / 4 - C eps^4, and >= eta eps^2 / 8 for small eps
                                                                            :func:`lower_bound`
- Thm 3.4    chi^2(p_hat || q) <= 4 eps^2 + c eps^4                          :func:`two_sided_upper`
- first order  chi^2 ~ eta eps^2,  KL ~ eta eps^2 / 2

Across generations, with fresh fraction alpha:

- Lemma      chi^2(alpha p + (1 - alpha) r || p) = (1 - alpha)^2 chi^2(r || p)   :func:`forgetting_factor`
- memory     1 / (alpha (2 - alpha)) generations                                 :func:`effective_memory`
- Thm 4.2    D_{N+1} ~ sum_i (1-alpha)^{2(N-i)} eps_i^2 + (1-alpha)^{2(N+1-i0)} D_{i0}   :func:`discounted_sum`
- Prop 4.1   limsup D_i >= alpha eta_floor eps_floor / (16 (1 + (1-alpha)^2))   :func:`persistent_floor`
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import RidgeCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import PolynomialFeatures, SplineTransformer, StandardScaler

from collapse.core.observability import held_out_predictions, observability_forms


def girsanov_upper(eps_hat2):
    """Prop 3.1: KL(p_hat || q) <= eps_hat^2 / 2."""
    return 0.5 * np.asarray(eps_hat2)


def lower_bound(eta, eps2, constant=0.0, factor=0.25):
    """Prop 3.3: chi^2 >= factor * eta * eps^2 - constant * eps^4 (factor 1/4 with its constant C, or
    1/8 with constant 0 once eps^2 is small enough)."""
    eps2 = np.asarray(eps2)
    return factor * np.asarray(eta) * eps2 - constant * eps2**2


def two_sided_upper(eps2, constant=0.0):
    """Thm 3.4, upper side: chi^2 <= 4 eps^2 + c eps^4."""
    eps2 = np.asarray(eps2)
    return 4 * eps2 + constant * eps2**2


def forgetting_factor(alpha):
    """The per-generation discount of chi^2 to the data: (1 - alpha)^2."""
    return (1 - np.asarray(alpha)) ** 2


def effective_memory(alpha):
    """sum_k (1 - alpha)^{2k} = 1 / (alpha (2 - alpha)): how many generations an error is remembered."""
    alpha = np.asarray(alpha, dtype=float)
    with np.errstate(divide="ignore"):
        return 1.0 / (alpha * (2 - alpha))


def discounted_sum(errors, factor, initial=0.0):
    """S_N = sum_{i<=N} factor^(N-i) errors_i + factor^(N+1) initial, for every N.

    With ``factor = forgetting_factor(alpha)`` this is the diagonal part of [K]'s exact decomposition
    (Thm 4.2); ``errors`` are the per-generation divergences (or energies eps_i^2), ``initial`` the
    divergence at the starting generation. Other factors give discounted bounds with weaker decay."""
    out, running = np.empty(len(errors)), initial
    for i, e in enumerate(errors):
        running = factor * running + e
        out[i] = running
    return out


def persistent_floor(alpha, eta_floor, eps_floor):
    """Prop 4.1: with eps_i^2 >= eps_floor and eta_i >= eta_floor, limsup D_i is at least this."""
    return alpha * eta_floor * eps_floor / (16 * (1 + (1 - np.asarray(alpha)) ** 2))


def default_regressor():
    """Cubic splines per coordinate and their pairwise products, ridge-penalised (penalty by CV)."""
    return make_pipeline(StandardScaler(), SplineTransformer(n_knots=10, degree=3),
                         PolynomialFeatures(degree=2, interaction_only=True, include_bias=False),
                         RidgeCV(alphas=np.logspace(-6, 2, 9)))


def observability(martingale, endpoints, energy, folds=2, regressor=None, seed=0) -> tuple[float, float]:
    """eta_hat = Var(E[M_T | Y_t0]) / eps_star^2 by cross-fitted regression: (estimate, standard error).

    E[M | Y] is learned on the other folds and scored on held-out paths as Cov(M, g_hat(Y)): the
    noise of held-out M is independent of g_hat, so the estimate is not inflated by overfitting, as
    Var(g_hat) in-sample would be. eps_star^2 is the mean path energy (Ito isometry: = Var(M)).
    """
    predicted = held_out_predictions(martingale, endpoints, regressor or default_regressor(), folds, seed)
    forms = observability_forms(martingale, predicted, energy)
    return forms["eta"], forms["eta_se"]
