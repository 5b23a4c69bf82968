"""How much of the ablation's aligned error do the generic endpoint features see? (notebook 04, Fig. 2)

The aligned perturbation is the network's score at y - a_t beta v: the score of the network's own law shifted by
beta v. To first order its log-likelihood ratio at the endpoint is -a_t0 beta v . s(y, t0), so E[M_T | Y] is, to
that order, a function of the one *oracle* feature v . s(y, t0). On the same ideal paths as
:func:`collapse.studies.images.perturbation_ablation` (same seeds), eta_hat is regressed on the generic features, on
the oracle feature alone and on both: if adding the oracle raises eta_hat, the generic features miss that much of
the aligned error's observability, and the ablation's order says more about the features than about the errors.
The turned error has no such oracle; it is regressed on the same three sets for comparison.
"""

from __future__ import annotations

import numpy as np

from collapse.core.diffusion import PathStatistics, ou_coefficient
from collapse.core.recursion import RecursionState
from collapse.models.ddpm import DDPM
from collapse.studies.images import EndpointFeatures, Perturbations, eta_hat, ideal_paths

ARMS = ("aligned", "random direction")
FEATURE_SETS = ("generic", "oracle", "generic + oracle")


def oracle_ablation(start: RecursionState, betas, features: EndpointFeatures, paths: int, steps: int,
                    seed: int) -> dict[str, np.ndarray]:
    """eta_hat and its standard error, (arm, beta, feature set), for the two state-dependent arms of the ablation of
    the model in ``start`` (a recursion state, as the ablation's job receives it)."""
    model: DDPM = start.learner
    d = model.shape[0] * model.shape[1]
    driving = Perturbations(model.score(), d, model.T, model.t0, steps, np.random.default_rng([seed, 3]))
    recorders = {(arm, beta): PathStatistics(driving.learned(arm, beta)) for arm in ARMS for beta in betas}
    y = ideal_paths(driving, d, model.sampler(steps), paths, np.random.default_rng([seed, 2]), recorders.values())
    oracle = (model.score()(y, model.t0) @ driving.v * ou_coefficient(model.t0)).numpy()[:, None]
    generic = features(y.numpy())
    sets = {"generic": generic, "oracle": oracle, "generic + oracle": np.hstack([generic, oracle])}
    out = {key: np.zeros((len(ARMS), len(betas), len(FEATURE_SETS))) for key in ("eta", "eta_se")}
    for (arm, beta), stats in recorders.items():
        i, j = ARMS.index(arm), list(betas).index(beta)
        for k, name in enumerate(FEATURE_SETS):
            forms = eta_hat(stats.martingale.numpy(), stats.energy.numpy(), sets[name])
            out["eta"][i, j, k], out["eta_se"][i, j, k] = forms["eta"], forms["eta_se"]
    return out

