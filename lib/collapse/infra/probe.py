"""Verified re-keying: a library edit that moves no number costs a probe run, not a recompute.

A result's key holds the source of the library code its computation reaches (:mod:`collapse.infra.cache`), so an
edit anywhere in that code re-keys it. To tell an edit that moves a number from one that does not, each committed
result also stores a *probe fingerprint* in its sidecar: its notebook run at probe sizes (the ``probe`` tables of
``sizes.toml``: smoke sizes with counts raised past the code's size thresholds) up to its computation, with a digest
of every job's output and of the assembled Dataset. ``python -m collapse rekey`` reruns the probe with today's code,
single-threaded and under coverage, and rewrites the key only if

- every digest is identical,
- the installed package versions are those the result was computed with, and
- every statement that changed in the result's library code (against the version, found in git, that the
  fingerprint was taken with) ran during the probe: a change on a path the probe never takes could move a number
  unseen. Two kinds of statement are exempt: a changed ``raise`` (a run that reaches it stops, so it cannot move
  a stored number), and the body of a function the old code did not have and the probe never called (only lines
  that changed can call it, and they are checked).

Otherwise it names what refused it: the job functions whose outputs moved, the versions, or the lines not run.
``python -m collapse probe`` records the fingerprint of a result whose key matches today's code (``make reproduce``
does it after each canonical run).
"""

from __future__ import annotations

import ast
import difflib
import hashlib
import importlib.metadata
import json
import linecache
import os
import platform
import subprocess
import sys
import tempfile
from functools import partial
from pathlib import Path

from collapse.infra import cache, config, jobs
from collapse.infra.cache import LIBRARY, ResultFile, module_digest, source_file

_CHILD = ("import sys, coverage; cov = coverage.Coverage(data_file=None, source=[sys.argv[1]]); cov.start(); "
          "from collapse.infra import probe; probe.child(cov, sys.argv[2], sys.argv[3])")
_DISTRIBUTIONS = {"sklearn": "scikit-learn"}  # import names whose distribution is named otherwise


class Done(BaseException):
    """Raised by ``Experiment.cached`` in a probe run, carrying the fingerprint: the rest of the notebook (figures,
    claims) is not part of the computation and does not run."""

    def __init__(self, record: dict):
        super().__init__("probe finished")
        self.record = record


class StoreMiss(RuntimeError):
    """A result is not in the store while ``$COLLAPSE_STORE_ONLY=1``."""


class ProbeFailed(RuntimeError):
    """A probe run did not reach its computation."""


# ------------------------------------------------------------------------------------------------ inside a probe
def fingerprint(exp, compute, inputs: dict, modules: list[str]) -> dict:
    """Run ``compute(**inputs)`` at probe sizes and digest what it made: each job function's outputs, the Dataset,
    with the code (per module) that made them and the key today's code gives the committed result."""
    with jobs.recording() as outputs:
        dataset = compute(**inputs)
    sidecar = ResultFile(config.canonical_dirs(exp.name, exp.mode)[0] / compute.__name__).metadata()
    code = cache.code_version(modules)
    return {
        "experiment": exp.name, "mode": exp.mode, "compute": compute.__name__,
        "key": cache.result_key(exp.name, exp.mode, sidecar["inputs"], compute, code) if sidecar else None,
        "code_version": code, "references": modules,
        "compute_source": hashlib.sha256(cache.source_of(compute).encode()).hexdigest()[:16],
        "modules": {name: module_digest(name) for name in cache.dependency_closure(modules)},
        "jobs": {fn: {"count": len(found), "digest": _sha(json.dumps(found, sort_keys=True))}
                 for fn, found in sorted(outputs.items())},
        "dataset": _sha(bytes(dataset.to_netcdf(engine="scipy"))),
        "sizes": exp.sizes, "versions": installed_versions(), "machine": machine(),
    }


def child(cov, notebook: str, out: str) -> None:
    """The probe process: run ``notebook``'s code cells in order until its computation ends the run, then write the
    fingerprint and the library lines that ran (coverage started before the library was imported)."""
    namespace = {"__name__": "__main__"}
    cells = [c for c in json.loads(Path(notebook).read_text())["cells"] if c["cell_type"] == "code"]
    try:
        for i, cell in enumerate(cells):
            source = "".join(cell["source"])
            name = f"<probe {Path(notebook).stem} cell {i}>"  # inspect.getsource reads it back, as in a kernel
            linecache.cache[name] = (len(source), None, source.splitlines(True), name)
            exec(compile(source, name, "exec"), namespace)
    except Done as done:
        cov.stop()
        data = cov.get_data()
        done.record["executed"] = {Path(f).resolve().relative_to(LIBRARY).as_posix(): sorted(data.lines(f) or ())
                                   for f in data.measured_files() if Path(f).resolve().is_relative_to(LIBRARY)}
        Path(out).write_text(json.dumps(done.record, sort_keys=True))
        return
    raise SystemExit(f"{notebook} ended without calling exp.cached: nothing to probe")


