"""Compare the results store with the flat .npz results of an earlier commit (before the labelled store).

    python scripts/compare_legacy_results.py f6c4c13

For every array of the old ``data/results/<experiment>.npz`` it finds the same quantity in the new labelled
result (``data/results/<experiment>/compute.nc``) by name, and prints whether the values are identical, equal
to rounding (relative 1e-12) or different (with the largest relative difference). The mapping from old keys
to labelled selections is written out per experiment below; an old key with no counterpart is reported.
"""

from __future__ import annotations

import io
import re
import subprocess
import sys

import numpy as np
import xarray as xr

from collapse.core.recursion import Workflow
from collapse.infra.config import ROOT, notebook_defaults

RUNS = ("alpha", "run", "generation")


def old_arrays(rev: str, experiment: str) -> dict[str, np.ndarray]:
    blob = subprocess.run(["git", "show", f"{rev}:data/results/{experiment}.npz"], cwd=ROOT, check=True,
                          capture_output=True).stdout
    with np.load(io.BytesIO(blob)) as z:
        return {k: z[k] for k in z.files}


def new_result(experiment: str, name: str = "compute") -> xr.Dataset:
    with xr.open_dataset(ROOT / "data" / "results" / experiment / f"{name}.nc", engine="scipy") as ds:
        return ds.load()


def tour(key, new, p, old):
    if key == "samples":
        return new.samples.sel(alpha=p["alphas"])
    dims = ("alpha", "generation") if key.endswith("population") else RUNS
    return new[key].sel(alpha=p["alphas"]).transpose(*dims)


def single_generation(key, new, p, old):
    kind, rest = key.split("_", 1)
    if rest == "shapes":
        return new.sel(kind=kind).exact_eta.dropna("shape")["shape"].values  # now the shape coordinate
    shapes = [str(s) for s in old[f"{kind}_shapes"]]  # the old arrays follow the testbed's order of shapes
    order = {"shape": shapes, "error": shapes + [f"rho={r:g}" for r in p["rhos"]], "rho": p["rhos"]}
    value = new[rest].sel(kind=kind)
    return value.sel({dim: order[dim] for dim in value.dims if dim in order})


def error_accumulation(key, new, p, old):
    if key == "floor_0":
        return new.floor_no_forgetting
    name, alpha = re.fullmatch(r"(.+)_([\d.]+)", key).groups()
    return new[name].sel(alpha=float(alpha))


def gmm_recursive_diffusion(key, new, p, old):
    if key.startswith("steps_"):
        return new[key]
    if key == "shown":
        return new.shown.sel(alpha=p["alphas"])
    return new[key].sel(alpha=p["alphas"]).transpose(*RUNS)


def image_recursive_diffusion(key, new, p, old):
    if key.startswith("ablation_"):
        return new[key].transpose("perturbation", "beta")
    if key.startswith("floor_") or key in ("explained", "classifier_accuracy"):
        return new[key]
    return new[key].sel(alpha=p["alphas"])


def language_model_collapse(key, new, p, old):
    workflows = [Workflow("replace").label, Workflow("accumulate-subsample").label, Workflow("accumulate").label] \
        + [Workflow("fresh", a).label for a in p["alphas"]] + [Workflow("keep-fraction", p["keep"]).label]
    if key in ("validation_bpc",):
        return new[key]
    if key == "order":
        return new.ngram_order
    if key == "sensitivity_bpc":
        # the merged result holds every order of the validation study, NaN where the sensitivity did not run
        return new.sensitivity_bpc.dropna("order", how="all").sel(
            sensitivity_workflow=["replace", "accumulate-subsample", "accumulate"])
    name, rest = key.split("_", 1)
    runs = new.sel(learner=name).dropna("seed", how="all")
    if rest == "cardinality":
        return runs.cardinality_bpc
    if rest in ("real_scored", "real_coverage"):
        return runs[rest].isel(seed=0).sel(workflow="replace")
    return runs[rest].sel(workflow=workflows).transpose("seed", "workflow", ...)


