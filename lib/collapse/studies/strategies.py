"""What keeps a self-consuming loop from collapsing (notebooks/08): fresh data, sampling bias, verification,
self-correction, on an exact 1-D testbed, and how much fresh data a practitioner needs.

Testbed: the data p are notebook 01's 1-D mixture held on a grid on [-12, 12]; the learner is a Gaussian KDE
(bandwidth h) of its n training points, whose density is computed exactly on the grid, so every generation's law is
known and every metric is a quadrature. Each generation runs the library's one recursion
(:func:`collapse.core.recursion.run_recursion`): generation 0 fits the real data; then a share alpha of real points
(``fresh``: new ones each generation, [K] and MAD's fresh-data loop; ``keep-fraction``: the same original ones,
MAD's synthetic-augmentation loop; alpha = 0 is the
fully synthetic loop) joins n (1 - alpha) points of the previous model, drawn after the loop's interventions:

- **sampling bias** (MAD): the model's density raised to 1 / tau and renormalised (tau < 1 favours its modes:
  quality over diversity);
- **verification** (Feng et al.; Yi et al.): a verifier with its own picture of the data, p_v, accepts a candidate x
  with probability min(1, c p_v(x) / q(x)), c set so that a share ``keep`` of the candidates passes: the accepted
  law is min(q, c p_v), renormalised, which moves from the model (keep = 1) to p_v (keep -> 0); p_v = p is the
  ideal verifier, a KDE of m real points an imperfect one (its "knowledge centre");
- **self-correction** (Gillman et al.): each synthetic point takes Langevin steps under the data's score for a total
  time gamma (the idealised corrector: gamma -> infinity turns synthetic points into draws from p).

Metrics per generation, exact on the grid: KL(p || p_hat) (coverage), KL(p_hat || p) (mass where p is thin), and
precision and recall of distributions (Sajjadi et al. 2018's PRD curve: alpha(lambda) = int min(lambda p, p_hat),
beta(lambda) = alpha(lambda) / lambda, summarised by F_1/8 for precision and F_8 for recall). [K]'s chi^2 to p is not
used on this testbed: a KDE's Gaussian tails meet p's at 1e-28 and would dominate it.

:func:`fresh_fraction_needed` is the practitioner's answer from [K]'s floor regimes (notebooks 02 and 03): with a
per-generation error eps^2 (chi^2 to the model's own training law) the drift settles at eps^2 / (alpha (2 - alpha))
when the errors are independent, and at eps^2 / alpha^2 when they are coherent (always the same shape and sign).
"""

from __future__ import annotations

import numpy as np
from scipy import optimize

from collapse.core.recursion import Workflow, run_recursion, training_set
from collapse.studies.accumulation import regime_runs, sample_grid
from collapse.studies.single_generation import one_d_mixture

GRID_EDGE = 12.0  # the loops' grid is [-12, 12]: a KDE that widens for 100 generations keeps its mass on it
LANGEVIN_STEP = 0.005  # the corrector's step: 200 steps per unit of correction time
PRD_ANGLES = 1001  # lambda = tan(angle), angles evenly spaced in (0, pi/2), as Sajjadi et al. sample the curve


# ----------------------------------------------------------------------------------------------- exact metrics
def precision_recall_curve(p: np.ndarray, q: np.ndarray, dx: float, angles: int = PRD_ANGLES):
    """The PRD curve of a model q against the data p (densities on a grid of step dx): precision
    alpha(lambda) = int min(lambda p, q) and recall beta(lambda) = alpha(lambda) / lambda, for lambda = tan(angle)."""
    lam = np.tan(np.linspace(0, np.pi / 2, angles + 2)[1:-1])
    precision = np.minimum(lam[:, None] * p[None, :], q[None, :]).sum(1) * dx
    return np.minimum(precision, 1.0), np.minimum(precision / lam, 1.0)


def f_beta(precision, recall, beta: float) -> float:
    """max over the curve of F_beta = (1 + beta^2) P R / (beta^2 P + R): beta = 8 reads recall, 1/8 precision."""
    with np.errstate(invalid="ignore", divide="ignore"):
        f = (1 + beta**2) * precision * recall / (beta**2 * precision + recall)
    return float(np.nanmax(f))


def kl_logs(log_p: np.ndarray, log_q: np.ndarray, dx: float) -> float:
    """KL(p || q) by quadrature from log-densities on a grid: finite wherever both are, even where a density
    underflows (a KDE's tail beyond 38 bandwidths, the data's far from its modes)."""
    return float(np.sum(np.exp(log_p) * (log_p - log_q)) * dx)


