"""Error accumulation across generations on exact 1-D densities (notebooks/02).

The recursion acts on laws, not samples: q_i = alpha p + (1 - alpha) p_hat_i, p_hat_{i+1} = L_i(q_i),
with every density held on a grid, so every divergence is a quadrature without sampling error.

The learner L_i imposes a per-generation error of exactly controlled size: it tilts q_i by a bounded
shape h_i, standardised to mean 0 and variance 1 under q_i,

    p_hat_{i+1} = q_i (1 + eps_i s_i h_i),   so   I_i = chi^2(p_hat_{i+1} || q_i) = eps_i^2 exactly,

with a random sign s_i and a random centre c_i for h_i = tanh(x - c_i) (independent errors across
generations), or, ``systematic``, a fixed sign and shape that always widens q_i (as a KDE always adds h^2
to its training set's variance). Notebook 01 showed that a diffusion step gives I_i ~ eta_i
eps_star,i^2; here I_i is set directly, so the accumulation results can be checked against the errors
that enter them, free of any sampler's own bias.

:func:`learned_recursion` replaces the imposed tilt by a real learner: a finite-N KDE score driving the
reverse SDE, whose output density is propagated exactly on the grid, with eps_star^2 and eta measured on
the same grid.
"""

from __future__ import annotations

import numpy as np

from collapse.core.bounds import discounted_sum, forgetting_factor
from collapse.core.diffusion import SamplerConfig, ou_kernel
from collapse.core.grid import chi2_grid, fisher_grid, normal_density, propagate
from collapse.core.mixture import kde


def tilt(q: np.ndarray, x: np.ndarray, eps: float, rng: np.random.Generator, systematic: bool = False) -> np.ndarray:
    """q (1 + eps s h) with h standardised under q (mean 0, variance 1), so chi^2 to q is eps^2 exactly.

    Independent errors: h = tanh(x - c), c a random quantile of q (20 %-80 %, so that h varies where q has its
    mass), and a random sign s. Systematic errors: s = +1 and h = -exp(-(x - m)^2 / (2 v)) with q's mean m and
    variance v, which moves mass from the centre outwards every time (bounded, like the tanh: an unbounded
    widening shape would grow without limit at the grid's edge).
    """
    dx = x[1] - x[0]
    if systematic:
        mean = np.sum(q * x) * dx
        g, sign = -np.exp(-0.5 * (x - mean) ** 2 / (np.sum(q * (x - mean) ** 2) * dx)), 1.0
    else:
        c = x[np.searchsorted(np.cumsum(q) * dx, rng.uniform(0.2, 0.8))]
        g, sign = np.tanh(x - c), rng.choice([-1.0, 1.0])
    h = g - np.sum(q * g) * dx
    h /= np.sqrt(np.sum(q * h**2) * dx)
    factor = 1 + eps * sign * h
    if np.any(factor[q > 0] < 0):
        raise ValueError(f"error size eps={eps} makes the tilted density negative; use a smaller error")
    return q * factor


def recursion(p: np.ndarray, x: np.ndarray, alpha: float, errors, rng, start: np.ndarray | None = None,
              systematic: bool = False):
    """p_hat_0 = ``start`` (default p) and, for each eps_i^2 in ``errors``, q_i and p_hat_{i+1}.

    Returns (p_hats, qs): p_hats[i] = p_hat_i for i = 0..N+1, qs[i] = q_i for i = 0..N.
    """
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha={alpha} must lie in [0, 1]")
    p_hats, qs = [p if start is None else start], []
    for eps2 in errors:
        q = alpha * p + (1 - alpha) * p_hats[-1]
        qs.append(q)
        p_hats.append(tilt(q, x, np.sqrt(eps2), rng, systematic) if eps2 > 0 else q)
    return p_hats, qs


def decomposition(p, p_hats, qs, alpha, i0=0):
    """[K]'s exact decomposition of p_hat_{N+1} - p (N = len(qs) - 1):

        sum_{k=i0..N} (1-alpha)^{N-k} Delta_k + (1-alpha)^{N+1-i0} (p_hat_{i0} - p),  Delta_k = p_hat_{k+1} - q_k.

    Returns the terms as rows (the initial-condition term last) and the largest absolute deviation of
    their sum from p_hat_{N+1} - p."""
    n = len(qs) - 1
    terms = [(1 - alpha) ** (n - k) * (p_hats[k + 1] - qs[k]) for k in range(i0, n + 1)]
    terms.append((1 - alpha) ** (n + 1 - i0) * (p_hats[i0] - p))
    terms = np.array(terms)
    return terms, float(np.max(np.abs(terms.sum(axis=0) - (p_hats[n + 1] - p))))


