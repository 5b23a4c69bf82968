"""Which continued-training protocol keeps notebook 04's alpha = 1 control where generation 0 left it?

The control retrains each generation's network on fresh real images only, so its drift measures the retraining
protocol itself. In the committed run (each generation a fresh AdamW at generation 0's peak learning rate, a
fresh cosine schedule over 30 epochs, the EMA carried) its FID jumps after the first retraining. Here each seed's
generation 0 is trained once at full-mode sizes, and the control chain is continued from it under each protocol
(the learning rate of every later fit; the schedule, optimiser reset and EMA carried as today; one protocol also
warms the learning rate up linearly over the first 10 % of each later fit, since a fresh AdamW's first steps are
full-size in every coordinate), measured as the notebook measures it: FID and Gaussian KL of the classifier's
features against the real test set, 1000 samples.

Run: .venv/bin/python scripts/ddpm_control_study.py [seeds]   (each generation 0 and each chain is a cached job,
so a rerun prints at once; prints one JSON line per chain and writes scripts/ddpm_control_study.json)
"""
import copy
import json
import math
import os
import sys
from pathlib import Path
from unittest import mock

import numpy as np
import torch
import xarray as xr

from collapse.infra import config, probe
from collapse.infra.jobs import run_jobs
from collapse.studies import images

RECORD = Path(__file__).with_suffix(".json")
EXPERIMENT, MODE = "image_recursive_diffusion", os.environ.get("COLLAPSE_MODE", "full")
# today's protocol (every fit at 3e-3) is the committed result's control, for these same seeds and generations 0
PROTOCOLS = {"restart at 1e-3": 1e-3, "restart at 3e-4": 3e-4}
WARMED = {"restart at 3e-4, 10 % warm-up": 3e-4}
WARMUP = 0.1


def setting():
    """The notebook's full-mode chain arguments and the feature space, as its compute() builds them."""
    sizes, training = config.sizes(EXPERIMENT, MODE), config.training(EXPERIMENT, MODE)
    defaults = config.notebook_defaults(EXPERIMENT)
    train, labels = images.real_images(sizes["resolution"], sizes["train_count"])
    test, _ = images.real_images(sizes["resolution"], split="test")
    classifier = images.train_classifier(train, labels, sizes["classifier_epochs"], defaults["seed"])
    space = images.FeatureSpace(classifier, test, defaults["feature_dims"])
    # float32 sampling, as the study ran; each protocol sets the continued learning rate
    ddpm = images.ddpm_arguments({**training, "sample_bfloat16": False}, sizes, **{
        k: defaults[k] for k in ("dropout", "weight_decay", "ema", "T", "t0")})
    chain = dict(ddpm=ddpm, space=space, **{k: sizes[k] for k in ("n", "resolution", "train_count", "metric_samples",
                                                                  "grid")})
    return chain, sizes["generations"]


def control(chain: dict, generations: int, start, lr: float, seed: int) -> dict:
    """The alpha = 1 chain continued from generation 0's state with every later fit at learning rate ``lr``."""
    start = copy.deepcopy(start)
    start.learner.continue_lr = lr
    metrics, _ = images.run_chain(alpha=1.0, generations=generations, seed=seed, start=start, **chain)
    return {k: [float(v) for v in metrics[k]] for k in ("fid", "kl", "loss")}  # per generation, 0 included


def warmed_cosine(optimiser, T_max):
    """The fit's cosine decay, times a linear warm-up over its first WARMUP share of steps."""
    warm = max(1, round(WARMUP * T_max))
    return torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: min(1.0, (step + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(step, T_max) / T_max)))


def control_warmed(chain: dict, generations: int, start, lr: float, seed: int) -> dict:
    """:func:`control` with every later fit's schedule warmed up (a study-only replacement of the library's)."""
    with mock.patch.object(torch.optim.lr_scheduler, "CosineAnnealingLR", warmed_cosine):
        return control(chain, generations, start, lr, seed)


if __name__ == "__main__":
    seeds = range(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
    chain, generations = setting()
    firsts = run_jobs(images.run_one, [dict(kind="chain", job=dict(alpha=1.0, generations=1, seed=s, **chain))
                                       for s in seeds], desc="generation 0")
    rows = []
    for fn, protocols in ((control, PROTOCOLS), (control_warmed, WARMED)):
        jobs = [dict(chain=chain, generations=generations, start=first[1], lr=lr, seed=s)
                for s, first in zip(seeds, firsts) for lr in protocols.values()]
        runs = run_jobs(fn, jobs, desc="controls")
        rows += [dict(protocol=name, seed=s, **run)
                 for (s, name), run in zip([(s, name) for s in seeds for name in protocols], runs)]
    for row in rows:
        print(json.dumps(row))
    summary = {name: {key: np.round(np.mean([r[key] for r in rows if r["protocol"] == name], axis=0), 3).tolist()
                      for key in ("fid", "kl")} for name in {**PROTOCOLS, **WARMED}}
    committed = xr.open_dataset(config.canonical_dirs(EXPERIMENT, "full")[0] / "compute.nc").sel(alpha=1.0)
    today = [dict(protocol="restart at 3e-3 (today; the committed result)", seed=s,
                  **{k: committed[k].sel(seed=s).values.tolist() for k in ("fid", "kl")}) for s in seeds]
    RECORD.write_text(json.dumps(dict(machine=probe.machine(), mode=MODE, seeds=list(seeds), rows=today + rows,
                                      mean_over_seeds=summary), indent=1) + "\n")
    print(json.dumps(summary, indent=1))
