# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 02 · Across generations: forgetting, the exact decomposition, and the regimes of drift
#
# [K]'s multi-generation results ([papers §2](../docs/papers.md), items 4–8), with fresh fraction $\alpha$, intra-generation divergence
# $I_i = \chi^2(\hat p_{i+1} \,\|\, q_i)$ and accumulated divergence $D_i = \chi^2(\hat p_i \,\|\, p)$:
#
# - **Lemma (exact forgetting):** $\chi^2(\alpha p + (1-\alpha) r \,\|\, p) = (1-\alpha)^2 \chi^2(r \,\|\, p)$ for any $r$; memory $1/(\alpha(2-\alpha))$.
# - **The exact decomposition** behind Thm 4.2: with $\Delta_k = \hat p_{k+1} - q_k$,
#   $\hat p_{N+1} - p = \sum_{k=i_0}^{N} (1-\alpha)^{N-k} \Delta_k + (1-\alpha)^{N+1-i_0} (\hat p_{i_0} - p)$. Squared and divided by $p$, its
#   diagonal terms give a discounted sum with discount $(1-\alpha)^2$, the cross terms a bias.
# - **Thm 4.2 (stable regime):** $D_{N+1}$ is controlled by $\sum_{i \le N} (1-\alpha)^{2(N-i)} \varepsilon_i^2 + (1-\alpha)^{2(N+1-i_0)} D_{i_0}$.
# - **Prop 4.1 (persistent errors):** $\sum_i \varepsilon_i^2 = \infty \Rightarrow \sum_i D_i = \infty$; with an error floor,
#   $\limsup D_i \ge \alpha\, \eta_{\text{floor}}\, \varepsilon_{\text{floor}} / (16 (1 + (1-\alpha)^2))$.
#
# **Setting — our choice.** The recursion runs on exact densities on a grid (the 1-D mixture of notebook 01's testbed (b)),
# so every $D_i$ is a quadrature, with no sampling noise. Each generation's learner returns $\hat p_{i+1} = q_i (1 + \varepsilon_i s_i h_i)$, a
# tilt of $q_i$ by a bounded shape $h_i$ (a $\tanh$ with a random centre, standardised under $q_i$) with a random sign $s_i$: then
# $I_i = \varepsilon_i^2$ **exactly**. Notebook 01 showed that one diffusion step gives $I_i \approx \eta_i \varepsilon_{\star,i}^2$; setting $I_i$ directly lets the
# accumulation theory be checked against the very errors that enter it, free of any sampler's own bias (the early-stopping
# drift of [K]'s follow-up would otherwise act as a hidden error floor). In the formulas, $\varepsilon_i^2$ stands for $I_i$
# (first order: $\eta\varepsilon_\star^2 = I$).

# %% tags=["parameters"]
mode = None  # "smoke" | "full" | "paper"; None reads $COLLAPSE_MODE (default "full")
seed = 0
alphas = [0.1, 0.5, 0.9]
eps2 = 0.01  # per-generation error (intra-generation chi-squared) of the floor regime
eps2_start = 0.04  # first error of the summable and harmonic regimes
start_shift = 0.5  # the initial model is the data shifted by this much (its drift must be forgotten)
bandwidth = 0.2  # KDE bandwidth of the learned recursion: below the narrowest data component's std (0.3)
sizes = {}  # overrides of the size table for this mode, e.g. {"replicates": 10}: an exploration run, kept apart

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr
from IPython.display import Markdown

import collapse
from collapse.claims import error_accumulation as claims_02
from collapse.core import bounds
from collapse.core.grid import chi2_grid
from collapse.core.labels import from_jobs
from collapse.core.stats import mean_se
from collapse.infra.jobs import run_jobs
from collapse.studies import accumulation as acc

exp = collapse.Experiment("error_accumulation", mode, seed=seed, alphas=alphas, eps2=eps2, eps2_start=eps2_start,
                          start_shift=start_shift, bandwidth=bandwidth, sizes=sizes)
