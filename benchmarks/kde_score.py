"""KDE score: the library's tiled torch kernel against the naive dense numpy formula, and one generation.

1. Both compute the score of a Gaussian KDE with N = 10,000 centres (d = 10, h = 0.6) noised to t = 0.5, at
   10,000 queries, on one thread; the ratio and the pair evaluations per second are measured in this run.
2. One full generation of [K]'s GMM experiment at N = 10,000: 500 Euler-Maruyama steps of 10,000 paths
   driven by that score, split over 2 worker processes (2 cores). Target: under 2 minutes.

Run: .venv/bin/python benchmarks/kde_score.py   (or `make bench`)
"""

import os
import tempfile
import time

import numpy as np

import collapse
from collapse import kde, paper_gmm
from collapse.core.kde_diffusion import KDEScoreDiffusion
from collapse.infra.jobs import run_jobs

N, D, BANDWIDTH, T = 10_000, 10, 0.6, 0.5


def naive_score(centres, variance, x, chunk=50):
    """The textbook formula, dense: softmax weights of -||x - c||^2 / (2 v), then sum_k w_k (c_k - x) / v."""
    out = np.empty_like(x)
    for start in range(0, len(x), chunk):
        q = x[start:start + chunk]
        diff = centres[None, :, :] - q[:, None, :]  # (chunk, N, d)
        logits = -0.5 * np.sum(diff**2, axis=2) / variance
        w = np.exp(logits - logits.max(axis=1, keepdims=True))
        w /= w.sum(axis=1, keepdims=True)
        out[start:start + chunk] = np.einsum("qk,qkd->qd", w, diff) / variance
    return out


def sample_paths(seed, paths):
    """Half of one generation: fit the KDE on N data points, run ``paths`` reverse-SDE paths."""
    data = paper_gmm(dim=D).sample(N, np.random.default_rng(0))
    learner = KDEScoreDiffusion(BANDWIDTH).fit(data)
    return learner.sample(paths, np.random.default_rng(seed))


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


if __name__ == "__main__":
    collapse.set_threads(1)
    rng = np.random.default_rng(0)
    mixture = kde(paper_gmm(dim=D).sample(N, rng), BANDWIDTH)
    x = mixture.noised(T).sample(N, rng)
    noised = mixture.noised(T)
    naive, expected = timed(lambda: naive_score(noised.means, noised.variances[0, 0], x))
    library = min(timed(lambda: mixture.score(x, T))[0] for _ in range(3))
    np.testing.assert_allclose(mixture.score(x, T), expected, rtol=1e-9, atol=1e-9)
    pairs = N * N
    print(f"KDE score, {N} queries x {N} centres x d={D}, one thread, float64 (results agree to 1e-9)")
    print(f"  naive dense numpy  {naive:7.2f} s   {pairs / naive:.3g} pairs/s")
    print(f"  library            {library:7.2f} s   {pairs / library:.3g} pairs/s")
    print(f"  speed-up           {naive / library:7.1f}x   (target: at least 10x)")

    jobs = [dict(seed=s, paths=N // 2) for s in range(2)]
    os.environ["COLLAPSE_CACHE"] = tempfile.mkdtemp()  # an empty job cache: time the computation, not a read
    seconds, halves = timed(lambda: run_jobs(sample_paths, jobs, workers=2, desc="generation"))
    assert sum(len(h) for h in halves) == N and all(np.all(np.isfinite(h)) for h in halves)
    print(f"one generation at N={N}: 500 steps x {N} paths x {N} centres on 2 processes (2 cores)")
    print(f"  {seconds:7.1f} s   {500 * pairs / seconds:.3g} pairs/s   (target: under 120 s)")
