"""Mixture score: the library's blocked matrix-product form against a naive numpy loop over components.

Both compute grad log sum_k w_k N(x; m_k, v_k I) for the same queries; the ratio is measured in this run.
Run: .venv/bin/python benchmarks/mixture_score.py
"""

import time

import numpy as np

import collapse
from collapse import kde


def naive_score(mixture, x):
    """Direct formula: responsibilities from per-component densities, then sum_k r_k (m_k - x) / v_k."""
    log_dens = np.stack([np.log(w) - 0.5 * np.sum((x - m) ** 2 / v + np.log(2 * np.pi * v), axis=1)
                         for w, m, v in zip(mixture.weights, mixture.means, mixture.variances)], axis=1)
    r = np.exp(log_dens - log_dens.max(axis=1, keepdims=True))
    r /= r.sum(axis=1, keepdims=True)
    terms = [r[:, k:k + 1] * (m - x) / v for k, (m, v) in enumerate(zip(mixture.means, mixture.variances))]
    return np.sum(terms, axis=0)


def best_of(fn, repeats=3):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


if __name__ == "__main__":
    collapse.set_threads(1)
    rng = np.random.default_rng(0)
    n, k, d = 2_000, 2_000, 10
    mixture, x = kde(rng.normal(size=(k, d)), 0.6), rng.normal(size=(n, d))
    np.testing.assert_allclose(mixture.score(x), naive_score(mixture, x), rtol=1e-8, atol=1e-10)
    naive, library = best_of(lambda: naive_score(mixture, x)), best_of(lambda: mixture.score(x))
    print(f"mixture score, {n} queries x {k} components x d={d}, 1 thread")
    print(f"  naive loop    {naive * 1e3:8.1f} ms   {n * k / naive:.3g} pairs/s")
    print(f"  library       {library * 1e3:8.1f} ms   {n * k / library:.3g} pairs/s")
    print(f"  speed-up      {naive / library:8.1f}x")
