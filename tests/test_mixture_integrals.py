"""Closed-form integrals of Gaussian mixtures against quadrature and closed forms."""

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.stats import norm

from collapse import GaussianMixture
from collapse.core.mixture_integrals import chi2_lower_bound, inner_product, marginal


def density(m: GaussianMixture):
    return lambda x: float(np.sum(m.weights * norm.pdf(x, m.means[:, 0], np.sqrt(m.variances[:, 0]))))


@pytest.fixture
def mixtures():
    p = GaussianMixture([[-1.0], [0.5], [2.0]], [0.3, 0.5, 0.2], [0.2, 0.5, 0.3])
    q = GaussianMixture([[0.0], [1.0]], [0.8, 0.4], [0.6, 0.4])
    return p, q


def test_inner_products_match_quadrature(mixtures):
    """<p, q> flat and weighted by 1/r, and a signed combination, against adaptive quadrature (1-D)."""
    p, q = mixtures
    r = GaussianMixture([[0.3]], 1.5)
    for reference, weight in ((None, lambda x: 1.0), (r, lambda x: 1 / density(r)(x))):
        expected = quad(lambda x, weight=weight: density(p)(x) * density(q)(x) * weight(x), -30, 30, limit=200)[0]
        assert inner_product([(1, p)], [(1, q)], reference) == pytest.approx(expected, rel=1e-9)
    difference = quad(lambda x: (density(p)(x) - density(q)(x)) ** 2, -30, 30, limit=200)[0]
    assert inner_product([(1, p), (-1, q)], [(1, p), (-1, q)]) == pytest.approx(difference, rel=1e-8)


def test_components_sharing_a_variance_sum_as_pairs():
    """A KDE's components share one variance, so they are one group whose pairs are summed together: each pair's
    integral must enter the sum (against quadrature, with and without the 1/r weight)."""
    p = GaussianMixture([[0.0], [1.5], [-0.7]], 0.3, [0.5, 0.3, 0.2])
    q = GaussianMixture([[0.4], [-1.0]], 0.5)
    r = GaussianMixture([[0.2]], 1.0)
    expected = quad(lambda x: density(p)(x) ** 2 / density(r)(x), -30, 30, limit=200)[0]
    assert inner_product([(1, p)], [(1, p)], r) == pytest.approx(expected, rel=1e-9)
    expected = quad(lambda x: density(p)(x) * density(q)(x), -30, 30, limit=200)[0]
    assert inner_product([(1, p)], [(1, q)]) == pytest.approx(expected, rel=1e-9)


def test_chi2_to_a_gaussian_is_exact_and_bounded_below(mixtures):
    """1 + chi^2(p || g) = <p, p>_{1/g} for a Gaussian g; the variational bound sits below it, and equals the
    closed form for two centred Gaussians (where f = exp(lam x^2 / 2) is proportional to p / g)."""
    p, _ = mixtures
    g = GaussianMixture([[0.2]], 1.2)
    chi2 = quad(lambda x: density(p)(x) ** 2 / density(g)(x), -40, 40, limit=200)[0] - 1
    assert inner_product([(1, p)], [(1, p)], g) - 1 == pytest.approx(chi2, rel=1e-9)
    assert 0 < chi2_lower_bound(p, g)[0] <= chi2
    wide, narrow = GaussianMixture(np.zeros((1, 10)), 0.7), GaussianMixture(np.zeros((1, 10)), 0.4)
    v1, v2 = 0.7, 0.4
    exact = (v2 / np.sqrt(v1 * (2 * v2 - v1))) ** 10 - 1
    assert chi2_lower_bound(wide, narrow)[0] == pytest.approx(exact, rel=1e-6)


def test_infinite_integrals_and_projections_are_explicit():
    p, g = GaussianMixture([[0.0]], 2.0), GaussianMixture([[0.0]], 0.5)
    with pytest.raises(ValueError, match="infinite"):
        inner_product([(1, p)], [(1, p)], g)  # chi^2 of N(0, 2) to N(0, 0.5) is infinite
    m = GaussianMixture(np.arange(6.0).reshape(2, 3), [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    np.testing.assert_array_equal(marginal(m, [2]).variances, [[3.0], [6.0]])
