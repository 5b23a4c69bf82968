"""The OU forward process and the one reverse-SDE sampler, with hooks for path statistics.

Forward: dX = -X/2 dt + dB, so X_t | X_0 ~ N(a_t X_0, sigma_t^2 I), a_t = exp(-t/2), sigma_t^2 = 1 - a_t^2.
Reverse, in reversed time tau = T - t: dY = [Y/2 + score(Y, T - tau)] dtau + dB_bar, started at
N(0, I) (or any x_T) and stopped early at t0. Euler-Maruyama on a grid of ``steps`` steps, uniform in t
(the GMM experiments) or uniform in log SNR (images, whose scores change on the scale of t itself near t0).
The same loop serves numpy arrays (noise from a ``numpy.random.Generator``) and torch tensors (noise from a
``torch.Generator``, on the tensors' device), so nothing is copied between the two per step.

A *recorder* sees every step (state, time, the driving score, the Brownian increment) before the
state moves; :class:`PathStatistics` uses that to accumulate the score-error energy and the
martingale M_T = -int e . dB_bar on the very increments that drive the path.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

ScoreFn = Callable[[np.ndarray, float], np.ndarray]
GRIDS = ("uniform", "log-snr")


def ou_coefficient(t):
    """a_t = exp(-t/2), the OU forward process's mean factor: X_t | X_0 ~ N(a_t X_0, sigma_t^2 I).
    A float for a float, an array or tensor for an array or tensor."""
    if _is_tensor(t):
        return (-0.5 * t).exp()
    return float(np.exp(-0.5 * t)) if np.ndim(t) == 0 else np.exp(-0.5 * np.asarray(t))


def ou_variance(a):
    """1 - a^2, the variance of X_t | X_0 from the mean factor a = a_t (where a is at hand; ``ou_sigma(t) ** 2`` is
    the accurate form from t near t = 0)."""
    return 1 - a**2


def ou_kernel(y, x, t):
    """The OU transition X_0 = x_j -> X_t = y_i up to its normalising constant: (K, D, v) with
    K_ij = exp(-D_ij^2 / 2v), D_ij = a x_j - y_i and v = 1 - a^2 (``y`` of any shape, flattened to rows)."""
    a = ou_coefficient(t)
    v = ou_variance(a)
    difference = a * np.asarray(x)[None, :] - np.reshape(y, (-1, 1))
    return np.exp(-0.5 * difference**2 / v), difference, v


def ou_sigma(t):
    """sigma_t = sqrt(1 - a_t^2) = sqrt(1 - exp(-t)), the noise scale of X_t | X_0."""
    if _is_tensor(t):
        return (-(-t).expm1()).sqrt()
    return float(np.sqrt(-np.expm1(-t))) if np.ndim(t) == 0 else np.sqrt(-np.expm1(-np.asarray(t)))


def log_snr(t):
    """lambda_t = log(a_t^2 / sigma_t^2), the signal-to-noise ratio in log scale."""
    return -t - np.log(-np.expm1(-t))


def _is_tensor(x) -> bool:
    return type(x).__module__.startswith("torch")


@dataclass(frozen=True)
class SamplerConfig:
    """Horizon T, early-stopping time t0, Euler-Maruyama steps and their grid; defaults are the paper's GMM runs."""

    T: float = 4.0
    t0: float = 0.02
    steps: int = 500
    grid: str = "uniform"

    def __post_init__(self):
        if not 0 <= self.t0 < self.T:
            raise ValueError(f"need 0 <= t0 < T; got t0={self.t0}, T={self.T}")
        if self.steps < 1:
            raise ValueError(f"steps={self.steps} must be at least 1")
        if self.grid not in GRIDS:
            raise ValueError(f"grid={self.grid!r}; use one of {', '.join(GRIDS)}")
        if self.grid == "log-snr" and self.t0 <= 0:
            raise ValueError("a log-SNR grid needs t0 > 0 (the SNR is infinite at t = 0)")

    @property
    def dt(self) -> float:
        """The step of the uniform grid."""
        return (self.T - self.t0) / self.steps

    def edges(self) -> np.ndarray:
        """The ``steps + 1`` forward times from T down to t0. Log-SNR: equally spaced in lambda_t, so steps are
        even in t near T (a geometric grid there takes steps so large that Euler-Maruyama inflates the
        variance) and in log t near t0."""
        if self.grid == "uniform":
            return np.append(self.times(), self.t0)
        return np.logaddexp(0.0, -np.linspace(log_snr(self.T), log_snr(self.t0), self.steps + 1))

    def times(self) -> np.ndarray:
        """The forward times t_k at which the score is evaluated (the left end of each step), k = 0 .. steps-1."""
        return self.T - self.dt * np.arange(self.steps) if self.grid == "uniform" else self.edges()[:-1]

    def step_sizes(self) -> np.ndarray:
        return np.full(self.steps, self.dt) if self.grid == "uniform" else -np.diff(self.edges())


