"""How far notebook 04's eta_hat can be trusted (notebooks/04_image_recursive_diffusion.ipynb, the estimator's range).

The image estimator -- the cross-fitted ridge regression of the martingale M_T on :class:`EndpointFeatures` (an
endpoint's principal coordinates and their squares) -- is checked where eta is exact: on a Gaussian fitted to the
images (196 dimensions at the notebook's resolution), with the notebook's sampler steps and path count, at the
values of eta it is read at and on an error it cannot see:

- ``covariance``: notebook 01's aligned covariance error (eta about 0.7);
- ``eta 0.3`` and ``eta 0.05``: that error mixed with the time-only oscillating one, the mixture chosen so that the
  exact eta is 0.3 or 0.05 (E[M | Y] is then a smaller multiple of the same quadratic);
- ``products``: a covariance error coupling pairs of principal directions, so that E[M | Y] is a sum of products
  z_i z_j of coordinates, which the features (z, z^2) do not hold.

Three readings on the same paths: the generic features by the ridge (penalty by cross-validation), whose
shrinkage pulls the covariance form of eta_hat towards 0 when the signal is small against the martingale's noise,
and by unpenalised least squares, whose held-out predictions leave that form unbiased wherever E[M | Y] lies in the
features' span; and the model's own features (:class:`collapse.studies.images.ErrorFeatures`: the learned score
and its error at the endpoint) by least squares, the reading notebook 04 validates for its networks.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq
from sklearn.linear_model import LinearRegression

from collapse.core.diffusion import PathStatistics, SamplerConfig, ou_coefficient, ou_variance, reverse_sde
from collapse.core.error_fields import AffineError
from collapse.core.observability import held_out_predictions, observability_forms
from collapse.studies.images import EndpointFeatures, ErrorFeatures, endpoint_regressor, real_images
from collapse.studies.single_generation import GaussianTestbed

CASES = ("covariance", "eta 0.3", "eta 0.05", "products")
# reading -> (regression, features): the notebook's generic features (principal coordinates and their squares) or
# the model's own (ErrorFeatures: the learned score and its error at the endpoint)
REGRESSIONS = {"ridge": (endpoint_regressor, "generic"), "least squares": (LinearRegression, "generic"),
               "network, least squares": (LinearRegression, "network")}


def image_gaussian(resolution: int, count: int, steps: int) -> GaussianTestbed:
    """N(mean, cov) fitted to the first ``count`` real training images (cov + 0.05 I: the pooled images' smallest
    variances are near 0, which a sampler of tens of steps cannot resolve), on a uniform grid (T = 4, t0 = 0.02)
    as the testbed's exact moments need."""
    real, _ = real_images(resolution, count)
    flat = real.reshape(len(real), -1).astype(float)
    return GaussianTestbed(flat.mean(axis=0), np.cov(flat, rowvar=False) + 0.05 * np.eye(flat.shape[1]),
                           SamplerConfig(T=4.0, t0=0.02, steps=steps))


def add_case(bed: GaussianTestbed, case: str) -> str:
    """Register ``case``'s error on ``bed`` (unit energy) and return its name there."""
    if case == "covariance":
        return case
    if case == "products":
        bed.add_error(case, AffineError(pair_coupling(bed)))
        return case
    if case not in CASES:
        raise ValueError(f"case={case!r}; use one of {', '.join(CASES)}")
    target = float(case.split()[1])

    def excess(rho):
        bed.add_mixture(case, "covariance", "oscillating", rho)
        return bed.eta(case) - target

    if excess(0.0) * excess(1.0) > 0:
        raise ValueError(f"case {case!r}: eta runs from {excess(0.0) + target:.2f} to {excess(1.0) + target:.2f} "
                         f"between the two errors, not across {target}; use at least 50 sampler steps (steps="
                         f"{bed.config.steps}), so that the oscillating error averages out")
    bed.add_mixture(case, "covariance", "oscillating", brentq(excess, 0.0, 1.0, xtol=1e-6))
    return case


def pair_coupling(bed: GaussianTestbed):
    """The score error d/dbeta of N(mean, cov + beta S), S = U J U^T coupling principal directions 2k and 2k + 1
    (U the covariance's eigenvectors, largest first, as the features' basis): E[M | Y] is then a sum of products of
    coordinates."""
    values, vectors = np.linalg.eigh(bed.cov)
    u = vectors[:, ::-1]
    pairs = np.zeros((bed.dim, bed.dim))
    i = np.arange(0, bed.dim - 1, 2)
    pairs[i, i + 1] = pairs[i + 1, i] = 1.0
    coupling = u @ pairs @ u.T

    def field(t):
        a = ou_coefficient(t)
        v_inv = np.linalg.inv(a**2 * bed.cov + ou_variance(a) * np.eye(bed.dim))
        m = v_inv @ (a**2 * coupling) @ v_inv
        return m, -m @ (a * bed.mean)

    return field


def check_job(resolution: int, count: int, features: EndpointFeatures, case: str, paths: int, steps: int, beta: float,
              seed: int) -> dict:
    """Exact eta of ``case`` and, per regression of :data:`REGRESSIONS`, both forms of eta_hat with their standard
    errors, from the same ``paths`` ideal paths."""
    bed = image_gaussian(resolution, count, steps)
    name = add_case(bed, case)
    rng = np.random.default_rng([seed, 11, CASES.index(case), paths])
    stats = PathStatistics(bed.learned_score(name, beta))
    y = reverse_sde(bed.score(), rng.standard_normal((paths, bed.dim)), rng, bed.config, (stats,))
    m = np.asarray(stats.martingale)
    own = ErrorFeatures(features, (bed.config.t0,))  # the model's own quantities at the endpoint
    x = {"generic": features(y), "network": own(y, stats.other, bed.score())}
    forms = [observability_forms(m, held_out_predictions(m, x[kind], make()), stats.energy)
             for make, kind in REGRESSIONS.values()]
    return {"exact": bed.eta(name), **{key: np.array([f[key] for f in forms]) for key in forms[0]}}
