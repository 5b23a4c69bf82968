"""Mean and standard error across replicates: the one place every notebook's "±" comes from."""

from __future__ import annotations

import numpy as np
import xarray as xr


def standard_error(values, axis: int = 0):
    """Sample standard deviation (ddof=1) over sqrt(count) along ``axis`` of an array."""
    values = np.asarray(values)
    return values.std(axis=axis, ddof=1) / np.sqrt(values.shape[axis])


def mean_se(values, dim: str = "run", axis: int = 0) -> tuple:
    """Mean over replicates and its standard error (:func:`standard_error`; NaN with one replicate).
    ``values`` is a DataArray, reduced over ``dim``, or an array, reduced over ``axis``."""
    if not isinstance(values, xr.DataArray):
        values = np.asarray(values, float)
        mean = values.mean(axis=axis)
        return mean, standard_error(values, axis) if values.shape[axis] > 1 else mean * np.nan
    se = values.std(dim, ddof=1) / np.sqrt(values.count(dim)) if values.sizes[dim] > 1 else values.mean(dim) * np.nan
    return values.mean(dim), se


def format_mean_se(values, dim: str = "run", digits: int = 3) -> str:
    """``"mean ± se"`` of a one-dimensional set of replicates."""
    mean, se = mean_se(values, dim)
    return f"{float(mean):.{digits}f} ± {float(se):.{digits}f}"