def contributions(terms: np.ndarray, p: np.ndarray, dx: float) -> np.ndarray:
    """C_jk = int T_j T_k / p: D_{N+1} = sum_jk C_jk; the diagonal is the discounted sum, the rest
    are the cross terms."""
    weighted = terms / np.where(p > 0, p, np.inf)
    return weighted @ terms.T * dx


def divergences_to(p, laws, dx) -> np.ndarray:
    return np.array([chi2_grid(law, p, dx) for law in laws])


def data_density(x: np.ndarray) -> np.ndarray:
    """p: the 1-D mixture of notebook 01's testbed (b), on the grid."""
    from collapse.studies.single_generation import one_d_mixture

    return np.exp(one_d_mixture().log_prob(x[:, None]))


def schedule(name: str, eps2: float, generations: int) -> np.ndarray:
    """Per-generation error eps_i^2, i = 1..G: ``summable`` (eps2 0.7^(i-1)), ``floor`` (eps2),
    ``harmonic`` (eps2 / i: not summable, yet tending to 0), ``none`` (0)."""
    i = np.arange(1, generations + 1)
    table = {"summable": eps2 * 0.7 ** (i - 1), "floor": np.full(generations, eps2),
             "harmonic": eps2 / i, "none": np.zeros(generations)}
    if name not in table:
        raise ValueError(f"schedule={name!r}; use one of {', '.join(table)}")
    return table[name]


def regime_runs(x, alpha, name, eps2, generations, replicates, seed, start=None, systematic=False) -> np.ndarray:
    """D_i = chi^2(p_hat_i || p), i = 0..G, for ``replicates`` independent runs: shape (R, G + 1)."""
    p = data_density(x)
    errors = schedule(name, eps2, generations)
    rows = []
    for r in range(replicates):
        rng = np.random.default_rng([seed, r, round(1000 * alpha)])
        p_hats, _ = recursion(p, x, alpha, errors, rng, start, systematic)
        rows.append(divergences_to(p, p_hats, x[1] - x[0]))
    return np.array(rows)


def systematic_plateau(eps2: float, alpha) -> np.ndarray:
    """The floor-regime plateau with errors of fixed sign and shape, to first order in the drift: if every
    generation adds Delta = eps p h (h standardised under p), p_hat_N - p = sum_j (1 - alpha)^j Delta, so
    D_infinity = eps^2 (sum_j (1 - alpha)^j)^2 = eps^2 / alpha^2 -- against eps^2 / (alpha (2 - alpha)) when the
    errors are independent with mean zero (the cross terms then vanish in expectation)."""
    return eps2 / np.asarray(alpha, dtype=float) ** 2


def grid_density_score(x: np.ndarray, q: np.ndarray):
    """The exact score of q_t (q noised to t by the OU process) for a density q on a grid, as a score function
    on (n, 1) arrays: q_t(y) = sum_j q(x_j) dx N(y; a x_j, 1 - a^2), and its gradient likewise."""
    mass = q * (x[1] - x[0])

    def score(y, t):
        kernel, difference, v = ou_kernel(y, x, t)  # (n, grid)
        kernel = mass[None, :] * kernel
        return (kernel * difference).sum(1, keepdims=True) / (v * kernel.sum(1, keepdims=True))

    return score


class OnGrid:
    """A score function evaluated once per time on the grid's points (the grid chains ask for it several times per
    step, in several chains); any other points are refused."""

    def __init__(self, score, x: np.ndarray):
        self.score, self.column, self.table = score, x[:, None], {}

    def __call__(self, y, t):
        if y.shape != self.column.shape or not np.array_equal(y, self.column):
            raise ValueError("OnGrid scores are tabulated on the grid's points only")
        if t not in self.table:
            self.table[t] = self.score(self.column, t)
        return self.table[t]


def sample_grid(q: np.ndarray, x: np.ndarray, n: int, rng) -> np.ndarray:
    """n draws from the grid density q: the inverse of its distribution function by the trapezoidal rule, 0 at the
    first grid point (a plain cumulative sum starts at q_0 dx and put every draw dx/2 to the left: a bias that a
    recursion compounds, 0.01 per generation at dx = 0.02)."""
    cdf = np.concatenate([[0.0], np.cumsum((q[1:] + q[:-1]) / 2)]) * (x[1] - x[0])
    return np.interp(rng.uniform(0, cdf[-1], n), cdf, x)