S = exp.sizes
x = np.linspace(-8, 8, S["grid_points"])
dx = x[1] - x[0]
p = acc.data_density(x)
start = np.interp(x - start_shift, x, p)  # p_hat_0: the data shifted
exp

# %% [markdown]
# ## The forgetting lemma, to machine precision
#
# For several pairs $(p, r)$ — grid densities of Gaussians and mixtures, and discrete distributions — and several $\alpha$,
# both sides of $\chi^2(\alpha p + (1-\alpha) r \,\|\, p) = (1-\alpha)^2 \chi^2(r \,\|\, p)$ are computed independently.

# %%
rows = []
for name, (base, other) in acc.lemma_pairs(x, p, start, seed).items():
    width = dx if len(base) == len(x) else 1.0  # quadrature weight: dx on the grid, 1 for atoms
    for alpha in [0.0, 0.1, 0.37, 0.5, 0.9, 1.0]:
        lhs, rhs = acc.lemma_sides(base, other, alpha, width)
        rows.append(dict(pair=name, alpha=alpha, lhs=lhs, rhs=rhs, rel_error=abs(lhs - rhs) / max(rhs, 1e-300)))
lemma = pd.DataFrame(rows)
# the deviations are rounding noise, whose last digits differ between CPUs: shown against the criterion, 1e-12
print(f"every relative deviation at most 1e-12: {lemma.rel_error.max() <= 1e-12}")
lemma.assign(agree=lemma.rel_error <= 1e-12).pivot(index="pair", columns="alpha", values="agree")


# %% [markdown]
# ## The exact decomposition and which generations matter (the paper's Fig. 5)
#
# Runs of $N$ generations at the floor error, started from the shifted data ($i_0 = 0$, $D_0 > 0$). The decomposition is
# checked to rounding in every run; then $D_{N+1} = \sum_{j,k} C_{jk}$ with $C_{jk} = \int T_j T_k / p$ over its terms $T_k$. The heat
# maps show $C_{jk}$ averaged over the independent runs, relative to the averaged diagonal (the last row and column are the
# initial condition): with $\alpha = 0.1$ many past generations feed the present drift, with $\alpha = 0.9$ only the last one or
# two. Averaged, the cross terms nearly vanish (independent errors); in a single run they do not (table below).

