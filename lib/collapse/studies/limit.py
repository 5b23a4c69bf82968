"""Where the recursion goes with exact scores (notebooks/07_limiting_distribution.ipynb).

Each function returns one labelled piece of the notebook's result: the exact-score recursion on a 1-D mixture (grid and
closed-form mixtures), on [K]'s 10-D GMM (closed-form mixtures, KL by Monte Carlo), its simulation with the library's
sampler, annealed stopping times, and a 2-D score error that is divergence-free with respect to the noised law.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from collapse.core.diffusion import SamplerConfig, log_snr, reverse_sde
from collapse.core.divergences import kl_monte_carlo
from collapse.core.gaussian import as_score, chain_moments, gaussian_score, kl_gaussian
from collapse.core.grid import chi2_grid, kl_grid, normal_density
from collapse.core.mixture import blend, paper_gmm
from collapse.core.semigroup import (
    exact_recursion_grid,
    exact_recursion_mixture,
    hermite_coefficients,
    limit_grid,
    limit_mixture,
)
from collapse.core.stats import standard_error
from collapse.studies.single_generation import one_d_mixture

SCHEDULES = ("fixed", "t0/i", "t0/i^2", "geometric")


def stopping_times(schedule: str, t0: float, generations: int) -> np.ndarray:
    """t0^(i), i = 1..G: ``fixed`` t0; ``t0/i``; ``t0/i^2``; ``geometric`` t0 0.8^(i-1)."""
    i = np.arange(1, generations + 1, dtype=float)
    table = {"fixed": np.full(generations, t0), "t0/i": t0 / i, "t0/i^2": t0 / i**2, "geometric": t0 * 0.8 ** (i - 1)}
    if schedule not in table:
        raise ValueError(f"schedule={schedule!r}; use one of {', '.join(table)}")
    return table[schedule]


def relative_steps(t0s, T: float = SamplerConfig().T, reference: float = SamplerConfig().t0) -> np.ndarray:
    """Sampler steps per generation relative to stopping at ``reference``, for a log-SNR grid with a fixed increment
    (the steps such a grid needs grow like the log-SNR span, lambda_t0 - lambda_T)."""
    return (log_snr(np.asarray(t0s)) - log_snr(T)) / (log_snr(reference) - log_snr(T))


def grid_study(alphas, t0, generations, grid_points, modes) -> xr.Dataset:
    """The 1-D recursion p_hat_{i+1} = P_t0 (alpha p + (1 - alpha) p_hat_i) on a grid and as closed-form mixtures:
    KL and chi^2 to the data, total variation to the limit (N(0, 1) at alpha = 0), the largest gap between the two
    routes, and the Hermite coefficients of the data and of the limit."""
    x = np.linspace(-8, 8, grid_points)
    dx, data = x[1] - x[0], one_d_mixture()
    p = np.exp(data.log_prob(x[:, None]))
    rows = []
    for alpha in alphas:
        grid = exact_recursion_grid(p, x, alpha, [t0] * generations)
        mixtures = exact_recursion_mixture(data, alpha, [t0] * generations)
        limit = limit_grid(p, x, alpha, t0) if alpha > 0 else normal_density(x)
        rows.append(xr.Dataset({
            "kl_data": ("generation", [kl_grid(q, p, dx) for q in grid]),
            "chi2_data": ("generation", [chi2_grid(q, p, dx) for q in grid]),
            "tv_limit": ("generation", [0.5 * np.abs(q - limit).sum() * dx for q in grid]),
            "route_gap": np.max([np.abs(q - np.exp(m.log_prob(x[:, None]))).max() for q, m in zip(grid, mixtures)]),
            "kl_limit_data": kl_grid(limit, p, dx),
            "hermite_data": ("mode", hermite_coefficients(p, x, modes)),
            "hermite_limit": ("mode", hermite_coefficients(limit, x, modes))}))
    return xr.concat(rows, dim="alpha").assign_coords(alpha=list(alphas), generation=np.arange(1, generations + 1),
                                                      mode=np.arange(modes))


def gmm_study(alphas, t0, generations, every, kl_samples, seed) -> xr.Dataset:
    """The 10-D GMM's exact-score recursion as closed-form mixtures: KL to the data every ``every`` generations and
    of the truncated limit, by Monte Carlo (estimate, standard error)."""
    data, rng = paper_gmm(dim=10), np.random.default_rng([seed, 70])
    shown = np.arange(every, generations + 1, every)
    kl, se, limit = [], [], []
    for alpha in alphas:
        laws = exact_recursion_mixture(data, alpha, [t0] * generations)
        estimates = [kl_monte_carlo(laws[g - 1], data, kl_samples, rng) for g in shown]
        kl.append([e[0] for e in estimates])
        se.append([e[1] for e in estimates])
        limit.append(kl_monte_carlo(limit_mixture(data, alpha, t0), data, kl_samples, rng))
    dims = ("alpha", "generation10")
    return xr.Dataset({"kl10": (dims, kl), "kl10_se": (dims, se), "kl10_limit": ("alpha", [v[0] for v in limit]),
                       "kl10_limit_se": ("alpha", [v[1] for v in limit])},
                      coords={"alpha": list(alphas), "generation10": shown})


def simulation_study(alphas, t0, generations, samples, steps, seed) -> xr.Dataset:
    """The third route: each generation, samples of the exact q_i run through the library's reverse-SDE sampler with
    q_i's exact score, started from q_i noised to T, against the closed-form p_hat_{i+1}: z-scores of the mean and of
    the second moment per coordinate (the largest over coordinates), in 1-D and in 10-D."""
    sampler = SamplerConfig(t0=t0, steps=steps)
    rng = np.random.default_rng([seed, 71])
    z = np.empty((2, len(alphas), generations, 2))
    for d, data in enumerate((one_d_mixture(), paper_gmm(dim=10))):
        for a, alpha in enumerate(alphas):
            previous = data
            for g in range(generations):
                q = blend(data, previous, alpha)
                target = q.noised(t0)
                y = reverse_sde(q.score, q.noised(sampler.T).sample(samples, rng), rng, sampler)
                second = target.covariance().diagonal() + target.mean() ** 2
                z[d, a, g, 0] = np.max(np.abs(y.mean(0) - target.mean()) / standard_error(y, axis=0))
                z[d, a, g, 1] = np.max(np.abs((y**2).mean(0) - second) / standard_error(y**2, axis=0))
                previous = target
    return xr.Dataset({"simulation_z": (("data", "alpha", "sim_generation", "moment"), z)},
                      coords={"data": ["1-D mixture", "10-D GMM"], "alpha": list(alphas),
                              "sim_generation": np.arange(1, generations + 1), "moment": ["mean", "second moment"]})


def schedule_study(alphas, t0, generations, grid_points) -> xr.Dataset:
    """KL to the data per generation under each stopping schedule (1-D grid), and the sampler steps each needs."""
    x = np.linspace(-8, 8, grid_points)
    dx, p = x[1] - x[0], np.exp(one_d_mixture().log_prob(x[:, None]))
    kl = [[[kl_grid(q, p, dx) for q in exact_recursion_grid(p, x, alpha, stopping_times(s, t0, generations))]
           for alpha in alphas] for s in SCHEDULES]
    steps = [relative_steps(stopping_times(s, t0, generations)) for s in SCHEDULES]
    return xr.Dataset({"schedule_kl": (("schedule", "alpha", "generation"), kl),
                       "schedule_steps": (("schedule", "generation"), steps)},
                      coords={"schedule": list(SCHEDULES), "alpha": list(alphas),
                              "generation": np.arange(1, generations + 1)})


def divergence_free_study(scale, variance, samples, steps, seed) -> xr.Dataset:
    """A 2-D score error that only rotates, e = c J y, against a gradient error of the same energy, e = c y, with
    data N(0, variance I). Since p_t is isotropic, div(p_t J y) = p_t div(J y) + J y . grad p_t = -p_t (J y . y) / v_t
    = 0: the rotation moves no mass and the endpoint law is unchanged, however large its energy. Exact endpoint
    moments of the discretised chain (the Gaussian chain moments) give eps_star^2, KL(endpoint || ideal endpoint) and
    eta (the endpoint's Fisher information in the error's size at 0, over eps_star^2); a Monte Carlo run checks the
    covariance."""
    config, cov = SamplerConfig(steps=steps), variance * np.eye(2)
    score, start = gaussian_score(np.zeros(2), cov), (np.zeros(2), np.eye(2) * (np.exp(-4) * variance + 1 - np.exp(-4)))
    J = np.array([[0.0, -1.0], [1.0, 0.0]])
    ideal = chain_moments(score, *start, config)
    rows, rng = {}, np.random.default_rng([seed, 72])
    for name, matrix in (("rotation", J), ("gradient", np.eye(2))):
        def error(t, beta=scale, matrix=matrix):
            return beta * matrix, np.zeros(2)

        moved = chain_moments(score, *start, config, error=error)
        energy = chain_moments(score, *start, config, measured=error).energy
        h = 1e-4 * scale
        plus, minus = (chain_moments(score, *start, config, error=lambda t, s=s, m=matrix: (s * m, np.zeros(2)))
                       for s in (h, -h))
        d_cov = (plus.cov - minus.cov) / (2 * h) * scale  # d/d(beta / scale): the error's own size
        inverse = np.linalg.inv(ideal.cov)
        fisher = 0.5 * np.trace(inverse @ d_cov @ inverse @ d_cov)
        y = reverse_sde(lambda x, t, m=matrix: as_score(score)(x, t) + scale * x @ m.T,
                        rng.multivariate_normal(*start, samples), rng, config)
        kl = kl_gaussian(moved.mean, moved.cov, ideal.mean, ideal.cov)
        rows[name] = [energy, kl, fisher / energy, *np.cov(y.T).diagonal(), *ideal.cov.diagonal(),
                      np.sqrt(2 / (samples - 1)) * ideal.cov[0, 0]]
    columns = ["eps_star2", "kl_endpoint", "eta", "mc_var_1", "mc_var_2", "exact_var_1", "exact_var_2", "mc_var_se"]
    return xr.Dataset({"divfree": (("error", "quantity"), list(rows.values()))},
                      coords={"error": list(rows), "quantity": columns})
