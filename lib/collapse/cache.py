"""Results cache: keyed, atomic, checkpointed, and never trusting a damaged file.

A result is keyed by a hash of (experiment, parameters, mode, code version, the notebook's ``compute``
function), where the code version hashes the source of the library modules the computation loaded and
everything they import: change any of them, or the compute function, and the result is recomputed;
add a module for another notebook, and it is not. A result is an
``.npz`` of arrays beside a ``.json`` sidecar holding the key, the parameters, provenance and the
npz's SHA-256; a result whose sidecar is missing, has another key, or whose digest does not match
is recomputed, never used. Every write goes to a temporary file that is then renamed, so a killed
run leaves either the old file or the new one, never half of one.

Long runs also checkpoint after each generation (:class:`Checkpoints`); the checkpoints live under
the ignored ``data/cache`` and a rerun resumes from the latest intact one.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import io
import json
import os
import pickle
import platform
import sys
import tempfile
import time
import warnings
from functools import cache
from pathlib import Path

import numpy as np

_LIBRARY = Path(__file__).resolve().parent


def code_version(modules: tuple[str, ...] | None = None) -> str:
    """SHA-256 (16 hex digits) of the source of ``modules`` and of every library module they import,
    directly or not (``None``: the whole library). A result depends on the code it ran, not on modules
    added later for other notebooks."""
    return _hash_sources(None if modules is None else tuple(dependency_closure(modules)))


def loaded_modules() -> tuple[str, ...]:
    """The library modules this process has imported: what a notebook's computation can have used."""
    return tuple(sorted(m for m in sys.modules if m == "collapse" or m.startswith("collapse.")))


def dependency_closure(modules) -> list[str]:
    """``modules``, their parent packages, and every library module they import (static analysis of
    the source, imports inside functions included)."""
    seen, todo = set(), list(modules)
    while todo:
        name = todo.pop()
        if name in seen or _source_file(name) is None:
            continue
        seen.add(name)
        todo.extend(_library_imports(name))
        todo.extend(name.rsplit(".", k)[0] for k in range(1, name.count(".") + 1))  # parent packages run too
    return sorted(seen)


@cache
def _hash_sources(names: tuple[str, ...] | None) -> str:
    paths = sorted(_LIBRARY.rglob("*.py")) if names is None else [_source_file(n) for n in names]
    h = hashlib.sha256()
    for path in paths:
        h.update(path.relative_to(_LIBRARY).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _source_file(name: str) -> Path | None:
    top, *parts = name.split(".")
    if top != "collapse":
        return None
    base = _LIBRARY.joinpath(*parts)
    return next((p for p in (base.with_suffix(".py"), base / "__init__.py") if p.is_file()), None)


def _library_imports(name: str) -> set[str]:
    path = _source_file(name)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            parts = package.split(".")
            base = ".".join(parts[: len(parts) - node.level + 1]) if node.level else ""
            target = ".".join(p for p in (base, node.module) if p)
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)  # `from . import config`
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m == "collapse" or m.startswith("collapse.")}


def source_hash(fn) -> str:
    """SHA-256 (16 hex digits) of a function's source, e.g. a notebook's compute function; '' if unknown."""
    try:
        return hashlib.sha256(inspect.getsource(fn).encode()).hexdigest()[:16]
    except (OSError, TypeError):
        return ""


def result_key(experiment: str, params: dict, mode: str, code: str, compute_source: str = "") -> str:
    blob = json.dumps(
        {"experiment": experiment, "params": params, "mode": mode, "code": code, "compute": compute_source},
        sort_keys=True, default=_jsonable,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the complete new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class ResultEntry:
    """One cached result: ``<dir>/<experiment>.npz`` and its sidecar ``<experiment>.json``."""

    def __init__(self, experiment: str, params: dict, mode: str, results_dir: Path, compute_source: str = ""):
        self.experiment, self.params, self.mode, self.compute_source = experiment, params, mode, compute_source
        self.code_version = code_version(loaded_modules())
        self.key = result_key(experiment, params, mode, self.code_version, compute_source)
        self.npz = Path(results_dir) / f"{experiment}.npz"
        self.sidecar = self.npz.with_suffix(".json")

    def load(self) -> dict[str, np.ndarray] | None:
        """The cached arrays, or None if absent, stale (another key) or damaged."""
        try:
            meta = json.loads(self.sidecar.read_text())
            if meta.get("key") != self.key:
                return None
            data = self.npz.read_bytes()
            if hashlib.sha256(data).hexdigest() != meta.get("sha256"):
                warnings.warn(f"{self.npz} does not match its recorded digest; recomputing", stacklevel=2)
                return None
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except FileNotFoundError:
            return None
        except (ValueError, OSError) as err:  # unreadable JSON or npz
            warnings.warn(f"cached result {self.npz} is damaged ({err}); recomputing", stacklevel=2)
            return None

    def save(self, arrays: dict, wall_time_s: float, **provenance) -> None:
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **{k: np.asarray(v) for k, v in arrays.items()})
        data = buffer.getvalue()
        atomic_write_bytes(self.npz, data)
        meta = {
            "experiment": self.experiment, "key": self.key, "mode": self.mode, "params": self.params,
            "code_version": self.code_version, "compute_source": self.compute_source,
            "sha256": hashlib.sha256(data).hexdigest(),
            "wall_time_s": round(wall_time_s, 2), "versions": _versions(), **provenance,
        }
        atomic_write_bytes(self.sidecar, json.dumps(meta, indent=2, sort_keys=True, default=_jsonable).encode())

    def checkpoints(self, job: str) -> Checkpoints:
        """Per-generation checkpoints of one job (one seed, one alpha, ...) of this result."""
        from .config import cache_dir

        return Checkpoints(cache_dir() / self.experiment / self.key / job)

    def get_or_compute(self, compute) -> dict[str, np.ndarray]:
        """The cached arrays, computing and saving them with ``compute(self)`` if needed."""
        cached = self.load()
        if cached is not None:
            return cached
        start = time.perf_counter()
        arrays = compute(self)
        self.save(arrays, time.perf_counter() - start)
        return self.load()


class Checkpoints:
    """Per-generation snapshots of a recursion: ``gen_0003.pkl`` = state after 3 generations.

    Each file starts with the SHA-256 of its pickled payload; a file that fails the check (a torn
    write, a disk error) is removed and the previous generation's snapshot is used instead.
    """

    def __init__(self, directory: Path):
        self.directory = Path(directory)

    def save(self, state) -> None:
        payload = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
        path = self.directory / f"gen_{state.generation:04d}.pkl"
        atomic_write_bytes(path, hashlib.sha256(payload).digest() + payload)

    def latest(self):
        """The newest intact state, or None."""
        for path in sorted(self.directory.glob("gen_*.pkl"), reverse=True):
            blob = path.read_bytes()
            digest, payload = blob[:32], blob[32:]
            if hashlib.sha256(payload).digest() == digest:
                return pickle.loads(payload)
            warnings.warn(f"checkpoint {path} is damaged; removing it and trying an earlier one", stacklevel=2)
            path.unlink()
        return None


def _versions() -> dict:
    names = ("numpy", "scipy", "sklearn", "torch", "matplotlib")
    found = {name: sys.modules[name].__version__ for name in names if name in sys.modules}
    return {"python": platform.python_version(), **found}


def _jsonable(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, (np.ndarray, tuple, set)):
        return list(obj.tolist() if isinstance(obj, np.ndarray) else obj)
    return str(obj)