# %%
def compute(seed, alphas, eps2, eps2_start, start_shift, bandwidth, sizes):
    G, R = sizes["generations"], sizes["replicates"]
    x = np.linspace(-8, 8, sizes["grid_points"])
    dx = x[1] - x[0]
    p = acc.data_density(x)
    start = np.interp(x - start_shift, x, p)  # p_hat_0: the data shifted

    def floor_runs(alpha):  # the error-floor recursion, decomposed exactly, one row per replicate
        rows = []
        for rep in range(R):
            rng = np.random.default_rng([seed, rep, round(1000 * alpha)])
            p_hats, qs = acc.recursion(p, x, alpha, acc.schedule("floor", eps2, G), rng, start)
            terms, deviation = acc.decomposition(p, p_hats, qs, alpha)
            rows.append((acc.contributions(terms, p, dx), deviation, chi2_grid(p_hats[-1], p, dx),
                         max(abs(chi2_grid(ph, q, dx) - eps2) for ph, q in zip(p_hats[1:], qs))))
        return rows

    def thm42_run(alpha):  # one summable run from the shifted start, for Thm 4.2's bounds
        rng = np.random.default_rng([seed, 7, round(1000 * alpha)])
        p_hats, qs = acc.recursion(p, x, alpha, acc.schedule("summable", eps2_start, G), rng, start)
        return acc.divergences_to(p, p_hats, dx), [chi2_grid(ph - q + p, p, dx) for ph, q in zip(p_hats[1:], qs)]

    per_alpha = []
    for alpha in alphas:
        rows = floor_runs(alpha)
        matrices = np.array([row[0] for row in rows])
        D, J = thm42_run(alpha)
        regimes = {name: acc.regime_runs(x, alpha, name, eps2 if name == "floor" else eps2_start, G, R, seed)
                   for name in ("summable", "floor", "harmonic")}
        regimes["floor_systematic"] = acc.regime_runs(x, alpha, "floor", eps2, G, R, seed, systematic=True)
        per_alpha.append(xr.Dataset({
            "contributions": (("term_j", "term_k"), matrices.mean(axis=0)),
            "diagonal": ("run", np.trace(matrices, axis1=1, axis2=2)),
            "D_final": ("run", [row[2] for row in rows]),
            "deviation": max(row[1] for row in rows), "intra_deviation": max(row[3] for row in rows),
            **{name: (("run", "generation"), runs) for name, runs in regimes.items()},
            "forget": ("generation", acc.regime_runs(x, alpha, "none", 0.0, G, 1, seed, start)[0]),
            "harmonic_long": ("long_generation", acc.regime_runs(
                x, alpha, "harmonic", eps2_start, sizes["long_generations"], sizes["long_replicates"], seed).mean(0)),
            "systematic_long": ("systematic_generation", acc.regime_runs(
                x, alpha, "floor", eps2, sizes["systematic_generations"], sizes["long_replicates"], seed,
                systematic=True).mean(0)),
            "thm42_D": ("generation", D), "thm42_J": ("step", J)}))
    no_forgetting = acc.regime_runs(x, 0.0, "floor", eps2, G, R, seed)
    jobs = [dict(alpha=a, generations=sizes["learned_generations"], n=sizes["learned_n"], bandwidth=bandwidth,
                 grid_points=sizes["learned_grid_points"], steps=sizes["learned_steps"], seed=seed, replicate=k)
            for a in alphas for k in range(sizes["learned_replicates"])]
    runs = run_jobs(acc.learned_recursion, jobs, desc="learned recursion")
    learned = from_jobs(jobs, runs, by=("alpha", "replicate"), dims={key: ("learned_step",) for key in runs[0]},
                        coords={"learned_step": np.arange(sizes["learned_generations"])})
    learned = learned.rename({key: f"learned_{key}" for key in runs[0]} | {"replicate": "learned_run"})
    return xr.merge([xr.concat(per_alpha, dim=pd.Index(alphas, name="alpha")).assign(
        floor_no_forgetting=(("run", "generation"), no_forgetting),
        generation=np.arange(G + 1), step=np.arange(1, G + 1)), learned])


r = exp.cached(compute, seed=seed, alphas=alphas, eps2=eps2, eps2_start=eps2_start, start_shift=start_shift,
               bandwidth=bandwidth, sizes=S)
print("decomposition: largest deviation over all runs", float(r.deviation.max()),
      "| intra-generation chi2 equals eps2 to", float(r.intra_deviation.max()))

show = min(20, S["generations"])
fig, axes = plt.subplots(1, len(alphas), figsize=(4.6 * len(alphas), 3.8), layout="constrained")
for ax, alpha in zip(axes, alphas):
    full = r.contributions.sel(alpha=alpha).values
    c = np.vstack([np.hstack([full[-show - 1:-1, -show - 1:-1], full[-show - 1:-1, -1:]]),
                   np.hstack([full[-1:, -show - 1:-1], full[-1:, -1:]])]) / np.trace(full)
    limit = np.abs(c).max()
    im = ax.imshow(c, cmap="RdBu_r", vmin=-limit, vmax=limit)
    labels = [f"{k}" for k in range(S["generations"] - show, S["generations"])] + ["init"]
    ticks = list(range(0, show, 5)) + [show]
    ax.set(xticks=ticks, yticks=ticks, xticklabels=[labels[t] for t in ticks], yticklabels=[labels[t] for t in ticks],
           title=f"$\\alpha$ = {alpha:g}",
           xlabel="generation k", ylabel="generation j")
    fig.colorbar(im, ax=ax, shrink=0.8)
