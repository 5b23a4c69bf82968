"""Labelled results: named dimensions and coordinates instead of axes implied by reshape order."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr


def from_jobs(jobs: list[dict], results: list[dict], by: tuple[str, ...], dims: dict[str, tuple[str, ...]],
              coords: dict | None = None) -> xr.Dataset:
    """One Dataset from the results of independent jobs.

    ``by`` names the job inputs that index the jobs (e.g. ``("alpha", "replicate")``); ``dims[key]`` names
    the inner dimensions of each result's ``key`` (``()`` for a scalar). Every variable gets the dimensions
    ``by + dims[key]``; combinations no job ran hold NaN. ``coords`` labels the inner dimensions.
    """
    index = pd.MultiIndex.from_tuples([tuple(job[b] for b in by) for job in jobs], names=list(by))
    data = {key: (("job", *inner), np.stack([np.asarray(r[key]) for r in results])) for key, inner in dims.items()}
    dataset = xr.Dataset(data).assign_coords(xr.Coordinates.from_pandas_multiindex(index, "job"))
    return dataset.unstack("job").assign_coords(coords or {}).transpose(*by, ...)
