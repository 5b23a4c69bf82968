"""Exact testbeds for one generation (notebooks/01): endpoint divergences without sampling error.

Each testbed has a true score, named *unit* error fields (scaled to ideal-path energy 1), and gives,
for an error e = beta * unit field:

- ``exact(name, beta)``: KL and chi^2 between the learned sampler's endpoint law p_hat and the ideal
  sampler's p_star (same start N(0, I), same Euler-Maruyama grid), and the exact energies
  eps_star^2 (ideal path) and eps_hat^2 (learned path);
- ``eta(name)``: the exact observability, Var(E[M | Y_t0]) / eps_star^2. E[M | Y = y] is the
  derivative in beta at 0 of log p_hat_beta(y) (M being the Girsanov log-likelihood's first-order
  term), so Var(E[M | Y]) is the endpoint's Fisher information in beta, computed by a central
  difference of exact endpoint laws: independent of any regression.

p_star, not the data q, is the reference: the bounds concern the score error, and comparing with the
ideal sampler removes the start-up and discretisation error that both samplers share.

(a) ``GaussianTestbed``: Gaussian data, affine score errors; exact chain moments, closed-form KL/chi^2.
(b) ``GridTestbed``: a 1-D two-component mixture, nonlinear errors; densities propagated on a grid.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from collapse.core.diffusion import SamplerConfig, ou_coefficient, ou_variance
from collapse.core.error_fields import AffineError, CallableError
from collapse.core.gaussian import as_score, chain_moments, chi2_gaussian, gaussian_score, kl_gaussian
from collapse.core.grid import chi2_grid, fisher_grid, kl_grid, normal_density, propagate
from collapse.core.mixture import GaussianMixture
from collapse.core.stats import standard_error

_FD_STEP = 1e-4  # central-difference step in beta for the Fisher information


class _Testbed:
    """Shared logic; subclasses provide ``shapes()`` (name -> error field), ``_run(error, measured) -> (law,
    energy)`` and the divergences."""

    def __init__(self, config: SamplerConfig):
        self.config = config
        self.errors: dict = {}
        self.ideal, _ = self._run(None, None)
        for name, field in self.shapes().items():
            self.add_error(name, field)

    def add_error(self, name, field):
        """Register ``field`` rescaled to ideal-path energy 1 (so eps_star^2 = beta^2 exactly)."""
        _, energy = self._run(None, field)
        self.errors[name] = (1 / np.sqrt(energy)) * field

    def add_mixture(self, name, first, second, rho):
        """rho * first + (1 - rho) * second, rescaled to unit energy: sweeps between two errors."""
        self.add_error(name, rho * self.errors[first] + (1 - rho) * self.errors[second])

    def error(self, name, beta=1.0):
        """The error field e = beta * unit field, as a score-like function e(x, t) on (n, d) arrays."""
        return (beta * self.errors[name]).score()

    def learned_score(self, name, beta=1.0):
        score, error = self.score(), self.error(name, beta)
        return lambda x, t: score(x, t) + error(x, t)

    def exact(self, name, beta) -> dict:
        law, eps_hat2 = self._run(beta * self.errors[name], None)
        return {"kl": self._kl(law, self.ideal), "chi2": self._chi2(law, self.ideal),
                "eps_star2": beta**2, "eps_hat2": eps_hat2}

    def eta(self, name) -> float:
        plus, _ = self._run(_FD_STEP * self.errors[name], None)
        minus, _ = self._run(-_FD_STEP * self.errors[name], None)
        return self._fisher(plus, minus, self.ideal, _FD_STEP)  # eps_star^2 = 1 for a unit field


class GaussianTestbed(_Testbed):
    """Data N(mean, cov); errors are affine fields t -> (A, b)."""

    def __init__(self, mean, cov, config: SamplerConfig):
        self.mean, self.cov = np.asarray(mean, float), np.asarray(cov, float)
        self.field = gaussian_score(self.mean, self.cov)
        self.dim = len(self.mean)
        super().__init__(config)

    def shapes(self) -> dict[str, AffineError]:
        return {"covariance": AffineError(self.covariance_error), "mean_shift": AffineError(self.mean_shift_error),
                "score_scale": AffineError(self.score_scale_error), "constant": AffineError(self.constant_error),
                "oscillating": AffineError(self.oscillating_error)}

    def score(self):
        return as_score(self.field)

    def _run(self, error, measured):
        r = chain_moments(self.field, np.zeros(self.dim), np.eye(self.dim), self.config, error, measured)
        return (r.mean, r.cov), r.energy

    def _kl(self, p, q):
        return kl_gaussian(*p, *q)

    def _chi2(self, p, q):
        return chi2_gaussian(*p, *q)

    def _fisher(self, plus, minus, ideal, h):
        dm, dc = (plus[0] - minus[0]) / (2 * h), (plus[1] - minus[1]) / (2 * h)
        c_inv = np.linalg.inv(ideal[1])
        return float(dm @ c_inv @ dm + 0.5 * np.trace(c_inv @ dc @ c_inv @ dc))

    # error fields of the notebook ------------------------------------------------------------
    def covariance_error(self, t):
        """d/dbeta of the score of N(mean, (1 + beta) cov): state-dependent, aligned with the endpoint."""
        a = ou_coefficient(t)
        v_inv = np.linalg.inv(a**2 * self.cov + ou_variance(a) * np.eye(self.dim))
        m = v_inv @ (a**2 * self.cov) @ v_inv
        return m, -m @ (a * self.mean)

    def mean_shift_error(self, t):
        """Score of N(mean + 1, cov) minus score of N(mean, cov): a time-constant mean shift of the data."""
        a = ou_coefficient(t)
        v_inv = np.linalg.inv(a**2 * self.cov + ou_variance(a) * np.eye(self.dim))
        return np.zeros((self.dim, self.dim)), v_inv @ (a * np.ones(self.dim))

    def score_scale_error(self, t):
        """beta times the true score: a state-dependent error that is not aligned."""
        return self.field(t)

    def constant_error(self, t):
        """A time-only error, constant in time: a drift of the whole path."""
        return np.zeros((self.dim, self.dim)), np.ones(self.dim)

    def oscillating_error(self, t, cycles=20):
        """A time-only error that changes sign ``cycles`` times per path: it averages out."""
        phase = 2 * np.pi * cycles * (t - self.config.t0) / (self.config.T - self.config.t0)
        return np.zeros((self.dim, self.dim)), np.cos(phase) * np.ones(self.dim)


class GridTestbed(_Testbed):
    """1-D data mixture; errors are functions e(x, t) on (n, 1) arrays; densities on a grid."""

    dim = 1

    def __init__(self, data: GaussianMixture, config: SamplerConfig, grid_points: int, half_width: float = 8.0):
        self.data = data
        self.x = np.linspace(-half_width, half_width, grid_points)
        self.dx = self.x[1] - self.x[0]
        super().__init__(config)

    def shapes(self) -> dict[str, CallableError]:
        return {"weight": CallableError(self.weight_error), "tanh": CallableError(self.tanh_error),
                "oscillating": CallableError(self.oscillating_error)}

    def score(self):
        return self.data.score

    def _run(self, error, measured):
        r = propagate(self.x, normal_density(self.x), self.data.score, self.config, error, measured)
        return r.density, r.energy

    def _kl(self, p, q):
        return kl_grid(p, q, self.dx)

    def _chi2(self, p, q):
        return chi2_grid(p, q, self.dx)

    def _fisher(self, plus, minus, ideal, h):
        return fisher_grid((plus - minus) / (2 * h), ideal, self.dx)

    # error fields of the notebook ------------------------------------------------------------
    def weight_error(self, x, t, step=1e-4):
        """d/dbeta of the score of the data with weights (w1 + beta, w2 - beta): nonlinear in x."""
        w = self.data.weights
        shifted = [GaussianMixture(self.data.means, self.data.variances, w + s * np.array([1, -1]))
                   for s in (step, -step)]
        return (shifted[0].score(x, t) - shifted[1].score(x, t)) / (2 * step)

    def tanh_error(self, x, t):
        """A nonlinear state-dependent error, not aligned with the data: a_t tanh(x)."""
        return ou_coefficient(t) * np.tanh(x)

    def oscillating_error(self, x, t, cycles=20):
        phase = 2 * np.pi * cycles * (t - self.config.t0) / (self.config.T - self.config.t0)
        return np.full_like(x, np.cos(phase))


def one_d_mixture() -> GaussianMixture:
    """The 1-D data of testbed (b): two unequal, unequally wide components (the companion's choice)."""
    return GaussianMixture([[-1.5], [1.2]], [0.3**2, 0.6**2], [0.4, 0.6])


# ------------------------------------------------------------------------------------------------
# The computation of notebook 01
# ------------------------------------------------------------------------------------------------
def build_testbed(kind: str, steps: int, grid_points: int, rhos=()) -> tuple[_Testbed, tuple[str, ...]]:
    """Testbed (a) ``"gaussian"`` or (b) ``"grid"`` with its error shapes, and the sweep mixtures
    ``rho=...`` between its aligned error (eta ~ 1) and the oscillating time-only one (eta ~ 0)."""
    config = SamplerConfig(steps=steps)
    if kind == "gaussian":
        testbed = GaussianTestbed([0.5, -0.3], np.diag([0.5, 2.0]), config)
    elif kind == "grid":
        testbed = GridTestbed(one_d_mixture(), config, grid_points)
    else:
        raise ValueError(f"kind={kind!r}; use 'gaussian' or 'grid'")
    shapes = tuple(testbed.shapes())
    for rho in rhos:
        testbed.add_mixture(f"rho={rho:g}", shapes[0], "oscillating", rho)
    return testbed, shapes


def exact_sweep(testbed: _Testbed, names, betas) -> dict:
    """Exact KL, chi^2, eps_star^2, eps_hat^2 for each error shape (rows) and size beta (columns)."""
    rows = [[testbed.exact(name, beta) for beta in betas] for name in names]
    out = {key: np.array([[r[key] for r in row] for row in rows]) for key in rows[0][0]}
    out["eta"] = np.array([testbed.eta(name) for name in names])
    return out


def path_statistics(testbed: _Testbed, name: str, beta: float, n: int, rng) -> dict:
    """Monte Carlo on n paths of both samplers: energies, M_T on the ideal path, eta_hat."""
    from collapse.core.bounds import observability
    from collapse.core.diffusion import PathStatistics, reverse_sde

    dim = testbed.dim
    ideal = PathStatistics(testbed.learned_score(name, beta), driven_by="true")
    endpoints = reverse_sde(testbed.score(), rng.standard_normal((n, dim)), rng, testbed.config, (ideal,))
    learned = PathStatistics(testbed.score(), driven_by="learned")
    reverse_sde(testbed.learned_score(name, beta), rng.standard_normal((n, dim)), rng, testbed.config, (learned,))
    eta_hat, eta_se = observability(ideal.martingale, endpoints, ideal.energy)
    m = ideal.martingale
    var_m_se = np.sqrt(np.mean((m - m.mean()) ** 4) - m.var() ** 2) / np.sqrt(n)  # s.e. of the sample variance
    return {"eps_star2": ideal.energy.mean(), "eps_star2_se": standard_error(ideal.energy),
            "eps_hat2": learned.energy.mean(), "eps_hat2_se": standard_error(learned.energy),
            "var_m": m.var(ddof=1), "var_m_se": var_m_se, "eta_hat": eta_hat, "eta_hat_se": eta_se}


def run_testbed(kind, steps, grid_points, rhos, betas, n_paths, beta_mc, seed) -> xr.Dataset:
    """Everything notebook 01 shows for one testbed (``kind``: "gaussian" or "grid"): exact divergences per error
    shape and size beta, exact eta per shape and per sweep mixture rho, and the Monte Carlo path statistics at
    beta_mc per error (shape or sweep mixture) beside their exact values."""
    testbed, shapes = build_testbed(kind, steps, grid_points, rhos)
    sweep_names = [f"rho={rho:g}" for rho in rhos]
    rng = np.random.default_rng([seed, 0 if kind == "gaussian" else 1])
    exact = exact_sweep(testbed, shapes, betas)
    mc_names = (*shapes, *sweep_names)
    mc = [path_statistics(testbed, name, beta_mc, n_paths, rng) for name in mc_names]
    at_mc = [testbed.exact(name, beta_mc) for name in mc_names]
    return xr.Dataset(
        {**{f"exact_{k}": (("shape", "beta")[: np.ndim(v)], v) for k, v in exact.items()},
         "sweep_eta": ("rho", [testbed.eta(name) for name in sweep_names]),
         **{f"mc_{k}": ("error", [row[k] for row in mc]) for k in mc[0]},
         **{f"mc_exact_{k}": ("error", [row[k] for row in at_mc]) for k in at_mc[0]}},
        coords={"shape": list(shapes), "beta": np.asarray(betas, float), "rho": np.asarray(rhos, float),
                "error": list(mc_names)})
