"""A cost model before a long run: ``python -m collapse plan --mode paper``.

Each notebook's work is counted in the unit its inner loop spends its time on (:data:`UNITS`), from the mode's sizes
and the notebook's default parameters; each unit's rate is measured here, on this machine, by a short benchmark of
the library's own code (a second or two each, one thread); the expected time is work / rate, for one core and spread
over this machine's job workers. Torch units are measured on a GPU too when one is visible. Where a committed
full-mode result recorded its compute time, the table shows it beside the prediction, so the model's error is in
plain view rather than assumed.
"""

from __future__ import annotations

import json
import math
import time

import numpy as np

from collapse.infra import config

UNITS = {
    "pairs": "mixture-score pair evaluations (a query against a component: the kernel of notebooks 00, 03, 06, 07)",
    "grid": "grid-transition weights (one exp per grid point and neighbour per step: notebooks 01, 02)",
    "paths": "1-D path steps of a two-component mixture sampler (notebook 01's simulation route)",
    "unet": "U-Net image passes at the mode's widths and resolution (a training image counts 3: forward, backward)",
    "tokens": "transformer token passes at the mode's width (a training token counts 3)",
    "flops": "float64 multiply-adds in BLAS (notebook 06's Gaussian fits)",
}
TORCH_UNITS = ("unet", "tokens")


# ---------------------------------------------------------------------------------------------- work per notebook
def _grid_width(steps: int, grid_points: int, T: float = 4.0, t0: float = 0.02, span: float = 16.0) -> int:
    """Neighbours per grid point of a propagation step (collapse.core.grid's band of _WIDTH standard deviations)."""
    from collapse.core.grid import _WIDTH

    return 2 * math.ceil(_WIDTH * math.sqrt((T - t0) / steps) / (span / (grid_points - 1))) + 1


def work(experiment: str, mode: str) -> dict[str, float]:
    """The notebook's work per unit of :data:`UNITS`, at ``mode``'s sizes and its default parameters: the expressions
    its declaration gives (``experiments.toml``), evaluated with the sizes and defaults by name."""
    if experiment not in config.experiments():
        raise KeyError(f"experiment={experiment!r} has no declaration; add one to {config.EXPERIMENTS_FILE} "
                       f"(python -m collapse new NN_name writes it)")
    declared = config.experiments()[experiment]
    sizes, defaults = config.sizes(experiment, mode), config.notebook_defaults(experiment)
    names = {**defaults, **sizes, "sizes": sizes, "defaults": defaults, "t": config.training(experiment, mode),
             **HELPERS}
    return {unit: float(eval(expression, {"__builtins__": {"len": len, "sum": sum, "range": range}}, names))
            for unit, expression in declared.get("work", {}).items()}


def image_passes(s: dict, p: dict) -> float:
    """Notebook 04: training (3 passes an image), sampling (a pass per image and step), observation paths."""
    arms, later = len(set(p["alphas"]) | {1.0}), s["generations"] - 1
    train = 3 * s["n"] * (s["base_epochs"] + arms * later * s["epochs"])
    sample = s["n"] * (s["sample_steps"] + 1) * (1 + arms * later)
    observe = (1 + arms * later) * s["paths"] * s["obs_steps"]
    ablation = s["ablation_paths"] * s["obs_steps"] * (1 + 2 * len(p["betas"]))
    return s["seeds"] * (train + sample) + observe + ablation


def gaussian_flops(s: dict) -> float:
    """Notebook 06's covariance fits: pool size x d^2 per seed and generation; the accumulate pool grows."""
    it, flops = s["iterations"], 0.0
    for d in s["dims"]:
        for n in s["ns"]:
            flops += s["seeds"] * d**2 * n * it * 2  # replace and accumulate-subsample
            if n * d**2 <= s["max_pool_cost"]:
                flops += s["seeds"] * d**2 * n * it * (it + 1) / 2  # accumulate
    return flops


