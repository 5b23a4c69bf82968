"""Gaussian mixtures with diagonal covariances: the workhorse of the companion.

A data GMM, a Gaussian KDE (N equal-weight components), the training mixture
q_i = alpha p + (1 - alpha) p_hat_i, and their OU-noised versions are all of this one type.
Under the OU forward process ``X_t = a_t X_0 + sqrt(1 - a_t^2) Z`` with ``a_t = exp(-t/2)``, a
component N(m, diag v) becomes N(a_t m, diag(a_t^2 v + 1 - a_t^2)): noising never leaves the type.

Densities and scores are log-sum-exp reductions over components, computed exactly (float64) by
one tiled torch kernel (:func:`softmax_reduce`): tiles of queries x components small enough to stay in
a core's cache on a CPU, large on a GPU (used when one is present), with an online log-sum-exp so that
no (queries x components) matrix is ever formed and far-away queries do not underflow.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from collapse.core.device import compute_device
from collapse.core.diffusion import ou_coefficient, ou_variance

# Tiles of (queries x components) logits: (entries, most components). CPU: 2^17 float64 entries = 1 MiB,
# inside a core's L2 cache, as 256 queries x 512 components (a few per cent faster than 128 x 1024 or 64 x 2048
# here: the components' slices stay small beside the tile) or, for few components, more queries per tile;
# GPU: large tiles.
CPU_TILE = (2**17, 512)
GPU_TILE = (2**27, 16384)


class _Dtypes(Mapping):
    """Precision names to torch dtypes, torch imported on the first lookup: a notebook that only reads stored
    results never loads it (3 s of its start)."""

    def __getitem__(self, name: str):
        if name not in ("float64", "float32"):
            raise KeyError(name)
        import torch

        return getattr(torch, name)

    def __iter__(self):
        return iter(("float64", "float32"))

    def __len__(self) -> int:
        return 2


# float32 halves memory traffic and doubles SIMD width; the score's relative error it costs is measured by
# `make bench` at the sampler's smallest noise level (t0), where the components are narrowest
PRECISIONS = _Dtypes()


class GaussianMixture:
    """sum_k w_k N(means_k, diag(variances_k)).

    ``variances`` may be a scalar (one isotropic variance), shape (K,) (isotropic per component) or
    shape (K, d) (diagonal per component). ``weights`` default to uniform.
    """

    def __init__(self, means, variances, weights=None):
        means = np.array(means, dtype=float, ndmin=2)
        k, d = means.shape
        variances = np.asarray(variances, dtype=float)
        if variances.ndim == 1:
            if variances.shape[0] != k:
                raise ValueError(f"variances has shape {variances.shape}; use a scalar, ({k},) or ({k}, {d})")
            variances = variances[:, None]
        variances = np.broadcast_to(variances, (k, d)).copy()
        if not np.all(variances > 0):
            raise ValueError("variances must be positive")
        weights = np.full(k, 1.0 / k) if weights is None else np.asarray(weights, dtype=float)
        if weights.shape != (k,) or np.any(weights < 0) or not np.isclose(weights.sum(), 1.0):
            raise ValueError(f"weights must be {k} non-negative numbers summing to 1")
        self.means, self.variances, self.weights = means, variances, weights / weights.sum()

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    def __len__(self) -> int:
        return self.means.shape[0]

    def __repr__(self) -> str:
        return f"GaussianMixture(components={len(self)}, dim={self.dim})"

    # ------------------------------------------------------------------ transformations
    def noised(self, t: float) -> GaussianMixture:
        """The law of X_t under the OU forward process started from this mixture."""
        if t == 0:
            return self
        a = ou_coefficient(t)
        return GaussianMixture(a * self.means, a**2 * self.variances + ou_variance(a), self.weights)

    def smoothed(self, variance: float) -> GaussianMixture:
        """This mixture convolved with N(0, variance I) (e.g. what a Gaussian KDE adds)."""
        return GaussianMixture(self.means, self.variances + variance, self.weights)

    # ------------------------------------------------------------------ moments and sampling
    def mean(self) -> np.ndarray:
        return self.weights @ self.means

    def covariance(self) -> np.ndarray:
        """Total covariance: sum_k w_k (diag v_k + m_k m_k^T) - m m^T."""
        m = self.mean()
        second = (self.means * self.weights[:, None]).T @ self.means + np.diag(self.weights @ self.variances)
        return second - np.outer(m, m)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        k = rng.choice(len(self), size=n, p=self.weights)
        return self.means[k] + np.sqrt(self.variances[k]) * rng.standard_normal((n, self.dim))

    # ------------------------------------------------------------------ density and score
    def log_prob(self, x, t: float = 0.0) -> np.ndarray:
        """log density at x of this mixture noised to time t (t = 0: the mixture itself)."""
        features, logits = self.noised(t)._logit_factors(x)
        return softmax_reduce(features, logits)[0]

    def score(self, x, t: float = 0.0, precision: str = "float64") -> np.ndarray:
        """grad_x log density at x of this mixture noised to time t (``precision="float32"``: the kernel in float32).

        For diagonal components, grad log N(x; m_k, diag v_k) = (m_k - x) / v_k, so with posterior
        responsibilities r_k(x): score = E_r[m / v] - x * E_r[1 / v], two averages under r.
        """
        p = self.noised(t)
        features, logits = p._logit_factors(x)
        inv_var = 1.0 / (p.variances[:, :1] if p._isotropic else p.variances)
        means = softmax_reduce(features, logits, np.hstack([p.means * inv_var, inv_var]), dtype_of(precision))[1]
        return means[:, : p.dim] - features[:, : p.dim] * means[:, p.dim:]

    @property
    def _isotropic(self) -> bool:
        return bool(np.all(self.variances == self.variances[:, :1]))

    def _logit_factors(self, x) -> tuple[np.ndarray, np.ndarray]:
        """(features, coefficients) with features @ coefficients.T = log w_k + log N(x; m_k, diag v_k):
        sum_j (x_j - m_kj)^2 / v_kj = x^2 @ (1/v)^T - 2 x @ (m/v)^T + sum_j m_kj^2 / v_kj, where
        isotropic components need ||x||^2 in place of x^2 (one column instead of d)."""
        x = np.array(x, dtype=float, ndmin=2)
        if x.shape[1] != self.dim:
            raise ValueError(f"x has {x.shape[1]} coordinates; this mixture lives in dimension {self.dim}")
        inv_var = 1.0 / self.variances
        const = (
            np.log(np.maximum(self.weights, np.finfo(float).tiny))
            - 0.5 * np.sum(self.means**2 * inv_var + np.log(2 * np.pi * self.variances), axis=1)
        )
        if self._isotropic:
            squares, quad = np.sum(x**2, axis=1, keepdims=True), -0.5 * inv_var[:, :1]
        else:
            squares, quad = x**2, -0.5 * inv_var
        features = np.hstack([x, squares, np.ones((len(x), 1))])
        return features, np.hstack([self.means * inv_var, quad, const[:, None]])


def dtype_of(precision: str) -> torch.dtype:
    """The kernel's torch dtype for a ``precision`` name, or a ValueError naming the choices."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r}; use one of {', '.join(map(repr, PRECISIONS))}")
    return PRECISIONS[precision]


