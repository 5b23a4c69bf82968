"""Recursive DDPM training on Fashion-MNIST (notebooks/04_image_recursive_diffusion.ipynb): [K]'s Figs. 2, 8, 9, 10.

- A small CNN classifier trained on real Fashion-MNIST supplies features; the drift of generation g is the
  Gaussian chi^2 (and KL, and FID) between the features of its samples and of the real test set, in the real
  features' leading principal directions (:class:`FeatureSpace`), and its predicted labels give the class
  histogram (mode loss).
- Observability across generations (Fig. 9): the ideal path is driven by the exact score of the training set
  q_g the model was fitted on (a finite set of images, so its noised law is a Gaussian mixture with one
  component per image), the learned score is the network's. That reference memorises, so at small noise every
  model that generalises is far from it: :class:`WindowedStatistics` records the error over windows t >= cut,
  the same energy of the exact score of as many *disjoint* real images calibrates that floor, and
  :func:`choose_cut` picks the window where the floor is small. eta_hat is the cross-fitted regression of
  :mod:`collapse.core.observability` on one generic feature set (:class:`EndpointFeatures`), validated where eta
  is exact, at this dimension and path count, by :func:`estimator_check`.
- Perturbation ablation (Fig. 2): on a trained network, the ideal path is driven by its own score and the
  "learned" score carries a known error (:class:`Perturbations`): aligned (the score of slightly shifted data),
  the same error in a random direction, or a time-only error, oscillating or constant; :func:`oracle_ablation` reads
  the same paths with an oracle feature and the network's own features, and samples each perturbed sampler for the
  first-order check (:func:`first_order_check`).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import torch
from sklearn.linear_model import LinearRegression, RidgeCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn
from torch.nn import functional as F

from collapse.core.diffusion import PathStatistics, SamplerConfig, log_snr, ou_coefficient, ou_sigma, reverse_sde
from collapse.core.gaussian import chi2_gaussian, kl_gaussian
from collapse.core.mixture import GaussianMixture
from collapse.core.observability import held_out_predictions, observability_forms
from collapse.core.recursion import RecursionState, Workflow, from_array, run_recursion
from collapse.models import fashion_mnist
from collapse.models.ddpm import DDPM
from collapse.studies.single_generation import GaussianTestbed

PERTURBATIONS = ("aligned", "random direction", "time only", "time only, constant")


# ---------------------------------------------------------------------------------------------- classifier
class Classifier(nn.Module):
    """Two conv/pool layers, a linear feature layer (the features are its pre-activations), a linear head."""

    def __init__(self, resolution: int, features: int = 32):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                  nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
        self.feature = nn.Linear(64 * (resolution // 4) ** 2, features)
        self.head = nn.Linear(features, 10)

    def forward(self, x):
        return self.head(F.relu(self.features(x)))

    def features(self, x):
        return self.feature(self.conv(x))

    @torch.no_grad()
    def embed(self, images: np.ndarray, chunk: int = 2000) -> tuple[np.ndarray, np.ndarray]:
        """(features float64 (n, k), predicted labels (n,)) of model-scale images."""
        self.eval()
        feats = torch.cat([self.features(torch.as_tensor(images[i:i + chunk], dtype=torch.float32))
                           for i in range(0, len(images), chunk)])
        return feats.double().numpy(), self.head(F.relu(feats)).argmax(1).numpy()


def train_classifier(images: np.ndarray, labels: np.ndarray, epochs: int, seed: int, batch: int = 128,
                     features: int = 32) -> Classifier:
    """Adam with a cosine learning rate on model-scale images; seeded, and leaving global torch state as it was."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = Classifier(images.shape[-1], features)
        generator = torch.Generator().manual_seed(seed)
        x, y = torch.as_tensor(images), torch.as_tensor(labels, dtype=torch.long)
        per_epoch = len(x) // batch
        optimiser = torch.optim.Adam(model.parameters(), lr=2e-3)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, epochs * per_epoch)
        model.train()
        for _ in range(epochs):
            for rows in torch.randperm(len(x), generator=generator)[: per_epoch * batch].view(per_epoch, -1):
                loss = F.cross_entropy(model(x[rows]), y[rows])
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                schedule.step()
    return model.eval()


