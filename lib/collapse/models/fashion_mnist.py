"""Fashion-MNIST from its IDX files (gzip + numpy), the paper's image dataset.

The Debian package ``dataset-fashion-mnist`` installs the four files under /usr/share/datasets/fashion-mnist;
``$COLLAPSE_FASHION_MNIST`` points elsewhere. Images come back as uint8 arrays (n, 28, 28), labels as uint8 (n,),
6,000 training and 1,000 test images per class; :func:`to_model_scale` makes the (n, 1, r, r) float32 tensors in
[-1, 1] the networks use, optionally average-pooled to a lower resolution.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from collapse.models.data import FASHION_MNIST_HOWTO, fashion_mnist_dir

CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
SPLITS = {"train": "train", "test": "t10k"}
_MAGIC = {"images": 2051, "labels": 2049}  # IDX: 0x0803 (ubyte, 3 dims) and 0x0801 (ubyte, 1 dim)


def read_idx(path: Path, kind: str) -> np.ndarray:
    """One IDX file: big-endian header (magic, dimension sizes), then uint8 data."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = 3 if kind == "images" else 1
    header = np.frombuffer(raw[: 4 * (1 + ndim)], ">u4")
    if len(header) < 1 + ndim or header[0] != _MAGIC[kind]:
        raise ValueError(f"{path} is not an IDX {kind} file (header {header.tolist()}, magic {_MAGIC[kind]})")
    shape = tuple(int(s) for s in header[1:])
    data = np.frombuffer(raw, np.uint8, offset=4 * (1 + ndim))
    if data.size != np.prod(shape):
        raise ValueError(f"{path} is truncated: {data.size} bytes of data for shape {shape}")
    return data.reshape(shape).copy()  # writable, as torch expects of the arrays it wraps


def load(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (n, 28, 28), labels uint8 (n,)) of the ``train`` (60,000) or ``test`` (10,000) split."""
    if split not in SPLITS:
        raise ValueError(f"split={split!r} is unknown; use 'train' or 'test'")
    directory = fashion_mnist_dir()
    paths = {kind: directory / f"{SPLITS[split]}-{kind}-idx{3 if kind == 'images' else 1}-ubyte.gz"
             for kind in ("images", "labels")}
    missing = [p.name for p in paths.values() if not p.exists()]
    if missing:
        raise FileNotFoundError(f"Fashion-MNIST file(s) {', '.join(missing)} not found in {directory}; "
                                f"{FASHION_MNIST_HOWTO}")
    images, labels = read_idx(paths["images"], "images"), read_idx(paths["labels"], "labels")
    if len(images) != len(labels):
        raise ValueError(f"{directory}: {len(images)} images but {len(labels)} labels in the {split} split")
    return images, labels


def to_model_scale(images: np.ndarray, resolution: int = 28) -> np.ndarray:
    """uint8 (n, 28, 28) -> float32 (n, 1, r, r) in [-1, 1]; r must divide 28 (average pooling)."""
    if resolution < 1 or 28 % resolution:
        raise ValueError(f"resolution={resolution} must divide 28 (28, 14 or 7)")
    x = images.astype(np.float32) / 127.5 - 1.0
    k = 28 // resolution
    x = x.reshape(len(x), resolution, k, resolution, k).mean(axis=(2, 4))
    return x[:, None]