fig.suptitle(f"mean contributions to the drift after N = {S['generations']} generations, relative to the diagonal")
exp.save_figure(fig, "fig5_discounted_contributions")
plt.show()
pd.DataFrame({alpha: {"mean D_N+1": float(at.D_final.mean()),
                      "mean diagonal (discounted sum)": float(at.diagonal.mean()),
                      "typical |cross| / diagonal, one run": float(
                          (abs(at.D_final - at.diagonal) / at.diagonal).median()),
                      "eps2 / (alpha (2 - alpha))": eps2 * bounds.effective_memory(alpha)}
              for alpha in alphas for at in [r.sel(alpha=alpha)]})


# %% [markdown]
# ## Regimes
#
# Mean of $D_i$ over independent runs (band: 10 %–90 % of runs). **Summable errors** ($\varepsilon_i^2 = \varepsilon_0^2\, 0.7^{i-1}$): $D$ saturates
# and then decays; the drift of the initial model is forgotten exactly like $(1-\alpha)^{2N}$ (dotted, no errors).
# **An error floor:** a plateau near $\varepsilon^2/(\alpha(2-\alpha))$ (dashed) — except at $\alpha = 0$, where nothing is forgotten
# and the drift grows without bound. **$\varepsilon_i^2 = \varepsilon_0^2/i$:** $D_i \to 0$ (table below), yet $\sum_i D_i$ keeps growing like
# $\varepsilon_0^2 \log N / (\alpha(2-\alpha))$ (dashed), the discounted sum of the errors.

# %%
def band(ax, i, runs, color, label, style="-"):
    ax.plot(i, runs.mean(axis=0), style, color=color, lw=1.2, label=label)
    if len(runs) > 1:
        ax.fill_between(i, *np.quantile(runs, [0.1, 0.9], axis=0), color=color, alpha=0.15, lw=0)


gens = np.arange(S["generations"] + 1)
fig, (ax_s, ax_f, ax_h) = plt.subplots(1, 3, figsize=(13, 3.8))
for c, alpha in enumerate(alphas):
    band(ax_s, gens, r.summable.sel(alpha=alpha).values, f"C{c}", f"$\\alpha$ = {alpha:g}")
    d0 = r.forget.sel(alpha=alpha).values[0]
    ax_s.plot(gens, r.forget.sel(alpha=alpha).values, "o", color=f"C{c}", ms=2.5)
    ax_s.plot(gens, d0 * bounds.forgetting_factor(alpha) ** gens, ":", color=f"C{c}", lw=1)
    band(ax_f, gens, r.floor.sel(alpha=alpha).values, f"C{c}", f"$\\alpha$ = {alpha:g}")
    band(ax_f, gens, r.floor_systematic.sel(alpha=alpha).values, f"C{c}", None, style=":")
    ax_f.axhline(eps2 * bounds.effective_memory(alpha), color=f"C{c}", ls="--", lw=0.8)
    long = r.harmonic_long.sel(alpha=alpha).values
    n_long = np.arange(1, len(long))
    ax_h.plot(n_long, np.cumsum(long[1:]), color=f"C{c}", label=f"$\\alpha$ = {alpha:g}")
    ax_h.plot(n_long, eps2_start * np.log(n_long) * bounds.effective_memory(alpha), "--", color=f"C{c}", lw=0.8)
band(ax_f, gens, r.floor_no_forgetting.values, "k", "$\\alpha$ = 0")
ax_s.set(yscale="log", ylim=(1e-8, 1), xlabel="generation", ylabel="$D_i$", title="summable errors (dots: no errors)")
ax_f.set(yscale="log", xlabel="generation", ylabel="$D_i$",
         title=f"error floor $\\varepsilon^2$ = {eps2:g} (dotted: systematic errors)")
ax_h.set(xscale="log", xlabel="generation N", ylabel=r"$\sum_{i \leq N} D_i$",
         title=r"$\varepsilon_i^2 = \varepsilon_0^2 / i$: the sum diverges like $\log N$")
