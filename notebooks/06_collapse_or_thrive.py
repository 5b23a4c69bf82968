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
# # 06 · Collapse or thrive: Gaussians and KDEs under replace, accumulate and accumulate-subsample
#
# [KZ] ([papers §4](../docs/papers.md)) compare three ways of feeding a model its own output. **Replace**: each generation trains only on
# the previous model's $n$ samples. **Accumulate**: on all real data and every synthetic set so far ($n(t+1)$ points).
# **Accumulate-subsample**: on $n$ points drawn from that pool. Their claims: replace collapses, accumulate stays bounded,
# accumulate-subsample lies in between. This notebook reproduces their multivariate-Gaussian and KDE settings through
# the library's one `run_recursion`, with the same workflows the diffusion notebooks use, and puts a closed form beside
# every simulated curve.
#
# **Gaussian** (real data $N(0, I_d)$; each generation fits the sample mean and the maximum-likelihood covariance per
# seed, then samples $n$ points). Under replace, with $t$ the number of fits:
# $\mathbb E\|\hat\mu_t - \mu_0\|^2 = d\,(1 - (1 - 1/n)^t)$ (the mean random-walks towards error $d$);
# $\mathbb E[\det\hat\Sigma_t/\det\Sigma_0] = (\prod_{i=1}^d (1 - i/n))^t$ (since $n\hat\Sigma_t \mid \hat\Sigma_{t-1}$ is Wishart with $n-1$ degrees of
# freedom); $\log\det$ is a random walk with drift $\sum_{i=0}^{d-1}[\psi(\tfrac{n-1-i}{2}) + \log\tfrac2n] < 0$; the trace shrinks like
# $(1-1/n)^t$. Under accumulate, the mean error stays below $(\pi^2/6)\, d/n$. With the *unbiased* covariance the mean trace is
# a martingale — constant in expectation — while its median still collapses.
#
# **KDE** (train and test from the same distribution): moons, circles and the Swiss roll drawn as [KZ]'s public code
# draws them — one sklearn call per seed with that seed's $n$ points (`make_moons(noise=0.05)`,
# `make_circles(noise=0.05)` with sklearn's default factor 0.8, the 3-D `make_swiss_roll(noise=0.05)`), and 500 test
# points per seed the same way — and blobs with fixed centres. Their code calls `make_blobs` without a random state,
# so its training and test sets come from different random centres in $[-10, 10]^2$: their blobs NLLs measure that
# mismatch, not collapse, and we keep the sound variant. The metric is the mean negative log-likelihood of fresh real
# test points, computed exactly (a log-sum-exp over every kernel; their code uses sklearn's tree-based
# `score_samples`), each seed on its own test set, so the spread of test sets enters the standard errors. Under
# replace a KDE does not collapse: each generation adds $h^2$ and loses a factor $1 - 1/n$, so the data's variance per
# coordinate moves towards $(n-1)h^2$ — over-smoothing where the data's variance is below that, and shrinking where it
# is above (small $n$ and $h$).
#
# **The draw is a lattice.** `make_moons` and `make_circles` place their $n$ points at evenly spaced angles, $n/2$ on
# each part, before adding noise: each seed's real set is a jittered lattice, not an i.i.d. sample. At small $n$ that
# makes the real data (and the test set) more even than an i.i.d. draw, and a KDE with a small bandwidth fits it
# better. An earlier version of this notebook drew every seed's points in one call and shuffled them (nearly
# i.i.d. angles, random counts per part); that draw is kept as a named variant (`draw="iid"`) at the smallest $h$ and
# $n \le 100$, where the table below shows what it changes.
#
# **Choices.** Seeds are vectorised (one array holds every seed's data); accumulate-subsample draws an independent
# subsample for each seed (one index set shared by all seeds would make their subsampling error one draw, and the
# standard errors too small). The accumulate workflows refit on a pool that grows to $n(T+1)$ points, so in full mode
# they run where $n d^2 \le$ `max_pool_cost` (every $n$ up to $d = 10$); replace runs everywhere. Each seed's final
# test NLL and each seed's Gaussian metrics at the checked $(d, n, t)$ are stored beside the statistics, so every
# interval below can be recomputed from the result.