def ou_forward(x0: np.ndarray, t: float, rng: np.random.Generator) -> np.ndarray:
    """A draw of X_t given X_0 = x0 under the OU forward process."""
    a = ou_coefficient(t)
    return a * x0 + np.sqrt(1 - a**2) * rng.standard_normal(np.shape(x0))


class Recorder(Protocol):
    def record(self, y: np.ndarray, t: float, score: np.ndarray, dB: np.ndarray, dt: float) -> None: ...


def reverse_sde(
    score: ScoreFn,
    x_T,
    rng,
    config: SamplerConfig = SamplerConfig(),
    recorders: tuple[Recorder, ...] = (),
):
    """Integrate the reverse SDE driven by ``score`` from x_T at time T down to t0; return Y_{t0}.

    ``x_T`` is an (n, d) numpy array with ``rng`` a ``numpy.random.Generator``, or a torch tensor with ``rng``
    a ``torch.Generator`` on its device; the path stays in that type throughout.
    """
    tensor = _is_tensor(x_T)
    y = x_T.clone() if tensor else np.array(x_T, dtype=float)
    for t, dt in zip(config.times(), config.step_sizes()):
        s = score(y, float(t))
        if tensor:
            import torch

            dB = math.sqrt(dt) * torch.randn(y.shape, generator=rng, device=y.device, dtype=y.dtype)
        else:
            dB = np.sqrt(dt) * rng.standard_normal(y.shape)
        for r in recorders:
            r.record(y, float(t), s, dB, float(dt))
        y += (0.5 * y + s) * dt + dB
    return y


class PathStatistics:
    """Score-error energy int ||e||^2 dt and martingale M_T = -int e . dB_bar, per path.

    The error is e = learned - true. ``driven_by`` says which score drives the sampler: on the
    *ideal* path (driven by the true score) ``other`` is the learned score and the mean energy is
    eps_star^2; on the *learned* path ``other`` is the true score and it is eps_hat^2. The error is
    evaluated at the left end of each step, so the discrete sum is an Ito sum and
    Var(M_T) = E[energy] holds exactly for the discretised path (Ito isometry).
    """

    def __init__(self, other: ScoreFn, driven_by: str = "true"):
        if driven_by not in ("true", "learned"):
            raise ValueError(f"driven_by={driven_by!r}; use 'true' (ideal path) or 'learned'")
        self.other, self.driven_by = other, driven_by
        self.energy = self.martingale = None

    def record(self, y, t, score, dB, dt):
        other = self.other(y, t)
        e = other - score if self.driven_by == "true" else score - other
        if self.energy is None:
            self.energy, self.martingale = 0 * e[:, 0], 0 * e[:, 0]  # numpy or torch, like the path
        self.energy = self.energy + (e * e).sum(1) * dt
        self.martingale = self.martingale - (e * dB).sum(1)
