"""Does notebook 04's U-Net still learn when trained under bfloat16 autocast?

benchmarks/unet.py times a training step under bfloat16 autocast at 1.5-1.6x float32 on a CPU with AVX-512; this
checks what those steps learn. The full-mode network (widths 16, 32; 14 x 14; 1500 real images; batch 128; peak
learning rate 3e-3) is trained for 15 epochs from the same initialisation and data order in float32 and under
autocast, and each is sampled (300 images, 50 steps) in both precisions: the training loss per epoch, and the mean,
spread and share of saturated pixels (|x| > 0.99) of the samples against the real images'.

Run: .venv/bin/python scripts/ddpm_bfloat16_training.py   (about a minute; writes scripts/ddpm_bfloat16_training.json)
"""
import json
from pathlib import Path

import numpy as np
import torch

from collapse.infra import probe
from collapse.models.ddpm import DDPM
from collapse.studies import images

RECORD = Path(__file__).with_suffix(".json")


def pixels(x) -> dict:
    return {"mean": round(float(x.mean()), 3), "std": round(float(x.std()), 3),
            "saturated": round(float(np.mean(np.abs(x) > 0.99)), 3)}


def trained(autocast: bool, real) -> dict:
    model = DDPM(channels=(16, 32), batch=128, lr=3e-3, base_epochs=15, sample_steps=50, seed=0)
    with torch.autocast("cpu", torch.bfloat16) if autocast else torch.autocast("cpu", enabled=False):
        model.fit(real)
    out = {"loss_per_epoch": [round(v, 3) for v in model.losses]}
    for precision in (False, True):
        model.sample_bfloat16 = precision
        out[f"samples, {'bfloat16' if precision else 'float32'} sampling"] = pixels(
            model.sample(300, np.random.default_rng(0)))
    return out


if __name__ == "__main__":
    real, _ = images.real_images(14, 1500)
    record = {"machine": probe.machine(), "real images": pixels(real),
              **{f"trained in {'bfloat16 autocast' if a else 'float32'}": trained(a, real) for a in (False, True)}}
    RECORD.write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps(record, indent=1))