# %% tags=["parameters"]
mode = None  # "smoke" | "full" | "paper"; None reads $COLLAPSE_MODE (default "full")
seed = 0
show_d = 10  # dimension shown in the Gaussian figures
datasets = ["moons", "circles", "blobs", "swiss_roll"]
bandwidths = [0.1, 0.5, 1.0]
show_bandwidth = 0.5  # bandwidth shown in the KDE figure
checks = [[1, 10, 100], [3, 32, 10], [10, 100, 50], [10, 316, 100], [31, 1000, 100]]  # (d, n, t) for the table
sizes = {}  # overrides of the size table for this mode, e.g. {"seeds": 50}: an exploration run, kept apart

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr
from IPython.display import Markdown

import collapse
from collapse.claims import collapse_or_thrive as cot_claims
from collapse.core.labels import from_jobs
from collapse.infra.jobs import run_jobs
from collapse.studies import collapse_or_thrive as cot

exp = collapse.Experiment("collapse_or_thrive", mode, seed=seed, show_d=show_d, datasets=datasets,
                          bandwidths=bandwidths, show_bandwidth=show_bandwidth, checks=checks, sizes=sizes)
S = exp.sizes


def compute(seed, show_d, datasets, bandwidths, checks, sizes):
    common = dict(iterations=sizes["iterations"], seeds=sizes["seeds"], seed=seed)
    gaussian = [dict(d=d, n=n, workflow=wf, **common) for d in sizes["dims"] for n in sizes["ns"]
                for wf in cot.WORKFLOWS if wf == "replace" or n * d**2 <= sizes["max_pool_cost"]]
    unbiased = [dict(d=show_d, n=n, workflow="replace", unbiased=True, **common)
                for n in sizes["ns"] if n > show_d + 1]
    kde = [dict(dataset=ds, bandwidth=h, n=n, workflow=wf, iterations=sizes["kde_iterations"],
                seeds=sizes["kde_seeds"], seed=seed, test_points=sizes["test_points"], every=sizes["nll_every"])
           for ds in datasets for h in bandwidths for n in sizes["kde_ns"] for wf in cot.WORKFLOWS]
    iid = [dict(job, draw="iid") for job in kde  # the i.i.d. draw where the lattice can matter: small n and h
           if job["dataset"] in ("moons", "circles") and job["bandwidth"] == min(bandwidths) and job["n"] <= 100]

    def summarized(runs):  # per job: statistics over seeds (mean, se, median, quantiles) per iteration
        return [{k: cot.summarize(v) for k, v in run.items()} for run in runs]

    def with_final_seeds(runs):  # and each seed's final NLL, so every interval of the KDE claims can be recomputed
        return [{**summary, "nll_seeds": run["nll"][-1]} for summary, run in zip(summarized(runs), runs)]

    stat = ("statistic", "iteration")
    iteration = {"statistic": list(cot.STATS), "iteration": np.arange(1, sizes["iterations"] + 1)}
    gauss_runs = run_jobs(cot.run_gaussian, gaussian, desc="gaussian")
    gauss = from_jobs(gaussian, summarized(gauss_runs), by=("workflow", "d", "n"),
                      dims={k: stat for k in cot.GAUSSIAN_METRICS}, coords=iteration)
    unbiased = from_jobs(unbiased, summarized(run_jobs(cot.run_gaussian, unbiased, desc="unbiased")), by=("n",),
                         dims={"trace_ratio": stat}, coords=iteration) if unbiased else xr.Dataset()
    kde_dims = {k: ("statistic", "kde_iteration") for k in ("nll", "variance")} | {"nll_seeds": ("kde_seed",)}
    kde_coords = {"kde_iteration": np.arange(sizes["kde_iterations"])}
    kde_by = ("dataset", "bandwidth", "n", "workflow")
    kde = from_jobs(kde, with_final_seeds(run_jobs(cot.run_kde, kde, desc="kde")), by=kde_by, dims=kde_dims,
                    coords=kde_coords)
    iid = from_jobs(iid, with_final_seeds(run_jobs(cot.run_kde, iid, desc="kde, i.i.d. draw")), by=kde_by,
                    dims=kde_dims, coords=kde_coords) if iid else xr.Dataset()
    at_checks = cot.at_checks(gaussian, gauss_runs, checks)
    return xr.merge([gauss.rename({k: f"gauss_{k}" for k in gauss.data_vars}),
                     at_checks.rename({k: f"gauss_{k}_seeds" for k in at_checks.data_vars}),
                     unbiased.rename({k: f"unbiased_{k}" for k in unbiased.data_vars}),
                     kde.rename({k: f"kde_{k}" for k in kde.data_vars}).rename(n="kde_n"),
                     iid.rename({k: f"kde_iid_{k}" for k in iid.data_vars}).rename(n="kde_n")], join="outer")


