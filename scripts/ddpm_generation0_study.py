"""Which change makes notebook 04's generation-0 DDPM recognisable within the CPU budget (issue: a generation-0
model a reader recognises)? Each variant trains on n real 14 x 14 images, samples 1000, and is measured in the
notebook's classifier features against the real test set (FID, KL), with the classifier's mean top probability on
its samples (how recognisable they are; real test images score about 0.86).

Run: .venv/bin/python scripts/ddpm_generation0_study.py [variant ...]   (about 25 min for all six on 2 cores; each
variant is a cached job, so a rerun prints at once). Its findings chose full mode's generation 0: more optimisation
steps help most, width, EMA and sampler steps much less.
"""
import json
import sys
import time

import numpy as np
import torch

from collapse.infra import config
from collapse.infra.jobs import run_jobs
from collapse.models.ddpm import DDPM
from collapse.studies import images

BASE = dict(channels=(16, 32), dropout=0.1, base_epochs=60, epochs=30, batch=128, lr=3e-3, weight_decay=1e-4,
            ema=0.99, T=10.0, t0=1e-3, sample_steps=100)
VARIANTS = {
    "base n1500": dict(n=1500),
    "base n3000": dict(n=3000),
    "epochs 150 n1500": dict(n=1500, base_epochs=150),
    "channels 32-64 n1500": dict(n=1500, channels=(32, 64)),
    "ema 0.995 epochs 150 n1500": dict(n=1500, base_epochs=150, ema=0.995),
    "steps 200 n1500": dict(n=1500, sample_steps=200),
}


def confidence(classifier, x):
    with torch.no_grad():
        p = torch.softmax(classifier(torch.as_tensor(x, dtype=torch.float32)), 1)
    return float(p.max(1).values.mean())


def variant(name):
    config.set_threads(1)
    options = {**BASE, **VARIANTS[name]}
    n = options.pop("n")
    train, labels = images.real_images(14, 60_000)
    test, test_labels = images.real_images(14, split="test")
    classifier = images.train_classifier(train, labels, 3, 0)
    space = images.FeatureSpace(classifier, test, 10)
    start = time.perf_counter()
    model = DDPM(**options, seed=0).fit(train[:n])
    trained = time.perf_counter() - start
    samples = model.sample(1000, np.random.default_rng(1))
    m = space.measure(samples)
    floor = space.measure(train[-1000:])
    return {"variant": name, "train_s": round(trained), "total_s": round(time.perf_counter() - start),
            "fid": m["fid"], "kl": m["kl"], "floor_fid": floor["fid"], "confidence": confidence(classifier, samples),
            "real_confidence": confidence(classifier, test[:1000]), "classes": m["classes"].tolist(),
            "loss": model.losses[-1]}


if __name__ == "__main__":
    names = sys.argv[1:] or list(VARIANTS)
    for r in run_jobs(variant, [dict(name=n) for n in names], workers=2, desc="gen0"):
        print(json.dumps(r))
