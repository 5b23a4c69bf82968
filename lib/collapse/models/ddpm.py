"""A DDPM-style image diffusion model in the companion's OU time, as [K]'s image experiments describe it.

Network: a U-Net of residual blocks (GroupNorm, SiLU, dropout) with a sinusoidal time embedding, predicting the
noise eps of X_t = a_t X_0 + sigma_t eps under the same OU forward process as :mod:`collapse.core.diffusion`
(a_t = exp(-t/2), sigma_t^2 = 1 - a_t^2), so its score is -eps_theta / sigma_t. Trained with AdamW and a cosine
learning rate, sampled from an exponential moving average (EMA) of its weights.

The paper's noise schedule is unpublished; ours draws training times log-uniformly on [t0, T] (equal weight per
decade of noise variance, as sigma_t^2 ~ t for small t) and samples with the library's one reverse-SDE sampler
(:func:`collapse.core.diffusion.reverse_sde`) on a grid of ``sample_steps`` steps from T down to t0 equally spaced
in log SNR, then returns the denoised mean E[X_0 | Y_t0] (Tweedie), as DDPM samplers do at their last step.

:class:`DDPM` is a learner for :func:`collapse.core.recursion.run_recursion`: each generation continues training the
previous generation's network ([K]: a base budget, then a smaller budget per generation).
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from collapse.core.device import compute_device
from collapse.core.diffusion import SamplerConfig, ou_coefficient, ou_sigma, reverse_sde


def sinusoidal_embedding(position: torch.Tensor, dim: int) -> torch.Tensor:
    """The transformer / DDPM position embedding of a (batch,) tensor of positions in [0, 1000]."""
    half = dim // 2
    frequencies = torch.exp(-math.log(10_000) * torch.arange(half, device=position.device) / half)
    angles = position[:, None] * frequencies[None]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class ResBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, c_time: int, dropout: float, groups: int = 8):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(groups, c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.time = nn.Linear(c_time, c_out)
        self.norm2, self.conv2 = nn.GroupNorm(groups, c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.dropout = nn.Dropout(dropout)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x, emb):
        h = self.conv1(F.silu(self.norm1(x))) + self.time(emb)[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.skip(x) + h


class UNet(nn.Module):
    """Levels of ``channels`` (one residual block each, halving the resolution between levels), a middle of
    two residual blocks, and the mirror path with skip connections; predicts the noise of a (B, 1, r, r) batch."""

    def __init__(self, channels: tuple[int, ...] = (32, 64), dropout: float = 0.1):
        super().__init__()
        c0, c_time = channels[0], 4 * channels[0]
        self.embed = nn.Sequential(nn.Linear(c0, c_time), nn.SiLU(), nn.Linear(c_time, c_time))
        self.stem = nn.Conv2d(1, c0, 3, padding=1)
        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        previous = c0
        for i, c in enumerate(channels):
            self.down.append(ResBlock(previous, c, c_time, dropout))
            self.downsample.append(nn.Conv2d(c, c, 3, stride=2, padding=1) if i < len(channels) - 1 else nn.Identity())
            previous = c
        self.middle = nn.ModuleList([ResBlock(previous, previous, c_time, dropout) for _ in range(2)])
        self.up = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for i, c in reversed(list(enumerate(channels))):
            self.up.append(ResBlock(previous + c, c, c_time, dropout))
            self.upsample.append(nn.Conv2d(c, channels[i - 1], 3, padding=1) if i > 0 else nn.Identity())
            previous = channels[i - 1] if i > 0 else c
        self.head = nn.Sequential(nn.GroupNorm(8, previous), nn.SiLU(), nn.Conv2d(previous, 1, 3, padding=1))
        self.c0 = c0

    def forward(self, x, position):
        emb = self.embed(sinusoidal_embedding(position, self.c0))
        h, skips = self.stem(x), []
        for block, down in zip(self.down, self.downsample):
            h = block(h, emb)
            skips.append(h)
            h = down(h)
        for block in self.middle:
            h = block(h, emb)
        for block, up in zip(self.up, self.upsample):
            h = block(torch.cat([h, skips.pop()], dim=1), emb)
            if not isinstance(up, nn.Identity):
                h = up(F.interpolate(h, size=skips[-1].shape[-2:], mode="nearest"))
        return self.head(h)


class DDPM:
    """A U-Net DDPM learner: ``fit(images)`` trains (continuing from the last fit), ``sample(n, rng)`` generates.

    Images are (n, 1, r, r) float32 in [-1, 1]. The budget is in epochs over the training set: ``base_epochs``
    for the first fit at peak learning rate ``lr``, ``epochs`` for each later one at ``continue_lr`` (default
    ``lr``): each fit is a fresh AdamW with a fresh cosine schedule, the EMA carried, so a later fit at generation
    0's peak rate is a warm restart that moves a converged network as far as the new data do. ``sample_bfloat16``:
    :meth:`sample` under bfloat16 autocast (1.5x on a CPU with AVX-512; the same samples to three digits in mean,
    spread and saturated share); not :meth:`score`, whose differences the observability and ablation take, and not
    training, which under autocast stalled (loss 0.90 against float32's 0.28 after 15 epochs). All randomness
    comes from ``seed`` and the fit count (training) or from the ``rng`` handed to :meth:`sample`, so a pickled
    learner resumes exactly.
    """

    def __init__(self, channels=(32, 64), dropout=0.1, base_epochs=200, epochs=100, batch=128, lr=2e-4,
                 continue_lr=None, weight_decay=1e-4, ema=0.99, T=10.0, t0=1e-3, sample_steps=1000,
                 sample_bfloat16=False, seed=0):
        if not 0 < t0 < T:
            raise ValueError(f"need 0 < t0 < T; got t0={t0}, T={T}")
        if not 0 <= ema < 1:
            raise ValueError(f"ema={ema} must be in [0, 1)")
        self.channels, self.dropout = tuple(channels), dropout
        self.base_epochs, self.epochs, self.batch = base_epochs, epochs, batch
        self.lr, self.continue_lr = lr, lr if continue_lr is None else continue_lr
        self.weight_decay, self.ema_decay, self.sample_bfloat16 = weight_decay, ema, sample_bfloat16
        self.T, self.t0, self.sample_steps, self.seed = T, t0, sample_steps, seed
        self.net = self.ema = None
        self.fits = 0
        self.resolution = None
        self.losses: list[float] = []  # mean training loss per epoch of the last fit

    @property
    def device(self) -> torch.device:
        return compute_device()

    def position(self, t: torch.Tensor) -> torch.Tensor:
        """The network's time input: log t mapped linearly from [t0, T] to [0, 1000] (DDPM's step range)."""
        return 1000 * torch.log(t / self.t0) / math.log(self.T / self.t0)

    def fit(self, images: np.ndarray) -> DDPM:
        images = np.asarray(images, np.float32)
        if images.ndim != 4 or images.shape[1] != 1 or images.shape[2] != images.shape[3]:
            raise ValueError(f"images must be (n, 1, r, r); got shape {images.shape}")
        self.resolution, device = images.shape[-1], self.device
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(self.seed * 1000 + self.fits)  # initialisation, dropout, noise: one stream per fit
            generator = torch.Generator().manual_seed(self.seed * 1000 + self.fits)
            if self.net is None:
                self.net = UNet(self.channels, self.dropout).to(device)
                self.ema = copy.deepcopy(self.net).requires_grad_(False)
            first = self.fits == 0
            self._train(torch.as_tensor(images), self.base_epochs if first else self.epochs,
                        self.lr if first else self.continue_lr, generator)
        self.fits += 1
        return self

    def _train(self, data: torch.Tensor, epochs: int, lr: float, generator: torch.Generator):
        device, per_epoch = self.device, max(1, len(data) // self.batch)
        optimiser = torch.optim.AdamW(self.net.parameters(), lr=lr, weight_decay=self.weight_decay)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=epochs * per_epoch)
        log_span = math.log(self.T / self.t0)
        self.net.train()
        self.losses = []
        for _ in range(epochs):
            order = torch.randperm(len(data), generator=generator)[: per_epoch * self.batch].view(per_epoch, -1)
            total = 0.0
            for rows in order:
                x0 = data[rows].to(device)
                t = self.t0 * torch.exp(log_span * torch.rand(len(x0), generator=generator)).to(device)
                noise = torch.randn(x0.shape, generator=generator).to(device)
                x_t = ou_coefficient(t)[:, None, None, None] * x0 + ou_sigma(t)[:, None, None, None] * noise
                loss = F.mse_loss(self.net(x_t, self.position(t)), noise)
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                schedule.step()
                with torch.no_grad():
                    for e, p in zip(self.ema.parameters(), self.net.parameters()):
                        e.lerp_(p, 1 - self.ema_decay)
                total += loss.item()
            self.losses.append(total / per_epoch)
        self.net.eval()

    @torch.no_grad()
    def eps(self, x: torch.Tensor, t: float) -> torch.Tensor:
        """The EMA network's noise prediction for a (B, 1, r, r) batch at time t."""
        self.ema.eval()
        tt = torch.full((len(x),), t, device=x.device, dtype=torch.float32)
        return self.ema(x.float(), self.position(tt)).to(x.dtype)

    def score(self, chunk: int = 500) -> Callable:
        """The learned score on flattened (n, d) states, on their device: -eps_theta / sigma_t, in chunks (500
        images per pass ran 25 % faster per image than 1000 on a CPU core)."""
        def score(y: torch.Tensor, t: float) -> torch.Tensor:
            images = y.view(len(y), 1, *self.shape)
            out = torch.cat([self.eps(images[i:i + chunk].to(self.device), t).to(y.device)
                             for i in range(0, len(y), chunk)])
            return -out.view(len(y), -1) / ou_sigma(t)
        return score

    @property
    def shape(self) -> tuple[int, int]:
        if self.resolution is None:
            raise RuntimeError("the DDPM has not been fitted yet; call fit(images) first")
        return self.resolution, self.resolution

    def sample(self, n: int, rng: np.random.Generator, steps: int | None = None) -> np.ndarray:
        """n images by the reverse SDE from N(0, I) at T to t0, then the denoised mean at t0."""
        generator = torch.Generator(self.device).manual_seed(int(rng.integers(2**62)))
        d = self.shape[0] * self.shape[1]
        y = torch.randn((n, d), generator=generator, device=self.device)
        with torch.autocast(self.device.type, torch.bfloat16) if self.sample_bfloat16 else contextlib.nullcontext():
            y = reverse_sde(self.score(), y, generator, self.sampler(steps))
            return self.denoise(y, self.t0).view(n, 1, *self.shape).clamp(-1, 1).cpu().numpy()

    def sampler(self, steps: int | None = None) -> SamplerConfig:
        """The reverse-SDE grid: ``steps`` (default ``sample_steps``) from T to t0, even in log SNR."""
        return SamplerConfig(self.T, self.t0, steps or self.sample_steps, grid="log-snr")

    def denoise(self, y: torch.Tensor, t: float) -> torch.Tensor:
        """Tweedie: E[X_0 | X_t = y] = (y + sigma_t^2 score) / a_t, for flattened (n, d) states."""
        return (y + ou_sigma(t) ** 2 * self.score()(y, t)) / ou_coefficient(t)
