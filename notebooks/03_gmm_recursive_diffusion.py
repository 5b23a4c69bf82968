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
# # 03 · The paper's GMM experiment: 10-D recursive diffusion with a KDE score
#
# [K]'s synthetic experiment ([papers §3](../docs/papers.md); the paper's Figs. 1, 3, 4, 5), with the **literal finite-$N$ KDE score**.
#
# **Protocol.** The data $p$ is a 10-D mixture of 5 equally weighted isotropic components of std $\sigma = 0.6$ at the
# origin and at $(\pm 4, \pm 4, 0, \dots, 0)$ (the paper does not publish its means or weights; these are our choice). Each
# generation $i$ draws $N$ training points from $q_i = \alpha p + (1-\alpha)\hat p_i$ — $\alpha N$ *fresh* draws from $p$
# and $(1-\alpha)N$ of the previous model's samples (assumed: the paper does not say how $q_i$ is sampled) — fits a Gaussian
# KDE with bandwidth $h = 0.6$, and samples $\hat p_{i+1}$ ($N$ points) with the reverse SDE driven by the KDE's exact noised
# score: $T = 4$, $t_0 = 0.02$, 500 Euler–Maruyama steps, started at $N(0, I)$. 20 generations, $\alpha \in \{0.1, 0.5, 0.9\}$.
#
# **What is exact and what is not.** The score the sampler uses is the KDE's: a sum over all $N$ centres at every step,
# for every path, in float64 — no neighbour truncation, no subsampling of centres. It is fast because one tiled torch
# kernel (`collapse.core.mixture.softmax_reduce`) keeps each tile of (paths × centres) in a core's cache: `make bench` measures
# its speed against the naive dense numpy formula, and the time of one full generation, on the machine it runs on. The
# sizes of this notebook come from the table in `lib/collapse/infra/sizes.toml`: `full` mode runs $N = 2{,}000$ with 4 independent runs per $\alpha$, the largest that fit in about 30
# minutes on 2 cores once the per-generation measurements below are included (they cost 4 score evaluations on 1,000
# extra paths per step); `paper` mode runs the paper's $N = 100{,}000$, 10 runs and 50,000 paths for $\hat\eta$, on a GPU
# when one is present.

# %% tags=["parameters"]
mode = None  # "smoke" | "full" | "paper"; None reads $COLLAPSE_MODE (default "full")
seed = 0
alphas = [0.1, 0.5, 0.9]
bandwidth = 0.6  # KDE bandwidth h: the paper's, equal to the components' std
shown_generations = [1, 2, 5, 10, 20]  # generations g whose samples Fig. 1 shows
sizes = {}  # overrides of the size table for this mode, e.g. {"runs": 2}: an exploration run, kept apart

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr
from IPython.display import Markdown
from sklearn.decomposition import PCA

import collapse
from collapse.core import bounds
from collapse.core.divergences import kl_monte_carlo
from collapse.core.kde_diffusion import population_recursion, second_moment
from collapse.core.labels import from_jobs
from collapse.core.stats import mean_se
from collapse.infra.jobs import run_jobs
from collapse.studies import gmm

exp = collapse.Experiment("gmm_recursive_diffusion", mode, seed=seed, alphas=alphas, bandwidth=bandwidth,
                          shown_generations=shown_generations, sizes=sizes)
S = exp.sizes
sampler = collapse.SamplerConfig(steps=S["steps"])
data = collapse.paper_gmm(dim=gmm.DIM)
sigma = float(np.sqrt(data.variances[0, 0]))
G = S["generations"]
assert S["steps"] in S["steps_grid"], "the step study must include the protocol's number of steps"
shown = [g for g in shown_generations if g <= G]
exp


