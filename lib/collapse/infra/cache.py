"""Results keyed by their declared inputs: what a result depends on, and files that are never half-written.

A cached computation receives every input as an argument. Its key is a hash of exactly

- those inputs (values, arrays by content),
- the mode,
- the computation's own source, and
- the source of the library modules it can reach: the modules of the library objects it references, and
  everything those import, found by static analysis.

Infrastructure (``collapse.infra``: modes, this cache, jobs, figures) and the packages' ``__init__`` files,
which only re-export, never enter a key: restyling a figure or reorganising the cache recomputes nothing.
A computation that reads a global of its own notebook (a value, or a function defined beside it) is
refused, since the key could not see it.

Every write goes to a temporary file that is renamed into place; every read checks a SHA-256 digest, so
a torn or damaged file is recomputed, never used. Job results and checkpoints are data, not code (:class:`DataFile`):
reading one builds arrays, tensors, numbers and the library's own classes, and runs nothing else. Long jobs
checkpoint each generation (:class:`Checkpoints`) and resume from the latest intact one.
"""

from __future__ import annotations

import ast
import builtins
import dataclasses
import dis
import functools
import hashlib
import inspect
import io
import json
import logging
import os
import pickle
import platform
import sys
import tempfile
import textwrap
import tokenize
import types
import warnings
from functools import cache
from pathlib import Path

import numpy as np

LIBRARY = Path(__file__).resolve().parents[1]
INFRASTRUCTURE = "collapse.infra"


# --------------------------------------------------------------------------- what a computation reaches

def code_version(modules) -> str:
    """SHA-256 (16 hex digits) of the source of ``modules`` and of every library module they import,
    infrastructure and package ``__init__`` files left out."""
    return _hash_sources(tuple(dependency_closure(modules)))


def dependency_closure(modules) -> list[str]:
    """``modules`` and every library module they import, directly or not (imports inside functions
    included), except infrastructure and packages (whose ``__init__`` only re-exports)."""
    seen, todo = set(), list(modules)
    while todo:
        name = todo.pop()
        if name in seen or not _counts(name):
            continue
        seen.add(name)
        todo.extend(_library_imports(name))
    return sorted(seen)


def _counts(name: str) -> bool:
    path = source_file(name)
    infrastructure = name == INFRASTRUCTURE or name.startswith(INFRASTRUCTURE + ".")
    return path is not None and path.name != "__init__.py" and not infrastructure


@cache
def _hash_sources(names: tuple[str, ...]) -> str:
    h = hashlib.sha256()
    for name in names:
        path = source_file(name)
        h.update(path.relative_to(LIBRARY).as_posix().encode())
        h.update(code_text(path.read_text()).encode())
    return h.hexdigest()[:16]


def code_text(source: str) -> str:
    """The part of ``source`` that can change a number: the text without its comments, docstrings and blank
    lines (and trailing spaces), so that documenting the code re-keys nothing. Lines inside other multi-line strings
    are kept as they are. Text, not a syntax-tree dump, so that keys do not depend on the Python version; a source
    that does not parse on its own (a nested function's) is kept whole."""
    source = textwrap.dedent(source)
    kept = _code_lines(source)
    return source if kept is None else "\n".join(line for _, line in kept)


def code_rows(source: str) -> list[int]:
    """The 1-based rows of ``source`` that :func:`code_text` keeps (all of them if it does not parse)."""
    kept = _code_lines(source)
    return list(range(1, source.count("\n") + 2)) if kept is None else [row for row, _ in kept]


