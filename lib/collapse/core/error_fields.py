"""Score-error fields e(x, t) that scale and add: ``beta * e`` and ``e1 + e2`` are error fields again.

Two kinds, for the two kinds of exact testbed: an :class:`AffineError` is t -> (A_t, b_t), e(x, t) = x A_t^T + b_t
(Gaussian data, whose sampler moments are exact); a :class:`CallableError` is any function e(x, t) on (n, d)
arrays (densities propagated on a grid).
"""

from __future__ import annotations

from collections.abc import Callable


class AffineError:
    """e(x, t) = x A_t^T + b_t, given as ``field(t) -> (A_t, b_t)``; calling it gives (A_t, b_t)."""

    def __init__(self, field: Callable):
        self.field = field

    def __call__(self, t):
        return self.field(t)

    def __rmul__(self, beta: float) -> AffineError:
        return AffineError(lambda t: tuple(beta * part for part in self.field(t)))

    def __add__(self, other: AffineError) -> AffineError:
        return AffineError(lambda t: tuple(p + q for p, q in zip(self.field(t), other.field(t))))

    def score(self) -> Callable:
        """The field as a function e(x, t) on (n, d) arrays."""
        def error(x, t):
            a, b = self.field(t)
            return x @ a.T + b
        return error


class CallableError:
    """e(x, t) on (n, d) arrays; calling it evaluates it."""

    def __init__(self, fn: Callable):
        self.fn = fn

    def __call__(self, x, t):
        return self.fn(x, t)

    def __rmul__(self, beta: float) -> CallableError:
        return CallableError(lambda x, t: beta * self.fn(x, t))

    def __add__(self, other: CallableError) -> CallableError:
        return CallableError(lambda x, t: self.fn(x, t) + other.fn(x, t))

    def score(self) -> Callable:
        return self.fn
