"""[KZ]'s Gaussian and KDE settings (notebooks/06) under replace, accumulate and accumulate-subsample.

Gaussian: real data N(0, I_d); each generation fits the sample mean and covariance (MLE, or the
unbiased variant) per seed and samples n points from the fit. Closed forms under *replace* (t = number
of fits so far, t = 1 for the model fitted on real data):

- E ||mu_t - mu_0||^2 = d (1 - (1 - 1/n)^t)                   (the mean performs a random walk)
- E det(Sigma_t) / det(Sigma_0) = (prod_{i=1..d} (1 - i/n))^t   (n Sigma_t | Sigma_{t-1} is Wishart)
- E log det(Sigma_t) / det(Sigma_0) = t sum_{i=0..d-1} [psi((n-1-i)/2) + log(2/n)], with variance
  t sum psi'((n-1-i)/2): the log-determinant is a random walk with negative drift
- E tr(Sigma_t) / tr(Sigma_0) = (1 - 1/n)^t (MLE), exactly 1 with the unbiased estimator, whose
  median nevertheless collapses.

Under *accumulate*, the mean error stays below (pi^2 / 6) d / n for every t.

KDE: real 2-D moons and circles as [KZ]'s code makes them (noise 0.05; circles with sklearn's default
factor 0.8), and blobs with fixed centres (their code draws new random centres at every call, so their
training and test sets come from different distributions); metric: the exact mean negative
log-likelihood of fresh real test points (each seed its own test set) under each generation's KDE.
Under replace the per-coordinate variance of the data moves towards (n - 1) h^2 (each generation adds
h^2 and loses a factor 1 - 1/n): it grows when the data's variance is below that, and shrinks when it
is above (small n and h).
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma, polygamma
from sklearn import datasets

from collapse.core.learners import GaussianFit, KDESampler
from collapse.core.recursion import Workflow, run_recursion
from collapse.core.stats import standard_error

WORKFLOWS = ("replace", "accumulate", "accumulate-subsample")
BLOB_CENTRES = np.array([[-2.0, 0.0], [2.0, 0.0], [0.0, 2.5]])


# ----------------------------------------------------------------------------- closed forms
def replace_mean_error(d, n, t):
    return d * (1 - (1 - 1 / n) ** np.asarray(t, float))


def replace_det_ratio(d, n, t):
    return np.prod(1 - np.arange(1, d + 1) / n) ** np.asarray(t, float)


def replace_log_det(d, n, t):
    """(mean, variance) of log det(Sigma_t)/det(Sigma_0) under replace, MLE covariance (n > d)."""
    k = (n - 1 - np.arange(d)) / 2
    t = np.asarray(t, float)
    return t * np.sum(digamma(k) + np.log(2 / n)), t * np.sum(polygamma(1, k))


def replace_trace_ratio(n, t, unbiased=False):
    return np.ones_like(np.asarray(t, float)) if unbiased else (1 - 1 / n) ** np.asarray(t, float)


def accumulate_mean_error_bound(d, n):
    return np.pi**2 / 6 * d / n


def kde_replace_variance(n, bandwidth, t, initial):
    """Per-coordinate MLE variance of the data after t generations of KDE replace:
    v_t = (1 - 1/n)(v_{t-1} + h^2), v_0 = ``initial``; the fixed point is (n - 1) h^2."""
    out, v = [], initial
    for _ in range(int(np.max(t))):
        v = (1 - 1 / n) * (v + bandwidth**2)
        out.append(v)
    return np.array(out)[np.asarray(t) - 1]


# ----------------------------------------------------------------------------- simulations
def gaussian_real(d, seeds):
    return lambda n, rng: rng.standard_normal((n, seeds, d))


def run_gaussian(d, n, workflow, iterations, seeds, seed, unbiased=False) -> dict:
    """Metrics per generation (rows) and seed (columns) for real data N(0, I_d)."""
    rng = np.random.default_rng([seed, d, n, WORKFLOWS.index(workflow), int(unbiased)])

    def measure(g, learner, train, samples, rng):
        sign, logdet = np.linalg.slogdet(learner.cov)
        singular = len(train) <= d or sign <= 0  # fewer points than dimensions: det is exactly 0
        return {"mean_error": np.sum(learner.mean**2, axis=1),
                "log_det_ratio": np.where(singular, -np.inf, logdet),
                "trace_ratio": np.trace(learner.cov, axis1=1, axis2=2) / d}

    result = run_recursion(GaussianFit(unbiased), gaussian_real(d, seeds), Workflow(workflow), iterations, n, rng,
                           measure=measure)
    return {k: v for k, v in result.metrics.items() if k != "train_size"}


def toy_data(name: str, seeds: int):
    """A sampler of 2-D toy data with fixed geometry: (n, rng) -> (n, seeds, 2)."""
    def draw(n, rng):
        state = int(rng.integers(2**31))
        if name == "moons":
            x, _ = datasets.make_moons(n * seeds, noise=0.05, random_state=state)
        elif name == "circles":
            x, _ = datasets.make_circles(n * seeds, noise=0.05, factor=0.8, random_state=state)
        elif name == "blobs":
            x, _ = datasets.make_blobs(n * seeds, centers=BLOB_CENTRES, cluster_std=0.5, random_state=state)
        else:
            raise ValueError(f"dataset={name!r}; use moons, circles or blobs")
        return rng.permutation(x).reshape(n, seeds, 2)  # shuffle: sklearn returns points grouped by class
    return draw


def run_kde(dataset, bandwidth, n, workflow, iterations, seeds, seed, test_points, every) -> dict:
    """NLL of fresh real test points, each seed its own ``test_points`` (every ``every`` generations), and the data
    variance, per seed."""
    rng = np.random.default_rng([seed, n, round(100 * bandwidth), WORKFLOWS.index(workflow),
                                 ("moons", "circles", "blobs").index(dataset)])
    real = toy_data(dataset, seeds)
    test = real(test_points, np.random.default_rng([seed, 99]))  # (test_points, seeds, 2)

    def measure(g, learner, train, samples, rng):
        nll = learner.nll(test) if g % every == 0 or g == iterations - 1 else np.full(seeds, np.nan)
        return {"nll": nll, "variance": train.var(axis=0).mean(axis=1)}

    result = run_recursion(KDESampler(bandwidth), real, Workflow(workflow), iterations, n, rng, measure=measure)
    return {"nll": result.metrics["nll"], "variance": result.metrics["variance"]}


def summarize(values: np.ndarray) -> np.ndarray:
    """Per-generation statistics over seeds of a (generations, seeds) array: rows are mean, standard
    error, median, 10 % and 90 % quantiles (heavy tails: read medians and quantiles, not only means)."""
    with np.errstate(invalid="ignore"):
        return np.array([values.mean(axis=1), standard_error(values, axis=1),
                         np.median(values, axis=1), *np.quantile(values, [0.1, 0.9], axis=1)])


STATS = ("mean", "se", "median", "q10", "q90")