r = exp.cached(compute, seed=seed, show_d=show_d, datasets=datasets, bandwidths=bandwidths, checks=checks, sizes=S)


def by_statistic(values):
    """The statistics over seeds of one setting, by name: mean, se, median, q10, q90."""
    return {name: values.sel(statistic=name).values for name in cot.STATS}


t = np.arange(1, S["iterations"] + 1)  # number of fits: t = 1 is the model fitted on real data
STYLE = {"replace": "C3", "accumulate": "C0", "accumulate-subsample": "C2"}
exp

# %% [markdown]
# ## Multivariate Gaussian
#
# At $d = $ `show_d`, one panel per $n$, 10 %–90 % bands over seeds. Top: the mean error (mean over seeds); dashed: its closed
# form under replace; dotted: the accumulate bound $(\pi^2/6)\,d/n$. Bottom: the log-determinant, a random walk under replace
# (median over seeds; dashed: the closed-form mean). Where $n \le d$ the fitted covariance is singular and $\log\det = -\infty$ from
# the first fit; after many replace generations a collapsed covariance can also become numerically singular in some seeds,
# which is why the median, not the mean, is drawn.

# %%
ns = S["ns"]
fig, axes = plt.subplots(2, len(ns), figsize=(3.2 * len(ns), 6), squeeze=False)
for j, n in enumerate(ns):
    for wf in cot.WORKFLOWS:
        setting = r.sel(workflow=wf, d=show_d, n=n)
        if setting.gauss_mean_error.isnull().all():  # accumulate's pool too large for this (d, n)
            continue
        for row, (metric, centre) in enumerate((("mean_error", "mean"), ("log_det_ratio", "median"))):
            s = by_statistic(setting[f"gauss_{metric}"])
            axes[row, j].plot(t, s[centre], color=STYLE[wf], lw=1.2, label=wf)
            axes[row, j].fill_between(t, s["q10"], s["q90"], color=STYLE[wf], alpha=0.15, lw=0)
    axes[0, j].plot(t, cot.replace_mean_error(show_d, n, t), "k--", lw=0.8, label="closed form (replace)")
    axes[0, j].axhline(cot.accumulate_mean_error_bound(show_d, n), color="k", ls=":", lw=0.8,
                       label="bound (accumulate)")
    if n > show_d:
        axes[1, j].plot(t, cot.replace_log_det(show_d, n, t)[0], "k--", lw=0.8)
    else:
        axes[1, j].text(0.5, 0.5, "n ≤ d: singular,\nlog det = −∞", ha="center", va="center",
                        transform=axes[1, j].transAxes)
    axes[0, j].set(title=f"n = {n}", yscale="log", xlabel="iteration")
    axes[1, j].set(xlabel="iteration")
