"""[K]'s synthetic experiment (notebooks/03_gmm_recursive_diffusion.ipynb): the 10-D data GMM retrained
recursively with the literal finite-N KDE score and a fresh fraction alpha.

Generation g fits a Gaussian KDE (bandwidth h) to n points of q_g = alpha p + (1 - alpha) p_hat_g and
samples p_hat_{g+1} with the reverse SDE driven by the KDE's exact noised score. Every law involved is
a Gaussian mixture, so each generation measures, with known densities:

- ``kl``, ``chi2``: KL and chi^2 of p_hat_{g+1} to q_g, by Monte Carlo from p_hat_{g+1}. Both are taken
  after the early stop: p_hat_{g+1} is the KDE noised to t0 (what an exact sampler returns) and q_g is
  noised to t0 too (what the true score of q_g would return), so they differ by the score error alone,
  which is what the bounds are about. The Monte Carlo chi^2 is unreliable here (infinite-variance
  estimator); ``chi2_bound`` is a rigorous lower bound with no Monte Carlo (:func:`chi2_certified`);
- ``drift_kl``: D_{g+1} measured as KL(p_hat_{g+1} || p). The chi^2 to the data is infinite: every
  component of p_hat carries variance at least sigma^2 + h^2 = 2 sigma^2, and chi^2(N(0, v1) || N(0, v2))
  is infinite once v1 >= 2 v2;
- ``within``, ``total``: the per-coordinate second moment of the generated samples in the coordinates
  where every data mean is 0 (a component's variance, with no assignment of points to components) and
  over all coordinates: the checks against :func:`collapse.core.kde_diffusion.second_moment`;
- with ``paths`` > 0, the path statistics of docs/papers.md §1, both samplers started from their exact
  laws at T: eps_star^2 on ``paths`` ideal paths (driven by the true score of q_g) with their martingale
  M_T and eta_hat in its two cross-fitted forms, and eps_hat^2 on as many learned paths (driven by the
  KDE score), with the start terms KL(p_hat_T || q_T) and KL(q_T || p_hat_T);
- per run, the exact decomposition of the last generation's drift into each past generation's
  contribution (:func:`drift_decomposition`).

Replicates share seeds across alpha (common random numbers).
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import RidgeCV
from sklearn.pipeline import make_pipeline, make_union
from sklearn.preprocessing import PolynomialFeatures, SplineTransformer, StandardScaler

from collapse.core.diffusion import PathStatistics, SamplerConfig, reverse_sde
from collapse.core.divergences import kl_monte_carlo
from collapse.core.kde_diffusion import KDEScoreDiffusion
from collapse.core.mixture import GaussianMixture, blend, kde, paper_gmm
from collapse.core.mixture_integrals import chi2_lower_bound, inner_product, marginal
from collapse.core.observability import held_out_predictions, observability_forms
from collapse.core.recursion import Workflow, run_recursion
from collapse.core.stats import standard_error

DIM = 10
ZERO_MEAN = list(range(2, DIM))  # coordinates 3-10, where every data mean is 0


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


def path_statistics(learned: GaussianMixture, q: GaussianMixture, sampler: SamplerConfig, paths: int, rng,
                    start: str = "exact") -> dict:
    """eps_star^2, eta_hat (ideal paths) and eps_hat^2 (learned paths), each on ``paths`` paths.

    ``start="exact"`` starts each sampler from its own law at T (q_T for the ideal paths, p_hat_T for the learned
    ones: both mixtures, exactly samplable); ``"standard"`` starts both at N(0, I), as the protocol does. Both
    samplers are exact time reversals of the OU process, whose paths given the endpoint follow the same kernel, so
    with exact starts Girsanov gives, up to the Euler-Maruyama error,
    KL(p_hat || q) = KL(p_hat_T || q_T) + eps_hat^2 / 2 and M_T = log(p_hat_T / q_T)(Y_T) - log(p_hat / q)(Y_t0)
    - energy / 2. The regression of M_T gets both known log ratios as features and learns E[energy | Y] from data.
    The start terms KL(p_hat_T || q_T) and KL(q_T || p_hat_T) are estimated on the start points themselves.
    """
    if start not in ("exact", "standard"):
        raise ValueError(f"start={start!r}; use 'exact' (each sampler from its law at T) or 'standard' (N(0, I))")

    def log_ratio(y, t):
        return learned.log_prob(y, t) - q.log_prob(y, t)

    ideal, ideal_start = ideal_statistics(learned, q, sampler, paths, rng, start)
    on_learned, learned_start = PathStatistics(q.score, driven_by="learned"), _starts(learned, sampler, paths, rng,
                                                                                       start)
    reverse_sde(learned.score, learned_start, rng, sampler, (on_learned,))
    start_kl, start_kl_reverse = log_ratio(learned_start, sampler.T), -log_ratio(ideal_start, sampler.T)
    return {**ideal, "eps_hat2": on_learned.energy.mean(), "eps_hat2_se": standard_error(on_learned.energy),
            "kl_T": start_kl.mean(), "kl_T_se": standard_error(start_kl),
            "kl_T_reverse": start_kl_reverse.mean(), "kl_T_reverse_se": standard_error(start_kl_reverse)}


def _starts(law: GaussianMixture, sampler: SamplerConfig, paths: int, rng, start: str) -> np.ndarray:
    return law.noised(sampler.T).sample(paths, rng) if start == "exact" else rng.standard_normal((paths, DIM))


def ideal_statistics(learned: GaussianMixture, q: GaussianMixture, sampler: SamplerConfig, paths: int, rng,
                     start: str = "exact") -> tuple[dict, np.ndarray]:
    """The ideal paths' part of :func:`path_statistics` (eps_star^2, the martingale, eta_hat) and their starts."""
    def log_ratio(y, t):
        return learned.log_prob(y, t) - q.log_prob(y, t)

    ideal, ideal_start = PathStatistics(learned.score, driven_by="true"), _starts(q, sampler, paths, rng, start)
    endpoints = reverse_sde(q.score, ideal_start, rng, sampler, (ideal,))
    features = np.column_stack([endpoints, log_ratio(endpoints, sampler.t0), log_ratio(ideal_start, sampler.T)])
    predicted = held_out_predictions(ideal.martingale, features, eta_regressor())
    return {"eps_star2": ideal.energy.mean(), "eps_star2_se": standard_error(ideal.energy),
            "martingale_var": ideal.martingale.var(ddof=1),
            **observability_forms(ideal.martingale, predicted, ideal.energy),
            "martingale": ideal.martingale, "predicted": predicted, "energy": ideal.energy}, ideal_start


