"""The OU forward process and the one reverse-SDE sampler, with hooks for path statistics.

Forward: dX = -X/2 dt + dB, so X_t | X_0 ~ N(a_t X_0, (1 - a_t^2) I), a_t = exp(-t/2).
Reverse, in reversed time tau = T - t: dY = [Y/2 + score(Y, T - tau)] dtau + dB_bar, started at
N(0, I) and stopped early at t0. Euler-Maruyama on a uniform grid of ``steps`` steps.

A *recorder* sees every step (state, time, the driving score, the Brownian increment) before the
state moves; :class:`PathStatistics` uses that to accumulate the score-error energy and the
martingale M_T = -int e . dB_bar on the very increments that drive the path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .mixture import ou_coefficient

ScoreFn = Callable[[np.ndarray, float], np.ndarray]


@dataclass(frozen=True)
class SamplerConfig:
    """Horizon T, early-stopping time t0 and Euler-Maruyama steps; defaults are the paper's GMM runs."""

    T: float = 4.0
    t0: float = 0.02
    steps: int = 500

    def __post_init__(self):
        if not 0 <= self.t0 < self.T:
            raise ValueError(f"need 0 <= t0 < T; got t0={self.t0}, T={self.T}")
        if self.steps < 1:
            raise ValueError(f"steps={self.steps} must be at least 1")

    @property
    def dt(self) -> float:
        return (self.T - self.t0) / self.steps

    def times(self) -> np.ndarray:
        """The forward times t_k = T - k dt at which the score is evaluated, k = 0 .. steps-1."""
        return self.T - self.dt * np.arange(self.steps)


def ou_forward(x0: np.ndarray, t: float, rng: np.random.Generator) -> np.ndarray:
    """A draw of X_t given X_0 = x0 under the OU forward process."""
    a = ou_coefficient(t)
    return a * x0 + np.sqrt(1 - a**2) * rng.standard_normal(np.shape(x0))


class Recorder(Protocol):
    def record(self, y: np.ndarray, t: float, score: np.ndarray, dB: np.ndarray, dt: float) -> None: ...


def reverse_sde(
    score: ScoreFn,
    x_T: np.ndarray,
    rng: np.random.Generator,
    config: SamplerConfig = SamplerConfig(),
    recorders: tuple[Recorder, ...] = (),
) -> np.ndarray:
    """Integrate the reverse SDE driven by ``score`` from x_T at time T down to t0; return Y_{t0}."""
    y = np.array(x_T, dtype=float)
    dt = config.dt
    for t in config.times():
        s = score(y, t)
        dB = np.sqrt(dt) * rng.standard_normal(y.shape)
        for r in recorders:
            r.record(y, t, s, dB, dt)
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
            self.energy, self.martingale = np.zeros(len(y)), np.zeros(len(y))
        self.energy += np.sum(e * e, axis=1) * dt
        self.martingale -= np.sum(e * dB, axis=1)