def learned_recursion(alpha, generations, n, bandwidth, grid_points, steps, seed, replicate) -> dict:
    """The recursion with a real learner, every density exact on the grid.

    Generation i draws n points from q_i = alpha p + (1 - alpha) p_hat_i, fits a Gaussian KDE (bandwidth h) and
    runs the Euler-Maruyama reverse SDE driven by the KDE's noised score from N(0, 1); its output density
    p_hat_{i+1} is propagated exactly on the grid (:func:`collapse.core.grid.propagate`). On the same grid: the ideal
    chain (the exact score of q_i) with eps_star,i^2 = E int (s_KDE - grad log q_t)^2 along it, and eta_i =
    Var(E[M_T | Y]) / eps_star^2, where Var(E[M_T | Y]) is the Fisher information of the endpoint density in the
    error's scale at 0 (Girsanov: d p_beta / d beta = p E[M_T | Y]), by central differences. Per generation:
    D_{i+1}, I_i = chi^2(p_hat_{i+1} || q_i), the ideal chain's own chi^2 to q_i (early stop and discretisation:
    an error eps_star does not see), J_i = chi^2(p_hat_{i+1} - q_i + p || p), eps_star^2 and eta.
    """
    x = np.linspace(-8, 8, grid_points)
    dx, p = x[1] - x[0], data_density(x)
    config, start = SamplerConfig(steps=steps), normal_density(x)
    rng = np.random.default_rng([seed, replicate, round(1000 * alpha), 17])
    p_hat, rows = p, []
    for _ in range(generations):
        q = alpha * p + (1 - alpha) * p_hat
        learned = OnGrid(kde(sample_grid(q, x, n, rng)[:, None], bandwidth).score, x)
        ideal = OnGrid(grid_density_score(x, q), x)

        def error(y, t, learned=learned, ideal=ideal):
            return learned(y, t) - ideal(y, t)

        ideal_chain = propagate(x, start, ideal, config, measured=error)
        beta = 1e-3
        plus, minus = (propagate(x, start, ideal, config, error=lambda y, t, s=s: s * error(y, t)).density
                       for s in (beta, -beta))
        fisher = fisher_grid((plus - minus) / (2 * beta), ideal_chain.density, dx)
        p_hat = propagate(x, start, learned, config).density
        rows.append({"D": chi2_grid(p_hat, p, dx), "I": chi2_grid(p_hat, q, dx),
                     "I_ideal": chi2_grid(ideal_chain.density, q, dx), "J": chi2_grid(p_hat - q + p, p, dx),
                     "eps_star2": ideal_chain.energy, "eta": fisher / ideal_chain.energy})
    return {key: np.array([row[key] for row in rows]) for key in rows[0]}


def lemma_pairs(x: np.ndarray, p: np.ndarray, start: np.ndarray, seed: int) -> dict:
    """The (p, r) pairs on which notebook 02 checks the forgetting lemma: grid densities and discrete laws."""
    rng = np.random.default_rng(seed)
    return {"mixture vs shifted mixture": (p, start),
            "mixture vs wide Gaussian": (p, np.exp(-0.5 * x**2 / 4) / np.sqrt(8 * np.pi)),
            "Gaussian vs mixture": (np.exp(-0.5 * x**2 / 2) / np.sqrt(4 * np.pi), p),
            "discrete (20 atoms)": tuple(rng.dirichlet(np.ones(20), size=2))}


def lemma_sides(base: np.ndarray, other: np.ndarray, alpha: float, width: float) -> tuple[float, float]:
    """Both sides of chi^2(alpha p + (1 - alpha) r || p) = (1 - alpha)^2 chi^2(r || p), computed independently."""
    lhs = chi2_grid(alpha * base + (1 - alpha) * other, base, width)
    return lhs, forgetting_factor(alpha) * chi2_grid(other, base, width)


def thm42_bounds(D: np.ndarray, J: np.ndarray, alpha: float, gamma: float):
    """Thm 4.2's additive bounds (our derivation, Young's inequality with parameter gamma) for D_1..D_N from the
    intra-generation terms J_i = chi^2(p_hat_{i+1} - q_i + p || p) and D_0: (diagonal sum, upper, lower)."""
    factor = forgetting_factor(alpha)
    diagonal = discounted_sum(J, factor, D[0])
    rho = (1 + gamma) * factor
    upper = (1 + 1 / gamma) * discounted_sum(J, rho) + rho ** np.arange(1, len(J) + 1) * D[0]
    lower = np.maximum(0.5 * J - factor * D[:-1], 0)
    return diagonal, upper, lower
