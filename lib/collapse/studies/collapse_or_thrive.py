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

KDE: moons, circles and the 3-D Swiss roll drawn as [KZ]'s code draws them (one sklearn call per seed with that
seed's n points, noise 0.05, circles with sklearn's default factor 0.8; 500 test points per seed), and blobs with
fixed centres (their code draws new random centres at every call, so their training and test sets come from
different distributions); metric: the exact mean negative log-likelihood of fresh real test points (each seed its
own test set) under each generation's KDE. ``make_moons`` and ``make_circles`` place their points at evenly spaced
angles, n/2 per part, before the noise: a jittered lattice, not an i.i.d. sample (the ``"iid"`` draw, one call
shuffled over every seed, is kept as a named variant to show what this changes).
Accumulate-subsample draws an independent subsample per seed, so seeds stay independent replicates.
Under replace the per-coordinate variance of the data moves towards (n - 1) h^2 (each generation adds
h^2 and loses a factor 1 - 1/n): it grows when the data's variance is below that, and shrinks when it
is above (small n and h).
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy.special import digamma, polygamma
from sklearn import datasets

from collapse.core.learners import GaussianFit, KDESampler
from collapse.core.recursion import Workflow, run_recursion, training_set
from collapse.core.stats import standard_error

WORKFLOWS = ("replace", "accumulate", "accumulate-subsample")
GAUSSIAN_METRICS = ("mean_error", "log_det_ratio", "trace_ratio")
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
                           measure=measure, training=per_seed_training)
    return {k: v for k, v in result.metrics.items() if k != "train_size"}


TOYS = {  # [KZ]'s generators and settings: name -> (n, random_state) -> (n, dim)
    "moons": lambda n, state: datasets.make_moons(n, noise=0.05, random_state=state)[0],
    "circles": lambda n, state: datasets.make_circles(n, noise=0.05, factor=0.8, random_state=state)[0],
    "blobs": lambda n, state: datasets.make_blobs(n, centers=BLOB_CENTRES, cluster_std=0.5, random_state=state)[0],
    "swiss_roll": lambda n, state: datasets.make_swiss_roll(n, noise=0.05, random_state=state)[0],
}
DRAWS = ("lattice", "iid")


def at_checks(jobs: list[dict], runs: list[dict], checks) -> xr.Dataset:
    """Each seed's Gaussian metrics at the checked (d, n, t), per workflow (NaN where a workflow did not run), so
    every interval of the closed-form checks can be recomputed: one variable per metric, dims (check, workflow,
    seed); ``check`` is labelled "d,n,t"."""
    found = {(job["d"], job["n"], job["workflow"]): run for job, run in zip(jobs, runs)}
    kept = [(d, n, t) for d, n, t in checks
            if (d, n, "replace") in found and t <= len(found[d, n, "replace"]["mean_error"])]
    seeds = jobs[0]["seeds"]
    values = {m: np.full((len(kept), len(WORKFLOWS), seeds), np.nan) for m in GAUSSIAN_METRICS}
    for i, (d, n, t) in enumerate(kept):
        for j, workflow in enumerate(WORKFLOWS):
            for metric in GAUSSIAN_METRICS if (d, n, workflow) in found else ():
                values[metric][i, j] = found[d, n, workflow][metric][t - 1]
    coords = {"check": [f"{d},{n},{t}" for d, n, t in kept], "workflow": list(WORKFLOWS)}
    return xr.Dataset({m: (("check", "workflow", "seed"), v) for m, v in values.items()}, coords=coords)


def toy_data(name: str, seeds: int, draw: str = "lattice"):
    """A sampler of toy data with fixed geometry: (n, rng) -> (n, seeds, dim). ``"lattice"``: one sklearn call per
    seed with that seed's n points, as [KZ] draw them; ``"iid"``: one call for every seed's points, shuffled, so each
    seed gets nearly independent angles and random counts per part."""
    if name not in TOYS:
        raise ValueError(f"dataset={name!r}; use one of {', '.join(TOYS)}")
    if draw not in DRAWS:
        raise ValueError(f"draw={draw!r}; use one of {', '.join(DRAWS)}")
    make = TOYS[name]

    def sample(n, rng):
        states = rng.integers(2**31, size=seeds)
        if draw == "lattice":
            return np.stack([make(n, int(state)) for state in states], axis=1)
        return rng.permutation(make(n * seeds, int(states[0]))).reshape(n, seeds, -1)
    return sample


def subsample_per_seed(pool: np.ndarray, n: int, rng) -> np.ndarray:
    """``n`` rows of ``pool`` (m, seeds, d) drawn without replacement, an independent index set for each seed."""
    rows = np.stack([rng.choice(len(pool), size=n, replace=False) for _ in range(pool.shape[1])], axis=1)
    return pool[rows, np.arange(pool.shape[1])]


def per_seed_training(workflow, state, n, real, rng):
    """The recursion's training sets, with accumulate-subsample's subsample drawn per seed (one index set shared
    by every seed would make the seeds' subsample error one draw, and their spread understate it)."""
    if workflow.name == "accumulate-subsample" and state.generation > 0:
        return subsample_per_seed(np.concatenate([state.original, *state.pool]), n, rng)
    return training_set(workflow, state, n, real, rng)


def run_kde(dataset, bandwidth, n, workflow, iterations, seeds, seed, test_points, every, draw="lattice") -> dict:
    """NLL of fresh real test points, each seed its own ``test_points`` (every ``every`` generations), and the data
    variance, per seed."""
    rng = np.random.default_rng([seed, n, round(100 * bandwidth), WORKFLOWS.index(workflow), list(TOYS).index(dataset),
                                 DRAWS.index(draw)])
    real = toy_data(dataset, seeds, draw)
    test = real(test_points, np.random.default_rng([seed, 99]))  # (test_points, seeds, dim)

    def measure(g, learner, train, samples, rng):
        nll = learner.nll(test) if g % every == 0 or g == iterations - 1 else np.full(seeds, np.nan)
        return {"nll": nll, "variance": train.var(axis=0).mean(axis=1)}

    result = run_recursion(KDESampler(bandwidth), real, Workflow(workflow), iterations, n, rng, measure=measure,
                           training=per_seed_training)
    return {"nll": result.metrics["nll"], "variance": result.metrics["variance"]}


def summarize(values: np.ndarray) -> np.ndarray:
    """Per-generation statistics over seeds of a (generations, seeds) array: rows are mean, standard
    error, median, 10 % and 90 % quantiles (heavy tails: read medians and quantiles, not only means)."""
    with np.errstate(invalid="ignore"):
        return np.array([values.mean(axis=1), standard_error(values, axis=1),
                         np.median(values, axis=1), *np.quantile(values, [0.1, 0.9], axis=1)])


STATS = ("mean", "se", "median", "q10", "q90")