# ------------------------------------------------------------------------------------------------ from outside
def run(experiment: str, mode: str = "full") -> dict:
    """The fingerprint of ``experiment``'s computation with today's code, from a fresh single-threaded process."""
    notebook = config.ROOT / "notebooks" / config.NOTEBOOKS[experiment]
    with tempfile.TemporaryDirectory(prefix="collapse-probe-") as tmp:
        out = Path(tmp) / "probe.json"
        env = {**os.environ, "COLLAPSE_PROBE": experiment, "COLLAPSE_MODE": mode,
               "COLLAPSE_CACHE": str(Path(tmp) / "cache"),
               "COLLAPSE_WORKERS": "1", "COLLAPSE_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
               "MKL_NUM_THREADS": "1", "COLLAPSE_PROGRESS": "0", "MPLBACKEND": "Agg", "PYTHONHASHSEED": "0"}
        for name in ("COLLAPSE_SCHEDULER", "COLLAPSE_STORE_ONLY"):
            env.pop(name, None)
        done = subprocess.run([sys.executable, "-c", _CHILD, str(LIBRARY), str(notebook), str(out)], env=env,
                              cwd=notebook.parent, capture_output=True, text=True,
                              preexec_fn=partial(jobs.die_with, os.getpid()))
        if done.returncode != 0 or not out.exists():
            raise ProbeFailed(f"the probe of {notebook.stem} failed:\n{done.stderr[-3000:]}")
        return json.loads(out.read_text())


def stored(record: dict) -> dict:
    """What a sidecar keeps of a probe: its digests, the code they were taken with, its sizes."""
    keep = ("code_version", "compute_source", "modules", "jobs", "dataset", "sizes", "machine")
    return {k: record[k] for k in keep}


def record(experiment: str) -> tuple[bool, str]:
    """Store the probe fingerprint of ``experiment``'s committed result, whose key must match today's code:
    (recorded, what happened)."""
    file, meta = _committed(experiment)
    fresh = run(experiment, meta["mode"])
    if fresh["key"] != meta["key"]:
        return False, (f"{experiment}: not recorded: the stored result's key {meta['key']} is not today's "
                       f"{fresh['key']} (the code changed since it was computed); rekey or recompute it first")
    file.write_metadata({**meta, "probe": stored(fresh)})
    return True, f"{experiment}: probe recorded ({sum(j['count'] for j in fresh['jobs'].values())} jobs)"


def rekey(experiment: str) -> tuple[bool, str]:
    """Move ``experiment``'s committed result to today's key if a probe shows the code change moved nothing:
    (done or already current, what happened)."""
    file, meta = _committed(experiment)
    old = meta.get("probe")
    if old is None:
        return False, (f"{experiment}: no probe fingerprint in {_relative(file.sidecar)}; recompute it "
                       f"(make reproduce-{_number(experiment)}), which records one")
    fresh = run(experiment, meta["mode"])
    if fresh["key"] == meta["key"]:
        return True, f"{experiment}: key {meta['key']} is current; nothing to do"
    refusals = _refusals(meta, old, fresh)
    if refusals:
        return False, f"{experiment}: not re-keyed ({meta['key']} -> {fresh['key']}):\n  " + "\n  ".join(refusals)
    changed = sorted(name for name in {*old["modules"], *fresh["modules"]}
                     if old["modules"].get(name) != fresh["modules"].get(name))
    entry = {"from": meta["key"], "to": fresh["key"], "commit": _git("rev-parse", "--short", "HEAD").strip(),
             "changed": changed}
    file.write_metadata({**meta, "key": fresh["key"], "code_version": fresh["code_version"],
                         "modules": fresh["references"], "probe": stored(fresh),
                         "rekeyed": [*meta.get("rekeyed", []), entry]})
    return True, f"{experiment}: re-keyed {meta['key']} -> {fresh['key']} (changed: {', '.join(changed) or 'none'})"