# ---------------------------------------------------------------------------------------------- divergences
def moments(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(m1, c1, m2, c2) -> float:
    """FID's formula between two Gaussians: ||m1 - m2||^2 + tr(c1 + c2 - 2 (c1 c2)^{1/2})."""
    root = scipy.linalg.sqrtm(c1 @ c2).real
    return float(np.sum((m1 - m2) ** 2) + np.trace(c1 + c2 - 2 * root))


def feature_divergences(features: np.ndarray, reference: tuple) -> dict[str, float]:
    """Gaussian chi^2 and KL of the features' Gaussian fit to the reference's, and their FID."""
    m, c = moments(features)
    return {"chi2": chi2_gaussian(m, c, *reference), "kl": kl_gaussian(m, c, *reference),
            "fid": frechet_distance(m, c, *reference)}


class FeatureSpace:
    """Where drift is measured: the classifier's features of real images in their ``dims`` leading principal
    directions, and the Gaussian fit there. In all 32 feature dimensions, 1000 samples leave the Gaussian chi^2
    infinite for a generation-0 model (2 Sigma_real - Sigma_gen loses positive definiteness in a direction the real
    features barely use) and at 1.1 between two sets of real images; 10 directions hold 99 % of the variance."""

    def __init__(self, classifier: Classifier, real: np.ndarray, dims: int):
        features, self.predicted = classifier.embed(real)  # the predictions give the accuracy without a second pass
        self.classifier, self.center = classifier, features.mean(axis=0)
        _, singular, rows = np.linalg.svd(features - self.center, full_matrices=False)
        self.directions = rows[:dims].T
        self.explained = float(np.sum(singular[:dims] ** 2) / np.sum(singular**2))
        self.reference = moments(self.coordinates(features))

    def coordinates(self, features: np.ndarray) -> np.ndarray:
        return (features - self.center) @ self.directions

    def measure(self, images: np.ndarray) -> dict:
        """Gaussian chi^2, KL and FID of the images' features to the real ones, and their predicted classes."""
        features, labels = self.classifier.embed(images)
        return {**feature_divergences(self.coordinates(features), self.reference),
                "classes": np.bincount(labels, minlength=10)}


# ---------------------------------------------------------------------------------------------- observability
class EndpointFeatures:
    """The one feature set of every eta_hat here: an endpoint's coordinates z in all the principal directions of the
    real training images, and their squares. Generic (no score enters, so no perturbation's log-likelihood ratio is
    built in) and, on a Gaussian fitted to the images, nearly sufficient: there log p_hat / p is a quadratic in the
    endpoint, whose diagonal part in the principal basis z, z^2 span (:func:`estimator_check` measures the rest).
    Not on the images themselves: :func:`oracle_ablation` shows they miss most of a known error."""

    def __init__(self, real: np.ndarray):
        flat = np.asarray(real, float).reshape(len(real), -1)
        self.center = flat.mean(axis=0)
        self.basis = np.linalg.eigh(np.cov(flat, rowvar=False))[1][:, ::-1]

    def __call__(self, y) -> np.ndarray:
        z = (np.asarray(y, float) - self.center) @ self.basis
        return np.hstack([z, z**2])


class ErrorFeatures:
    """The generic features and what the model itself shows at the endpoint y: at each of a few small ``times`` t,
    the learned score and its error e = learned - driving (the score the ideal path follows) in the principal
    coordinates, with y . e and |e|^2. For an affine error e = A y + b (the Gaussian cases), the log-likelihood ratio
    the regression looks for is a quadratic form in y; y . e is the quadratic form the error itself defines, which
    carries the off-diagonal part the generic squares (the diagonal only) lack, though not every reweighting of it
    (the estimator range measures how far that goes); for the ablation's aligned error, the first-order
    log-likelihood ratio v . s(y) is a linear function of the learned score's coordinates. The martingale is
    computed from the same two scores along the path, so the estimator needs nothing it did not already use."""

    def __init__(self, generic: EndpointFeatures, times):
        self.generic, self.times = generic, tuple(times)

    def __call__(self, y, learned, driving) -> np.ndarray:
        """Features of the endpoints ``y`` (an (n, d) tensor or array, as the scores take it); ``driving`` is
        called before ``learned`` at each time, as the sampler does (see :class:`Perturbations`)."""
        flat = np.asarray(y, float)
        columns = [self.generic(flat)]
        for t in self.times:
            base = np.asarray(driving(y, t), float)
            score = np.asarray(learned(y, t), float)
            e = score - base
            columns += [score @ self.generic.basis, e @ self.generic.basis,
                        np.sum((flat - self.generic.center) * e, axis=1, keepdims=True),
                        np.sum(e * e, axis=1, keepdims=True)]
        return np.hstack(columns)


def endpoint_regressor():
    """E[M_T | Y_t0] on the generic features: ridge regression (penalty by cross-validation) on standardised
    features. Its shrinkage pulls small readings towards 0 (:mod:`collapse.studies.estimator_range`)."""
    return make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-2, 5, 15)))


