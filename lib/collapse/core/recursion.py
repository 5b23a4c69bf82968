"""The one recursion: build a training set, fit, sample, measure, checkpoint; repeat.

A learner is anything with ``fit(data) -> self`` and ``sample(n, rng) -> array``; all of its
randomness must come from the ``rng`` it is handed, so a run is determined by its seed and a resumed
run reproduces an uninterrupted one exactly. Generation g fits the model on a training set drawn
from q_g (q_0 = p_data for every workflow) and its samples are p_hat_{g+1}.

Workflows (n is the training-set size; n_real = round(fraction * n)):

==========================  ==================================================================
``replace``                 the previous model's n samples
``accumulate``              the original n real points and every synthetic set so far: n (g + 1)
``accumulate-subsample``    n points drawn without replacement from that accumulated pool
``fresh``                   n_real *new* real points and n - n_real of the previous model's ([K])
``keep-fraction``           the same n_real *original* real points and n - n_real synthetic ([S])
==========================  ==================================================================
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from tqdm.auto import tqdm

WORKFLOWS = ("replace", "accumulate", "accumulate-subsample", "fresh", "keep-fraction")
_WITH_FRACTION = ("fresh", "keep-fraction")

RealSampler = Callable[[int, np.random.Generator], np.ndarray]


class Learner(Protocol):
    def fit(self, data: np.ndarray) -> Learner: ...

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray: ...


@dataclass(frozen=True)
class Workflow:
    """A training-data workflow; ``fraction`` is alpha for ``fresh`` and the kept share for ``keep-fraction``."""

    name: str
    fraction: float | None = None

    def __post_init__(self):
        if self.name not in WORKFLOWS:
            raise ValueError(f"workflow={self.name!r} is unknown; use one of {', '.join(WORKFLOWS)}")
        if self.name in _WITH_FRACTION:
            if self.fraction is None or not 0.0 <= self.fraction <= 1.0:
                raise ValueError(f"workflow {self.name!r} needs fraction in [0, 1], e.g. Workflow({self.name!r}, 0.1)")
        elif self.fraction is not None:
            raise ValueError(f"workflow {self.name!r} takes no fraction; drop fraction={self.fraction}")

    @property
    def label(self) -> str:
        return self.name if self.fraction is None else f"{self.name} {self.fraction:g}"

    def real_count(self, n: int) -> int:
        return round(self.fraction * n) if self.fraction is not None else 0


def from_array(data: np.ndarray) -> RealSampler:
    """A real-data sampler over a finite dataset: each call draws rows without replacement."""
    data = np.asarray(data)

    def draw(n: int, rng: np.random.Generator) -> np.ndarray:
        if n > len(data):
            raise ValueError(f"asked for {n} real points but the dataset holds {len(data)}; lower n")
        return data[rng.choice(len(data), size=n, replace=False)]

    return draw


@dataclass
class RecursionState:
    """Everything needed to continue a recursion after generation ``generation - 1``."""

    generation: int
    original: np.ndarray
    samples: np.ndarray | None = None  # the latest model's samples
    pool: list = field(default_factory=list)  # synthetic sets so far (accumulate workflows)
    metrics: list = field(default_factory=list)
    kept: dict = field(default_factory=dict)  # generation -> samples kept for figures
    rng_state: dict | None = None
    learner: Any = None


def training_set(workflow: Workflow, state: RecursionState, n: int, real: RealSampler, rng) -> np.ndarray:
    """The training set of generation ``state.generation`` under ``workflow`` (see the module table)."""
    if state.generation == 0:
        return state.original
    name, n_real = workflow.name, workflow.real_count(n)
    if name == "replace":
        return state.samples
    if name == "accumulate":
        return np.concatenate([state.original, *state.pool])
    if name == "accumulate-subsample":
        pool = np.concatenate([state.original, *state.pool])
        return pool[rng.choice(len(pool), size=n, replace=False)]
    real_part = real(n_real, rng) if name == "fresh" else state.original[:n_real]
    return np.concatenate([real_part, state.samples[: n - n_real]])


@dataclass
class RecursionResult:
    metrics: dict[str, np.ndarray]  # name -> values stacked over generations
    kept_samples: dict[int, np.ndarray]  # generation -> that model's samples
    learner: Any  # the last fitted learner
    state: RecursionState  # everything needed to continue the recursion


def run_recursion(
    learner: Learner,
    real: RealSampler,
    workflow: Workflow,
    generations: int,
    n: int,
    rng: np.random.Generator,
    measure: Callable[..., dict] | None = None,
    checkpoints=None,
    keep: tuple[int, ...] = (),
    desc: str | None = None,
    start: RecursionState | None = None,
    progress: bool = False,
    training: Callable[..., np.ndarray] = training_set,
) -> RecursionResult:
    """Train ``learner`` recursively for ``generations`` generations on ``n``-point training sets.

    ``measure(generation, learner, train, samples, rng)`` returns a dict of numbers or arrays for
    each generation; ``train_size`` is always recorded. ``checkpoints`` (a
    :class:`collapse.infra.cache.Checkpoints`) saves the state after each generation and resumes from
    the latest intact one; without a checkpoint, ``start`` (a state returned by an earlier run, e.g. a
    generation 0 shared by several workflows) is continued. ``keep`` lists generations whose samples are
    returned. ``progress`` shows a bar of the generations labelled ``desc`` (jobs run in workers, whose bars would
    interleave: off by default). ``training`` builds each generation's training set, with :func:`training_set`'s
    signature (a study whose seeds share one array may draw per seed).
    """
    if generations < 1:
        raise ValueError(f"generations={generations} must be at least 1")
    if n < 1:
        raise ValueError(f"n={n} must be at least 1")
    state = checkpoints.latest() if checkpoints is not None else None
    state = state or (copy.deepcopy(start) if start is not None else None)
    if state is None:
        state = RecursionState(generation=0, original=real(n, rng))
    else:
        rng.bit_generator.state = state.rng_state
        learner = state.learner
    for g in tqdm(range(state.generation, generations), desc=desc or workflow.label, initial=state.generation,
                  total=generations, leave=False, disable=not progress):
        train = training(workflow, state, n, real, rng)
        learner = learner.fit(train)
        samples = learner.sample(n, rng)
        row = {"train_size": len(train)}
        if measure is not None:
            row.update(measure(g, learner, train, samples, rng))
        state.metrics.append(row)
        state.samples = samples
        if workflow.name.startswith("accumulate"):
            state.pool.append(samples)
        if g in keep:
            state.kept[g] = samples
        state.generation, state.rng_state, state.learner = g + 1, rng.bit_generator.state, learner
        if checkpoints is not None:
            checkpoints.save(state)
    metrics = {k: np.array([row[k] for row in state.metrics]) for k in state.metrics[0]}
    return RecursionResult(metrics, dict(state.kept), learner, state)
