"""Cross-fitted observability eta_hat = Var(E[M_T | Y_t0]) / eps_star^2 in its two held-out forms.

E[M | Y] is learned on the other folds and scored on held-out paths. Two estimates follow from the same
predictions g_hat:

- the covariance form Cov(M, g_hat) / eps_star^2: unbiased for Var(g_hat) agreement but not one-sided (single
  runs can exceed 1);
- the held-out R^2 form 1 - E(M - g_hat)^2 / Var(M): a lower estimate in expectation (an imperfect g_hat only adds
  to the held-out error), at most 1 by construction, and equal to eta when g_hat = E[M | Y] and Var(M) = eps_star^2
  (Ito isometry).

(`collapse.core.bounds.observability` returns the covariance form alone, from the same predictions.)
"""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import KFold


def held_out_predictions(martingale, features, regressor, folds: int = 2, seed: int = 0) -> np.ndarray:
    """g_hat(Y) on each path, fitted on the other folds (so the noise of M on that path is independent of it)."""
    m = np.asarray(martingale, float)
    y = np.asarray(features, float).reshape(len(m), -1)
    predicted = np.empty_like(m)
    for train, test in KFold(folds, shuffle=True, random_state=seed).split(y):
        predicted[test] = regressor.fit(y[train], m[train]).predict(y[test])
    return predicted


def observability_forms(martingale, predicted, energy) -> dict:
    """Both forms of eta_hat with their standard errors (across paths), from held-out predictions."""
    m, g = np.asarray(martingale, float), np.asarray(predicted, float)
    eps2 = float(np.mean(energy))
    products = (m - m.mean()) * (g - g.mean())
    squared = (m - g) ** 2
    variance = float(m.var(ddof=1))
    root_n = np.sqrt(len(m))
    return {"eta": float(products.mean() / eps2), "eta_se": float(products.std(ddof=1) / root_n / eps2),
            "eta_r2": float(1 - squared.mean() / variance), "eta_r2_se": float(squared.std(ddof=1) / root_n / variance)}