def _refusals(meta: dict, old: dict, fresh: dict) -> list[str]:
    """Why a result cannot be re-keyed: versions, moved outputs, changed lines the probe did not run."""
    found = []
    if old.get("machine") != fresh["machine"]:
        return [f"the fingerprint was taken on another machine ({old.get('machine')}) than this one "
                f"({fresh['machine']}), and numbers can differ in their last bits between CPUs: record it here first "
                f"(python -m collapse probe {_number(meta['experiment'])}, at the commit whose code matches the key), "
                f"or recompute"]
    versions = {k: v for k, v in fresh["versions"].items() if k in meta["versions"]}
    if versions != meta["versions"]:
        found.append(f"installed versions {versions} differ from those it was computed with {meta['versions']}")
    if fresh["compute_source"] != old["compute_source"]:
        found.append(f"the notebook's {fresh['compute']} changed; its lines are not covered by the probe: recompute")
    if fresh["sizes"] != old["sizes"]:
        found.append("the probe sizes changed since the fingerprint was taken; recompute (it records a new one)")
    moved = [fn for fn in sorted({*old["jobs"], *fresh["jobs"]}) if old["jobs"].get(fn) != fresh["jobs"].get(fn)]
    if moved:
        found.append(f"outputs moved: {', '.join(moved)}; recompute (make reproduce-{_number(meta['experiment'])})")
    elif fresh["dataset"] != old["dataset"]:
        found.append(f"every job's output is unchanged but the assembled Dataset moved ({fresh['compute']} or a "
                     f"library helper it calls); recompute")
    return found + unexecuted_changes(old["modules"], fresh["modules"], fresh["executed"])


def unexecuted_changes(old: dict, new: dict, executed: dict) -> list[str]:
    """A line for each statement that changed between the module versions ``old`` and ``new`` ({module: digest}) and
    did not run (``executed``: {file: lines}), and for each changed module whose old source is not in git (found
    there by its digest), since what changed in it cannot be told. A module the old code did not reach is all new."""
    found = []
    for name, digest in sorted(new.items()):
        if old.get(name) == digest:
            continue
        path = source_file(name)
        before = _source_in_git(path, old[name]) if name in old else ""
        if before is None:
            found.append(f"{_relative(path)}: the version the fingerprint was taken with is not in git history, so "
                         f"what changed cannot be told; recompute")
            continue
        text = path.read_text()
        ran = set(executed.get(path.relative_to(LIBRARY).as_posix(), ()))
        lines = text.splitlines()
        for first, last, new in _changed_statements(before, text):
            if ran.intersection(range(first, last + 1)):
                continue
            if new and not ran.intersection(range(new[0] + 1, new[1] + 1)):
                continue  # a function the old code did not have, never called: reachable only through changed lines
            found.append(f"{_relative(path)}:{first} changed and did not run in the probe: {lines[first - 1].strip()}")
    return found


# statements whose change no probe needs to see run: a raise only stops a run (its message moves no number), and a
# global or nonlocal declaration compiles to no code of its own (what it changes is in the lines that use the name)
UNCHECKED = (ast.Raise, ast.Global, ast.Nonlocal)


def _changed_statements(before: str, after: str) -> list[tuple[int, int, tuple | None]]:
    """(first, last, new) for each statement of ``after`` (a compound statement's header only) holding a line that
    differs from ``before``, comments, docstrings and blank lines aside; ``new`` is the (def line, last line) of the
    innermost function or class around it that ``before`` did not have, else None."""
    code = cache.code_rows(after)
    tree, existed = ast.parse(after), _functions(before)
    touched = set()
    for tag, _, _, j1, j2 in difflib.SequenceMatcher(None, before.splitlines(), after.splitlines(),
                                                     autojunk=False).get_opcodes():
        if tag != "equal":  # a deletion marks the code line that follows it
            touched.update(range(j1 + 1, j2 + 1) if j2 > j1 else [next((r for r in code if r > j1), code[-1])])
    spans = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.stmt):
            body = getattr(node, "body", None)
            last = max(node.lineno, body[0].lineno - 1 if isinstance(body, list) and body else node.end_lineno)
            for row in range(node.lineno, last + 1):  # walked outside-in: the innermost statement wins
                spans[row] = None if isinstance(node, UNCHECKED) else (node.lineno, last)
    statements = set()
    for row in sorted(touched.intersection(code)):
        following = [r for r in sorted(spans) if r >= row]  # an `else:` line belongs to what follows it
        if row in spans or following:
            statements.add(spans[row] if row in spans else spans[following[0]])
    new = [(first, last) for name, first, last in _function_spans(tree) if name not in existed]
    return [(first, last, next(((a, b) for a, b in reversed(new) if a < first <= b), None))
            for first, last in sorted(statements - {None})]


