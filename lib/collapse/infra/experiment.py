"""What a notebook opens with: its mode and sizes, its cached results, and where its figures go.

    exp = collapse.Experiment("tour", mode, seed=seed, alphas=alphas, sizes=sizes)  # the parameters cell
    result = exp.cached(compute, alphas=alphas, sizes=exp.sizes)   # compute(alphas, sizes) -> xr.Dataset
    exp.save_figure(fig, "figS1_tour_samples")

A run whose parameters all equal the defaults of its notebook's parameters cell, in full (or paper) mode,
is canonical: it reads and writes the committed ``data/results`` and ``figures``. Any other run is an
exploration and writes under ``build/explore/<mode>/<experiment>/<parameters>/``, so that it can never
overwrite the committed set, and switching back to a parameter set already run is instant.
"""

from __future__ import annotations

import ast
import inspect
import logging
import time

from collapse.core.device import compute_device
from collapse.infra import config, domains, figures, jobs
from collapse.infra.cache import ResultFile, code_version, digest, fingerprint, referenced_modules, result_key

log = logging.getLogger("collapse")


class Experiment:
    def __init__(self, name: str, mode: str | None = None, **parameters):
        self.name = name
        self.mode = config.resolve_mode(mode)
        overrides = parameters.pop("sizes", None) or {}
        base = config.probe_sizes(name) if config.probing() else config.sizes(name, self.mode)
        self.sizes = {**base, **domains.checked_sizes(name, self.mode, overrides)}
        self.training = config.training(name, self.mode)
        self.parameters = parameters
        defaults = bool(parameters) and _checked_parameters(name, parameters) == "default"  # checked in every mode
        self.canonical = self.mode != "smoke" and not overrides and defaults and not config.probing()
        if config.probing():  # a probe writes nothing canonical: the probed computation's fingerprint ends the run
            self.results_dir = self.figures_dir = config.EXPLORE / "probe" / name
        elif self.canonical:
            self.results_dir, self.figures_dir = config.canonical_dirs(name, self.mode)
        else:
            run = digest({"parameters": parameters, "sizes": overrides})
            folder = config.EXPLORE / self.mode / name / run
            self.results_dir, self.figures_dir = folder / "results", folder / "figures"
            if self.mode != "smoke":  # said in the notebook and on the console
                message = (f"exploration run (parameters or sizes differ from the notebook's defaults): "
                           f"results and figures go to {folder}")
                print(message)
                log.info(message)
        config.set_threads()

    def __repr__(self) -> str:
        where = self.results_dir.relative_to(config.ROOT) if self.results_dir.is_relative_to(config.ROOT) \
            else self.results_dir
        return f"Experiment({self.name!r}, mode={self.mode!r}, sizes={self.sizes}, results in {where})"

    def cached(self, compute, **inputs):
        """``compute(**inputs)``, an ``xarray.Dataset``, read from the store when it was computed before.

        The key is made of the inputs, the mode, ``compute``'s source and the library code it can reach;
        ``compute`` must take exactly ``inputs`` as its arguments and read no other notebook variable.
        """
        expected = set(inspect.signature(compute).parameters)
        if expected != set(inputs):
            raise TypeError(f"{compute.__name__} takes {sorted(expected)} but exp.cached was given "
                            f"{sorted(inputs)}; pass each argument of {compute.__name__} as a keyword")
        modules = referenced_modules(compute)
        code = code_version(modules)
        if config.probed() == self.name:
            from collapse.infra import probe

            raise probe.Done(probe.fingerprint(self, compute, inputs, modules))
        key = result_key(self.name, self.mode, inputs, compute, code)
        file = ResultFile(self.results_dir / compute.__name__)
        result = file.load(key)
        if result is not None:
            log.info("%s/%s: from the store (key %s)", self.name, compute.__name__, key)
            return result
        if config.store_only():
            from collapse.infra import probe

            raise probe.StoreMiss(probe.miss_message(self.name, file, key))
        log.info("%s/%s: computing (key %s)", self.name, compute.__name__, key)
        start = time.perf_counter()
        with jobs.tally() as job_seconds:
            result = compute(**inputs)
            jobs_s = job_seconds()
        if type(result).__name__ != "Dataset":
            raise TypeError(f"{compute.__name__} returned {type(result).__name__}; return an xarray.Dataset "
                            f"with named dimensions and coordinates")
        file.save(result, key, experiment=self.name, mode=self.mode, code_version=code, modules=modules,
                  device=str(compute_device()),
                  inputs=fingerprint(inputs), parameters=fingerprint(self.parameters), canonical=self.canonical,
                  wall_time_s=round(time.perf_counter() - start, 1), jobs_s=jobs_s)
        return file.load(key)

    def record_claims(self, result):
        """Evaluate this notebook's claims (``collapse.claims.<experiment>``) on ``result``, write them beside
        it, and return them as a table; in smoke mode a flipped verdict is an error (see
        :func:`collapse.infra.ledger.record`)."""
        from collapse.claims import from_json
        from collapse.infra import ledger

        found = ledger.evaluate(self.name, result, self.parameters, self.sizes)
        committed = config.canonical_dirs(self.name, "full")[0] / "claims.json"
        expected = from_json(committed.read_text()) if committed.exists() else None
        self.claims = {c.id: c for c in found}  # for the closing cells, which render their numbers from them
        return ledger.record(self, found, expected)

    def save_figure(self, fig, name: str):
        """``name``.pdf and .png under this run's figures folder, unless :func:`collapse.infra.config.write_figures`
        says no (`make test` checks what notebooks print; saving every figure was 45 % of its strict stage's time,
        and the committed figures are written by canonical runs, `make reproduce`)."""
        if not config.write_figures():
            return figures.check_registered(name)
        return figures.save_figure(fig, name, self.figures_dir)