# %% [markdown]
# ## The computation
#
# One job per $(\alpha, \text{run})$, in worker processes, checkpointed after every generation (an interrupted run
# resumes where it stopped). Runs share seeds across $\alpha$. Generation $g$ records, for $\hat p_{g+1}$ and $q_g$
# (`collapse.studies.gmm` has the details):
#
# - **KL and $\chi^2$ between $\hat p_{g+1}$ and $q_g$**, by Monte Carlo from $\hat p_{g+1}$ with known mixture densities.
#   Both laws are taken after the early stop — $\hat p_{g+1}$ is the KDE noised to $t_0$ (what the sampler targets) and
#   $q_g$ is noised to $t_0$ (what the sampler would return with the true score of $q_g$) — so that they differ by the
#   score error alone, which is what the bounds are about. $\hat p_g$ inside $q_g$ is likewise the previous KDE noised to $t_0$.
# - **The drift $D_{g+1}$ to the data**, as $\mathrm{KL}(\hat p_{g+1}\,\|\,p)$. The paper's $D_i = \chi^2(\hat p_i\,\|\,p)$ is
#   *infinite* here: every component of $\hat p_i$ has variance at least $\sigma^2 + h^2 = 2\sigma^2$ (the KDE adds $h^2 = \sigma^2$),
#   and $\chi^2(N(0, v_1)\,\|\,N(0, v_2)) = \infty$ once $v_1 \ge 2 v_2$ ([papers §3](../docs/papers.md)). KL is finite and is what we report.
# - **Score-error energies and observability** ([papers §1](../docs/papers.md)): $\varepsilon_\star^2$ on `paths` ideal paths (driven by the
#   true score of $q_g$, whose mixture has $N + 5$ components), with the martingale $M_T = -\int e\cdot d\bar B$ on the same
#   increments and $\hat\eta$ by cross-fitted regression of $M_T$ on the endpoint; $\hat\varepsilon^2$ on as many learned
#   paths. The regression has a help that only this experiment allows: both samplers are exact time reversals (next
#   section), so $M_T = -\log(\hat p/q)(Y_{t_0}) - \frac12\int\|e\|^2$, and the known log-ratio of the two mixtures at the
#   endpoint is one of its features (with cubic splines of every coordinate and a full quadratic, ridge-penalised). Without
#   it, the estimate fell sharply in later generations and kept rising with the number of paths: the regression was
#   underfitting.
# - **Second moments of the generated samples**: per coordinate over coordinates 3–10, where every data mean is 0 (so this
#   is a component's variance, with no assignment of points to components), and over all coordinates.

# %%
def compute(alphas, bandwidth, seed, sizes):
    jobs = [dict(alpha=a, replicate=r, seed=seed, n=sizes["n"], generations=sizes["generations"], steps=sizes["steps"],
                 bandwidth=bandwidth, paths=sizes["paths"], kl_samples=sizes["kl_samples"],
                 shown_points=sizes["shown_points"]) for a in alphas for r in range(sizes["runs"])]
    runs = run_jobs(gmm.run_job, jobs, desc="gmm")
    per_generation = {key: ("generation",) for key in runs[0] if key != "shown"}
    recursion = from_jobs(jobs, runs, by=("alpha", "replicate"),
                          dims={**per_generation, "shown": ("generation", "point", "coordinate")},
                          coords={"generation": np.arange(1, sizes["generations"] + 1)}).rename(replicate="run")
    steps = gmm.step_convergence(seed, sizes["n"], sizes["paths"], sizes["steps_grid"], bandwidth, sizes["kl_samples"])
    study = xr.Dataset({f"steps_{key}": (("steps",) if np.ndim(value) else (), value) for key, value in steps.items()},
                       coords={"steps": sizes["steps_grid"]})
    return xr.merge([recursion.assign(shown=recursion.shown.isel(run=0)), study])  # samples of each alpha's first run


result = exp.cached(compute, alphas=alphas, bandwidth=bandwidth, seed=seed, sizes=S)
generations = result.generation.values  # metrics at generation g describe p_hat_g (and q_{g-1})


def per_alpha(key):
    """A per-run, per-generation metric as an (alpha, run, generation) array, alphas in the parameter's order."""
    return result[key].sel(alpha=alphas).transpose("alpha", "run", "generation").values


dict(result.sizes)  # the labelled result: its dimensions (the HTML view would embed random ids)


# %% [markdown]
# ## Fig. 1: samples across generations
#
# The 2-D PCA of each generation's samples (the projection is fitted on data samples; its axes are the first two
# coordinates, where the components sit). Rows are $\alpha$, columns the data and generations of the first run.

# %%
data_sample = data.sample(S["shown_points"], np.random.default_rng([seed, 99]))
pca = PCA(2).fit(data_sample)
fig, axes = plt.subplots(len(alphas), len(shown) + 1, figsize=(1.8 * (len(shown) + 1), 1.8 * len(alphas)),
                         sharex=True, sharey=True, squeeze=False)
for i, a in enumerate(alphas):
    panels = [("data $p$", data_sample)] + [(f"$\\hat p_{{{g}}}$", result.shown.sel(alpha=a, generation=g).values)
                                             for g in shown]
    for ax, (title, x) in zip(axes[i], panels):
        z = pca.transform(x)
        ax.scatter(z[:, 0], z[:, 1], s=1.5, alpha=0.35, color=f"C{i}", rasterized=True)
        ax.set(xlim=(-12, 12), ylim=(-12, 12), xticks=[-8, 0, 8], yticks=[-8, 0, 8], aspect="equal")
        if i == 0:
            ax.set_title(title)
    axes[i, 0].set_ylabel(f"$\\alpha = {a:g}$\nPC 2")