def softmax_reduce(features, logits, values=None, dtype=None) -> tuple[np.ndarray, np.ndarray | None]:
    """For each query row q, with l_qk = features_q . logits_k: (log sum_k exp l_qk, sum_k softmax(l_q)_k values_k).

    Exact in float64 (``dtype=torch.float32`` trades that for speed on a GPU). One pass over tiles of queries x
    components, three operations per tile into reused buffers: a GEMM gives l - s for the row's shift s (one more
    feature column holds -s against a column of ones), exp in place (:func:`_exp_`), a GEMM adds the tile's
    weighted sums and normaliser. A logit column the same for every component (a KDE's ||x||^2) stays out of the
    first GEMM: it only adds a constant to its row's logits, which the shift column then carries (so the window
    below still sees the full logits).

    s starts at 0. A row block whose normalisers end in [floor, ceiling] is done: above ``floor`` = tiny / eps^2,
    what underflowed (under ``tiny`` per term) stays below eps^2 of the sum; under ``ceiling`` =
    sqrt(max) / max|values|, every weighted sum stays finite, and as a normaliser only grows, so did every partial
    sum. A block that leaves the window (in float64: logits all ~636 below s, or one ~355 - log max|values| above
    it) is redone tile by tile, a tile that leaves it with its row maxima subtracted, which moves s there: the
    online log-sum-exp, paid only where it is needed (and, once needed, for the rest of the call). float32's window
    is ~[-55, +40], so narrow components (small bandwidths or t) take the slower path. Memory stays at one tile,
    reused from cache.
    """
    global torch  # loaded on first use, as PRECISIONS's dtypes are
    import torch

    features, logits = np.asarray(features, float), np.asarray(logits, float)
    dtype = torch.float64 if dtype is None else dtype
    device = compute_device()
    entries, most = GPU_TILE if device.type == "cuda" else CPU_TILE
    tile_k = min(len(logits), most)
    tile_q = max(1, entries // tile_k)

    def tensor(*columns):
        return torch.as_tensor(np.hstack(columns), dtype=dtype, device=device)

    shared = np.all(logits == logits[:1], axis=0)
    start = features[:, shared] @ logits[0, shared]
    ones = np.ones((len(logits), 1))
    f = tensor(features[:, ~shared], start[:, None])  # last column: start - s
    w = tensor(logits[:, ~shared], ones).T.contiguous()
    v = tensor(np.empty((len(logits), 0)) if values is None else values, ones)  # last column: the normaliser
    totals = torch.empty(len(f), v.shape[1], dtype=dtype, device=device)
    buffer = torch.empty(tile_q * tile_k, dtype=dtype, device=device)
    info = torch.finfo(dtype)
    floor, ceiling = info.tiny / info.eps**2, np.sqrt(info.max) / max(1.0, float(v.abs().max()))
    # each component tile's slices and the buffer's view for its logits, made once and reused by every row block
    tiles = [(wj, vj, buffer[:tile_q * wj.shape[1]].view(tile_q, -1))
             for wj, vj in zip(w.split(tile_k, dim=1), v.split(tile_k))]
    tile_by_tile = False
    for i in range(0, len(f), tile_q):
        rows, total = f[i:i + tile_q], totals[i:i + tile_q]
        if not tile_by_tile:
            _accumulate(rows, tiles, total)
            tile_by_tile = not _within(total, (floor, ceiling))
        if tile_by_tile:
            _accumulate(rows, tiles, total, (floor, ceiling))
        norm = total[:, -1:].clone()
        rows[:, -1:] -= torch.log(norm)
        total /= norm
    return start - f[:, -1].cpu().numpy(), None if values is None else totals[:, :-1].cpu().numpy()


def _accumulate(rows, tiles, total, window=None) -> None:
    """total = sum over component tiles (w_j, v_j, out_j) of exp(rows @ w_j) @ v_j, the normaliser in its last
    column (the rows' last column holds -s), each tile's logits written into out_j. With a ``window`` (floor,
    ceiling), a tile that takes the normaliser out of it is redone by :func:`_with_row_maxima`, which raises s in
    ``rows`` and rescales ``total`` to match."""
    total.zero_()
    for wj, vj, out in tiles:
        tile = _exp_(torch.mm(rows, wj, out=out[:len(rows)]))
        if window is None:
            total.addmm_(tile, vj)
            continue
        new = torch.addmm(total, tile, vj)
        total.copy_(new if _within(new, window) else _with_row_maxima(rows, wj, vj, total))


def _exp_(tile):
    """exp in place; on a CPU, numpy's. With torch's, exp was the largest of a tile's three costs; numpy's SIMD
    exp is over twice as fast in float64 on the benchmark's machine (`make bench` prints both rates), and as exact:
    within one ulp, as torch's (at most 0.69 and 0.52 ulp against long double on 240,000 logits in [-745, 5])."""
    if tile.device.type != "cpu":
        return tile.exp_()
    array = tile.numpy()
    with np.errstate(over="ignore"):  # inf is expected: it takes the normaliser out of the window, which redoes it
        np.exp(array, out=array)
    return tile


def _within(total, window) -> bool:
    """Whether every normaliser (total's last column) lies in [floor, ceiling] (false on nan)."""
    low, high = torch.aminmax(total[:, -1])
    return window[0] <= low.item() <= high.item() <= window[1]


def _with_row_maxima(rows, w, v, total):
    """One online log-sum-exp step: l - s shifted by its row maximum where that raises s (or where nothing has
    been accumulated yet, on a first tile), what was accumulated rescaled to match."""
    tile = rows @ w
    peak = tile.amax(dim=1, keepdim=True)
    rise = torch.where(total[:, -1:] > 0, peak.clamp(min=0), peak)
    rows[:, -1:] -= rise
    return total * torch.exp(-rise.clamp(min=0)) + _exp_(tile.sub_(rise)) @ v  # rise < 0 only where total = 0


def blend(p: GaussianMixture, r: GaussianMixture, alpha: float) -> GaussianMixture:
    """alpha p + (1 - alpha) r: the training mixture q_i = alpha p_data + (1 - alpha) p_hat_i."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha={alpha} must lie in [0, 1]")
    if alpha == 1.0:
        return p
    if alpha == 0.0:
        return r
    return GaussianMixture(
        np.vstack([p.means, r.means]),
        np.vstack([p.variances, r.variances]),
        np.concatenate([alpha * p.weights, (1 - alpha) * r.weights]),
    )


def kde(data, bandwidth: float) -> GaussianMixture:
    """The Gaussian kernel density estimate of ``data`` with bandwidth h: (1/N) sum_j N(x_j, h^2 I)."""
    if bandwidth <= 0:
        raise ValueError(f"bandwidth={bandwidth} must be positive")
    return GaussianMixture(np.asarray(data, dtype=float), bandwidth**2)


def paper_gmm(dim: int = 10, sigma: float = 0.6, spread: float = 4.0) -> GaussianMixture:
    """The data GMM of [K]'s synthetic experiment: 5 equally weighted isotropic components of std
    sigma at the origin and at (+-spread, +-spread, 0, ..., 0). The paper does not publish its means;
    these are the companion's choice (docs/papers.md, §3)."""
    if dim < 2:
        raise ValueError(f"dim={dim} must be at least 2 (the means differ in the first two coordinates)")
    means = np.zeros((5, dim))
    means[1:, :2] = spread * np.array([[1, 1], [1, -1], [-1, 1], [-1, -1]])
    return GaussianMixture(means, sigma**2)
