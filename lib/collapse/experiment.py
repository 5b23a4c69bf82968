"""What a notebook opens with: its mode, its sizes, its cached result and where its figures go.

    exp = collapse.Experiment("tour", mode)        # mode None: $COLLAPSE_MODE, else "full"
    result = exp.cached(params, compute)            # compute(entry) -> dict of arrays
    exp.save_figure(fig, "figS1_tour_samples")
"""

from __future__ import annotations

from . import config, figures
from .cache import ResultEntry, source_hash


class Experiment:
    def __init__(self, name: str, mode: str | None = None):
        self.name = name
        self.mode = config.resolve_mode(mode)
        self.sizes = config.sizes(name, self.mode)
        self.results_dir, self.figures_dir = config.output_dirs(self.mode)
        config.set_threads()

    def __repr__(self) -> str:
        return f"Experiment({self.name!r}, mode={self.mode!r}, sizes={self.sizes})"

    def entry(self, params: dict, compute=None) -> ResultEntry:
        return ResultEntry(self.name, params, self.mode, self.results_dir, source_hash(compute) if compute else "")

    def cached(self, params: dict, compute) -> dict:
        """The result for ``params`` from the cache, or computed by ``compute(entry)`` and cached; the
        key includes ``compute``'s source, so editing it in the notebook recomputes."""
        return self.entry(params, compute).get_or_compute(compute)

    def save_figure(self, fig, name: str):
        return figures.save_figure(fig, name, self.figures_dir)
