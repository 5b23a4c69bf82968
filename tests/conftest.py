import numpy as np
import pytest

from collapse import GaussianMixture


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture
def mixture3d():
    """A 3-D mixture with unequal weights and per-component diagonal variances."""
    means = [[0.0, 0.0, 0.0], [2.0, -1.0, 0.5], [-1.5, 2.0, 1.0]]
    variances = [[0.3, 0.5, 0.4], [0.8, 0.2, 0.6], [0.5, 0.5, 0.5]]
    return GaussianMixture(means, variances, [0.5, 0.3, 0.2])
