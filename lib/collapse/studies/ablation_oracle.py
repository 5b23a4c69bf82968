"""How much of the ablation's aligned error do the generic endpoint features see? (notebook 04, Fig. 2)

The aligned perturbation is the network's score at y - a_t beta v: the score of the network's own law shifted by
beta v. To first order its log-likelihood ratio at the endpoint is -a_t0 beta v . s(y, t0), so E[M_T | Y] is, to
that order, a function of the one *oracle* feature v . s(y, t0). On the same ideal paths as
:func:`collapse.studies.images.perturbation_ablation` (same seeds), eta_hat is regressed on the generic features, on
the oracle feature alone and on both: if adding the oracle raises eta_hat, the generic features miss that much of
the aligned error's observability, and the ablation's order says more about the features than about the errors.
The turned error has no such oracle; it is regressed on the same sets for comparison. A fourth set, the network's
own features (:class:`collapse.studies.images.ErrorFeatures`), is not handed the oracle: if it recovers the
oracle's eta_hat, it sees the error the way Fig. 9 needs. On the same paths, :func:`first_order_check` samples
each perturbed sampler at the smallest beta and sets chi^2 (a lower bound on it) against eta_hat eps_star^2.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LinearRegression

from collapse.core.diffusion import PathStatistics, ou_coefficient
from collapse.core.recursion import RecursionState
from collapse.models.ddpm import DDPM
from collapse.studies.images import PERTURBATIONS, ErrorFeatures, Perturbations, eta_hat, ideal_paths, network_eta_hat

ARMS = ("aligned", "random direction")
FEATURE_SETS = ("generic", "oracle", "generic + oracle", "network")
FIRST_ORDER = ("shift", "shift_se", "covariance", "covariance_se", "chi2_low", "eta_eps2", "eta_eps2_se", "eps2")


def oracle_ablation(start: RecursionState, betas, features: ErrorFeatures, paths: int, steps: int,
                    seed: int) -> dict[str, np.ndarray]:
    """eta_hat and its standard error, (arm, beta, feature set), for the two state-dependent arms of the ablation of
    the model in ``start`` (a recursion state, as the ablation's job receives it): the generic features, the oracle,
    both (ridge, as the ablation) and the network's own ``features`` (least squares, as validated); and
    :func:`first_order_check` of every perturbation at the smallest beta, as ``first_<quantity>`` (perturbation,)."""
    model: DDPM = start.learner
    d = model.shape[0] * model.shape[1]
    driving = Perturbations(model.score(), d, model.T, model.t0, steps, np.random.default_rng([seed, 3]))
    small = min(betas)
    cases = [(arm, beta) for arm in ARMS for beta in betas] + [(k, small) for k in PERTURBATIONS if k not in ARMS]
    recorders = {case: PathStatistics(driving.learned(*case)) for case in cases}
    y = ideal_paths(driving, d, model.sampler(steps), paths, np.random.default_rng([seed, 2]), recorders.values())
    oracle = (model.score()(y, model.t0) @ driving.v * ou_coefficient(model.t0)).numpy()[:, None]
    generic = features.generic(y.numpy())
    sets = {"generic": generic, "oracle": oracle, "generic + oracle": np.hstack([generic, oracle])}
    out = {key: np.zeros((len(ARMS), len(betas), len(FEATURE_SETS))) for key in ("eta", "eta_se")}
    for arm in ARMS:
        for j, beta in enumerate(betas):
            stats, i = recorders[arm, beta], ARMS.index(arm)
            m, energy = stats.martingale.numpy(), stats.energy.numpy()
            forms = [eta_hat(m, energy, sets[name]) for name in FEATURE_SETS[:-1]]
            forms.append(network_eta_hat(m, energy, features(y, driving.learned(arm, beta), driving)))
            out["eta"][i, j], out["eta_se"][i, j] = [f["eta"] for f in forms], [f["eta_se"] for f in forms]
    noise = [seed, 2]  # the ideal paths' noise, which each perturbed sampler shares (common random numbers)
    checks = [first_order_check(model.sampler(steps), driving, kind, small, recorders[kind, small], y, features,
                                noise, np.random.default_rng([seed, 7, k])) for k, kind in enumerate(PERTURBATIONS)]
    return {**out, **{f"first_{key}": np.array([c[key] for c in checks]) for key in FIRST_ORDER}}


def first_order_check(sampler, driving: Perturbations, kind: str, beta: float, stats: PathStatistics, ideal,
                      features: ErrorFeatures, noise, rng) -> dict[str, float]:
    """chi^2 = eta eps_star^2 to first order, checked with the perturbed sampler Q (driven by the perturbation's
    score) run on the ideal paths' own noise (``noise``, the seed of :func:`ideal_paths`' rng): path by path, Q's
    endpoint differs from the ideal one (``ideal``, their martingale in ``stats``) only through the error, so a
    difference of means between them has the small variance of a paired difference.

    h, the least-squares regression of M_T on the network's features, is fitted on half the ideal paths (halves
    drawn by ``rng``); on the other half, paired path by path with Q, it gives the ``shift`` E_Q h - E_P h. With
    M_T = -int e . dB the paths' likelihood ratio dQ/dP is exp(-M_T - <M>_T / 2), so to first order the shift is
    -E_P[h M_T] (``covariance`` holds E_P[h M_T]) and, for h = E[M_T | Y], -eta eps_star^2: beside it ``eta_eps2``,
    eta_hat (covariance form, cross-fitted on all ideal paths) times ``eps2``. ``chi2_low``: shift^2 / Var_P h is a
    lower bound on chi^2(Q || P) for any h (the variational form of chi^2); with the shift's noise it is taken at the
    shift's 2-standard-error lower limit, max(0, |shift| - 2 se)^2 / Var_P h, a one-sided 97.5 % lower bound."""
    learned = driving.learned(kind, beta)

    def perturbed(y, t):
        driving(y, t)  # the step's driving score first, as the perturbations need
        return learned(y, t)

    q = ideal_paths(perturbed, ideal.shape[1], sampler, len(ideal), np.random.default_rng(noise))
    m, energy = stats.martingale.numpy(), stats.energy.numpy()
    x_p, x_q = features(ideal, learned, driving), features(q, learned, driving)
    fit, held = np.array_split(rng.permutation(len(m)), 2)
    h = LinearRegression().fit(x_p[fit], m[fit])
    h_p, h_q = h.predict(x_p[held]), h.predict(x_q[held])
    paired = h_q - h_p
    shift, shift_se = paired.mean(), paired.std(ddof=1) / np.sqrt(len(paired))
    products = (h_p - h_p.mean()) * (m[held] - m[held].mean())
    forms = network_eta_hat(m, energy, x_p)
    eps2 = float(energy.mean())
    return {"shift": shift, "shift_se": shift_se, "covariance": products.mean(),
            "covariance_se": products.std(ddof=1) / np.sqrt(len(products)),
            "chi2_low": max(0.0, abs(shift) - 2 * shift_se) ** 2 / h_p.var(ddof=1), "eta_eps2": forms["eta"] * eps2,
            "eta_eps2_se": forms["eta_se"] * eps2, "eps2": eps2}