PER_PATH = ("martingale", "predicted", "energy")  # path_statistics' per-path arrays, for the convergence in paths


def chi2_certified(p_hat: GaussianMixture, q: GaussianMixture) -> dict:
    """Rigorous lower bounds on chi^2(p_hat || q), no Monte Carlo: chi^2 only falls under the projection onto
    coordinates 3-10 (data processing), where every data mean is 0.

    ``chi2_exact_proj``: the projected chi^2 itself, exact when q is Gaussian there (generation 0: q = p), else nan;
    ``chi2_variational``: the variational bound of :func:`chi2_lower_bound` on the projections (every generation);
    ``chi2_bound``: the larger of the two.
    """
    p_s, q_s = marginal(p_hat, ZERO_MEAN), marginal(q, ZERO_MEAN)
    variational, _ = chi2_lower_bound(p_s, q_s)
    gaussian = np.all(q_s.means == q_s.means[0]) and np.all(q_s.variances == q_s.variances[0])
    exact = inner_product([(1, p_s)], [(1, p_s)], GaussianMixture(q_s.means[:1], q_s.variances[:1])) - 1 \
        if gaussian else np.nan
    return {"chi2_variational": variational, "chi2_exact_proj": exact, "chi2_bound": np.fmax(variational, exact)}


def drift_decomposition(data: GaussianMixture, laws: list[GaussianMixture], alpha: float) -> dict:
    """Each past generation's share of the present drift, measured exactly (Fig. 5).

    With Delta_k = p_hat_{k+1} - q_k and q_k = alpha p + (1 - alpha) p_hat_k (p_hat_0 = p), the drift unrolls exactly:
    p_hat_N - p = sum_k (1 - alpha)^(N-1-k) Delta_k. In L^2 (int f g dx: every term is a closed-form Gaussian
    integral; the chi^2 geometry, weight 1/p, is infinite here), ||p_hat_N - p||^2 = sum_k c_k with
    c_k = (1 - alpha)^(N-1-k) <Delta_k, p_hat_N - p>: generation k's contribution, of which
    d_k = (1 - alpha)^(2(N-1-k)) ||Delta_k||^2 is the diagonal (discounted-sum) part and c_k - d_k the cross terms
    with the other generations. ``laws`` = [p_hat_1, ..., p_hat_N].
    """
    n = len(laws)
    previous = [data, *laws[:-1]]
    drift = [(1.0, laws[-1]), (-1.0, data)]
    contribution, diagonal = np.empty(n), np.empty(n)
    for k in range(n):
        delta = [(1.0, laws[k]), (-1.0, data)] if k == 0 else \
            [(1.0, laws[k]), (-alpha, data), (alpha - 1.0, previous[k])]
        weight = (1 - alpha) ** (n - 1 - k)
        contribution[k] = weight * inner_product(delta, drift)
        diagonal[k] = weight**2 * inner_product(delta, delta)
    return {"contribution": contribution, "diagonal": diagonal, "drift_l2": inner_product(drift, drift)}


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


