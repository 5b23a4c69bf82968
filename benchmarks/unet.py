"""The image experiment's U-Net: images per second and the fraction of this machine's bound, per variant.

At notebook 04's full-mode sizes (14 x 14 images, channels from training.toml, its batch for training, the
sampler's chunk of 500 images for sampling), on one thread as its job workers run, this times

1. one training step (forward, backward, AdamW step) and one sampling step (the EMA network's noise prediction
   in inference mode), in images per second;
2. the bound: every convolution and linear layer of the network timed alone at the shape it sees in the step
   (forward, and for training its backward too), with torch's own kernels at float32. Their sum is the time the
   step would take if all else (normalisation, activations, the optimiser, the glue between them) were free, so
   bound images/s = images / that sum, and the fraction of the bound = measured / bound. The layers' flops per
   image (torch's flop counter) over that sum give the rate torch's kernels reach at these small shapes, printed
   beside a square float32 GEMM's for scale;
3. the variants torch offers, each against the baseline measured in the same round: channels_last memory format,
   bfloat16 autocast (where the CPU has AVX512-BF16 or AMX), torch.compile (its one-off compile time printed), and
   the sampler's chunk size; and one process on two threads against one, for the workers' thread placement.

This machine's speed drifts by tens of per cent between minutes, so each variant is timed in rounds alternating
with the baseline and the median ratio is printed. Nothing here changes the library: a variant that pays is
adopted in `collapse.models.ddpm` with a recompute of notebook 04 (its numbers would move).

Run: .venv/bin/python benchmarks/unet.py   (or `make bench`)
"""

import contextlib
import datetime
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from kde_score import machine  # this folder is on the path of a benchmark run as a script
from torch.nn import functional as F
from torch.utils.flop_counter import FlopCounterMode

import collapse
from collapse.infra import config
from collapse.models.ddpm import UNet

ROUNDS = 5
RECORD = Path(__file__).with_suffix(".json")  # the README's speed section is rendered from it
SETTINGS = config.training("image_recursive_diffusion", "full")
RESOLUTION = config.sizes("image_recursive_diffusion", "full")["resolution"]
CHUNK = 500  # DDPM.score's default chunk


def fastest(fn, passes: int) -> float:
    """Seconds of ``fn``'s fastest run in ``passes`` (after one untimed warm-up run)."""
    fn()
    times = []
    for _ in range(passes):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


class Step:
    """One training step or one sampling pass of a fresh U-Net at the notebook's sizes, in a given variant."""

    def __init__(self, kind: str, batch: int, memory=torch.contiguous_format, autocast: bool = False,
                 compiled: bool = False):
        torch.manual_seed(0)
        self.kind, self.batch, self.autocast = kind, batch, autocast
        self.net = UNet(tuple(SETTINGS["channels"])).to(memory_format=memory)
        self.x = torch.randn(batch, 1, RESOLUTION, RESOLUTION).to(memory_format=memory)
        self.position = torch.rand(batch) * 1000
        self.optimiser = torch.optim.AdamW(self.net.parameters(), lr=SETTINGS["lr"])
        self.net.train(kind == "train")
        self.forward = torch.compile(self.net) if compiled else self.net
        start = time.perf_counter()
        if compiled:
            self()  # the first call compiles
        self.compile_s = time.perf_counter() - start

    def __call__(self):
        context = torch.autocast("cpu", torch.bfloat16) if self.autocast else contextlib.nullcontext()
        if self.kind == "sample":
            with torch.inference_mode(), context:
                return self.forward(self.x, self.position)
        with context:
            loss = F.mse_loss(self.forward(self.x, self.position).float(), self.x)
        self.optimiser.zero_grad(set_to_none=True)
        loss.backward()
        self.optimiser.step()

    def images_per_s(self, passes: int = 5) -> float:
        return self.batch / fastest(self, passes)


def layer_calls(step: Step) -> list:
    """(layer, input) for every convolution and linear layer the step's forward calls, in order."""
    calls = []
    hooks = [m.register_forward_pre_hook(lambda m, args: calls.append((m, args[0].detach().clone())))
             for m in step.net.modules() if isinstance(m, torch.nn.Conv2d | torch.nn.Linear)]
    with torch.no_grad():
        step.net(step.x, step.position)
    for hook in hooks:
        hook.remove()
    return calls


def bound_seconds(step: Step, passes: int = 5) -> float:
    """Seconds of the step's convolutions and linear layers alone, each at its own input (forward; for training
    with the backward to its input and weights), float32: the step's time were everything else free."""
    total = 0.0
    for layer, x in layer_calls(step):
        total += fastest(layer_alone(layer, x, step.kind), passes)
    return total


