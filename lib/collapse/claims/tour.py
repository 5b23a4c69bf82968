"""Claims of notebook 00 (the tour: a 2-D GMM retrained with a KDE score)."""

import numpy as np

from collapse.claims import Claim, decreasing, plus_minus, within
from collapse.core.stats import mean_se


def claims(result, parameters, sizes):
    alphas = parameters["alphas"]
    last = result.isel(generation=-1)
    mean, se = (v.sel(alpha=alphas).values for v in mean_se(last.kl, "run"))
    variance, variance_se = (v.sel(alpha=alphas).values for v in mean_se(last.within_variance, "run"))
    population = last.within_variance_population.sel(alpha=alphas).values
    z = (variance - population) / variance_se
    return [
        Claim("K-forgetting-order-tour", "[K] Sec. 4 (forgetting), Fig. 1",
              "the drift after the same number of generations is lower the larger the fresh fraction alpha",
              "empirical",
              "mean KL to the data at the last generation falls with alpha, each gap larger than 2 combined "
              "standard errors across runs (inconclusive with a single run)",
              {**{f"kl_alpha{a:g}": m for a, m in zip(alphas, mean)},
               **{f"kl_alpha{a:g}_se": s for a, s in zip(alphas, se)}},
              decreasing(mean, se),
              "final KL " + ", ".join(f"{m:.2f}" for m in mean) + f" for alpha = {', '.join(map(str, alphas))}",
              figure="figS2_tour_drift"),
        Claim("ours-population-model-tour", "companion (population model)",
              "the simulated within-component variance follows the closed-form population model of the KDE "
              "recursion (n -> infinity, exact sampler)",
              "empirical",
              "at the last generation, |simulation - model| within 3 standard errors across runs for alpha >= 0.5 "
              "(for small alpha the finite-n KDE and the N(0, I) start compound over a long memory)",
              {**{f"z_alpha{a:g}": v for a, v in zip(alphas, z)}},
              within(z[np.asarray(alphas) >= 0.5], 3),
              "z = " + ", ".join(f"{v:+.1f}" for v in z) + " (alpha = " + ", ".join(map(str, alphas)) +
              "; judged at alpha >= 0.5)",
              figure="figS2_tour_drift"),
    ]


def tables(result, parameters, sizes) -> dict:
    import pandas as pd

    alphas, last = parameters["alphas"], result.isel(generation=-1)
    kl, within = (mean_se(last[key], "run") for key in ("kl", "within_variance"))
    frame = pd.DataFrame({"alpha": alphas, "KL to the data": plus_minus(*(v.sel(alpha=alphas).values for v in kl)),
                          "within-component variance": plus_minus(*(v.sel(alpha=alphas).values for v in within)),
                          "population model": [f"{v:.3g}" for v in
                                               last.within_variance_population.sel(alpha=alphas).values]})
    return {f"Tour (notebook 00): the 2-D GMM at generation {result.generation.size}": frame.set_index("alpha")}