for ax in axes[-1]:
    ax.set_xlabel("PC 1")
fig.suptitle(f"10-D GMM, KDE score (h = {bandwidth:g}), N = {S['n']}: 2-D PCA across generations", y=1.0)
exp.save_figure(fig, "fig1_gmm_pca")
plt.show()

# %% [markdown]
# ## The closed-form cross-check
#
# The population model ([papers §3](../docs/papers.md)): with an exact sampler, one generation maps $q_i \mapsto \hat p_{i+1} = P_{t_0}(q_i * N(0, h^2 I))$.
# Per coordinate, second moments then follow a linear recursion,
# $m_{n} = a^2(\alpha\, m_0 + (1-\alpha)\, m_{n-1} + h^2) + 1 - a^2$ with $a^2 = e^{-t_0}$, and since a KDE's second moment is that
# of its training set plus $h^2$ *whatever* $N$, this is also the expected value at finite $N$
# (`collapse.core.kde_diffusion.second_moment`). For the within-component variance ($m_0 = \sigma^2$) and $t_0 \to 0$ it is the
# paper's $\sigma^2 + h^2(1 - (1-\alpha)^n)/\alpha$; the early stop adds the contraction $a^2$ and the $1 - a^2$ of noise.
# Bands: ±2 standard errors across runs. The KL drift of the population model is computed from its closed-form
# mixtures by Monte Carlo.

# %%
a2 = np.exp(-sampler.t0)
total0 = float(np.trace(data.covariance()) + data.mean() @ data.mean()) / gmm.DIM  # data second moment per coordinate
closed = {key: np.array([second_moment(m0, bandwidth, a, generations, sampler.t0) for a in alphas])
          for key, m0 in (("within", sigma**2), ("total", total0))}
paper_form = {key: np.array([second_moment(m0, bandwidth, a, generations) for a in alphas])
              for key, m0 in (("within", sigma**2), ("total", total0))}
rng = np.random.default_rng([seed, 10**6])
population_kl = np.array([[kl_monte_carlo(law, data, S["kl_samples"], rng)[0]
                           for law in population_recursion(data, a, bandwidth, sampler.t0, G)] for a in alphas])


fig, axes = plt.subplots(1, 3, figsize=(14, 3.6), layout="constrained")
for i, a in enumerate(alphas):
    for ax, key in zip(axes[:2], ("within", "total")):
        mean, se = mean_se(per_alpha(key)[i])
        ax.plot(generations, mean, "o-", ms=3, color=f"C{i}", label=f"$\\alpha = {a:g}$")
        ax.fill_between(generations, mean - 2 * se, mean + 2 * se, color=f"C{i}", alpha=0.2, lw=0)
        ax.plot(generations, closed[key][i], "--", color=f"C{i}", lw=1)
        ax.plot(generations, paper_form[key][i], ":", color=f"C{i}", lw=1)
    mean, se = mean_se(per_alpha("drift_kl")[i])
    axes[2].plot(generations, mean, "o-", ms=3, color=f"C{i}", label=f"$\\alpha = {a:g}$")
    axes[2].fill_between(generations, mean - 2 * se, mean + 2 * se, color=f"C{i}", alpha=0.2, lw=0)
    axes[2].plot(generations, population_kl[i], "--", color=f"C{i}", lw=1)
axes[0].set(xlabel="generation $g$", ylabel="per-coordinate variance", title="within-component variance (coords 3-10)")
axes[1].set(xlabel="generation $g$", ylabel="per-coordinate second moment", title="total second moment")
axes[2].set(xlabel="generation $g$", ylabel=r"KL$(\hat p_g \,\|\, p)$", title="drift to the data (dashed: population)")
axes[0].legend(title="dashed: closed form with $t_0$\ndotted: paper's ($t_0 \\to 0$)", fontsize=8, title_fontsize=8)
exp.save_figure(fig, "figS9_gmm_moments")
plt.show()


# %% [markdown]
# **The generation-$G$ table.** Simulation (mean ± standard error over runs) beside the closed forms; `z` is the
# difference in standard errors, where the standard error combines the spread across runs with nothing else (the closed
# form is exact).

# %%
def fmt(runs):
    mean, se = mean_se(runs)
    return f"{mean:.3f} ± {se:.3f}"


def z_score(runs, target):
    mean, se = mean_se(runs)
    return round(float((mean - target) / se), 1)


