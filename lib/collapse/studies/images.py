"""Recursive DDPM training on Fashion-MNIST (notebooks/04_image_recursive_diffusion.ipynb): [K]'s Figs. 2, 8, 9, 10.

- A small CNN classifier trained on real Fashion-MNIST supplies features; the drift of generation g is the
  Gaussian chi^2 (and KL, and FID) between the features of its samples and of the real test set, in the real
  features' leading principal directions (:class:`FeatureSpace`), and its predicted labels give the class
  histogram (mode loss).
- Observability across generations (Fig. 9): the ideal path is driven by the exact score of the training set
  q_g the model was fitted on (a finite set of images, so its noised law is a Gaussian mixture with one
  component per image), the learned score is the network's; eps_star^2 and eta_hat come from
  :class:`collapse.core.diffusion.PathStatistics` and :func:`collapse.core.bounds.observability` on the same paths.
- Perturbation ablation (Fig. 2): on a trained network, the ideal path is driven by its own score and the
  "learned" score carries a known error (:func:`perturbed_scores`): aligned (the score of slightly shifted data),
  the same error in a random direction, or a time-only error, oscillating or constant.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import torch
from sklearn.linear_model import RidgeCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn
from torch.nn import functional as F

from collapse.core.bounds import observability
from collapse.core.diffusion import PathStatistics, SamplerConfig, log_snr, ou_coefficient, ou_sigma, reverse_sde
from collapse.core.gaussian import chi2_gaussian, kl_gaussian
from collapse.core.mixture import GaussianMixture
from collapse.core.recursion import RecursionState, Workflow, from_array, run_recursion
from collapse.models import fashion_mnist
from collapse.models.ddpm import DDPM

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
def endpoint_regressor():
    """E[M_T | Y_t0] on images: ridge regression (penalty by cross-validation) on :func:`endpoint_features`."""
    return make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-2, 5, 15)))


def endpoint_features(y: torch.Tensor, score, t0: float) -> np.ndarray:
    """The endpoint, the driving score there (scaled by sigma_t0^2, a denoising residual) and its energy. To first
    order an error's log-likelihood ratio log p_hat / p is a function of the endpoint through the density: a
    shift delta of the data gives -delta . s(y), a change of scale the residual energy; directions that pixels
    alone, in a linear regression, cannot represent."""
    residual = ou_sigma(t0) ** 2 * score(y, t0)
    return torch.cat([y, residual, (residual**2).sum(dim=1, keepdim=True)], dim=1).numpy()


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


def path_observability(stats: PathStatistics, features: np.ndarray) -> tuple[float, float, float]:
    """(eps^2, eta_hat, its standard error) of one recorder's paths, by the endpoint regression."""
    energy, martingale = stats.energy.numpy(), stats.martingale.numpy()
    eta, eta_se = observability(martingale, features, energy, regressor=endpoint_regressor())
    return float(energy.mean()), eta, eta_se


def generation_observability(model: DDPM, train: np.ndarray, paths: int, steps: int, rng) -> dict:
    """eps_star^2 and eta_hat of a fitted model against the training set it was fitted on (Fig. 9)."""
    stats = PathStatistics(model.score(), driven_by="true")
    reference = training_set_score(train)
    y = ideal_paths(reference, train[0].size, model.sampler(steps), paths, rng, (stats,))
    eps_star2, eta, eta_se = path_observability(stats, endpoint_features(y, reference, model.t0))
    return {"eps_star2": eps_star2, "eta": eta, "eta_se": eta_se}