def _code_lines(source: str) -> list[tuple[int, str]] | None:
    """(row, text) of each line :func:`code_text` keeps, or None if ``source`` does not parse."""
    try:
        tree = ast.parse(source)
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (SyntaxError, tokenize.TokenError):
        return None
    lines = source.split("\n")
    inside, opened = set(), []  # 1-based rows inside a multi-line string (f-strings are several tokens from 3.12)
    for token in tokens:
        if token.type == getattr(tokenize, "FSTRING_START", None):
            opened.append(token.start[0])
        elif token.type == getattr(tokenize, "FSTRING_END", None):
            inside.update(range(opened.pop() + 1, token.end[0] + 1))
        elif token.type == tokenize.STRING:
            inside.update(range(token.start[0] + 1, token.end[0] + 1))
    for token in tokens:
        if token.type == tokenize.COMMENT:
            row, column = token.start
            lines[row - 1] = lines[row - 1][:column]
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body \
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            first, last = body[0].lineno, body[0].end_lineno
            if not lines[first - 1][: body[0].col_offset].strip() and (len(body) == 1 or body[1].lineno > last):
                lines[first - 1: last] = [""] * (last + 1 - first)  # a docstring on lines of its own
                inside.difference_update(range(first, last + 1))
    return [(row, line if row in inside else line.rstrip()) for row, line in enumerate(lines, 1)
            if row in inside or line.strip()]


def module_digest(name: str) -> str:
    """SHA-256 (16 hex digits) of a library module's :func:`code_text`: what changes when an edit can change a
    number."""
    return text_digest(source_file(name).read_text())


@functools.cache
def text_digest(source: str) -> str:
    # memoised on the text itself (an edited file is new text): every job's key walks the same modules
    return hashlib.sha256(code_text(source).encode()).hexdigest()[:16]


def source_file(name: str) -> Path | None:
    top, *parts = name.split(".")
    if top != "collapse":
        return None
    base = LIBRARY.joinpath(*parts)
    return next((p for p in (base.with_suffix(".py"), base / "__init__.py") if p.is_file()), None)


def _library_imports(name: str) -> set[str]:
    path = source_file(name)
    return set(_imports_in(path.read_text(), name if path.name == "__init__.py" else name.rpartition(".")[0]))


@functools.cache
def _imports_in(source: str, package: str) -> frozenset[str]:
    """The library modules a module's source imports (memoised on the text: parsing is most of a job key's cost)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            parts = package.split(".")
            base = ".".join(parts[: len(parts) - node.level + 1]) if node.level else ""
            target = ".".join(p for p in (base, node.module) if p)
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)  # `from collapse.core import mixture`
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return frozenset(m for m in found if m == "collapse" or m.startswith("collapse."))


class UndeclaredInput(TypeError):
    """A cached computation reads a value that is not one of its arguments."""


def referenced_modules(fn) -> list[str]:
    """The library modules whose objects ``fn`` references (through globals and attribute chains such as
    ``collapse.paper_gmm`` or ``tour.run_job``), after refusing any global that is not a module or an
    imported function or class: a value read from the notebook would be invisible to the key."""
    found = set()
    for name, obj, module in _globals_used(fn):
        if module is not None:  # a module, or a library object or constant read through its module
            found.add(module.__name__)
        elif callable(obj) and getattr(obj, "__module__", None) not in (None, fn.__module__):
            found.add(obj.__module__)  # an imported function or class
        else:
            kind = "a function defined beside it" if callable(obj) else f"a {type(obj).__name__}"
            raise UndeclaredInput(
                f"{fn.__name__} reads the global {name!r} ({kind}), which its cache key cannot see; pass it as an "
                f"argument (exp.cached({fn.__name__}, {name}={name}, ...)), define it inside {fn.__name__}, or "
                f"read a library constant through its module (module.{name})")
    found.update(_imports_used(fn))
    for cell in fn.__closure__ or ():
        raise UndeclaredInput(f"{fn.__name__} captures a variable of an enclosing function "
                              f"({type(cell.cell_contents).__name__}); pass it as an argument instead")
    return sorted(m for m in found if m.startswith("collapse."))


def _globals_used(fn):
    """(name, object, module) for each global ``fn`` loads, following attribute chains through modules:
    ``module`` is the last module of the chain (None when the global is not a module)."""
    for code in _code_objects(fn.__code__):
        instructions = list(dis.get_instructions(code))
        for i, ins in enumerate(instructions):
            if ins.opname not in ("LOAD_GLOBAL", "LOAD_NAME"):
                continue
            name = ins.argval
            if name in fn.__globals__:
                obj = fn.__globals__[name]
            elif hasattr(builtins, name):
                yield name, getattr(builtins, name), builtins
                continue
            else:
                continue  # an unbound name fails when the computation runs
            module = None
            for follow in instructions[i + 1:]:
                if not isinstance(obj, types.ModuleType):
                    break
                module = obj
                if follow.opname not in ("LOAD_ATTR", "LOAD_METHOD"):
                    break
                obj = getattr(obj, follow.argval, obj)
            yield name, obj, module


def _imports_used(fn):
    """Modules imported inside ``fn`` (``import collapse.x`` or ``from collapse.core import mixture``)."""
    for code in _code_objects(fn.__code__):
        module = None
        for ins in dis.get_instructions(code):
            if ins.opname == "IMPORT_NAME":
                module = ins.argval
                yield module
            elif ins.opname == "IMPORT_FROM" and module:
                yield f"{module}.{ins.argval}"  # a submodule, or an object (then not a source file: ignored)


def _code_objects(code):
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_objects(const)


def source_of(fn) -> str:
    """``fn``'s source as it enters a key (:func:`code_text`: no comments or docstrings)."""
    try:
        return code_text(inspect.getsource(fn))
    except (OSError, TypeError) as err:
        raise UndeclaredInput(f"the source of {fn!r} is unavailable, so it cannot be part of a key") from err


