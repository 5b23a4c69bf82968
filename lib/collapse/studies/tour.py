"""The tour (notebooks/00_tour.ipynb): a 2-D GMM retrained recursively with a KDE score.

One job = one (alpha, replicate): a fresh-alpha recursion of :class:`KDEScoreDiffusion` on the 2-D
paper GMM. Each generation records

- ``kl``: KL(p_hat_{g+1} || p_data), with p_hat_{g+1} taken as the law the sampler targets (the
  fitted KDE noised to t0; both densities are mixtures), by Monte Carlo, and its standard error;
- ``within_variance``: the mean squared distance of the generation's samples to the nearest data
  mean, per coordinate: a check from samples alone of the sampler against the population model.

Replicates share seeds across alpha (common random numbers), so the alpha curves differ by alpha
alone and not by the draw of the original data.
"""

from __future__ import annotations

import numpy as np

from collapse.core.diffusion import SamplerConfig
from collapse.core.divergences import kl_monte_carlo
from collapse.core.kde_diffusion import KDEScoreDiffusion, population_recursion, within_component_variance
from collapse.core.mixture import paper_gmm
from collapse.core.recursion import Workflow, run_recursion


def run_job(alpha, replicate, seed, n, generations, steps, bandwidth, kl_samples, keep, checkpoints):
    data = paper_gmm(dim=2)
    rng = np.random.default_rng([seed, replicate])
    learner = KDEScoreDiffusion(bandwidth, SamplerConfig(steps=steps))

    def measure(g, learner, train, samples, rng):
        kl, kl_se = kl_monte_carlo(learner.target(), data, kl_samples, rng)
        return {"kl": kl, "kl_se": kl_se, "within_variance": within_component_variance(samples, data.means)}

    result = run_recursion(learner, data.sample, Workflow("fresh", alpha), generations, n, rng,
                           measure=measure, checkpoints=checkpoints, keep=tuple(keep),
                           desc=f"alpha={alpha} rep={replicate}")
    return {**result.metrics, "samples": np.stack([result.kept_samples[g] for g in keep])}


def population(alpha, seed, generations, bandwidth, t0, kl_samples):
    """The population model's KL and within-component variance for generations 1..G, both by Monte
    Carlo with ``kl_samples`` exact draws from each population law."""
    data = paper_gmm(dim=2)
    rng = np.random.default_rng([seed, 10**6])
    laws = population_recursion(data, alpha, bandwidth, t0, generations)
    return {"kl": np.array([kl_monte_carlo(law, data, kl_samples, rng)[0] for law in laws]),
            "within_variance": np.array([within_component_variance(law.sample(kl_samples, rng), data.means)
                                         for law in laws])}