def layer_alone(layer, x, kind: str):
    """A call of ``layer`` on ``x``: inference for sampling, forward and backward for training."""
    if kind == "sample":
        def infer():
            with torch.inference_mode():
                layer(x)
        return infer
    x = x.requires_grad_()
    return lambda: layer(x).sum().backward()


def flops_per_image(step: Step) -> float:
    """The step's flops per image by torch's counter (convolutions and matrix products, forward and backward)."""
    counter = FlopCounterMode(display=False)
    with counter:
        if step.kind == "sample":
            with torch.no_grad():
                step.net(step.x, step.position)
        else:
            step.net(step.x, step.position).sum().backward()
    return counter.get_total_flops() / step.batch


def square_gemm_flops() -> float:
    a = torch.randn(1000, 1000)
    return 2e9 / fastest(lambda: a @ a, 5)


def bf16_supported() -> bool:
    return torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()


def ratios(make_variant, make_baseline) -> float:
    """The variant's images/s over the baseline's, the median of ROUNDS rounds timed back to back."""
    variant, baseline = make_variant(), make_baseline()
    return float(np.median([variant.images_per_s(3) / baseline.images_per_s(3) for _ in range(ROUNDS)]))


def measure(kind: str, batch: int) -> dict:
    base = Step(kind, batch)
    rounds = [(base.images_per_s(), batch / bound_seconds(base)) for _ in range(ROUNDS)]
    fractions = [rate / bound for rate, bound in rounds]
    median = int(np.argsort(fractions)[ROUNDS // 2])
    rate, bound = rounds[median]
    flops = flops_per_image(base)
    found = dict(images_per_s=rate, bound_images_per_s=bound, fraction=float(np.median(fractions)),
                 fraction_low=min(fractions), fraction_high=max(fractions), flops_per_image=flops,
                 layer_flops_per_s=flops * bound)
    found["channels_last"] = ratios(lambda: Step(kind, batch, torch.channels_last), lambda: Step(kind, batch))
    if bf16_supported():
        found["bfloat16"] = ratios(lambda: Step(kind, batch, autocast=True), lambda: Step(kind, batch))
    compiled = Step(kind, batch, compiled=True)
    found["compile_s"] = compiled.compile_s
    found["compiled"] = ratios(lambda: compiled, lambda: Step(kind, batch))
    return found


def two_threads(kind: str, batch: int) -> float:
    """Images/s of one process on two threads over one thread (two one-thread workers would give 2.0)."""
    step = Step(kind, batch)
    one = step.images_per_s()
    torch.set_num_threads(2)
    two = step.images_per_s()
    torch.set_num_threads(1)
    return two / one


if __name__ == "__main__":
    collapse.set_threads(1)
    record = dict(machine=machine(), cores=os.cpu_count(), date=datetime.date.today().isoformat(),
                  torch=torch.__version__, resolution=RESOLUTION, channels=SETTINGS["channels"],
                  batch=SETTINGS["batch"], chunk=CHUNK, rounds=ROUNDS, square_gemm_flops=square_gemm_flops())
    print(f"U-Net {SETTINGS['channels']} at {RESOLUTION} x {RESOLUTION}, one thread, float32 unless stated; "
          f"square GEMM {record['square_gemm_flops']:.3g} flop/s")
    for kind, batch in (("train", SETTINGS["batch"]), ("sample", CHUNK)):
        found = record[kind] = measure(kind, batch)
        print(f"{kind} ({batch} images a step): {found['images_per_s']:.0f} images/s; bound "
              f"{found['bound_images_per_s']:.0f} images/s (its layers alone: {found['flops_per_image'] / 1e6:.1f} "
              f"Mflop/image at {found['layer_flops_per_s']:.3g} flop/s); fraction of the bound over {ROUNDS} "
              f"rounds: median {found['fraction']:.0%} "
              f"(range {found['fraction_low']:.0%}-{found['fraction_high']:.0%})")
        print(f"  against float32 in the same rounds: channels_last {found['channels_last']:.2f}x, "
              + (f"bfloat16 autocast {found['bfloat16']:.2f}x, " if "bfloat16" in found else "no bfloat16 here, ")
              + f"torch.compile {found['compiled']:.2f}x (compiling took {found['compile_s']:.0f} s)")
        found["two_threads"] = two_threads(kind, batch)
        print(f"  one process on two threads: {found['two_threads']:.2f}x one thread (two workers: 2x)")
    record["sample_chunks"] = {c: ratios(lambda c=c: Step("sample", c), lambda: Step("sample", CHUNK))
                               for c in (125, 250, 1000)}
    print("  sampling chunk against 500: " + ", ".join(f"{c}: {r:.2f}x" for c, r in record["sample_chunks"].items()))
    RECORD.write_text(json.dumps(record, indent=1) + "\n")
    print(f"recorded in {RECORD.relative_to(RECORD.parents[1])}")
