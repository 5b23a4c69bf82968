"""Character language models for the recursion: a smoothed n-gram model (numpy) and a small transformer (torch).

Both are learners for :func:`collapse.core.recursion.run_recursion`: ``fit(blocks)`` trains on an array of
character blocks (rows of codes into :data:`collapse.models.text.ALPHABET`), ``sample(n, rng)`` generates n new
blocks of the same length by ancestral sampling at temperature 1, each block from its own start
(as the training blocks are modelled). ``log_prob(blocks)`` returns the natural-log probability of
every character given the characters before it in its block, for perplexity and bits per character.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from collapse.models.text import ALPHABET


class NGramLM:
    """Character n-gram model with interpolated Witten-Bell smoothing.

    P_j(c | h) = (C(h c) + T(h) P_{j-1}(c | h')) / (C(h) + T(h)), h the last j characters, h' the last j - 1,
    T(h) the number of distinct characters seen after h; unseen contexts fall back to P_{j-1}, and P_{-1} is
    uniform. Counts are sorted key arrays, so fitting is ``np.unique`` and lookups are ``searchsorted``.
    """

    def __init__(self, order: int = 5, vocab_size: int = len(ALPHABET)):
        if order < 1:
            raise ValueError(f"order={order} must be at least 1")
        self.order, self.vocab = order, vocab_size
        self.tables: list | None = None
        self.block = None

    def _contexts(self, x: np.ndarray) -> list[np.ndarray]:
        """Context ids of every position for j = 0 .. order-1 characters of history, block start padded
        with an extra symbol; the most recent character is the lowest digit in base vocab + 1."""
        n, length = x.shape
        base, pad = self.vocab + 1, self.order - 1
        padded = np.concatenate([np.full((n, pad), self.vocab, np.int64), x.astype(np.int64)], axis=1)
        contexts, ctx = [np.zeros((n, length), np.int64)], np.zeros((n, length), np.int64)
        for k in range(1, self.order):
            ctx = ctx + padded[:, pad - k: pad - k + length] * base ** (k - 1)
            contexts.append(ctx)
        return contexts

    def fit(self, blocks: np.ndarray, validation: np.ndarray | None = None) -> NGramLM:
        """Count the blocks' n-grams (``validation`` is accepted for the learners' common interface; counting
        has no budget to stop early)."""
        blocks = np.asarray(blocks)
        self.block = blocks.shape[1]
        self.tables = []
        for ctx in self._contexts(blocks):
            keys, counts = np.unique((ctx * self.vocab + blocks).ravel(), return_counts=True)
            histories, first = np.unique(keys // self.vocab, return_inverse=True)
            self.tables.append((keys, counts, histories, np.bincount(first, counts), np.bincount(first)))
        return self

    def _prob(self, contexts, chars) -> np.ndarray:
        """P(chars | contexts), broadcasting ``chars`` against each context array."""
        p = np.full(np.broadcast_shapes(contexts[0].shape, np.shape(chars)), 1.0 / self.vocab)
        for ctx, (keys, counts, histories, totals, types) in zip(contexts, self.tables):
            seen = _lookup(keys, counts, ctx * self.vocab + chars)
            total, kinds = _lookup(histories, totals, ctx), _lookup(histories, types, ctx)
            p = np.where(total > 0, (seen + kinds * p) / np.maximum(total + kinds, 1), p)
        return p

    def log_prob(self, blocks: np.ndarray) -> np.ndarray:
        blocks = np.asarray(blocks)
        return np.log(self._prob(self._contexts(blocks), blocks))

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        out = np.zeros((n, self.block), np.uint8)
        chars = np.arange(self.vocab)
        for i in range(self.block):
            contexts = [c[:, i:i + 1] for c in self._contexts(out[:, : i + 1])]  # only position i is used
            p = self._prob(contexts, chars[None, :])
            out[:, i] = _draw(p, rng)
        return out


def _lookup(keys: np.ndarray, values: np.ndarray, query) -> np.ndarray:
    """values[keys == query], 0 where the query is absent (keys sorted)."""
    i = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
    return np.where(keys[i] == query, values[i], 0)


def _draw(p: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One index per row of ``p`` (rows summing to 1) by inverse-CDF sampling."""
    cdf = np.cumsum(p, axis=1)
    u = rng.random((len(p), 1)) * cdf[:, -1:]
    return np.minimum((cdf < u).sum(axis=1), p.shape[1] - 1)


def bits_per_char(log_probs) -> float:
    return float(-np.mean(log_probs) / math.log(2))


class _Block(nn.Module):
    """Pre-norm transformer block; attention with an optional key/value cache for sampling."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv, self.proj = nn.Linear(width, 3 * width), nn.Linear(width, width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))

    def forward(self, x, cache=None):
        b, t, w = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, t, 3, self.heads, w // self.heads).permute(2, 0, 3, 1, 4)
        if cache is not None:  # sampling: t = 1 new position attends to every earlier one
            if cache:
                k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)
            cache[:] = [k, v]
        y = F.scaled_dot_product_attention(q, k, v, is_causal=cache is None)
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, w))
        return x + self.mlp(self.norm2(x))


class _GPT(nn.Module):
    def __init__(self, vocab: int, length: int, width: int, layers: int, heads: int):
        super().__init__()
        self.token = nn.Embedding(vocab + 1, width)  # + a start symbol before each block
        self.position = nn.Embedding(length, width)
        self.blocks = nn.ModuleList(_Block(width, heads) for _ in range(layers))
        self.norm, self.head = nn.LayerNorm(width), nn.Linear(width, vocab)

    def forward(self, tokens, start=0, caches=None):
        x = self.token(tokens) + self.position(torch.arange(start, start + tokens.shape[1]))
        for i, block in enumerate(self.blocks):
            x = block(x, None if caches is None else caches[i])
        return self.head(self.norm(x))


class TransformerLM:
    """A small character transformer (GPT-style, pre-norm), trained from the same initialisation each
    generation (as [S] and [KZ] fine-tune the same base model each generation) with AdamW and a cosine
    learning rate, on batches of blocks drawn from the training set with the recursion's rng."""

    def __init__(self, vocab_size: int = len(ALPHABET), width: int = 96, layers: int = 2, heads: int = 4,
                 steps: int = 200, batch: int = 64, lr: float = 3e-3, seed: int = 0, eval_every: int = 20,
                 patience: int = 5):
        if width % heads:
            raise ValueError(f"width={width} must be a multiple of heads={heads}")
        if steps < 1:
            raise ValueError(f"steps={steps} must be at least 1: a transformer trains for at least one step")
        self.vocab, self.width, self.layers, self.heads = vocab_size, width, layers, heads
        self.steps, self.batch, self.lr, self.seed = steps, batch, lr, seed
        self.eval_every, self.patience = eval_every, patience
        self.net: _GPT | None = None
        self.block = None
        self.trained_steps = 0

    def fit(self, blocks: np.ndarray, validation: np.ndarray | None = None) -> TransformerLM:
        """Train for ``steps`` steps; with ``validation`` blocks, stop early: score them every ``eval_every``
        steps and stop after ``patience`` scores without improvement (a fixed budget overfits a few blocks and
        undertrains many). A run whose best score came at step s < ``steps`` is then trained again from the same
        initialisation for s steps, so that its one-cycle schedule anneals by the step it keeps (stopped weights
        sit mid-schedule, at a high learning rate)."""
        blocks = np.asarray(blocks)
        self.block = blocks.shape[1]
        self._train(blocks, validation, self.steps)
        if validation is not None and self.trained_steps < self.steps:
            self._train(blocks, None, self.trained_steps)
        self.net.eval()
        return self

    def _train(self, blocks: np.ndarray, validation: np.ndarray | None, steps: int) -> None:
        """``steps`` steps of AdamW under a one-cycle schedule sized to them; with ``validation``, the best weights
        scored, kept, and early stopping (see :meth:`fit`). Sets ``trained_steps``."""
        torch.manual_seed(self.seed)  # the same initialisation every generation
        self.net = _GPT(self.vocab, self.block, self.width, self.layers, self.heads)
        optimiser = torch.optim.AdamW(self.net.parameters(), lr=self.lr, weight_decay=0.01)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, self.lr, total_steps=steps, pct_start=0.1)
        order = np.random.default_rng([self.seed, len(blocks)]).integers(0, len(blocks), (steps, self.batch))
        data = torch.as_tensor(blocks, dtype=torch.long)
        best, best_bpc, stale = None, math.inf, 0
        self.net.train()
        for step, rows in enumerate(order, 1):
            target = data[rows]
            loss = F.cross_entropy(self.net(self._inputs(target)).flatten(0, 1), target.flatten())
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            if validation is not None and (step % self.eval_every == 0 or step == steps):
                score = bits_per_char(self.log_prob(validation))
                self.net.train()
                if not np.isfinite(score):
                    raise FloatingPointError(f"validation bits per character is {score} at step {step}: training "
                                             f"diverged; lower lr={self.lr}")
                if score < best_bpc:
                    best, best_bpc, best_step, stale = copy.deepcopy(self.net.state_dict()), score, step, 0
                elif (stale := stale + 1) >= self.patience:
                    break
        self.trained_steps = step
        if best is not None:
            self.net.load_state_dict(best)
            self.trained_steps = best_step

    def _inputs(self, target):
        start = torch.full((len(target), 1), self.vocab, dtype=torch.long)
        return torch.cat([start, target[:, :-1]], dim=1)

    @torch.no_grad()
    def log_prob(self, blocks: np.ndarray, chunk: int = 512) -> np.ndarray:
        self.net.eval()
        out = []
        for i in range(0, len(blocks), chunk):
            target = torch.as_tensor(np.asarray(blocks[i:i + chunk]), dtype=torch.long)
            logits = self.net(self._inputs(target))
            out.append(torch.log_softmax(logits, -1).gather(-1, target[..., None])[..., 0].double().numpy())
        return np.concatenate(out)

    @torch.no_grad()
    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        out = np.zeros((n, self.block), np.uint8)
        caches = [[] for _ in self.net.blocks]
        token = torch.full((n, 1), self.vocab, dtype=torch.long)
        for i in range(self.block):
            p = torch.softmax(self.net(token, start=i, caches=caches)[:, -1].double(), -1).numpy()
            out[:, i] = _draw(p, rng)
            token = torch.as_tensor(out[:, i:i + 1], dtype=torch.long)
        return out