def eta_hat(martingale, energy, features, regressor=None) -> dict:
    """Both cross-fitted forms of eta_hat (covariance and held-out R^2) with standard errors, by the endpoint
    regression (``regressor``, default :func:`endpoint_regressor`); ``martingale`` and ``energy`` per path."""
    predicted = held_out_predictions(np.asarray(martingale), features, regressor or endpoint_regressor())
    return observability_forms(np.asarray(martingale), predicted, np.asarray(energy))


def network_eta_hat(martingale, energy, features) -> dict:
    """:func:`eta_hat` on :class:`ErrorFeatures` by unpenalised least squares, the regression they were validated
    with: unbiased in the covariance form wherever E[M_T | Y] lies in their span."""
    return eta_hat(martingale, energy, features, LinearRegression())


class WindowedStatistics:
    """:class:`collapse.core.diffusion.PathStatistics` of an ideal path (driven by the true score) for the error
    restricted to each window t >= cut: per path and cut, the energy and the martingale M of a learned score
    equal to ``other`` at t >= cut and to the true score below. One evaluation of ``other`` serves every cut."""

    def __init__(self, other, cuts):
        self.other, self.cuts = other, np.asarray(cuts, float)
        self.energy = self.martingale = 0.0

    def record(self, y, t, score, dB, dt):
        e = self.other(y, t) - score
        inside = torch.from_numpy(t >= self.cuts).to(e.dtype)  # (cuts,)
        self.energy = self.energy + (e * e).sum(1)[:, None] * dt * inside
        self.martingale = self.martingale - (e * dB).sum(1)[:, None] * inside


def training_set_score(train: np.ndarray):
    """The exact score of the training set noised to time t: one Gaussian component per image, of variance
    sigma_t^2 (plus 1e-10, as a mixture needs positive variances)."""
    mixture = GaussianMixture(np.asarray(train, float).reshape(len(train), -1), 1e-10)
    return lambda y, t: torch.from_numpy(mixture.score(y.numpy(), t))


def ideal_paths(score, d: int, sampler: SamplerConfig, paths: int, rng, recorders=()) -> torch.Tensor:
    """Endpoints of ``paths`` float64 reverse-SDE paths driven by ``score`` from N(0, I), seen by ``recorders``."""
    generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
    y = torch.randn((paths, d), generator=generator, dtype=torch.float64)
    return reverse_sde(score, y, generator, sampler, tuple(recorders))


def generation_observability(model: DDPM, train: np.ndarray, disjoint: np.ndarray, features: ErrorFeatures,
                             cuts, paths: int, steps: int, rng) -> dict:
    """Fig. 9 for one fitted model, per window t >= cut: eps_star^2 of the network against the exact score of the
    training set q_g it was fitted on; eta_hat (both forms) on the generic features (ridge) and, as ``net_*``, on
    the network's own ``features`` (least squares); and the reference floor: the same energy for the exact score of
    ``disjoint`` real images (as many, none of them in q_g): another memoriser, of other draws from the same
    distribution, whose energy is the part of eps_star^2 due to which images were memorised."""
    exact, learned = training_set_score(train), model.score()
    network, floor = WindowedStatistics(learned, cuts), WindowedStatistics(training_set_score(disjoint), cuts)
    y = ideal_paths(exact, train[0].size, model.sampler(steps), paths, rng, (network, floor))
    generic, own = features.generic(y.numpy()), features(y, learned, exact)
    forms = [eta_hat(network.martingale[:, k], network.energy[:, k], generic) for k in range(len(cuts))]
    seen = [network_eta_hat(network.martingale[:, k], network.energy[:, k], own) for k in range(len(cuts))]
    return {"eps_star2": network.energy.mean(0).numpy(), "floor_eps2": floor.energy.mean(0).numpy(),
            **{key: np.array([f[key] for f in forms]) for key in forms[0]},
            **{f"net_{key}": np.array([f[key] for f in seen]) for key in seen[0]}}