ax_s.legend(fontsize=8)
ax_f.legend(fontsize=8)
ax_h.legend(fontsize=7)
exp.save_figure(fig, "figS4_regimes")
plt.show()
checkpoints = [n for n in (10, 100, 1000, 10_000) if n <= S["long_generations"]]
pd.DataFrame({f"D_{n}": [r.harmonic_long.sel(alpha=a).values[n] for a in alphas] for n in checkpoints}
             | {f"sum to {checkpoints[-1]}": [r.harmonic_long.sel(alpha=a).values[1:].sum() for a in alphas]},
             index=pd.Index(alphas, name="alpha"))


# %% [markdown]
# ## Thm 4.2: additive bounds, and why the printed display cannot hold
#
# The decomposition gives $D_{N+1} = S_N + X_N$ exactly, with the diagonal $S_N = \sum_k (1-\alpha)^{2(N-k)} J_k + (1-\alpha)^{2(N+1)} D_0$,
# $J_k = \int \Delta_k^2 / p$, and the cross terms $X_N$. Two additive bounds follow from $\|a + b\|^2 \le (1+\gamma)\|b\|^2 + (1 + 1/\gamma)\|a\|^2$ and
# $\|a + b\|^2 \ge \tfrac12 \|a\|^2 - \|b\|^2$ applied to $\hat p_{k+1} - p = \Delta_k + (1-\alpha)(\hat p_k - p)$ (our derivation; the paper's appendix is not
# available here):
#
# - **upper:** $D_{N+1} \le (1 + 1/\gamma) \sum_k \rho^{N-k} J_k + \rho^{N+1} D_0$ with $\rho = (1+\gamma)(1-\alpha)^2$ — a discounted sum with a slightly
#   weaker discount; we take $\gamma = \alpha$, so $\rho = (1+\alpha)(1-\alpha)^2 < 1$;
# - **lower:** $D_{N+1} \ge \tfrac12 J_N - (1-\alpha)^2 D_N$, which gives Prop 4.1's floor.
#
# Both tend to 0 with the errors. The display as printed puts a fixed positive bias $B$ beside $D$ inside a two-sided $\asymp$;
# in the summable regime $S_N \to 0$ while $B$ stays, so the constant such a display needs, $(B + D_{N+1})/S_N$, grows without
# bound (right panel, for several $B$).