# --------------------------------------------------------------------------- keys

def fingerprint(value):
    """A JSON-able stand-in for ``value`` that changes whenever the value does, and only then: arrays by their bytes,
    sets in a canonical order, xarray Datasets and dataclasses by their contents, other objects by their pickled
    bytes."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return repr(value)  # exact: 0.1 and 0.1000000000000001 differ
    if isinstance(value, np.generic):
        return fingerprint(value.item())
    if isinstance(value, dict):
        return {str(k): fingerprint(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [fingerprint(v) for v in value]
    if isinstance(value, (set, frozenset)):  # in a canonical order: a set's own order follows the hash seed
        return {"set": sorted((fingerprint(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))}
    if isinstance(value, np.ndarray) and value.dtype == object:  # its bytes would be pointers
        return {"objects": fingerprint(value.tolist()), "shape": list(value.shape)}
    if is_dataset(value):  # by content
        return {"type": type(value).__qualname__, "attrs": fingerprint(dict(value.attrs)),
                "coords": sorted(map(str, value.coords)),
                "variables": {str(k): {"dims": list(v.dims), "values": fingerprint(v.values),
                                       "attrs": fingerprint(dict(v.attrs))} for k, v in value.variables.items()}}
    if isinstance(value, np.ndarray):
        array = np.ascontiguousarray(value)
        return {"array": hashlib.sha256(array.tobytes()).hexdigest(), "dtype": str(array.dtype),
                "shape": list(array.shape)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"type": type(value).__qualname__,
                **{f.name: fingerprint(getattr(value, f.name)) for f in dataclasses.fields(value)}}
    buffer = io.BytesIO()
    _ContentPickler(buffer, protocol=4).dump(value)
    return {"type": f"{type(value).__module__}.{type(value).__qualname__}",
            "pickle": hashlib.sha256(buffer.getvalue()).hexdigest()}


class _ContentPickler(pickle.Pickler):
    """Pickles torch tensors by their content and modules by their class and weights: torch's own pickling
    embeds storage ids that differ per process, and a module's attributes differ after a round trip."""

    def reducer_override(self, obj):
        torch = sys.modules.get("torch")
        if torch is None:
            return NotImplemented
        if isinstance(obj, torch.Tensor):
            raw = obj.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
            return _tensor_content, (str(obj.dtype), tuple(obj.shape), raw)
        if isinstance(obj, torch.nn.Module):
            return _tensor_content, (type(obj).__qualname__, obj.training, dict(obj.state_dict()))
        return NotImplemented


def _tensor_content(*content):
    return content


def digest(blob: dict) -> str:
    return hashlib.sha256(json.dumps(fingerprint(blob), sort_keys=True).encode()).hexdigest()[:16]