axes[0, 0].set_ylabel(r"$\|\hat\mu_t - \mu_0\|^2$")
axes[1, 0].set_ylabel(r"$\log \det\hat\Sigma_t / \det\Sigma_0$")
axes[0, 0].legend(fontsize=7)
fig.suptitle(f"fitted Gaussian, d = {show_d}", y=1.0)
fig.tight_layout()
exp.save_figure(fig, "figS6_kz_gaussian")
plt.show()

# %% [markdown]
# ### Closed form against simulation
#
# At chosen $(d, n, t)$: simulation (mean ± standard error over seeds) beside the closed form, and whether the closed form lies
# within 3 standard errors. Determinant and trace ratios are products of $t$ random factors: when the log of one factor
# has variance $t\,\psi'((n-1)/2) > 2$, their sample mean is dominated by rare draws and its standard error means little,
# so those rows are marked *heavy-tailed* and not judged; the log-determinant row tests the same claim in a well-behaved
# form.

# %%
closed_forms = cot_claims.closed_form_checks(r, exp.parameters, S)  # the table its claims are counted from
judged = closed_forms.within_3se[closed_forms.within_3se != "heavy-tailed"]
print(f"closed form within 3 s.e. in {int(sum(judged))} of {len(judged)} judged checks "
      f"({len(closed_forms) - len(judged)} heavy-tailed, not judged)")
closed_forms

# %% [markdown]
# ### The unbiased estimator: a martingale that collapses
#
# With the covariance divided by $n - 1$, $\mathbb E[\hat\Sigma_t] = \Sigma_0$ for every $t$: the mean trace ratio stays at 1. Yet the median
# falls towards 0 — the mean is carried by ever rarer, ever larger draws.

# %%
unbiased = [n for n in S["ns"] if "unbiased_trace_ratio" in r and not r.unbiased_trace_ratio.sel(n=n).isnull().all()]
fig, ax = plt.subplots(figsize=(5.5, 3.6))
for k, n in enumerate(unbiased):
    s = by_statistic(r.unbiased_trace_ratio.sel(n=n))
    ax.plot(t, s["mean"], "-", color=f"C{k}", label=f"n = {n}: mean")
    ax.plot(t, s["median"], "--", color=f"C{k}", label=f"n = {n}: median")
ax.axhline(1, color="k", lw=0.8)
ax.set(yscale="log", xlabel="iteration", ylabel=r"tr$\hat\Sigma_t$ / tr$\Sigma_0$",
       title=f"unbiased covariance, replace, d = {show_d}")
ax.legend(fontsize=7, ncol=2)
exp.save_figure(fig, "figS7_kz_unbiased")
plt.show()

# %% [markdown]
# ## Kernel density estimation
#
# Rows: datasets, columns: $n$, at $h = $ `show_bandwidth`; the test NLL (mean over seeds) per workflow. Last row: under replace,
# the per-coordinate variance of the training data (moons) against its closed-form expectation (dashed) and the fixed point
# $(n-1)h^2$ (dotted).

# %%
kde_ns = S["kde_ns"]
it = np.arange(S["kde_iterations"])
fig, axes = plt.subplots(len(datasets) + 1, len(kde_ns), figsize=(3.1 * len(kde_ns), 2.6 * (len(datasets) + 1)),
                         squeeze=False)
for i, ds in enumerate(datasets):
    for j, n in enumerate(kde_ns):
        for wf in cot.WORKFLOWS:
            s = by_statistic(r.kde_nll.sel(dataset=ds, bandwidth=show_bandwidth, kde_n=n, workflow=wf))
            done = np.isfinite(s["mean"])
            axes[i, j].plot(it[done], s["mean"][done], "o-", ms=2, color=STYLE[wf], label=wf)
        axes[i, j].set(title=f"{ds}, n = {n}" if i == 0 else ds)
    axes[i, 0].set_ylabel("test NLL")