# %%
fig, (ax_b, ax_disp) = plt.subplots(1, 2, figsize=(10, 3.8))
rows = []
for c, alpha in enumerate(alphas):
    D, J = r.thm42_D.sel(alpha=alpha).values, r.thm42_J.sel(alpha=alpha).values
    diagonal, upper, lower = acc.thm42_bounds(D, J, alpha, gamma=alpha)
    n = np.arange(1, len(D))
    ax_b.plot(n, D[1:], "o", color=f"C{c}", ms=3, label=f"$D_{{N+1}}$, $\\alpha$ = {alpha:g}")
    ax_b.plot(n, diagonal, "-", color=f"C{c}", lw=0.8)
    ax_b.plot(n, upper, "--", color=f"C{c}", lw=0.8)
    ax_b.plot(n, np.where(lower > 0, lower, np.nan), ":", color=f"C{c}", lw=1)
    rows.append(dict(alpha=alpha, upper_holds=bool(np.all(D[1:] <= upper * (1 + 1e-12))),
                     lower_holds=bool(np.all(D[1:] >= lower * (1 - 1e-12))),
                     D_final=D[-1], diagonal_final=diagonal[-1], cross_final=D[-1] - diagonal[-1]))
    if alpha == alphas[len(alphas) // 2]:
        for k, B in enumerate([1e-4, 1e-3, 1e-2]):
            needed = (B + D[1:]) / diagonal
            ax_disp.plot(n, needed, color=f"C{k + 4}", label=f"B = {B:g}")
        print(f"alpha = {alpha:g}: constant needed at the last generation, B = 0.01: {needed[-1]:.3g}")
ax_b.set(yscale="log", ylim=(1e-10, 10), xlabel="generation N + 1",
         title="$D$ (dots), diagonal (line), upper (dashed), lower (dotted)")
ax_b.legend(fontsize=7)
ax_disp.set(yscale="log", xlabel="generation N + 1", ylabel="$(B + D_{N+1}) / S_N$",
            title=f"constant the printed display needs ($\\alpha$ = {alphas[len(alphas) // 2]:g})")
ax_disp.legend(fontsize=8)
exp.save_figure(fig, "figS5_theorem_4_2")
plt.show()
pd.DataFrame(rows).set_index("alpha")

# %% [markdown]
# ## Prop 4.1: the floor under persistent errors
#
# With $I_i = \varepsilon^2$ every generation, the library's `persistent_floor(alpha, eta_floor, eps_floor)` — the paper's
# $\alpha\, \eta\, \varepsilon / (16(1 + (1-\alpha)^2))$ with $\eta\varepsilon := I$ (first order) — and the sharper form the same proof gives directly in
# terms of $I$, $\alpha I / (2(1 + (1-\alpha)^2))$, against $\limsup D_i$ of every simulated run (the maximum over the second half).

# %%
rows = []
for alpha in alphas:
    runs = r.floor.sel(alpha=alpha).values
    limsup = runs[:, runs.shape[1] // 2:].max(axis=1)
    rows.append(dict(alpha=alpha, floor_paper=bounds.persistent_floor(alpha, 1.0, eps2),
                     floor_in_I=alpha * eps2 / (2 * (1 + bounds.forgetting_factor(alpha))),
                     smallest_limsup=limsup.min(), median_limsup=np.median(limsup),
                     plateau_prediction=eps2 * bounds.effective_memory(alpha)))
prop41 = pd.DataFrame(rows).set_index("alpha")
print("every run's limsup above the paper's floor:", bool((prop41.smallest_limsup >= prop41.floor_paper).all()),
      "| above the sharper floor:", bool((prop41.smallest_limsup >= prop41.floor_in_I).all()))
prop41

# %% [markdown]
# ## Systematic errors: the plateau the random signs hide
#
# The imposed errors above have a random sign and centre, so the cross terms of the decomposition vanish in expectation
# and the plateau $\varepsilon^2/(\alpha(2-\alpha))$ is built in. A learner errs the same way every generation — a KDE
# always widens its training set by $h^2$. The same recursion with a fixed sign and shape, $h_i \propto -e^{-(x -
# m_i)^2/(2v_i)}$ standardised under $q_i$ ($m_i$, $v_i$ the mean and variance of $q_i$: a bounded tilt that always moves
# mass from the centre outwards), shows what that does. **Derivation (ours, first order in the
# drift):** if every generation adds the same error $\Delta = \varepsilon\, p\, h$ with $\int p h^2 = 1$, the decomposition
# gives $\hat p_N - p = \sum_{j < N} (1-\alpha)^j \Delta$, so $D_\infty = \varepsilon^2 \big(\sum_j (1-\alpha)^j\big)^2 =
# \varepsilon^2/\alpha^2$: the errors add coherently, and the discount per generation is $1-\alpha$, not $(1-\alpha)^2$. With
# independent zero-mean errors only the diagonal survives in expectation: $\varepsilon^2/(\alpha(2-\alpha))$. The ratio,
# $(2-\alpha)/\alpha$, is 19 at $\alpha = 0.1$. Thm 4.2's display is a discounted sum with weights $(1-\alpha)^{2(N-i)}$, which is
# the independent case; its additive upper bound (above) covers both, with a constant.

# %%
systematic = mean_se(r.floor_systematic.isel(generation=-1), "run")
independent = mean_se(r.floor.isel(generation=-1), "run")
pd.DataFrame({"independent errors": independent[0].values, "± se": independent[1].values,
              "eps2 / (alpha (2 - alpha))": eps2 * bounds.effective_memory(np.asarray(alphas)),
              "systematic errors": systematic[0].values, "± se ": systematic[1].values,
              "eps2 / alpha^2": acc.systematic_plateau(eps2, alphas)},
             index=pd.Index(alphas, name="alpha"))

# %% [markdown]
# ## A learned recursion with exact divergences
#
# The errors so far were imposed. Here a real learner makes them: each generation draws $n$ points from $q_i$, fits a
# Gaussian KDE (bandwidth $h$ below the narrowest data component's std, so $\chi^2$ stays finite) and samples with the
# Euler–Maruyama reverse SDE driven by the KDE's noised score from $N(0, 1)$; the sampler's output density is propagated
# exactly on the grid (`collapse.core.grid.propagate`, as in notebook 01). On the same grid, the ideal chain (the exact
# score of $q_i$) gives $\varepsilon_{\star,i}^2$, and the Fisher information of the endpoint in the error's scale gives
# $\eta_i$ (Girsanov: $\partial_\beta \hat p_\beta = p\, E[M_T \mid Y]$ at $\beta = 0$). Every number per generation is
# exact for the discretised sampler: $D_{i+1}$, $I_i$, $J_i$, $\varepsilon_{\star,i}^2$, $\eta_i$, with the errors
# correlated the way a learner correlates them. Checked: the additive bounds of Thm 4.2 with the measured $J_i$ (an
# identity of our derivation); the discounted-sum control $D_i \asymp S_i = \sum_{k<i}(1-\alpha)^{2(i-1-k)}\eta_k
# \varepsilon_{\star,k}^2$ with the constants of Thm 3.4's band, $\tfrac14 \le D_i/S_i \le 4$; and Prop 4.1's floor with the
# measured $\eta$ and $\varepsilon_\star^2$ floors.

# %%
learned = claims_02.learned_summary(r)
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
steps = r.learned_step.values + 1
for c, alpha in enumerate(alphas):
    at = r.sel(alpha=alpha)
    axes[0].plot(steps, at.learned_D.mean("learned_run"), "o-", ms=3, color=f"C{c}", label=f"$D_{{i+1}}$, "
                 f"$\\alpha$ = {alpha:g}")
    axes[0].plot(steps, learned.S.sel(alpha=alpha).mean("learned_run"), "--", color=f"C{c}", lw=1)
    axes[1].plot(steps, at.learned_I.mean("learned_run"), "o-", ms=3, color=f"C{c}",
                 label=f"$I_i$, $\\alpha$ = {alpha:g}")
    axes[1].plot(steps, (at.learned_eta * at.learned_eps_star2).mean("learned_run"), "--", color=f"C{c}", lw=1)
    axes[1].plot(steps, at.learned_I_ideal.mean("learned_run"), ":", color=f"C{c}", lw=1)
axes[0].set(yscale="log", xlabel="generation", ylabel="$\\chi^2$ to the data",
            title="drift $D$ (dots) and the discounted sum $S$ of $\\eta\\varepsilon_\\star^2$ (dashed)")
axes[1].set(yscale="log", xlabel="generation", title="$I_i$ (dots), $\\eta_i\\varepsilon_{\\star,i}^2$ (dashed), "
                                                     "ideal chain's own $\\chi^2$ (dotted)")
axes[0].legend(fontsize=7)
axes[1].legend(fontsize=7)
exp.save_figure(fig, "figS15_learned_recursion")
plt.show()
learned.to_dataframe().groupby("alpha")[["D_over_S", "J_over_I", "I_over_eta_eps"]].median().round(2)


# %% [markdown]
# ## The claims ledger
#
# Each claim this notebook makes, evaluated from the stored result by a criterion fixed in the library
# (`collapse.claims.error_accumulation`), with its kind: *empirical* (could have failed on these data), *identity* (holds by
# construction: a check of the code), *outside-hypotheses* (the theorem's assumptions fail here) or
# *not-reproducible-here*. A canonical run writes them beside the result; the README's verdict table is generated
# from them.

# %%
exp.record_claims(r)

# %%
c = exp.claims
middle = alphas[len(alphas) // 2]
floors = prop41.assign(room=prop41.smallest_limsup / prop41.floor_paper)
ratios = learned.to_dataframe().groupby("alpha")[["I_over_eta_eps"]].median().loc[alphas]
Markdown(rf"""## What this shows

- **Forgetting is exact** ({c["K-Lemma-forgetting"].summary}; an identity), and an initial drift with no new errors
  decays exactly like $(1-\alpha)^{{2N}}$.
- **The decomposition is exact** ({c["K-decomposition"].summary}), **and its cross terms matter run by run.** With
  independent errors (random signs and shapes) the cross terms have no preferred sign: averaged over runs they
  nearly cancel and the mean drift matches the diagonal and $\varepsilon^2/(\alpha(2-\alpha))$
  ({c["K-floor-plateau"].summary} — by construction, an identity in expectation); in a single run they are a large
  fraction of the diagonal when $\alpha \le 0.5$ (table above). With $\alpha = 0.1$ the contributions spread over
  many past generations, with $\alpha = 0.9$ they sit
  on the last one or two: the paper's Fig. 5.
- **Regimes.** Summable errors: $D$ saturates, then returns to 0. $\alpha = 0$: no forgetting
  ({c["K-no-forgetting"].summary}). $\varepsilon_i^2 = \varepsilon_0^2/i$: $D_i \to 0$ while $\sum_i D_i$ grows like
  $\log N$ ({c["K-harmonic-regime"].verdict}: {c["K-harmonic-regime"].summary}) — so the first version's "$D_i$
  cannot converge to 0" is stronger than its proof; what Prop 4.1 proves is $\sum_i D_i = \infty$.
- **Thm 4.2 holds in additive form** ({c["K-Thm4.2-additive"].summary}; an identity of our derivation); the printed
  display, with a fixed bias inside a two-sided $\asymp$, {c["K-Thm4.2-as-printed"].verdict}
  ({c["K-Thm4.2-as-printed"].summary} at $\alpha$ = {middle:g}).
- **Prop 4.1's floor holds** in every run (an identity: {c["K-Prop4.1-floor"].summary}), with room to spare: the
  smallest limsup is {floors.room.min():.0f} to {floors.room.max():.0f} times the paper's floor.
- **Systematic errors** ({c["K-floor-systematic"].verdict}: {c["K-floor-systematic"].summary}). Errors that repeat
  with one sign add coherently; the paper's level $\varepsilon^2/(\alpha(2-\alpha))$ is the independent-error case.
- **A learned recursion** (a KDE learner, every density exact on the grid). The additive bounds hold with the
  measured $J_i$ ({c["K-Thm4.2-learned-additive"].summary}; an identity). The discounted-sum control with the
  measured $\eta_i\varepsilon_{{\star,i}}^2$: {c["K-Thm4.2-learned-control"].verdict}
  ({c["K-Thm4.2-learned-control"].summary}): the drift is $\chi^2$ to the data, which weighs the KDE's tails by
  $1/p$, while $\varepsilon_\star^2$ weighs the score error by $q_t$; and $I_i$ itself is
  {", ".join(f"{v:.2g}" for v in ratios.I_over_eta_eps)} times $\eta_i\varepsilon_{{\star,i}}^2$ (median, $\alpha$ =
  {", ".join(map(str, alphas))}), the rest being the early stop and the discretisation, which $\varepsilon_\star$ does
  not see. Prop 4.1's floor with measured $\eta$ and $\varepsilon_\star^2$: {c["K-Prop4.1-learned"].verdict}
  ({c["K-Prop4.1-learned"].summary}).
- **Differences from the paper.** Most errors here are imposed on densities with exactly known size rather than
  produced by a trained score model (notebook 01 links the two: $I \approx \eta\varepsilon_\star^2$); the learned
  recursion is a KDE, not a network; the paper's Fig. 5 comes from its GMM experiment (notebook 03), this one from
  exact densities.
""")