def metrics(log_p: np.ndarray, log_q: np.ndarray, dx: float) -> dict:
    """The data p against a model q, from their log-densities on the grid."""
    precision, recall = precision_recall_curve(np.exp(log_p), np.exp(log_q), dx)
    return {"kl_coverage": kl_logs(log_p, log_q, dx), "kl_quality": kl_logs(log_q, log_p, dx),
            "precision": f_beta(precision, recall, 1 / 8), "recall": f_beta(precision, recall, 8)}


# ------------------------------------------------------------------------------------------------ the learner
def kde_log_density(points: np.ndarray, x: np.ndarray, bandwidth: float) -> tuple[np.ndarray, float]:
    """The log-density of the Gaussian KDE of ``points`` on the grid ``x`` (a log-sum-exp, so that its far tail
    does not underflow), renormalised on the grid, and the mass it had beyond the grid (recorded per generation: a
    loop that widens without bound reaches the grid's ends)."""
    half = 0.5 * ((x[:, None] - np.ravel(points)[None, :]) / bandwidth) ** 2
    nearest = half.min(1)  # the log-sum-exp shift, by hand: scipy's logsumexp took 4 times as long on these shapes
    log = np.log(np.exp(nearest[:, None] - half).sum(1)) - nearest
    log -= np.log(half.shape[1] * bandwidth * np.sqrt(2 * np.pi))
    inside = np.exp(log).sum() * (x[1] - x[0])
    return log - np.log(inside), max(1.0 - inside, 0.0)


def langevin(y: np.ndarray, x: np.ndarray, log_p: np.ndarray, time: float, rng) -> np.ndarray:
    """Langevin dynamics y <- y + d grad log p(y) + sqrt(2 d) xi for a total ``time`` (the data's score by central
    differences on the grid, interpolated; points stay inside the grid)."""
    score = np.gradient(log_p, x)
    for _ in range(int(round(time / LANGEVIN_STEP))):
        y = y + LANGEVIN_STEP * np.interp(y, x, score) + np.sqrt(2 * LANGEVIN_STEP) * rng.standard_normal(y.shape)
        y = np.clip(y, x[0], x[-1])
    return y


class GridKDE:
    """A Gaussian KDE whose log-density is held on the grid, sampled after the loop's interventions (module
    docstring): temperature ``tau``, a verifier with log-density ``log_verifier`` passing a share ``keep`` of the
    candidates, and Langevin correction under ``log_p`` for time ``correction``."""

    def __init__(self, x, bandwidth, tau=1.0, log_verifier=None, keep=1.0, correction=0.0, log_p=None):
        self.x, self.dx, self.bandwidth = x, x[1] - x[0], bandwidth
        self.tau, self.log_verifier, self.keep = tau, log_verifier, keep
        self.correction, self.log_p = correction, log_p
        self.log_density, self.outside = None, 0.0

    def fit(self, data: np.ndarray) -> GridKDE:
        self.log_density, self.outside = kde_log_density(data, self.x, self.bandwidth)
        return self

    @property
    def density(self) -> np.ndarray:
        return np.exp(self.log_density)

    def sampling_law(self) -> np.ndarray:
        """The law synthetic points are drawn from (unnormalised): the model tempered, then what the verifier passes."""
        tempered = self.log_density / self.tau
        q = np.exp(tempered - tempered.max())
        q = q / (q.sum() * self.dx)
        if self.log_verifier is not None and self.keep < 1:  # accept x with probability min(1, c p_v(x) / q(x))
            verifier = np.exp(self.log_verifier)
            c = optimize.brentq(lambda c: np.minimum(q, c * verifier).sum() * self.dx - self.keep, 0, 1e12)
            q = np.minimum(q, c * verifier)
        return q

    def sample(self, n: int, rng) -> np.ndarray:
        y = sample_grid(self.sampling_law(), self.x, n, rng)
        return langevin(y, self.x, self.log_p, self.correction, rng) if self.correction > 0 else y