for j, n in enumerate(kde_ns):
    s = by_statistic(r.kde_variance.sel(dataset="moons", bandwidth=show_bandwidth, kde_n=n, workflow="replace"))
    axes[-1, j].plot(it, s["mean"], color=STYLE["replace"])
    axes[-1, j].fill_between(it, s["q10"], s["q90"], color=STYLE["replace"], alpha=0.15, lw=0)
    axes[-1, j].plot(it[1:], cot.kde_replace_variance(n, show_bandwidth, it[1:], s["mean"][0]), "k--", lw=0.8)
    axes[-1, j].axhline((n - 1) * show_bandwidth**2, color="k", ls=":", lw=0.8)
    axes[-1, j].set(xlabel="iteration", yscale="log")
axes[-1, 0].set_ylabel("data variance (replace)")
axes[0, 0].legend(fontsize=7)
fig.suptitle(f"KDE, h = {show_bandwidth:g}", y=1.0)
fig.tight_layout()
exp.save_figure(fig, "figS8_kz_kde")
plt.show()

# %%
rows = []
for ds in datasets:
    for h in bandwidths:
        for n in kde_ns:
            nll = r.kde_nll.sel(dataset=ds, bandwidth=h, kde_n=n, statistic="mean")
            final = {wf: float(nll.sel(workflow=wf).isel(kde_iteration=-1)) for wf in cot.WORKFLOWS}
            rows.append(dict(dataset=ds, h=h, n=n, **{f"NLL {wf}": v for wf, v in final.items()},
                             start=float(nll.sel(workflow="replace").isel(kde_iteration=0))))
kde_final = pd.DataFrame(rows).set_index(["dataset", "h", "n"])
ordered = (kde_final["NLL replace"] > kde_final["NLL accumulate"]).mean()
print(f"replace ends above accumulate in test NLL in {ordered:.0%} of {len(kde_final)} (dataset, h, n) settings")
kde_final.round(3)

# %% [markdown]
# ### The lattice and the i.i.d. draw
#
# Final test NLL (mean ± standard error over seeds) at the smallest bandwidth and $n \le 100$, with the real data drawn
# as [KZ] draw them (one lattice per seed) and i.i.d. (one shuffled call for all seeds), beside their difference in
# combined standard errors. The first generation (the KDE of the real data, the same for every workflow) is the
# cleanest comparison.

# %%
def lattice_against_iid(ds, h, n, wf, k):
    """Mean, standard error and z of the lattice minus the i.i.d. draw at KDE generation k."""
    at = [r[var].sel(dataset=ds, bandwidth=h, kde_n=n, workflow=wf).isel(kde_iteration=k)
          for var in ("kde_nll", "kde_iid_nll")]
    (m1, s1), (m2, s2) = ((float(v.sel(statistic="mean")), float(v.sel(statistic="se"))) for v in at)
    return {"lattice": f"{m1:.3f} ± {s1:.2g}", "i.i.d.": f"{m2:.3f} ± {s2:.2g}", "z": (m1 - m2) / np.hypot(s1, s2)}


compared = r.kde_iid_nll.sel(statistic="mean", workflow="replace").isel(kde_iteration=0).to_series().dropna().index
draws = pd.DataFrame([dict(dataset=ds, h=h, n=n, generation=g, workflow=wf, **lattice_against_iid(ds, h, n, wf, k))
                      for ds, h, n in compared
                      for g, k, workflows in (("first", 0, ["replace"]), ("last", -1, cot.WORKFLOWS))
                      for wf in workflows]).set_index(["dataset", "h", "n", "generation", "workflow"])
draws.round(2)