def result_key(experiment: str, mode: str, inputs, compute, code: str) -> str:
    """The key of ``compute(**inputs)``'s result: its inputs (or their fingerprint, as a sidecar stores them: the
    same key), the mode, ``compute``'s source and ``code``, the version of the library code it reaches."""
    return digest({"experiment": experiment, "mode": mode, "inputs": inputs, "compute": source_of(compute),
                   "code": code})


# --------------------------------------------------------------------------- files

def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the complete new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)  # mkstemp's 0600 would hide results from the other users of a shared store
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class ResultFile:
    """A labelled result: ``<name>.nc`` (an xarray Dataset as netCDF) beside ``<name>.json`` (its key, its
    inputs, provenance and the netCDF's SHA-256). A file with another key, a missing sidecar or a digest
    that does not match is not used."""

    def __init__(self, path: Path):
        self.path = Path(path).with_suffix(".nc")
        self.sidecar = self.path.with_suffix(".json")

    def metadata(self) -> dict | None:
        try:
            return json.loads(self.sidecar.read_text())
        except FileNotFoundError:
            return None
        except ValueError as err:
            damaged(f"{self.sidecar} is damaged ({err}); recomputing")
            return None

    def load(self, key: str):
        """The Dataset stored under ``key``, or None if absent, stored under another key, or damaged."""
        import xarray as xr

        meta = self.metadata()
        if meta is None or meta.get("key") != key:
            return None
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        if hashlib.sha256(data).hexdigest() != meta.get("sha256"):
            damaged(f"{self.path} does not match its recorded digest; recomputing")
            return None
        with xr.open_dataset(io.BytesIO(data), engine="scipy") as ds:
            return ds.load()

    def save(self, dataset, key: str, **provenance) -> None:
        data = dataset.to_netcdf(engine="scipy")  # netCDF3: self-describing, and the same bytes every time
        atomic_write_bytes(self.path, bytes(data))
        self.write_metadata({"key": key, "sha256": hashlib.sha256(data).hexdigest(), "versions": versions(),
                             **provenance})

    def write_metadata(self, meta: dict) -> None:
        atomic_write_bytes(self.sidecar, (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode())


class DataFile:
    """A job's result or a checkpoint, stored as data: a SHA-256 digest, then ``torch.save``'s bytes.

    It is read with ``torch.load(weights_only=True)``, whose unpickler builds tensors, containers, numbers and
    strings and, beyond those, only the classes it is handed. It is handed numpy's array and scalar types,
    torch.nn's layers and the classes defined in the library's computing layers (core, models, studies), constructed
    without running their code; a file that names any other global is refused before it is read. So a crafted
    entry can at worst be refused or carry wrong numbers, never run code. The digest catches accidents (a torn write,
    a disk error). Entries of the pickle format used before (``.pkl``) are never read. ``trusted``: further classes
    the caller vouches for (a test's own learner).
    """

    SUFFIX = ".pt"

    def __init__(self, path: Path, trusted: tuple[type, ...] = ()):
        self.path, self.trusted = Path(path), tuple(trusted)

    def load(self):
        try:
            blob = self.path.read_bytes()
        except FileNotFoundError:
            return None
        if hashlib.sha256(blob[32:]).digest() != blob[:32]:
            damaged(f"{self.path} is damaged; removing it")
            self.path.unlink(missing_ok=True)
            return None
        try:
            return _from_netcdf(_load_data(blob[32:], self.trusted))
        except Exception as err:  # anything that is not data this library reads is refused, never half-used
            damaged(f"{self.path} holds something other than data ({err}); removing it")
            self.path.unlink(missing_ok=True)
            return None

    def save(self, value) -> None:
        import torch

        buffer = io.BytesIO()
        torch.save(_to_netcdf(value), buffer)
        payload = buffer.getvalue()
        atomic_write_bytes(self.path, hashlib.sha256(payload).digest() + payload)


def is_dataset(value) -> bool:
    """Whether ``value`` is an xarray Dataset, without importing xarray for values that cannot be one."""
    return type(value).__module__.startswith("xarray.") and type(value).__name__ == "Dataset"


def _to_netcdf(value):
    """``value`` with every xarray Dataset in its dicts, lists and tuples replaced by its netCDF bytes (xarray's own
    pickles name pandas' and xarray's internals, which a data file does not build)."""
    if isinstance(value, dict):
        return {k: _to_netcdf(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_netcdf(v) for v in value)
    if is_dataset(value):
        return {_NETCDF: bytes(value.to_netcdf(engine="scipy"))}
    return value


def _from_netcdf(value):
    if isinstance(value, dict):
        if set(value) == {_NETCDF}:
            import xarray as xr

            with xr.open_dataset(io.BytesIO(value[_NETCDF]), engine="scipy") as dataset:
                return dataset.load()
        return {k: _from_netcdf(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_from_netcdf(v) for v in value)
    return value


_NETCDF = "__netcdf__"


class NotData(pickle.UnpicklingError):
    """A stored entry names a global outside what a data file may hold."""


_COMPUTING_LAYERS = ("collapse.core.", "collapse.models.", "collapse.studies.")


def _load_data(payload: bytes, trusted: tuple[type, ...] = ()):
    import torch

    names = torch.serialization.get_unsafe_globals_in_checkpoint(io.BytesIO(payload))
    known = {**_numpy_types(), **{f"{cls.__module__}.{cls.__qualname__}": cls for cls in trusted}}
    allowed = [*known.values(), *(_data_class(name) for name in names if name not in known)]
    with torch.serialization.safe_globals(allowed):
        return torch.load(io.BytesIO(payload), weights_only=True)


def _numpy_types() -> dict:
    """numpy's array, dtype and scalar builders, by the names a pickle gives them: each rebuilds an array or a number
    from bytes and a dtype."""
    from numpy._core import multiarray

    return {"numpy.ndarray": np.ndarray, "numpy.dtype": np.dtype,
            "numpy._core.multiarray._reconstruct": multiarray._reconstruct,
            "numpy._core.multiarray.scalar": multiarray.scalar,
            **{f"numpy.dtypes.{name}": getattr(np.dtypes, name) for name in np.dtypes.__all__}}


def _data_class(name: str) -> type:
    """The class ``name`` if it is one a data file may hold (a torch.nn layer, or a class defined in the library's
    computing layers), else NotData naming it. Only such modules are imported to find it."""
    module, _, attribute = name.rpartition(".")
    if not module.startswith((*_COMPUTING_LAYERS, "torch.nn.modules.")):
        raise NotData(f"it names {name}, which is not a torch.nn layer or a class of the library's computing layers")
    import importlib

    try:
        found = getattr(importlib.import_module(module), attribute, None)
    except ImportError:
        found = None
    if not (isinstance(found, type) and found.__module__ == module):
        raise NotData(f"it names {name}, which is not a class defined in {module}")
    return found


class Checkpoints:
    """Per-generation snapshots of a recursion: ``gen_0003.pt`` = state after 3 generations (a :class:`DataFile`).

    A file that fails its digest (a torn write, a disk error) is removed and the previous generation's
    snapshot is used instead.
    """

    def __init__(self, directory: Path, trusted: tuple[type, ...] = ()):
        self.directory, self.trusted = Path(directory), trusted

    def save(self, state) -> None:
        DataFile(self.directory / f"gen_{state.generation:04d}{DataFile.SUFFIX}").save(state)

    def latest(self):
        """The newest intact state, or None."""
        for path in sorted(self.directory.glob(f"gen_*{DataFile.SUFFIX}"), reverse=True):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                state = DataFile(path, self.trusted).load()
            if state is not None:
                return state
            damaged(f"checkpoint {path} is damaged; removed it and trying an earlier one")
        return None


def damaged(message: str) -> None:
    """A damaged or refused store entry: a warning where the code runs (a notebook shows it) and a line on the
    console (the terminal running papermill or JupyterLab), where whoever watches a long run sees it."""
    warnings.warn(message, stacklevel=3)
    logging.getLogger("collapse").warning(message)


def versions() -> dict:
    names = ("numpy", "scipy", "sklearn", "torch", "xarray", "matplotlib")
    found = {name: sys.modules[name].__version__ for name in names if name in sys.modules}
    return {"python": platform.python_version(), **found}
