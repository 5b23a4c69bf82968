"""``python -m collapse new NN_name``: a working skeleton of notebook NN and everything it needs.

It writes the four files a new notebook is made of — the notebook (paired ``.py`` and ``.ipynb``, with a kernelspec),
its study (job functions), its claims and a unit test — and adds its tables to the two data files that declare an
experiment: ``experiments.toml`` (notebook, job functions, work, data, its parameters' domains) and ``sizes.toml``
(smoke, full, paper, probe). The skeleton runs as it is: a fresh-alpha recursion of a 1-D Gaussian fit, with one
claim; replace both with the experiment. ``docs/extending.md`` follows it step by step.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from collapse.infra import config

NOTEBOOK = '''\
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
# # {number} · {title}
#
# The claim, in the paper's words, with a reference to [the papers' account](../docs/papers.md). (A skeleton: a 1-D
# Gaussian refitted to its own samples, with a fraction $\\alpha$ of fresh data each generation.)

# %% tags=["parameters"]
mode = None  # "smoke" | "full" | "paper"; None reads $COLLAPSE_MODE (default "full")
seed = 0
alphas = [0.1, 0.5, 0.9]  # fresh fractions
sizes = {{}}  # overrides of the size table for this mode: an exploration run, kept apart

# %%
import numpy as np
import xarray as xr

import collapse
from collapse.infra.jobs import run_jobs
from collapse.studies import {name} as study

exp = collapse.Experiment("{name}", mode, seed=seed, alphas=alphas, sizes=sizes)
S = exp.sizes


def compute(alphas, seed, sizes):
    jobs = [dict(alpha=a, seed=seed, n=sizes["n"], generations=sizes["generations"]) for a in alphas]
    runs = run_jobs(study.run_job, jobs, desc="{name}")
    return xr.Dataset({{"drift": (("alpha", "generation"), np.array([r["drift"] for r in runs]))}},
                      coords={{"alpha": alphas, "generation": np.arange(1, sizes["generations"] + 1)}})


result = exp.cached(compute, alphas=alphas, seed=seed, sizes=S)
dict(result.sizes)

# %% [markdown]
# ## Claims

# %%
exp.record_claims(result)
'''

STUDY = '''\
"""The job functions of notebooks/{number}_{name}.ipynb (a skeleton: replace with the experiment's)."""

from __future__ import annotations

import numpy as np


def run_job(alpha, seed, n, generations) -> dict:
    """A fresh-alpha recursion of a 1-D Gaussian fit: each generation fits mean and standard deviation to n points,
    a fraction alpha of them fresh N(0, 1) draws and the rest the previous fit's samples; ``drift`` is the squared
    distance of the fit (mean, std) to the data's (0, 1), per generation."""
    rng = np.random.default_rng([seed, round(1000 * alpha)])
    mean, std, drift = 0.0, 1.0, []
    for _ in range(generations):
        fresh = round(alpha * n)
        x = np.concatenate([rng.standard_normal(fresh), mean + std * rng.standard_normal(n - fresh)])
        mean, std = x.mean(), x.std()
        drift.append(mean**2 + (std - 1) ** 2)
    return {{"drift": np.array(drift)}}
'''

CLAIMS = '''\
"""The claims of notebooks/{number}_{name}.ipynb (a skeleton: one claim, to replace)."""

from collapse.claims import Claim, decreasing


def claims(result, parameters, sizes) -> list[Claim]:
    last = result.drift.isel(generation=-1)
    return [Claim(
        id="example-drift-order", paper="(the paper's reference)", kind="empirical",
        statement="the drift at the last generation is lower the larger the fresh fraction alpha",
        criterion="each step in alpha lowers the last generation's drift (one run: inconclusive without errors)",
        measured={{f"drift_alpha{{a:g}}": float(d) for a, d in zip(result.alpha.values, last.values)}},
        verdict=decreasing(last.values, [float("nan")] * last.size),
        summary=", ".join(f"{{float(d):.3g}}" for d in last.values),
        note="one run has no standard errors: several seeds (a size) would decide it")]
'''

TEST = '''\
"""notebooks/{number}_{name}.ipynb's job function at tiny size."""

import numpy as np

from collapse.studies import {name} as study


def test_run_job_returns_one_finite_drift_per_generation():
    drift = study.run_job(alpha=0.5, seed=0, n=20, generations=3)["drift"]
    assert drift.shape == (3,) and np.all(np.isfinite(drift))
'''

SIZES = '''
[{name}.smoke]
n = 50
generations = 3

[{name}.full]
n = 1000
generations = 20

[{name}.paper]
n = 10_000
generations = 50

[{name}.probe]
'''

DECLARATION = '''
[{name}]
notebook = "{number}_{name}.ipynb"
part = "(what of the papers it reproduces)"
jobs = ["collapse.studies.{name}.run_job"]
work = {{ flops = "2 * len(alphas) * generations * n" }}

[{name}.domains]
seed = "seed"
alphas = "fraction"
'''


def new(spec: str, root: Path = config.ROOT) -> list[Path]:
    """Write the skeleton of notebook ``spec`` (``NN_name``) under ``root``; the paths written or extended."""
    match = re.fullmatch(r"(\d\d)_([a-z][a-z0-9_]*)", spec)
    if not match:
        raise SystemExit(f"new {spec!r}: give NN_name, two digits and a lower-case name, e.g. 08_stopping_collapse")
    number, name = match.groups()
    lib = root / "lib" / "collapse"
    taken = [p for p in (root / "notebooks" / f"{spec}.ipynb", lib / "studies" / f"{name}.py")
             if p.exists()] + [f"notebook {number}" for p in (root / "notebooks").glob(f"{number}_*.ipynb")]
    if taken or name in config.experiments():
        raise SystemExit(f"new {spec}: {taken or [name]} exist(s) already; choose another number or name")
    fields = {"number": number, "name": name, "title": name.replace("_", " ").capitalize()}
    written = {root / "notebooks" / f"{spec}.py": NOTEBOOK, lib / "studies" / f"{name}.py": STUDY,
               lib / "claims" / f"{name}.py": CLAIMS, root / "tests" / f"test_{name}.py": TEST}
    for path, template in written.items():
        path.write_text(template.format(**fields))
    _write_notebook(root / "notebooks" / f"{spec}.py")
    extended = {lib / "infra" / "sizes.toml": SIZES, lib / "infra" / "experiments.toml": DECLARATION}
    for path, template in extended.items():
        path.write_text(path.read_text().rstrip("\n") + "\n" + textwrap.dedent(template.format(**fields)))
    return [*written, root / "notebooks" / f"{spec}.ipynb", *extended]


def _write_notebook(paired: Path) -> None:
    """The .ipynb of a py:percent file, cleared, with the kernelspec papermill needs."""
    import jupytext

    notebook = jupytext.read(paired)
    notebook.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    jupytext.write(notebook, paired.with_suffix(".ipynb"))