def _injected_by_papermill() -> set[str]:
    """The names papermill's injected cell (the one it opens with "# Parameters") assigned in this kernel: without
    this check, a misspelt ``-p`` name was ignored and the run went on with the defaults, as a canonical run."""
    try:
        from IPython import get_ipython
    except ImportError:
        return set()
    shell = get_ipython()
    cells = shell.user_ns.get("In", []) if shell is not None else []
    return {target.id for source in cells if source.startswith("# Parameters\n")
            for node in ast.parse(source).body if isinstance(node, ast.Assign)
            for target in node.targets if isinstance(target, ast.Name)}


def _checked_parameters(experiment: str, parameters: dict) -> str:
    """'default' if every parameter equals its notebook default, else 'changed'; a parameter the notebook
    does not declare, or one of the wrong type, is an error naming it."""
    defaults = config.notebook_defaults(experiment)
    injected = _injected_by_papermill() - set(defaults) - {"mode", "sizes"}
    if injected:
        raise ValueError(f"papermill passed {', '.join(sorted(injected))}, which {config.NOTEBOOKS[experiment]} "
                         f"does not declare; its parameters are: {', '.join(sorted(defaults))} (and mode, sizes)")
    unknown, missing = set(parameters) - set(defaults), set(defaults) - set(parameters)
    if unknown or missing:
        raise TypeError(f"Experiment({experiment!r}) got parameters {sorted(unknown)} that its notebook does not "
                        f"declare and lacks {sorted(missing)}; pass exactly: {', '.join(sorted(defaults))}")
    for name, value in parameters.items():
        default = defaults[name]
        if isinstance(value, str) and isinstance(default, (list, dict)):
            raise TypeError(f"parameter {name}={value!r} is a string where a {type(default).__name__} is expected; "
                            f"papermill's -p passes text: use -y '{name}: {value}' instead")
        domains.check(config.NOTEBOOKS[experiment], name, value, default)
    return "default" if fingerprint(parameters) == fingerprint(defaults) else "changed"
