"""The coordinates of notebook 04's oracle ablation, whose code now lives in :mod:`collapse.studies.images`
(:func:`~collapse.studies.images.oracle_ablation`): the committed result's compute function names them here, and a
re-key keeps that function's text as recorded. Drop this module at notebook 04's next recompute."""

from collapse.studies.images import ORACLE_ARMS as ARMS
from collapse.studies.images import ORACLE_FEATURE_SETS as FEATURE_SETS

__all__ = ["ARMS", "FEATURE_SETS"]