def language_model_smollm(key, new, p, old):
    return new[key].sel(workflow=[Workflow("replace").label, Workflow("accumulate").label,
                                  Workflow("keep-fraction", p["keep"]).label])


def collapse_or_thrive(key, new, p, old):
    if m := re.fullmatch(r"gauss_(.+)_d(\d+)_n(\d+)_(\w+)", key):
        workflow, d, n, metric = m.groups()
        return new[f"gauss_{metric}"].sel(workflow=workflow, d=int(d), n=int(n))
    if m := re.fullmatch(r"unbiased_d(\d+)_n(\d+)_trace_ratio", key):
        return new.unbiased_trace_ratio.sel(n=int(m.group(2)))
    m = re.fullmatch(r"kde_(\w+?)_h([\d.]+)_n(\d+)_(.+)_(nll|variance)", key)
    dataset, h, n, workflow, metric = m.groups()
    return new[f"kde_{metric}"].sel(dataset=dataset, bandwidth=float(h), kde_n=int(n), workflow=workflow)


MAPPINGS = {"tour": tour, "single_generation": single_generation, "error_accumulation": error_accumulation,
            "gmm_recursive_diffusion": gmm_recursive_diffusion,
            "image_recursive_diffusion": image_recursive_diffusion,
            "language_model_collapse": language_model_collapse, "language_model_smollm": language_model_smollm,
            "collapse_or_thrive": collapse_or_thrive}
SOURCE = {"language_model_smollm": "compute_smollm"}


def compare(rev: str, experiment: str) -> dict[str, int]:
    old = old_arrays(rev, experiment)
    new = new_result(experiment, SOURCE.get(experiment, "compute"))
    parameters = notebook_defaults(experiment)
    counts = {"identical": 0, "equal to rounding": 0, "different": 0, "no counterpart": 0}
    for key, before in sorted(old.items()):
        try:
            after = MAPPINGS[experiment](key, new, parameters, old)
        except KeyError:  # a quantity the labelled result no longer keeps
            after = None
        if after is None:
            print(f"  {experiment}/{key}: no counterpart")
            counts["no counterpart"] += 1
            continue
        after = np.asarray(after)
        if before.dtype.kind in "USO":  # labels: compared as sets, since the new ones are coordinates
            verdict = "identical" if sorted(before.astype(str)) == sorted(after.astype(str)) else "different"
            counts[verdict] += 1
            continue
        before, after = before.astype(float), after.astype(float)
        if before.shape != after.shape:
            print(f"  {experiment}/{key}: shape {before.shape} -> {after.shape}")
            counts["different"] += 1
        elif np.array_equal(before, after, equal_nan=True):
            counts["identical"] += 1
        else:
            finite = np.isfinite(before) & np.isfinite(after)
            same_pattern = np.array_equal(np.isfinite(before), np.isfinite(after))
            # relative to the array's scale: quantities that decay to 1e-80 differ there by rounding alone
            scale = np.max(np.abs(before[finite])) if finite.any() else 0.0
            worst = float(np.max(np.abs(after[finite] - before[finite])) / scale) if scale > 0 else np.inf
            verdict = "equal to rounding" if worst <= 1e-12 and same_pattern else "different"
            counts[verdict] += 1
            if verdict == "different":
                print(f"  {experiment}/{key}: largest difference {worst:.3g} of the array's largest value")
    return counts


if __name__ == "__main__":
    rev = sys.argv[1] if len(sys.argv) > 1 else "f6c4c13"
    for experiment in sys.argv[2:] or MAPPINGS:
        try:
            counts = compare(rev, experiment)
        except (FileNotFoundError, subprocess.CalledProcessError) as err:
            print(f"{experiment}: not compared ({err})")
            continue
        print(f"{experiment}: " + ", ".join(f"{n} {verdict}" for verdict, n in counts.items() if n))