# ------------------------------------------------------------------------------------------------ one loop
def verifier_log_density(points: int, x: np.ndarray, log_p: np.ndarray, rng) -> np.ndarray | None:
    """The verifier's picture of the data, as a log-density: ``points`` = 0 none, -1 the data themselves (ideal),
    m > 0 a KDE of m real points with Silverman's bandwidth (its quality grows with m)."""
    if points == 0:
        return None
    if points < 0:
        return log_p
    real = sample_grid(np.exp(log_p), x, points, rng)
    return kde_log_density(real, x, 0.9 * min(real.std(), np.subtract(*np.percentile(real, [75, 25])) / 1.34)
                           * points ** -0.2)[0]


def run_loop(workflow: str, alpha: float, seed: int, replicate: int, n: int, bandwidth: float, generations: int,
             grid_points: int, tau: float = 1.0, verifier_points: int = 0, keep: float = 1.0,
             correction: float = 0.0, shift: float = 0.0) -> dict:
    """One self-consuming loop on the exact testbed: metrics per generation (generation 0 is the model of the real
    data, or of the real data moved by ``shift``: a first model that errs), and, with a verifier, KL(p_v || p_hat)."""
    x = np.linspace(-GRID_EDGE, GRID_EDGE, grid_points)
    dx, log_p = x[1] - x[0], one_d_mixture().log_prob(x[:, None])
    rng = np.random.default_rng([seed, replicate, round(1000 * alpha), round(100 * tau), verifier_points + 1,
                                 round(100 * keep), round(1000 * correction), round(100 * shift) + 1000,
                                 ("fresh", "keep-fraction").index(workflow)])
    log_verifier = verifier_log_density(verifier_points, x, log_p, rng)
    learner = GridKDE(x, bandwidth, tau, log_verifier, keep, correction, log_p)

    def first_model_errs(workflow, state, n, real, rng):
        train = training_set(workflow, state, n, real, rng)
        return train + shift if state.generation == 0 else train

    def measure(g, learner, train, samples, rng):
        row = metrics(log_p, learner.log_density, dx) | {"mass_outside": learner.outside}
        if log_verifier is not None:
            row["kl_to_verifier"] = kl_logs(log_verifier, learner.log_density, dx)
        return row

    result = run_recursion(learner, lambda m, rng: sample_grid(np.exp(log_p), x, m, rng), Workflow(workflow, alpha),
                           generations + 1, n, rng, measure=measure, training=first_model_errs)
    return {k: v for k, v in result.metrics.items() if k != "train_size"}


def run_setting(replicates: int, **setting) -> dict:
    """``replicates`` independent loops of one setting (:func:`run_loop`'s arguments): arrays (replicate,
    generation). One job per setting, not per loop: a loop takes milliseconds in smoke mode, less than its job's
    bookkeeping."""
    runs = [run_loop(replicate=r, **setting) for r in range(replicates)]
    return {k: np.array([run[k] for run in runs]) for k in runs[0]}


# ------------------------------------------------------------------------------------------------ the answer
def fresh_fraction_needed(eps2, target, errors: str = "independent"):
    """The fresh fraction alpha that keeps [K]'s drift chi^2(p_hat || p) at ``target`` under a per-generation error
    eps^2: independent errors settle at eps^2 / (alpha (2 - alpha)), so alpha = 1 - sqrt(1 - eps^2 / target);
    coherent ones (same shape and sign every generation) at eps^2 / alpha^2 to first order, so
    alpha = sqrt(eps^2 / target). NaN where even all-fresh data cannot reach the target (eps^2 > target): the
    error itself must shrink."""
    ratio = np.asarray(eps2, float) / np.asarray(target, float)
    if errors == "independent":
        return np.where(ratio <= 1, 1 - np.sqrt(np.clip(1 - ratio, 0, 1)), np.nan)
    if errors == "coherent":
        return np.where(ratio <= 1, np.sqrt(ratio), np.nan)
    raise ValueError(f"errors={errors!r}; use 'independent' or 'coherent'")


def plateau(alpha: float, eps2: float, errors: str, generations: int, replicates: int, grid_points: int,
            seed: int) -> dict:
    """The measured drift plateau of notebook 02's recursion with imposed errors (floor schedule): the mean over runs
    of chi^2(p_hat || p) over the last half of the generations, with its standard error across runs."""
    x = np.linspace(-8, 8, grid_points)
    runs = regime_runs(x, alpha, "floor", eps2, generations, replicates, seed, systematic=errors == "coherent")
    level = runs[:, generations // 2:].mean(1)
    return {"plateau": level.mean(), "plateau_se": level.std(ddof=1) / np.sqrt(len(level)) if len(level) > 1 else 0.0}
