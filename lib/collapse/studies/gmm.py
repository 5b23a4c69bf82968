"""[K]'s synthetic experiment (notebooks/03_gmm_recursive_diffusion.ipynb): the 10-D data GMM retrained
recursively with the literal finite-N KDE score and a fresh fraction alpha.

Generation g fits a Gaussian KDE (bandwidth h) to n points of q_g = alpha p + (1 - alpha) p_hat_g and
samples p_hat_{g+1} with the reverse SDE driven by the KDE's exact noised score. Every law involved is
a Gaussian mixture, so each generation measures, with known densities:

- ``kl``, ``chi2``: KL and chi^2 of p_hat_{g+1} to q_g, by Monte Carlo from p_hat_{g+1}. Both are taken
  after the early stop: p_hat_{g+1} is the KDE noised to t0 (what an exact sampler returns) and q_g is
  noised to t0 too (what the true score of q_g would return), so they differ by the score error alone,
  which is what the bounds are about;
- ``drift_kl``: D_{g+1} measured as KL(p_hat_{g+1} || p). The chi^2 to the data is infinite: every
  component of p_hat carries variance at least sigma^2 + h^2 = 2 sigma^2, and chi^2(N(0, v1) || N(0, v2))
  is infinite once v1 >= 2 v2;
- ``within``, ``total``: the per-coordinate second moment of the generated samples in the coordinates
  where every data mean is 0 (a component's variance, with no assignment of points to components) and
  over all coordinates: the checks against :func:`collapse.core.kde_diffusion.second_moment`;
- with ``paths`` > 0, the path statistics of docs/papers.md §1: eps_star^2 on ``paths`` ideal paths
  (driven by the true score of q_g) with their martingale M_T and the cross-fitted eta_hat, and
  eps_hat^2 on as many learned paths (driven by the KDE score).

Replicates share seeds across alpha (common random numbers).
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import RidgeCV
from sklearn.pipeline import make_pipeline, make_union
from sklearn.preprocessing import PolynomialFeatures, SplineTransformer, StandardScaler

from collapse.core.bounds import observability
from collapse.core.diffusion import PathStatistics, SamplerConfig, reverse_sde
from collapse.core.divergences import kl_monte_carlo
from collapse.core.kde_diffusion import KDEScoreDiffusion
from collapse.core.mixture import GaussianMixture, blend, kde, paper_gmm
from collapse.core.recursion import Workflow, run_recursion
from collapse.core.stats import standard_error

DIM = 10


class RecordingKDE(KDEScoreDiffusion):
    """The KDE-score learner, keeping the KDE it replaces: p_hat_g (that KDE noised to t0) enters q_g."""

    previous: GaussianMixture | None = None

    def fit(self, data):
        self.previous = self.model
        return super().fit(data)

    def training_law(self, data: GaussianMixture, alpha: float) -> GaussianMixture:
        """q_g = alpha p + (1 - alpha) p_hat_g; q_0 = p."""
        return data if self.previous is None else blend(data, self.previous.noised(self.sampler.t0), alpha)


def eta_regressor():
    """E[M_T | features] in 11 dimensions: cubic splines per feature plus a full quadratic, ridge-penalised.
    (The library's default adds every pairwise product of splines: 8,000 features here.)"""
    return make_pipeline(StandardScaler(), make_union(SplineTransformer(n_knots=8), PolynomialFeatures(2)),
                         RidgeCV(alphas=np.logspace(-4, 3, 8)))


def path_statistics(learned: GaussianMixture, q: GaussianMixture, sampler: SamplerConfig, paths: int, rng) -> dict:
    """eps_star^2, eta_hat (ideal paths) and eps_hat^2 (learned paths), each on ``paths`` paths.

    Both samplers are exact time reversals of the OU process (from the KDE and from q), whose paths given the
    endpoint follow the same kernel, so Girsanov's density is the endpoints' likelihood ratio:
    M_T = -log(p_hat / q)(Y_t0) - energy / 2 (up to the common start at N(0, I)). The regression of M_T on
    the endpoint therefore gets the known log ratio as a feature and learns E[energy | Y_t0] from data.
    """
    ideal = PathStatistics(learned.score, driven_by="true")
    endpoints = reverse_sde(q.score, rng.standard_normal((paths, DIM)), rng, sampler, (ideal,))
    log_ratio = learned.log_prob(endpoints, sampler.t0) - q.log_prob(endpoints, sampler.t0)
    features = np.hstack([endpoints, log_ratio[:, None]])
    eta, eta_se = observability(ideal.martingale, features, ideal.energy, regressor=eta_regressor())
    on_learned = PathStatistics(q.score, driven_by="learned")
    reverse_sde(learned.score, rng.standard_normal((paths, DIM)), rng, sampler, (on_learned,))
    return {"eps_star2": ideal.energy.mean(), "eps_star2_se": standard_error(ideal.energy),
            "martingale_var": ideal.martingale.var(ddof=1), "eta": eta, "eta_se": eta_se,
            "eps_hat2": on_learned.energy.mean(), "eps_hat2_se": standard_error(on_learned.energy)}


def divergences(p_hat: GaussianMixture, reference: GaussianMixture, data: GaussianMixture, draws: int, rng) -> dict:
    """From ``draws`` draws of p_hat: KL(p_hat || r) = E log(p_hat / r), chi^2 = E (p_hat / r) - 1 and
    KL(p_hat || data); from as many draws of r: KL(r || p_hat), which equals eps_star^2 / 2 when both laws
    are exact time reversals (see the notebook)."""
    x = p_hat.sample(draws, rng)
    log_p_hat = p_hat.log_prob(x)
    log_ratio, to_data = log_p_hat - reference.log_prob(x), log_p_hat - data.log_prob(x)
    ratio = np.exp(log_ratio)
    reverse, reverse_se = kl_monte_carlo(reference, p_hat, draws, rng)
    return {"kl": log_ratio.mean(), "kl_se": standard_error(log_ratio), "chi2": ratio.mean() - 1,
            "chi2_se": standard_error(ratio), "kl_reverse": reverse, "kl_reverse_se": reverse_se,
            "drift_kl": to_data.mean(), "drift_kl_se": standard_error(to_data)}


def step_convergence(seed, n, paths, steps_grid, bandwidth, kl_samples) -> dict:
    """Generation 0 (a KDE of n data points against the data) with the path statistics at each number of
    Euler-Maruyama steps in ``steps_grid``: how the energies converge to 2 KL. Also the exact-score
    sampler's bias on the second moments (the start at N(0, I) instead of the data noised to T)."""
    data = paper_gmm(dim=DIM)
    rng = np.random.default_rng([seed, 10**7])
    learned = kde(data.sample(n, rng), bandwidth)
    t0 = SamplerConfig().t0
    out = divergences(learned.noised(t0), data.noised(t0), data, kl_samples, rng)
    energies = [path_statistics(learned, data, SamplerConfig(steps=steps), paths, rng) for steps in steps_grid]
    out.update({key: np.array([e[key] for e in energies]) for key in energies[0]})
    exact = reverse_sde(data.score, rng.standard_normal((kl_samples, DIM)), rng, SamplerConfig())
    out.update(exact_within=np.mean(exact[:, 2:] ** 2), exact_total=np.mean(exact**2))
    return out


def run_job(alpha, replicate, seed, n, generations, steps, bandwidth, paths, kl_samples, shown_points,
            checkpoints=None):
    """One fresh-alpha recursion; metrics per generation g describe p_hat_{g+1} (and q_g)."""
    data = paper_gmm(dim=DIM)
    rng = np.random.default_rng([seed, replicate])
    learner = RecordingKDE(bandwidth, SamplerConfig(steps=steps))

    def measure(g, learner, train, samples, rng):
        q = learner.training_law(data, alpha)
        row = divergences(learner.target(), q.noised(learner.sampler.t0), data, kl_samples, rng)
        row.update(within=np.mean(samples[:, 2:] ** 2), total=np.mean(samples**2), shown=samples[:shown_points])
        if paths:
            row.update(path_statistics(learner.model, q, learner.sampler, paths, rng))
        return row

    result = run_recursion(learner, data.sample, Workflow("fresh", alpha), generations, n, rng, measure=measure,
                           checkpoints=checkpoints, desc=f"alpha={alpha} rep={replicate}")
    return result.metrics