def _function_spans(tree) -> list[tuple[str, int, int]]:
    """(qualified name, def line, last line) of every function and class in ``tree``."""
    found = []

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                found.append((prefix + child.name, child.lineno, child.end_lineno))
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(tree, "")
    return found


def _functions(source: str) -> set[str]:
    try:
        return {name for name, _, _ in _function_spans(ast.parse(source))}
    except SyntaxError:
        return set()


def _source_in_git(path: Path, digest: str) -> str | None:
    """The version of ``path`` in git (HEAD first, then its history) whose module digest is ``digest``."""
    relative = path.relative_to(config.ROOT).as_posix()
    try:
        revisions = ["HEAD", *_git("log", "--format=%H", "-n", "300", "--", relative).split()]
    except subprocess.CalledProcessError:
        return None
    for revision in revisions:
        try:
            text = _git("show", f"{revision}:{relative}")
        except subprocess.CalledProcessError:
            continue
        if cache.text_digest(text) == digest:
            return text
    return None


# ------------------------------------------------------------------------------------------------ the store-only run
def miss_message(experiment: str, file: ResultFile, key: str) -> str:
    """Why a store-only run stopped, and the two ways on: rekey (minutes) or recompute (the plan's estimate)."""
    from collapse.infra.plan import measured_core_seconds

    meta = file.metadata() or {}
    number = _number(experiment)
    lines = [f"{experiment} (notebook {number}): no stored result under today's key {key} "
             f"({'the store holds ' + meta['key'] if meta.get('key') else 'nothing is stored'}); "
             f"this run computes nothing ($COLLAPSE_STORE_ONLY=1)."]
    if meta.get("probe"):
        today = {name: module_digest(name) for name in meta["probe"]["modules"] if source_file(name)}
        changed = [name for name, d in meta["probe"]["modules"].items() if today.get(name) != d]
        lines.append(f"Library modules changed since it was stored: {', '.join(changed) or 'none (new ones?)'}.")
    seconds = measured_core_seconds(experiment)
    estimate = f"about {seconds / config.default_workers() / 60:.0f} min on {config.default_workers()} job workers " \
               f"(python -m collapse plan)" if seconds else "see python -m collapse plan"
    lines += [f"If the change moves no number: make rekey NB={number}  (a probe run: minutes).",
              f"Otherwise recompute it: make reproduce-{number}  ({estimate})."]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ helpers
def machine() -> str:
    """What a probe's numbers depend on beyond code and versions: the CPU, and the kernels numpy's BLAS and torch pick
    for it (a recompute on another CPU moved notebook 02's numbers in their last bits), and torch's device."""
    import torch
    from threadpoolctl import threadpool_info

    from collapse.core.device import compute_device

    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor() or platform.machine()
    blas = ",".join(sorted({str(i.get("architecture")) for i in threadpool_info() if i["user_api"] == "blas"}))
    return f"{cpu}; BLAS {blas}; torch {torch.backends.cpu.get_cpu_capability()} on {compute_device().type}"


def installed_versions() -> dict:
    """Python's and the installed numerical packages' versions, named as a sidecar names them."""
    found = {"python": platform.python_version()}
    for name in ("numpy", "scipy", "sklearn", "torch", "xarray", "matplotlib"):
        try:
            found[name] = importlib.metadata.version(_DISTRIBUTIONS.get(name, name))
        except importlib.metadata.PackageNotFoundError:
            pass
    return found


def experiments_of(names: list[str]) -> list[str]:
    """The experiments with a committed full-mode result among the notebooks ``names`` (``03`` or its stem);
    every such experiment when ``names`` is empty."""
    wanted = {config.notebook_path(n).name for n in names} if names else set(config.NOTEBOOKS.values())
    return [e for e, nb in config.NOTEBOOKS.items() if nb in wanted and _sidecars(e)]


def committed_metadata(experiment: str) -> dict:
    return _committed(experiment)[1]


def _committed(experiment: str) -> tuple[ResultFile, dict]:
    (sidecar,) = _sidecars(experiment)
    file = ResultFile(sidecar)
    return file, file.metadata()


def _sidecars(experiment: str) -> list[Path]:
    folder = config.canonical_dirs(experiment, "full")[0]
    return [p for p in sorted(folder.glob("*.json")) if p.name != "claims.json"]


def _number(experiment: str) -> str:
    return config.NOTEBOOKS[experiment][:2]


def _relative(path: Path) -> str:
    return path.relative_to(config.ROOT).as_posix() if path.is_relative_to(config.ROOT) else str(path)


def _sha(data) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()[:16]


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(config.ROOT), *args], check=True, capture_output=True,
                          text=True).stdout