# %% [markdown]
# ## The claims ledger
#
# Each claim this notebook makes, evaluated from the stored result by a criterion fixed in the library
# (`collapse.claims.collapse_or_thrive`), with its kind: *empirical* (could have failed on these data), *identity* (holds by
# construction: a check of the code), *outside-hypotheses* (the theorem's assumptions fail here) or
# *not-reproducible-here*. A canonical run writes them beside the result; the README's verdict table is generated
# from them.

# %%
exp.record_claims(r)

# %%
c = exp.claims
nll_final = kde_final.assign(rise=kde_final["NLL replace"] - kde_final.start)
by_n = nll_final.groupby("n").rise.median()
by_h = nll_final.groupby("h").rise.median()
shrink_h, shrink_n = min(bandwidths), min(S["kde_ns"])
shrink = r.kde_variance.sel(dataset="moons", bandwidth=shrink_h, kde_n=shrink_n, workflow="replace",
                            statistic="mean").values
Markdown(rf"""## What this shows

- **Replace collapses, accumulate does not** — for the Gaussian exactly as the closed forms say
  ({c["KZ-Gaussian-replace-closed-forms"].verdict}: {c["KZ-Gaussian-replace-closed-forms"].summary}): the mean error
  climbs towards $d$ and $\log\det$ falls linearly in $t$ (the covariance collapses), while under accumulate the
  mean error stays below $(\pi^2/6)\,d/n$ ({c["KZ-Gaussian-accumulate-bounded"].verdict}:
  {c["KZ-Gaussian-accumulate-bounded"].summary}).
- **Unbiasedness does not save replace**: the mean trace ratio of the unbiased estimator is a martingale and stays
  near 1, while its median collapses (figure above).
- **KDE under replace moves its spread towards $(n-1)h^2$** (over-smoothing where the data's variance is below it;
  the smallest $h$ and $n$ below) and the test NLL rises ({c["KZ-KDE-replace-worse"].verdict}:
  {c["KZ-KDE-replace-worse"].summary} by more than 2 s.e.). The
  median rise of the final NLL over settings, by $n$: {", ".join(f"{n}: {v:+.2f}" for n, v in by_n.items())}; by
  $h$: {", ".join(f"{h:g}: {v:+.2f}" for h, v in by_h.items())}.
- **Does accumulate-subsample sit between replace and accumulate?** ({c["KZ-KDE-subsample-between"].verdict}:
  {c["KZ-KDE-subsample-between"].summary}.)
- **The smallest $h$ and $n$.** With $h$ = {shrink_h:g} and $n$ = {shrink_n} the fixed point $(n-1)h^2$ =
  {(shrink_n - 1) * shrink_h**2:.3g} lies {"below" if (shrink_n - 1) * shrink_h**2 < shrink[0] else "above"} the
  moons' variance, and under replace the data variance goes from {shrink[0]:.3g} to {shrink[-1]:.3g} over the run:
  there a replace KDE {"shrinks" if shrink[-1] < shrink[0] else "does not shrink"}.
- **The lattice matters where $n$ and $h$ are small.** At $h$ = {min(bandwidths):g} and $n \le 100$ the lattice and
  the i.i.d. draw differ by more than 3 combined standard errors in {int((draws.z.abs() > 3).sum())} of {len(draws)}
  comparisons (table above; largest $|z|$ {draws.z.abs().max():.1f}); the draw, not collapse, is what moves them.
- **Differences from [KZ].** Their code is public (`RylanSchaeffer/KoyejoLab-Collapse-or-Thrive`, seeds 0–99); our
  $(d, n)$ grid, {S["iterations"]} iterations, moons, circles and Swiss roll, and the way they are drawn are theirs;
  the seeds here are {S["seeds"]} for the Gaussian and {S["kde_seeds"]} for the KDE ({exp.mode} mode); our blobs
  have fixed centres (theirs change between training and test); our NLL is exact; the accumulate workflows are
  skipped where their growing pool would not fit the budget (paper mode runs them all).
""")