def kde_pairs(s: dict, p: dict) -> float:
    """Notebook 06's exact test NLL of the KDE every ``nll_every`` generations: test points x pool, per seed."""
    evaluated = range(0, s["kde_iterations"] + 1, s["nll_every"])
    return (len(p["datasets"]) * len(p["bandwidths"]) * s["kde_seeds"] * s["test_points"] * sum(s["kde_ns"])
            * sum(g + 3 for g in evaluated))


HELPERS = {"grid_width": _grid_width, "image_passes": image_passes, "gaussian_flops": gaussian_flops,
           "kde_pairs": kde_pairs}
"""What a work expression of ``experiments.toml`` may call besides the sizes and defaults."""


# ---------------------------------------------------------------------------------------------- rates
def _rate(count: float, fn, repeats: int = 3) -> float:
    """``count`` units per second of ``fn``, the best of ``repeats`` runs after a warm-up."""
    fn()
    return count / min(_seconds(fn) for _ in range(repeats))


def _seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure_rates(mode: str, device: str = "cpu") -> dict[str, float]:
    """Units per second on one thread of this machine (``device="cuda"``: the torch units on the GPU)."""
    import torch

    rates = {}
    if device == "cpu":
        rates.update(_numpy_rates())
    rates["unet"] = _unet_rate(mode, torch.device(device))
    rates["tokens"] = _token_rate(mode, torch.device(device))
    return rates


def _numpy_rates() -> dict[str, float]:
    from collapse.core.diffusion import SamplerConfig, reverse_sde
    from collapse.core.grid import normal_density, propagate
    from collapse.core.mixture import GaussianMixture

    rng = np.random.default_rng(0)
    mixture = GaussianMixture(rng.standard_normal((2000, 10)), 0.36)
    queries = rng.standard_normal((2000, 10))
    x, config_ = np.linspace(-8, 8, 801), SamplerConfig(4.0, 0.02, 20)
    line = GaussianMixture(np.array([[-1.0], [1.0]]), 0.25)
    matrix = rng.standard_normal((500, 500))
    return {
        "pairs": _rate(2000 * 2000, lambda: mixture.score(queries, 0.5)),
        "grid": _rate(20 * 801 * _grid_width(20, 801), lambda: propagate(x, normal_density(x), line.score, config_)),
        "paths": _rate(20 * 20_000, lambda: reverse_sde(line.score, rng.standard_normal((20_000, 1)), rng, config_)),
        "flops": _rate(500**3, lambda: matrix @ matrix),
    }


def _unet_rate(mode: str, device) -> float:
    """Image passes per second: one training step of the mode's U-Net on a batch, counted as 3 passes an image."""
    import torch

    from collapse.models.ddpm import UNet

    t = config.training("image_recursive_diffusion", mode)
    r = config.sizes("image_recursive_diffusion", mode)["resolution"]
    net = UNet(tuple(t["channels"])).to(device)
    x, position = torch.randn(t["batch"], 1, r, r, device=device), torch.rand(t["batch"], device=device) * 1000
    optimiser = torch.optim.AdamW(net.parameters())

    def step():
        loss = net(x, position).square().mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if device.type == "cuda":
            torch.cuda.synchronize()

    return _rate(3 * t["batch"], step, repeats=2)


def _token_rate(mode: str, device) -> float:
    """Token passes per second: one training step of the mode's transformer, counted as 3 passes a token."""
    import torch
    from torch.nn import functional as F

    from collapse.models.lm import _GPT, TransformerLM

    t = config.training("language_model_collapse", mode)
    block = config.sizes("language_model_collapse", mode)["block"]
    lm = TransformerLM(width=t["width"])  # the notebook's depth and heads: the learner's defaults
    net = _GPT(lm.vocab, block, lm.width, lm.layers, lm.heads).to(device)
    tokens = torch.randint(0, lm.vocab, (t["batch"], block), device=device)
    optimiser = torch.optim.AdamW(net.parameters())

    def step():
        loss = F.cross_entropy(net(tokens).flatten(0, 1), tokens.flatten())
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if device.type == "cuda":
            torch.cuda.synchronize()

    return _rate(3 * t["batch"] * block, step)