def perturbed_scores(score, current, kind: str, beta: float, d: int, T: float, t0: float, steps: int, rng):
    """The "learned" score of the ablation, as a function of (y, t) on float64 tensors, around the network's ``score``;
    ``current(y, t)`` is the same score at the sampler's current step (remembered, so it costs no network pass).

    ``aligned``: the exact score of the data shifted by beta along a fixed unit direction v (the network's score
    at y - a_t beta v): what a model that learned a slightly different image distribution would use, all of whose
    error shows in the sample. ``random direction``: that error turned by a fixed random rotation: state-dependent,
    of the same energy, no longer the score of any shifted distribution. ``time only``: beta a_t u / sigma_t^2 for a
    fixed random unit u (the aligned error's scale), its sign alternating from one sampler step to the next so that
    it averages out (notebook 01's oscillating error); ``time only, constant``: the same without the alternation,
    a drift of the path that does show in the sample (notebook 01's constant error).
    """
    if kind not in PERTURBATIONS:
        raise ValueError(f"perturbation kind={kind!r} is unknown; use one of {', '.join(PERTURBATIONS)}")
    shift = rng.standard_normal(d)
    shift *= beta / np.linalg.norm(shift)
    rotation = np.linalg.qr(rng.standard_normal((d, d)))[0]
    u = rng.standard_normal(d)
    u /= np.linalg.norm(u)
    shift, rotation, u = (torch.from_numpy(v) for v in (shift, rotation, u))
    span = log_snr(t0) - log_snr(T)

    def aligned_error(y, t):
        return score(y - ou_coefficient(t) * shift, t) - current(y, t)

    def time_error(t):
        sign = float(np.cos(np.pi * steps * (log_snr(t) - log_snr(T)) / span)) if kind == "time only" else 1.0
        return beta * sign * ou_coefficient(t) * u / ou_sigma(t) ** 2

    if kind == "aligned":
        return lambda y, t: score(y - ou_coefficient(t) * shift, t)
    if kind == "random direction":
        return lambda y, t: current(y, t) + aligned_error(y, t) @ rotation.T
    return lambda y, t: current(y, t) + time_error(t)


class Remembered:
    """A score function that remembers its last value, so that other functions of the same step reuse it."""

    def __init__(self, score):
        self.score, self.last = score, None

    def __call__(self, y, t):
        self.last = self.score(y, t)
        return self.last

    def current(self, y, t):
        return self.last


def perturbation_ablation(model: DDPM, betas, paths: int, steps: int, seed: int) -> dict[str, np.ndarray]:
    """eps^2 and eta_hat for each perturbation kind and size, all on one set of ideal paths (Fig. 2)."""
    rng = np.random.default_rng([seed, 2])
    d = model.shape[0] * model.shape[1]
    driving = Remembered(model.score())
    recorders = {(kind, beta): PathStatistics(perturbed_scores(
        model.score(), driving.current, kind, beta, d, model.T, model.t0, steps, np.random.default_rng([seed, 3])))
        for kind in PERTURBATIONS for beta in betas}
    y = ideal_paths(driving, d, model.sampler(steps), paths, rng, recorders.values())
    features = endpoint_features(y, model.score(), model.t0)
    out = {key: np.zeros((len(PERTURBATIONS), len(betas))) for key in ("eps2", "eta", "eta_se")}
    for (kind, beta), stats in recorders.items():
        i, j = PERTURBATIONS.index(kind), list(betas).index(beta)
        out["eps2"][i, j], out["eta"][i, j], out["eta_se"][i, j] = path_observability(stats, features)
    return out


# ---------------------------------------------------------------------------------------------- the recursion
def real_images(resolution: int, count: int | None = None, split: str = "train"):
    """Model-scale images of ``split`` (the first ``count``) and their labels."""
    x, y = fashion_mnist.load(split)
    count = count or len(x)
    return fashion_mnist.to_model_scale(x[:count], resolution), y[:count]


def make_measure(space: FeatureSpace, metric_samples: int, paths: int, steps: int, grid: int):
    def measure(g, model, train, samples, rng):
        return {**space.measure(samples[:metric_samples]), **generation_observability(model, train, paths, steps, rng),
                "loss": model.losses[-1], "grid": samples[:grid]}
    return measure


def run_chain(alpha: float, ddpm: dict, space: FeatureSpace, n: int, generations: int, resolution: int,
              train_count: int, metric_samples: int, paths: int, obs_steps: int, grid: int, seed: int,
              checkpoints=None, start: RecursionState | None = None):
    """Generations 0 .. generations-1 of the fresh-alpha recursion, continuing from ``start`` (a shared
    generation 0: the same for every alpha, as q_0 = p_data) when given. Returns the metrics per generation
    and the final state."""
    train, _ = real_images(resolution, train_count)
    result = run_recursion(DDPM(**ddpm, seed=seed), from_array(train), Workflow("fresh", alpha), generations, n,
                           np.random.default_rng([seed, 4]), checkpoints=checkpoints, start=start,
                           desc=f"alpha {alpha}", measure=make_measure(space, metric_samples, paths, obs_steps, grid))
    return result.metrics, result.state


def run_one(kind: str, job: dict, checkpoints):
    """One worker's job for :func:`collapse.infra.jobs.run_jobs`: a ``chain`` (its metrics) or the ``ablation``
    (of the generation-0 model in ``job["start"]``)."""
    if kind == "chain":
        return run_chain(**job, checkpoints=checkpoints)[0]
    start = job.pop("start")
    return perturbation_ablation(start.learner, **job)