last = pd.DataFrame({
    "alpha": alphas,
    "KL drift, simulated": [fmt(r[:, -1]) for r in per_alpha("drift_kl")],
    "KL drift, population": population_kl[:, -1].round(3),
    "within var, simulated": [fmt(r[:, -1]) for r in per_alpha("within")],
    "within var, closed form": closed["within"][:, -1].round(3),
    "z within": [z_score(r[:, -1], c) for r, c in zip(per_alpha("within"), closed["within"][:, -1])],
    "paper's form (t0 -> 0)": paper_form["within"][:, -1].round(3),
    "total moment, simulated": [fmt(r[:, -1]) for r in per_alpha("total")],
    "total moment, closed form": closed["total"][:, -1].round(3),
    "z total": [z_score(r[:, -1], c) for r, c in zip(per_alpha("total"), closed["total"][:, -1])],
}).set_index("alpha")
last

# %%
z_all = {key: (per_alpha(key).mean(1) - closed[key]) / mean_se(per_alpha(key), axis=1)[1]
         for key in ("within", "total")}
for key, m0 in (("within", sigma**2), ("total", total0)):  # one pass of the exact-score sampler from the data
    target = a2 * m0 + 1 - a2
    print(f"{key}: the exact-score sampler returns {float(result['steps_exact_' + key]):.4f} against "
          f"{target:.4f} for the data noised to t0 ({float(result['steps_exact_' + key]) / target - 1:+.2%})")
final_drift = per_alpha("drift_kl")[:, :, -1].mean(axis=1)
print(f"generation-{G} KL drift by alpha {alphas}: {np.round(final_drift, 3).tolist()}; "
      f"decreasing in alpha: {bool(np.all(np.diff(final_drift) < 0))}")
for key, z in z_all.items():
    print(f"{key}: |z| over all {z.size} (alpha, generation) pairs: median {np.median(np.abs(z)):.2f}, "
          f"max {np.abs(z).max():.2f}")

# %% [markdown]
# ## The single-generation bounds along the recursion (Figs. 3 and 4)
#
# Per generation, the measured $\hat\varepsilon^2$, $\varepsilon_\star^2$, $\hat\eta$ and the divergences between
# $\hat p_{g+1}$ and $q_g$, each averaged over runs.
#
# **Why $\chi^2$ needs care here.** With $h = \sigma$ the KDE doubles every component's variance; in generation 0, for
# instance, $\hat p_1$'s components have variance $a^2(\sigma^2 + h^2) + 1 - a^2$ against the data's $a^2\sigma^2 + 1 - a^2$
# after the early stop ($a^2 = e^{-t_0}$), a ratio just under 2. $\chi^2$ is then finite but astronomically large — for one such pair of Gaussians in 10-D,
# $1 + \chi^2 = \prod_j v_2/\sqrt{v_1(2v_2 - v_1)} \approx 8\times 10^4$ — and its Monte Carlo estimate is dominated by rare
# draws in the tails (its estimator has infinite variance once the ratio exceeds 1.5), so the raw estimates below scatter
# over orders of magnitude and are **not reliable**. What is reliable is a certified floor: by Jensen,
# $1 + \chi^2 = E_{\hat p}[\hat p/q] \ge e^{\mathrm{KL}}$, so $\chi^2 \ge e^{\mathrm{KL}} - 1$ with KL estimated precisely.
# We check lower bounds on $\chi^2$ with that floor and plot the raw estimates for what they are.
#
# **The regime.** $\varepsilon_\star^2$ is of order 1–2 in every generation: the paper's KDE with $h = \sigma$ is *not* a
# small perturbation of the true score, so the perturbative statements (Prop 3.3, Thm 3.4, which assume
# $\varepsilon_\star^2 \le 1$) are tested outside their hypotheses. Prop 3.1 has no such hypothesis.

# %% [markdown]
# **Prop 3.1 is attained here, up to discretisation.** The learned sampler uses the exact score of the KDE noised by the
# forward process, and the ideal sampler the exact score of $q$: both are time reversals of the OU forward process. A time
# reversal's path, given its value at $t_0$, runs the forward OU kernel backwards — the same kernel for both — so the path
# divergence sits at the endpoint: $\frac12\hat\varepsilon^2 = \mathrm{KL}(\hat p\,\|\,q) - \mathrm{KL}(\hat p_T\,\|\,q_T)$
# and, in the other direction, $\frac12\varepsilon_\star^2 = \mathrm{KL}(q\,\|\,\hat p) - \mathrm{KL}(q_T\,\|\,\hat p_T)$, with
# terms at $T$ of order $e^{-T}$. The bound is attained, so estimation error decides which side of it a point falls on.
# Two sources of error remain besides Monte Carlo: the start at $N(0, I)$ instead of the noised laws at $T = 4$, and the
# Euler–Maruyama energy, which evaluates the error at the left end of each step in reversed time (the larger $t$, where it
# is smaller). The study below varies the number of steps on a generation-0 KDE:

# %%
steps_table = pd.DataFrame({
    "steps": S["steps_grid"], "eps_hat2/2": result.steps_eps_hat2.values / 2,
    "± se": result.steps_eps_hat2_se.values / 2,
    "KL(p_hat || q)": float(result.steps_kl.values), "eps_star2/2": result.steps_eps_star2.values / 2,
    "± se ": result.steps_eps_star2_se.values / 2, "KL(q || p_hat)": float(result.steps_kl_reverse.values),
    "eta_hat": result.steps_eta.values,
}).set_index("steps")
print(f"KL(p_hat||q) = {float(result.steps_kl):.3f} ± {float(result.steps_kl_se):.3f}, "
      f"KL(q||p_hat) = {float(result.steps_kl_reverse):.3f} ± {float(result.steps_kl_reverse_se):.3f}")
steps_table.round(3)

# %% [markdown]
# More steps alone do not close the gap between $\frac12\hat\varepsilon^2$ and KL. A case with an exact answer locates the
# rest: a KDE component and a data component, $N(0, 0.72\,I)$ against $N(0, 0.36\,I)$ in 10-D, both noised to $t_0$, whose
# KL is closed-form, run through the same code at the protocol's $T$ and steps and at $T = 8$ with four times the steps.
# The shortfall at the protocol's settings is the tolerance with which Prop 3.1 is judged below.

# %%
def calibrate(seed, paths, settings):
    """eps_hat^2 / 2 between two centred Gaussians of variances 0.72 and 0.36 (exact KL known), per (T, steps)."""
    wide, narrow = (collapse.GaussianMixture(np.zeros((1, gmm.DIM)), v) for v in (0.72, 0.36))
    stats = [gmm.path_statistics(wide, narrow, collapse.SamplerConfig(T=T, steps=steps), paths,
                                 np.random.default_rng([seed, 8])) for T, steps in settings]
    return xr.Dataset({"half_energy": ("setting", [s["eps_hat2"] / 2 for s in stats]),
                       "half_energy_se": ("setting", [s["eps_hat2_se"] / 2 for s in stats])},
                      coords={"T": ("setting", [T for T, _ in settings]),
                              "sampler_steps": ("setting", [steps for _, steps in settings])})


settings = [(sampler.T, S["steps"]), (2 * sampler.T, 4 * S["steps"])]
calibration = exp.cached(calibrate, seed=seed, paths=20 * S["paths"], settings=settings)
w1, w2 = (a2 * v + 1 - a2 for v in (0.72, 0.36))
exact_kl = gmm.DIM / 2 * (w1 / w2 - 1 - np.log(w1 / w2))
discretisation = max(0.0, 1 - float(calibration.half_energy[0]) / exact_kl)
for T, steps, half_energy, err in zip(calibration["T"].values, calibration.sampler_steps.values,
                                      calibration.half_energy.values, calibration.half_energy_se.values):
    print(f"T = {T:g}, {steps} steps: eps_hat2/2 = {half_energy:.4f} ± {err:.4f} against the exact KL {exact_kl:.4f} "
          f"({half_energy / exact_kl - 1:+.1%})")

# %%
m = {key: per_alpha(key).mean(axis=1)
     for key in ("kl", "kl_reverse", "chi2", "eps_star2", "eps_hat2", "eta", "martingale_var")}