# ---------------------------------------------------------------------------------------------- the table
def measured_core_seconds(experiment: str) -> float | None:
    """The committed full-mode result's compute time in core-seconds, to set beside the one-core prediction: its
    jobs' recorded seconds, else its wall time times the job workers if it computed rather than read its jobs back
    (over a minute); None if neither is known."""
    sidecar = config.ROOT / "data" / "results" / experiment / "compute.json"
    if not sidecar.exists():
        return None
    recorded = json.loads(sidecar.read_text())
    if recorded.get("jobs_s"):
        return float(recorded["jobs_s"])
    wall = recorded.get("wall_time_s", 0.0)
    return wall * config.default_workers() if wall > 60 else None


def plan(mode: str, rates: dict | None = None, full_rates: dict | None = None) -> tuple[list[dict], dict]:
    """One row per notebook, and the CPU rates used (measured now unless given). A row holds the work per unit and
    the expected seconds: on one core by the model, on this machine's job workers calibrated by the notebook's last
    full-mode run (the model's time times measured / modelled in full mode: the overheads the units leave out), on a
    GPU (torch units; None when no GPU is visible), and the full-mode run's core-seconds where known."""
    import torch

    rates = rates or measure_rates(mode)
    full_rates = full_rates or (rates if mode == "full" else measure_rates("full"))
    gpu = measure_rates(mode, "cuda") if torch.cuda.is_available() else None
    workers = config.default_workers()
    rows = []
    for experiment, notebook in config.NOTEBOOKS.items():
        units = work(experiment, mode)
        one_core = _seconds_at(units, rates)
        modelled_full, measured = _seconds_at(work(experiment, "full"), full_rates), measured_core_seconds(experiment)
        factor = measured / modelled_full if measured and modelled_full else None
        rows.append({"notebook": notebook[:2], "experiment": experiment, "work": units, "one_core_s": one_core,
                     "machine_s": one_core * factor / workers if factor else None,
                     "gpu_s": _seconds_at(units, {**rates, **gpu}) if gpu else None,
                     "measured_core_s": measured, "factor": factor})
    return rows, rates


def _seconds_at(units: dict, rates: dict) -> float:
    return sum(count / rates[unit] for unit, count in units.items())


def render(rows: list[dict], rates: dict, mode: str) -> str:
    """The plan as a text table, with the rates it used."""
    def duration(seconds):
        if seconds is None:
            return "—"
        for unit, size, above in (("d", 86400, 172800), ("h", 3600, 5400), ("min", 60, 90)):
            if seconds >= above:
                return f"{seconds / size:.1f} {unit}" if unit != "min" else f"{seconds / size:.0f} min"
        return f"{seconds:.0f} s"

    lines = [f"plan for mode {mode!r} on {config.default_workers()} job workers of this machine "
             f"(rates measured now, one thread each)", "",
             f"{'notebook':<32} {'work':<44} {'model, 1 core':>13} {'full run / model':>16} {'machine':>8} "
             f"{'GPU':>8}"]
    for r in rows:
        work_text = ", ".join(f"{count:.2g} {unit}" for unit, count in r["work"].items()) or "opt-in (not planned)"
        factor = f"{r['factor']:.1f}x" if r["factor"] else "—"
        lines.append(f"{r['notebook'] + ' ' + r['experiment']:<32} {work_text:<44} {duration(r['one_core_s']):>13} "
                     f"{factor:>16} {duration(r['machine_s']):>8} {duration(r['gpu_s']):>8}")
    total = sum(r["machine_s"] or 0.0 for r in rows)
    lines += ["", f"total on this machine, one notebook at a time: {duration(total)} (calibrated rows)",
              "full run / model: the committed full-mode result's core-seconds (recorded job seconds, else wall time "
              "x workers) over the model's full-mode time; machine = model x that factor / workers",
              "GPU: " + ("the torch units measured on the visible GPU, the rest on this CPU, uncalibrated" if any(
                  r["gpu_s"] is not None for r in rows) else "not measured (no GPU visible here)"),
              "units: " + "; ".join(f"{unit} = {text}" for unit, text in UNITS.items())]
    lines.append("rates (per second, one thread): " + ", ".join(f"{u} {v:.3g}" for u, v in rates.items()))
    return "\n".join(lines)