def step_convergence(seed, n, paths, steps_grid, bandwidth, kl_samples, steps, eta_paths) -> dict:
    """Generation 0 (a KDE of n data points against the data), where every term is known or exact:

    - the path statistics at each number of Euler-Maruyama steps in ``steps_grid``, from both starts (exact laws
      at T, and N(0, I)): how the energies converge to 2 KL, which sizes the discretisation error;
    - eta_hat in both forms on nested subsets of ``max(eta_paths)`` ideal paths at ``steps`` steps (exact start):
      its convergence in the number of paths;
    - the exact-score sampler's bias on the second moments (its start at N(0, I) instead of the data noised to T);
    - the rigorous chi^2 bounds (the projected chi^2 is exact here: q = p is Gaussian on coordinates 3-10).
    """
    data = paper_gmm(dim=DIM)
    rng = np.random.default_rng([seed, 10**7])
    learned = kde(data.sample(n, rng), bandwidth)
    t0 = SamplerConfig().t0
    out = divergences(learned.noised(t0), data.noised(t0), data, kl_samples, rng)
    out.update(chi2_certified(learned.noised(t0), data.noised(t0)))
    for start in ("exact", "standard"):
        runs = [path_statistics(learned, data, SamplerConfig(steps=s), paths, rng, start) for s in steps_grid]
        out.update({f"{key}_{start}": np.array([r[key] for r in runs]) for key in runs[0] if key not in PER_PATH})
    many = path_statistics(learned, data, SamplerConfig(steps=steps), max(eta_paths), rng)
    forms = [observability_forms(*(np.asarray(many[key])[:k] for key in PER_PATH)) for k in eta_paths]
    out.update({f"paths_{key}": np.array([f[key] for f in forms]) for key in forms[0]})
    exact = reverse_sde(data.score, rng.standard_normal((kl_samples, DIM)), rng, SamplerConfig())
    out.update(exact_within=np.mean(exact[:, 2:] ** 2), exact_total=np.mean(exact**2))
    return out


