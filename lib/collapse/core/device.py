"""Where the torch computations run: the one setting that can change numbers without being an argument, so it
lives in the library's code (inside every key that reaches it) and each result records it in its provenance."""

from __future__ import annotations

import os


def compute_device():
    """The torch device of the mixture kernels: ``$COLLAPSE_DEVICE`` ("cpu" or "cuda"), default a GPU
    when one is present."""
    import torch

    name = os.environ.get("COLLAPSE_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")
    if name not in ("cpu", "cuda") or (name == "cuda" and not torch.cuda.is_available()):
        raise ValueError(f"COLLAPSE_DEVICE={name!r} is not available here; use 'cpu' or unset it")
    return torch.device(name)