se = {key: mean_se(per_alpha(key), axis=1)[1] for key in ("kl", "eps_hat2")}
chi2_floor = np.expm1(m["kl"])
upper_31 = bounds.girsanov_upper(m["eps_hat2"])
lower_33 = bounds.lower_bound(m["eta"], m["eps_star2"], factor=1 / 8)
band_low, band_high = bounds.lower_bound(m["eta"], m["eps_star2"]), bounds.two_sided_upper(m["eps_star2"])
per_generation = pd.DataFrame({
    "alpha": np.repeat(alphas, G), "g": np.tile(generations - 1, len(alphas)),
    "eps_star2": m["eps_star2"].ravel(), "Var M_T": m["martingale_var"].ravel(), "eps_hat2": m["eps_hat2"].ravel(),
    "eta_hat": m["eta"].ravel(), "KL": m["kl"].ravel(), "eps_hat2/2": upper_31.ravel(),
    "KL(q||p_hat)": m["kl_reverse"].ravel(), "eps_star2/2": m["eps_star2"].ravel() / 2,
    "chi2 floor e^KL-1": chi2_floor.ravel(), "chi2 MC (unreliable)": m["chi2"].ravel(),
}).set_index(["alpha", "g"])
per_generation.round(3).iloc[:: max(1, G // 5)]

# %%
fig, (ax_kl, ax_chi) = plt.subplots(1, 2, figsize=(10, 4))
for i, a in enumerate(alphas):
    ax_kl.errorbar(upper_31[i], m["kl"][i], xerr=se["eps_hat2"][i] / 2, yerr=2 * se["kl"][i], fmt="o", ms=3,
                   color=f"C{i}", label=f"$\\alpha = {a:g}$")
    ax_chi.plot(lower_33[i], chi2_floor[i], "o", ms=3, color=f"C{i}", label=f"$e^{{KL}}-1$, $\\alpha = {a:g}$")
    ax_chi.plot(lower_33[i], m["chi2"][i], "x", ms=4, color=f"C{i}", alpha=0.6)
top = 1.1 * max(m["kl"].max(), upper_31.max())
ax_kl.plot([0, top], [0, top], "k-", lw=0.8)
ax_kl.set(xlim=(0, top), ylim=(0, top))
ax_chi.plot([1e-2, 1e1], [1e-2, 1e1], "k-", lw=0.8)
ax_chi.set(xscale="log", yscale="log", xlim=(1e-2, 1e1))
ax_kl.set(xlabel=r"$\frac{1}{2}\hat\varepsilon^2$ (Prop 3.1 bound)", ylabel=r"KL$(\hat p_{g+1} \,\|\, q_g)$",
          title="upper bound: KL ≤ ½ ε̂² (on the line: equality)")
ax_chi.set(xlabel=r"$\frac{1}{8}\hat\eta\,\varepsilon_\star^2$ (Prop 3.3 bound)",
           ylabel=r"$\chi^2(\hat p_{g+1} \,\|\, q_g)$",
           title="lower bound: χ² ≥ ⅛ η̂ ε⋆²  (×: raw MC, unreliable)")
ax_kl.legend(fontsize=8)
ax_chi.legend(fontsize=8)
exp.save_figure(fig, "fig3_gmm_bounds")
plt.show()

# %% [markdown]
# **Fig. 4**: for $\alpha \in \{0.1, 0.5\}$, the divergences per generation between the two sides of Thm 3.4,
# $\frac14\hat\eta\,\varepsilon_\star^2$ and $4\varepsilon_\star^2$ (the constants $C, c$ set to 0).

# %%
two = [i for i, a in enumerate(alphas) if a in (0.1, 0.5)]
fig, axes = plt.subplots(1, len(two), figsize=(5 * len(two), 3.6), sharey=True, squeeze=False)
for ax, i in zip(axes[0], two):
    g = generations - 1
    ax.fill_between(g, band_low[i], band_high[i], color="0.85",
                    label=r"$[\frac{1}{4}\hat\eta\varepsilon_\star^2,\ 4\varepsilon_\star^2]$")
    ax.plot(g, m["kl"][i], "o-", ms=3, color="C0", label="KL")
    ax.plot(g, chi2_floor[i], "s-", ms=3, color="C1", label=r"$\chi^2$ floor $e^{KL}-1$")
    ax.plot(g, m["chi2"][i], "x", ms=4, color="C1", alpha=0.6, label=r"$\chi^2$ raw MC (unreliable)")
    ax.set(yscale="log", xlabel="generation $g$",
           title=f"$\\alpha = {alphas[i]:g}$: divergences of $\\hat p_{{g+1}}$ to $q_g$")
axes[0, 0].legend(fontsize=8, loc="center left")
exp.save_figure(fig, "fig4_gmm_two_sided")
plt.show()

# %% [markdown]
# ## Fig. 5: which past generations the present drift remembers
#
# Thm 4.2's discounted sum weighs generation $i$'s error by $(1-\alpha)^{2(N-i)}$ in the drift at generation $N+1$. With the
# measured $\varepsilon_\star^2$ (averaged over runs), the bars show each past generation's share
# $(1-\alpha)^{2(N-i)}\varepsilon_{\star,i}^2 / \sum_j (1-\alpha)^{2(N-j)}\varepsilon_{\star,j}^2$ at the last generation $N$.

# %%
N = G - 1
fig, axes = plt.subplots(1, len(alphas), figsize=(4 * len(alphas), 3.2), sharey=True, squeeze=False)
shares = {}
for ax, (i, a) in zip(axes[0], enumerate(alphas)):
    weights = bounds.forgetting_factor(a) ** (N - np.arange(G)) * m["eps_star2"][i]
    shares[a] = weights / weights.sum()
    ax.bar(np.arange(G), shares[a], color=f"C{i}")
    memory = float(bounds.effective_memory(a))
    ax.set(xlabel="past generation $i$", title=f"$\\alpha = {a:g}$: memory {memory:.1f} generations")
axes[0, 0].set_ylabel(f"share of the discounted sum at $N = {N}$")
exp.save_figure(fig, "fig5_gmm_contributions")
plt.show()
for a in alphas:
    print(f"alpha={a:g}: the last 1 / 3 / 10 generations carry "
          + " / ".join(f"{shares[a][-k:].sum():.0%}" for k in (1, 3, 10)) + " of the discounted sum")


# %% [markdown]
# ## Which bounds held, and when
#
# For each $\alpha$, the generations $g$ (of $\hat p_{g+1}$ against $q_g$) at which each statement held, judged on the
# run averages: Prop 3.1 within its estimation error (2 standard errors, plus the Euler–Maruyama shortfall of
# $\hat\varepsilon^2$ measured above, since the bound is attained) and strictly, the lower bounds on $\chi^2$ with the certified floor
# $e^{\mathrm{KL}} - 1$, the two-sided band for KL. The upper side of Thm 3.4 for $\chi^2$ itself cannot be judged from
# unreliable estimates; its floor alone already exceeds $4\varepsilon_\star^2$ where the table says so.

# %%
def held(mask):
    gens = np.flatnonzero(mask)
    if len(gens) == mask.size:
        return "all"
    return "none" if len(gens) == 0 else f"{len(gens)}/{mask.size}: " + ",".join(map(str, gens))


kl_upper_margin = m["kl"] - upper_31  # <= 0 where Prop 3.1 holds
checks = {
    "Prop 3.1: KL <= eps_hat2/2 (within error)":
        kl_upper_margin <= 2 * np.hypot(se["kl"], se["eps_hat2"] / 2) + discretisation * upper_31,
    "Prop 3.1: KL <= eps_hat2/2 (strict)": kl_upper_margin <= 0,
    "Prop 3.3: chi2 floor >= eta eps2/8": chi2_floor >= lower_33,
    "Prop 3.3: chi2 floor >= eta eps2/4": chi2_floor >= band_low,
    "Thm 3.4 band for KL": (m["kl"] >= band_low) & (m["kl"] <= band_high),
    "Thm 3.4 upper: chi2 floor > 4 eps2 (violated)": chi2_floor > band_high,
}
held_table = pd.DataFrame({name: [held(mask[i]) for i in range(len(alphas))] for name, mask in checks.items()},
                          index=pd.Index(alphas, name="alpha")).T
held_table

# %%
ratio, reverse_ratio = m["kl"] / upper_31, m["kl_reverse"] / (m["eps_star2"] / 2)
ito = m["martingale_var"] / m["eps_star2"]
print(f"KL(p_hat||q) / (eps_hat2/2): min {ratio.min():.3f}, median {np.median(ratio):.3f}, max {ratio.max():.3f}")
print(f"KL(q||p_hat) / (eps_star2/2): min {reverse_ratio.min():.3f}, median {np.median(reverse_ratio):.3f}, "
      f"max {reverse_ratio.max():.3f}")
print(f"Ito isometry Var(M_T) / eps_star2: {ito.min():.3f} .. {ito.max():.3f}")
print(f"eta_hat: {m['eta'].min():.2f} .. {m['eta'].max():.2f}; eps_star2: {m['eps_star2'].min():.2f} .. "
      f"{m['eps_star2'].max():.2f}")

# %% [markdown]
# ## The claims ledger
#
# Each claim this notebook makes, evaluated from the stored result by a criterion fixed in the library
# (`collapse.claims.gmm_recursive_diffusion`), with its kind: *empirical* (could have failed on these data), *identity* (holds by
# construction: a check of the code), *outside-hypotheses* (the theorem's assumptions fail here) or
# *not-reproducible-here*. A canonical run writes them beside the result; the README's verdict table is generated
# from them.

# %%
exp.record_claims(result)

# %%
c = exp.claims
drift_se = mean_se(per_alpha("drift_kl")[:, :, -1], axis=1)[1]
memory = [float(bounds.effective_memory(a)) for a in alphas]
excess = population_kl[:, -1] / final_drift - 1
within_gap = per_alpha("within")[:, :, -1].mean(1) / closed["within"][:, -1] - 1
total_gap = per_alpha("total").mean(1) / closed["total"] - 1
one_pass = float(result.steps_exact_total) / (a2 * total0 + 1 - a2) - 1
eta_first, eta_last = m["eta"][:, 0], m["eta"][:, -1]
Markdown(rf"""## What this shows

- **Fig. 1.** With $\alpha = 0.1$ the components keep spreading and merge; with $\alpha = 0.5$ they widen but keep
  their structure; with $\alpha = 0.9$ the samples stay close to the data — the paper's picture.
- **Drift** ({c["K-forgetting-order-gmm"].verdict}). At generation {G} the KL to the data is
  {", ".join(f"{v:.3g} ± {e:.2g}" for v, e in zip(final_drift, drift_se))} for $\alpha$ =
  {", ".join(map(str, alphas))} — ordered as [K]'s forgetting predicts, with memory $1/(\alpha(2-\alpha))$ =
  {", ".join(f"{v:.1f}" for v in memory)} generations. The population model gives
  {", ".join(f"{v:.3g}" for v in population_kl[:, -1])}: the finite-$N$ KDE, rougher than its limit, changes the
  drift by {", ".join(f"{-v:+.0%}" for v in excess)}.
- **The closed form** ({c["K-closed-form-variance-gmm"].verdict} for $\alpha \ge 0.5$:
  {c["K-closed-form-variance-gmm"].summary}). At the last generation the within-component variance is
  {", ".join(f"{v:+.1%}" for v in within_gap)} off the closed form with the early stop; the paper's form without it
  gives {", ".join(f"{v:.3g}" for v in paper_form["within"][:, -1])} against
  {", ".join(f"{v:.3g}" for v in closed["within"][:, -1])}. The total second moment sits {100 * total_gap.min():.0f}
  to {100 * total_gap.max():+.0f} % off its closed form: one pass of the *exact*-score sampler already returns it
  {one_pass:+.1%} off (the start at $N(0, I)$ at $T = 4$ ignores the spread of the component means), and the
  recursion compounds that over its memory — a property of the protocol's sampler, not of the KDE.
- **Prop 3.1** ({c["K-Prop3.1-gmm"].verdict}: {c["K-Prop3.1-gmm"].summary}). Both samplers are exact time reversals,
  so the bound is attained up to the discretisation and the $N(0, I)$ start: $\mathrm{{KL}}(q_g\,\|\,\hat p_{{g+1}})
  / (\frac12\varepsilon_\star^2)$ has median {np.median(reverse_ratio):.3f}. Samplers started from their exact laws
  at $T$ would separate the bound from those terms.
- **Itô isometry** on the ideal paths: $\mathrm{{Var}}(M_T)/\varepsilon_\star^2 \in [{ito.min():.2f},
  {ito.max():.2f}]$ with {S["paths"]:,} paths.
- **Outside the perturbative regime.** $\varepsilon_\star^2$ ranges over {m["eps_star2"].min():.1f} to
  {m["eps_star2"].max():.1f}: a KDE with $h = \sigma$ is a large error. The ⅛ lower bound holds with the certified
  floor $e^{{\mathrm{{KL}}}} - 1$ ({c["K-Prop3.3-gmm"].summary}), which follows from KL ≈ ½ε̂² and η̂ ≤ 1 rather
  than testing Prop 3.3. Whether $\chi^2$ stays under $4\varepsilon_\star^2$ is {c["K-Thm3.4-upper-gmm"].verdict}
  from these numbers: the raw estimates are dominated by single draws and the floor is far below the bound.
- **Observability.** $\hat\eta$ is {", ".join(f"{v:.2f}" for v in eta_first)} at generation 0 and
  {", ".join(f"{v:.2f}" for v in eta_last)} at the last, for $\alpha$ = {", ".join(map(str, alphas))}: it falls
  where the drift and $\varepsilon_\star^2$ grow. The covariance form of $\hat\eta$ is not one-sided: single runs
  can exceed 1.
- **Fig. 5.** At the last generation the last generation carries {", ".join(f"{shares[a][-1]:.0%}" for a in alphas)}
  of the discounted error sum and the last ten {", ".join(f"{shares[a][-10:].sum():.0%}" for a in alphas)}: spread
  over the past for small $\alpha$, concentrated on the present for large $\alpha$, as in the paper. The bars are
  the discount weights applied to measured $\varepsilon_\star^2$, not measured contributions.
- **What differs from the paper.** $N$ = {S["n"]:,} and {S["runs"]} runs per $\alpha$ ({exp.mode} mode) instead of
  100,000 and 10 (paper mode has them); the drift is reported as KL because its $\chi^2$ is infinite; $\chi^2(\hat
  p_{{g+1}}\,\|\,q_g)$ is reported through its certified floor; the data means and the way $q_i$ is sampled are our
  choices (the paper does not publish them).
""")