def run_job(alpha, replicate, seed, n, generations, steps, bandwidth, paths, kl_samples, shown_points,
            precision="float64", checkpoints=None):
    """One fresh-alpha recursion; metrics per generation g describe p_hat_{g+1} (and q_g), and the drift
    decomposition describes the last generation's p_hat. ``precision`` is the sampler's kernel's; every
    measurement stays in float64."""
    data = paper_gmm(dim=DIM)
    rng = np.random.default_rng([seed, replicate])
    learner = RecordingKDE(bandwidth, SamplerConfig(steps=steps), precision)
    t0 = learner.sampler.t0

    def measure(g, learner, train, samples, rng):
        q = learner.training_law(data, alpha).noised(t0)
        row = divergences(learner.target(), q, data, kl_samples, rng)
        row.update(chi2_certified(learner.target(), q))
        row.update(within=np.mean(samples[:, 2:] ** 2), total=np.mean(samples**2), shown=samples[:shown_points],
                   centres=learner.model.means)
        if paths:
            statistics = path_statistics(learner.model, learner.training_law(data, alpha), learner.sampler, paths, rng)
            row.update({key: value for key, value in statistics.items() if key not in PER_PATH})
        return row

    result = run_recursion(learner, data.sample, Workflow("fresh", alpha), generations, n, rng, measure=measure,
                           checkpoints=checkpoints, desc=f"alpha={alpha} rep={replicate}")
    metrics = dict(result.metrics)
    laws = [kde(centres, bandwidth).noised(t0) for centres in metrics.pop("centres")]
    return {**metrics, **drift_decomposition(data, laws, alpha)}


def projected_chi2(p_hat: GaussianMixture, q: GaussianMixture, block: int = 128) -> float:
    """chi^2 between the projections of ``p_hat`` and ``q`` onto coordinates 3-10, exact when q is Gaussian there (as
    :func:`chi2_certified`'s ``chi2_exact_proj``), for any number of components: the same closed form, summed over
    blocks of ``block`` components of p_hat, so that memory stays O(block N) (N = 100,000 costs a minute or two)."""
    p_s, q_s = marginal(p_hat, ZERO_MEAN), marginal(q, ZERO_MEAN)
    if not (np.all(q_s.means == q_s.means[0]) and np.all(q_s.variances == q_s.variances[0])):
        raise ValueError("projected_chi2 needs q Gaussian on coordinates 3-10 (generation 0, where q = p)")
    reference = GaussianMixture(q_s.means[:1], q_s.variances[:1])
    total = 0.0
    for rows in np.array_split(np.arange(len(p_s)), max(1, len(p_s) // block)):
        part = GaussianMixture(p_s.means[rows], p_s.variances[rows], p_s.weights[rows] / p_s.weights[rows].sum())
        total += inner_product([(p_s.weights[rows].sum(), part)], [(1.0, p_s)], reference)
    return total - 1


def paper_scale_job(replicate: int, seed: int, n: int, paths: int, steps: int, bandwidth: float) -> dict:
    """Generation 0 at the paper's N: a KDE of ``n`` data points against the data (q_0 = p). Fig. 4's test needs
    the rigorous chi^2 lower bound (the exact projected chi^2, :func:`projected_chi2`), eps_star^2 and eta_hat on
    ``paths`` ideal paths; the learned paths of :func:`path_statistics` are left out (they double the cost and
    the test does not use them)."""
    data = paper_gmm(dim=DIM)
    rng = np.random.default_rng([seed, replicate, n])
    learned = kde(data.sample(n, rng), bandwidth)
    sampler = SamplerConfig(steps=steps)
    ideal, _ = ideal_statistics(learned, data, sampler, paths, rng)
    return {"chi2_bound": projected_chi2(learned.noised(sampler.t0), data.noised(sampler.t0)),
            **{key: value for key, value in ideal.items() if key not in PER_PATH}}