def estimator_check(resolution: int, count: int, features: EndpointFeatures, paths: int, steps: int, beta: float,
                    seed: int) -> dict:
    """eta_hat where eta is exact, at image dimension and the notebook's path count: data N(mean, cov) fitted to
    the first ``count`` real training images (cov + 0.05 I: the pooled images' smallest variances are near 0,
    which a sampler of tens of steps cannot resolve), affine score errors of notebook 01 (a covariance error and a
    mean shift, whose exact eta comes from the chain's exact moments), and the generic :class:`EndpointFeatures`
    or the pixels alone, at ``paths`` and a quarter of them. The testbed's sampler has a uniform grid (T = 4,
    t0 = 0.02), as its exact moments need; the dimension, the features, the regression and the path count are the
    notebook's."""
    real, _ = real_images(resolution, count)
    flat = real.reshape(len(real), -1).astype(float)
    bed = GaussianTestbed(flat.mean(axis=0), np.cov(flat, rowvar=False) + 0.05 * np.eye(flat.shape[1]),
                          SamplerConfig(T=4.0, t0=0.02, steps=steps))
    shapes, counts, sets = ("covariance", "mean_shift"), (paths // 4, paths), ("generic", "pixels")
    out = {"exact": np.array([bed.eta(shape) for shape in shapes]),
           **{key: np.zeros((len(shapes), len(counts), len(sets))) for key in ("eta", "eta_se", "eta_r2", "eta_r2_se")}}
    for i, shape in enumerate(shapes):
        for j, count in enumerate(counts):
            rng = np.random.default_rng([seed, 5, i, j])
            stats = PathStatistics(bed.learned_score(shape, beta))
            y = reverse_sde(bed.score(), rng.standard_normal((count, bed.dim)), rng, bed.config, (stats,))
            for k, x in enumerate((features(y), y)):
                for key, value in eta_hat(stats.martingale, stats.energy, x).items():
                    out[key][i, j, k] = value
    return out


class Perturbations:
    """The "learned" scores of the ablation around a network's ``score``, which also drives the ideal paths: each
    step's score and its value at shifted points are computed once and reused by every perturbation (as functions
    of (y, t) on float64 tensors; the driving score must be called first at each step, as the sampler does).

    ``aligned``: the exact score of the data shifted by beta along a fixed unit direction v (the network's score
    at y - a_t beta v): what a model that learned a slightly different image distribution would use, all of whose
    error shows in the sample. ``random direction``: that error turned by a fixed random rotation: state-dependent,
    of the same energy, no longer the score of any shifted distribution. ``time only``: beta a_t u / sigma_t^2 for a
    fixed random unit u (the aligned error's scale), its sign alternating from one sampler step to the next so that
    it averages out (notebook 01's oscillating error); ``time only, constant``: the same without the alternation,
    a drift of the path that does show in the sample (notebook 01's constant error).
    """

    def __init__(self, score, d: int, T: float, t0: float, steps: int, rng):
        self.score, self.T, self.steps, self.span = score, T, steps, log_snr(t0) - log_snr(T)
        v, u = rng.standard_normal(d), rng.standard_normal(d)
        rotation = np.linalg.qr(rng.standard_normal((d, d)))[0]
        self.v, self.u, self.rotation = (torch.from_numpy(w) for w in (v / np.linalg.norm(v), u / np.linalg.norm(u),
                                                                        rotation))
        self.current, self.shifted = None, {}

    def __call__(self, y, t):
        """The driving score; clears the shifted values of the previous step."""
        self.current, self.shifted = self.score(y, t), {}
        return self.current

    def shifted_score(self, y, t, beta):
        if beta not in self.shifted:
            self.shifted[beta] = self.score(y - ou_coefficient(t) * beta * self.v, t)
        return self.shifted[beta]

    def time_error(self, t, beta, oscillating):
        sign = np.cos(np.pi * self.steps * (log_snr(t) - log_snr(self.T)) / self.span) if oscillating else 1.0
        return beta * float(sign) * ou_coefficient(t) * self.u / ou_sigma(t) ** 2

    def learned(self, kind: str, beta: float):
        if kind not in PERTURBATIONS:
            raise ValueError(f"perturbation kind={kind!r} is unknown; use one of {', '.join(PERTURBATIONS)}")
        if kind == "aligned":
            return lambda y, t: self.shifted_score(y, t, beta)
        if kind == "random direction":
            return lambda y, t: self.current + (self.shifted_score(y, t, beta) - self.current) @ self.rotation.T
        return lambda y, t: self.current + self.time_error(t, beta, oscillating=kind == "time only")


def perturbation_ablation(model: DDPM, betas, features: EndpointFeatures, paths: int, steps: int,
                          seed: int) -> dict[str, np.ndarray]:
    """eps^2 and eta_hat (both forms) for each perturbation kind and size, all on one set of ideal paths (Fig. 2),
    with the generic endpoint features every kind shares."""
    d = model.shape[0] * model.shape[1]
    driving = Perturbations(model.score(), d, model.T, model.t0, steps, np.random.default_rng([seed, 3]))
    recorders = {(kind, beta): PathStatistics(driving.learned(kind, beta)) for kind in PERTURBATIONS for beta in betas}
    y = ideal_paths(driving, d, model.sampler(steps), paths, np.random.default_rng([seed, 2]), recorders.values())
    x = features(y.numpy())
    out = {key: np.zeros((len(PERTURBATIONS), len(betas))) for key in ("eps2", "eta", "eta_se", "eta_r2", "eta_r2_se")}
    for (kind, beta), stats in recorders.items():
        i, j = PERTURBATIONS.index(kind), list(betas).index(beta)
        out["eps2"][i, j] = float(stats.energy.mean())
        for key, value in eta_hat(stats.martingale.numpy(), stats.energy.numpy(), x).items():
            out[key][i, j] = value
    return out


# the oracle ablation: its state-dependent arms, and the feature sets it regresses them on
ORACLE_ARMS = ("aligned", "random direction")
ORACLE_FEATURE_SETS = ("generic", "oracle", "generic + oracle", "network")
FIRST_ORDER = ("shift", "shift_se", "covariance", "covariance_se", "chi2_low", "eta_eps2", "eta_eps2_se", "eps2")


def oracle_ablation(start: RecursionState, betas, features: ErrorFeatures, paths: int, steps: int,
                    seed: int) -> dict[str, np.ndarray]:
    """How much of the ablation's errors do the endpoint features see? On the same ideal paths as
    :func:`perturbation_ablation` (same seeds), eta_hat and its standard error, (arm, beta, feature set), for its two
    state-dependent arms of the model in ``start`` (a recursion state, as the ablation's job receives it): on the
    generic features, on the *oracle* feature alone and on both (ridge, as the ablation), and on the network's own
    ``features`` (least squares, as validated), which are not handed the oracle. To first order the aligned error's
    log-likelihood ratio at the endpoint is -a_t0 beta v . s(y, t0), so E[M_T | Y] is, to that order, a function of
    the one oracle feature v . s(y, t0): if adding it raises eta_hat, the generic features miss that much of the
    aligned error's observability (the turned error has no such oracle; it is regressed on the same sets for
    comparison). Also :func:`first_order_check` of every perturbation at the smallest beta, as
    ``first_<quantity>`` (perturbation,)."""
    model: DDPM = start.learner
    d = model.shape[0] * model.shape[1]
    driving = Perturbations(model.score(), d, model.T, model.t0, steps, np.random.default_rng([seed, 3]))
    small = min(betas)
    cases = [(arm, beta) for arm in ORACLE_ARMS for beta in betas] + [(k, small) for k in PERTURBATIONS
                                                                       if k not in ORACLE_ARMS]
    recorders = {case: PathStatistics(driving.learned(*case)) for case in cases}
    noise = [seed, 2]  # the ideal paths' noise, which each perturbed sampler shares (common random numbers)
    y = ideal_paths(driving, d, model.sampler(steps), paths, np.random.default_rng(noise), recorders.values())
    oracle = (model.score()(y, model.t0) @ driving.v * ou_coefficient(model.t0)).numpy()[:, None]
    generic = features.generic(y.numpy())
    sets = {"generic": generic, "oracle": oracle, "generic + oracle": np.hstack([generic, oracle])}
    out = {key: np.zeros((len(ORACLE_ARMS), len(betas), len(ORACLE_FEATURE_SETS))) for key in ("eta", "eta_se")}
    for arm in ORACLE_ARMS:
        for j, beta in enumerate(betas):
            stats, i = recorders[arm, beta], ORACLE_ARMS.index(arm)
            m, energy = stats.martingale.numpy(), stats.energy.numpy()
            forms = [eta_hat(m, energy, sets[name]) for name in ORACLE_FEATURE_SETS[:-1]]
            forms.append(network_eta_hat(m, energy, features(y, driving.learned(arm, beta), driving)))
            out["eta"][i, j], out["eta_se"][i, j] = [f["eta"] for f in forms], [f["eta_se"] for f in forms]
    checks = [first_order_check(model.sampler(steps), driving, kind, small, recorders[kind, small], y, features,
                                noise, np.random.default_rng([seed, 7, k])) for k, kind in enumerate(PERTURBATIONS)]
    return {**out, **{f"first_{key}": np.array([c[key] for c in checks]) for key in FIRST_ORDER}}


def first_order_check(sampler, driving: Perturbations, kind: str, beta: float, stats: PathStatistics, ideal,
                      features: ErrorFeatures, noise, rng) -> dict[str, float]:
    """chi^2 = eta eps_star^2 to first order, checked with the perturbed sampler Q (driven by the perturbation's
    score) run on the ideal paths' own noise (``noise``, the seed of :func:`ideal_paths`' rng): path by path, Q's
    endpoint differs from the ideal one (``ideal``, their martingale in ``stats``) only through the error, so a
    difference of means between them has the small variance of a paired difference.

    h, the least-squares regression of M_T on the network's features, is fitted on half the ideal paths (halves
    drawn by ``rng``); on the other half, paired path by path with Q, it gives the ``shift`` E_Q h - E_P h. With
    M_T = -int e . dB the paths' likelihood ratio dQ/dP is exp(-M_T - <M>_T / 2), so to first order the shift is
    -E_P[h M_T] (``covariance`` holds E_P[h M_T]) and, for h = E[M_T | Y], -eta eps_star^2: beside it ``eta_eps2``,
    eta_hat (covariance form, cross-fitted on all ideal paths) times ``eps2``. ``chi2_low``: shift^2 / Var_P h is a
    lower bound on chi^2(Q || P) for any h (the variational form of chi^2); with the shift's noise it is taken at the
    shift's 2-standard-error lower limit, max(0, |shift| - 2 se)^2 / Var_P h, a one-sided 97.5 % lower bound."""
    learned = driving.learned(kind, beta)

    def perturbed(y, t):
        driving(y, t)  # the step's driving score first, as the perturbations need
        return learned(y, t)

    q = ideal_paths(perturbed, ideal.shape[1], sampler, len(ideal), np.random.default_rng(noise))
    m, energy = stats.martingale.numpy(), stats.energy.numpy()
    x_p, x_q = features(ideal, learned, driving), features(q, learned, driving)
    fit, held = np.array_split(rng.permutation(len(m)), 2)
    h = LinearRegression().fit(x_p[fit], m[fit])
    h_p, h_q = h.predict(x_p[held]), h.predict(x_q[held])
    paired = h_q - h_p
    shift, shift_se = paired.mean(), paired.std(ddof=1) / np.sqrt(len(paired))
    products = (h_p - h_p.mean()) * (m[held] - m[held].mean())
    forms = network_eta_hat(m, energy, x_p)
    eps2 = float(energy.mean())
    return {"shift": shift, "shift_se": shift_se, "covariance": products.mean(),
            "covariance_se": products.std(ddof=1) / np.sqrt(len(products)),
            "chi2_low": max(0.0, abs(shift) - 2 * shift_se) ** 2 / h_p.var(ddof=1), "eta_eps2": forms["eta"] * eps2,
            "eta_eps2_se": forms["eta_se"] * eps2, "eps2": eps2}


# ---------------------------------------------------------------------------------------------- the recursion
def real_images(resolution: int, count: int | None = None, split: str = "train"):
    """Model-scale images of ``split`` (the first ``count``) and their labels."""
    x, y = fashion_mnist.load(split)
    count = count or len(x)
    return fashion_mnist.to_model_scale(x[:count], resolution), y[:count]


def make_measure(space: FeatureSpace, metric_samples: int, grid: int, observe: dict | None, seed: int):
    """Each generation's metrics: drift and classes of its samples, and with ``observe`` (the keyword arguments of
    :func:`generation_observability` but the model, training set and rng) eps_star^2 and eta_hat, on paths of their
    own stream, so that observing a chain leaves its data draws as they were."""
    def measure(g, model, train, samples, rng):
        paths_rng = np.random.default_rng([seed, 6, g])
        observed = generation_observability(model, train, rng=paths_rng, **observe) if observe else {}
        return {**space.measure(samples[:metric_samples]), **observed, "loss": model.losses[-1],
                "grid": samples[:grid]}
    return measure


def ddpm_arguments(training: dict, sizes: dict, **network) -> dict:
    """The :class:`DDPM` keyword arguments of a mode: its training table (widths, batch, learning rates, sampling
    precision), its sizes' budgets and sampler steps, and ``network``'s (dropout, weight decay, EMA, T, t0)."""
    return dict(**{k: training[k] for k in ("channels", "batch", "lr", "continue_lr", "sample_bfloat16")},
                **{k: sizes[k] for k in ("base_epochs", "epochs", "sample_steps")}, **network)


def run_chain(alpha: float, ddpm: dict, space: FeatureSpace, n: int, generations: int, resolution: int,
              train_count: int, metric_samples: int, grid: int, seed: int, observe: dict | None = None,
              checkpoints=None, start: RecursionState | None = None):
    """Generations 0 .. generations-1 of the fresh-alpha recursion, continuing from ``start`` (a shared
    generation 0: the same for every alpha, as q_0 = p_data) when given. Returns the metrics per generation
    and the final state."""
    train, _ = real_images(resolution, train_count)
    result = run_recursion(DDPM(**ddpm, seed=seed), from_array(train), Workflow("fresh", alpha), generations, n,
                           np.random.default_rng([seed, 4]), checkpoints=checkpoints, start=start,
                           desc=f"alpha {alpha} seed {seed}",
                           measure=make_measure(space, metric_samples, grid, observe, seed))
    return result.metrics, result.state


def choose_cut(cuts, floor_eps2, eps_star2, share: float = 0.1) -> float:
    """The window t >= t_c over which eps_star^2 means an error relative to q_g rather than memorisation: the
    smallest cut at which the reference floor (a perfect generaliser's energy against the memorising exact score)
    is at most ``share`` of the network's, so that at most that share of eps_star^2 there is a gap every model that
    generalises pays. The largest cut when none qualifies."""
    qualifies = np.asarray(floor_eps2) <= share * np.asarray(eps_star2)
    return float(np.asarray(cuts)[np.argmax(qualifies)] if qualifies.any() else cuts[-1])


def run_one(kind: str, job: dict, checkpoints):
    """One worker's job for :func:`collapse.infra.jobs.run_jobs`: a ``chain`` (its metrics and final state), the
    ``ablation`` or its ``oracle`` companion (of the generation-0 model in ``job["start"]``), or the ``estimator``
    check."""
    if kind == "chain":
        return run_chain(**job, checkpoints=checkpoints)
    if kind == "estimator":
        return estimator_check(**job)
    if kind == "oracle":
        return oracle_ablation(**job)
    start, rest = job["start"], {key: value for key, value in job.items() if key != "start"}
    return perturbation_ablation(start.learner, **rest)
