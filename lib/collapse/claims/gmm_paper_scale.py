"""Claims of notebook 03's paper-scale check: Fig. 4's band at generation 0 with the paper's N."""

import numpy as np

from collapse.claims import Claim, Decision


def claims(result, parameters, sizes):
    eps, eps_se, bound = (result[k].values for k in ("eps_star2", "eps_star2_se", "chi2_bound"))
    violated = bound > 4 * (eps + 3 * eps_se)
    ratio = bound / (4 * eps)
    kind = "empirical" if eps.max() <= 1 else "outside-hypotheses"  # Thm 3.4 assumes eps_star^2 <= 1
    return [Claim(
        "K-Fig4-paper-scale", "[K] Thm. 3.4, Fig. 4", "chi^2 <= 4 eps_star^2 + c eps_star^4 (Fig. 4: chi^2 inside the "
        "band, c = 0), at the paper's N", kind,
        f"generation 0 with N = {sizes['n']:,} data points ({sizes['runs']} runs): decided where, in every run, the "
        "exact chi^2 of the projection onto coordinates 3-10 (a rigorous lower bound on chi^2) exceeds 4 (eps_star^2 "
        "+ 3 s.e.): contradicts the paper's Fig. 4 if so, inconclusive if not",
        {"runs_violated": int(violated.sum()), "runs": int(violated.size), "weakest_ratio": float(ratio.min()),
         "max_eps_star2": float(eps.max())},
        Decision(False, bool(violated.all()), "contradicts the paper",
                 rule="never confirmed: a lower bound on chi^2 cannot place chi^2 inside the band"),
        f"N = {sizes['n']:,}: band violated in {int(violated.sum())} of {violated.size} runs; chi^2 >= "
        f"{ratio.min():.3g} x 4 eps_star^2 in the weakest run; eps_star^2 {eps.min():.2f}-{eps.max():.2f}, eta_hat "
        f"{np.min(result.eta.values):.2f}-{np.max(result.eta.values):.2f}", figure="fig4_gmm_two_sided")]
