"""Each workflow builds training sets of the documented size and composition; runs resume exactly."""

import numpy as np
import pytest

from collapse import Workflow, from_array, run_recursion
from collapse.infra.cache import Checkpoints

# Every point carries its origin in column 0: 0 = original real, 1 = fresh real, 10 + g = synthetic
# from generation g. Column 1 holds a random value so that distinct points are distinct.
ORIGINAL, FRESH = 0, 1


class TaggingLearner:
    """Remembers each training set; samples points tagged with the generation that made them."""

    def __init__(self):
        self.generation, self.train_sets = -1, []

    def fit(self, data):
        self.generation += 1
        self.train_sets.append(data)
        return self

    def sample(self, n, rng):
        return np.column_stack([np.full(n, 10.0 + self.generation), rng.random(n)])


def real_sampler():
    calls = {"n": 0}

    def draw(n, rng):  # the first call draws the original set; later calls are fresh draws
        tag = ORIGINAL if calls["n"] == 0 else FRESH
        calls["n"] += 1
        return np.column_stack([np.full(n, float(tag)), rng.random(n)])

    return draw


def run(workflow, n=20, generations=4, seed=0):
    learner = TaggingLearner()
    run_recursion(learner, real_sampler(), workflow, generations, n, np.random.default_rng(seed))
    return [np.bincount(t[:, 0].astype(int), minlength=10 + generations) for t in learner.train_sets], learner


def test_generation_zero_is_real_for_every_workflow():
    for wf in [Workflow("replace"), Workflow("accumulate"), Workflow("fresh", 0.3), Workflow("keep-fraction", 0.1)]:
        counts, _ = run(wf)
        assert counts[0][ORIGINAL] == 20 and counts[0].sum() == 20


def test_replace_trains_only_on_previous_samples():
    counts, _ = run(Workflow("replace"))
    for g in range(1, 4):
        assert counts[g].sum() == 20 and counts[g][10 + g - 1] == 20


def test_accumulate_keeps_everything():
    counts, _ = run(Workflow("accumulate"))
    for g in range(4):
        assert counts[g].sum() == 20 * (g + 1)
        assert counts[g][ORIGINAL] == 20 and all(counts[g][10 + k] == 20 for k in range(g))


def test_accumulate_subsample_draws_n_from_the_pool_without_replacement():
    counts, learner = run(Workflow("accumulate-subsample"), n=30, generations=5)
    for g, train in enumerate(learner.train_sets):
        assert len(train) == 30 and len(np.unique(train, axis=0)) == 30
        assert set(np.nonzero(counts[g])[0]) <= {ORIGINAL, *range(10, 10 + g)}
    assert counts[4][ORIGINAL] < 30 and counts[4][10:14].sum() > 0  # a mix of the pool


@pytest.mark.parametrize("alpha", [0.0, 0.25, 0.9, 1.0])
def test_fresh_alpha_mixes_new_real_and_previous_synthetic(alpha):
    counts, learner = run(Workflow("fresh", alpha), n=20)
    m = round(alpha * 20)
    for g in range(1, 4):
        assert counts[g][FRESH] == m and counts[g][10 + g - 1] == 20 - m and counts[g].sum() == 20
    if m:  # fresh means new draws each generation, not the same points again
        assert not np.intersect1d(learner.train_sets[1][:m, 1], learner.train_sets[2][:m, 1]).size


def test_keep_fraction_reuses_the_same_original_points():
    counts, learner = run(Workflow("keep-fraction", 0.1), n=50)
    kept = learner.train_sets[1][:5]
    for g in range(1, 4):
        assert counts[g][ORIGINAL] == 5 and counts[g][10 + g - 1] == 45
        np.testing.assert_array_equal(learner.train_sets[g][:5], kept)


@pytest.mark.parametrize("bad, match", [
    (dict(name="resample"), "workflow"), (dict(name="fresh"), "fraction"),
    (dict(name="fresh", fraction=1.2), "fraction"), (dict(name="replace", fraction=0.1), "fraction"),
])
def test_invalid_workflows_name_the_problem(bad, match):
    with pytest.raises(ValueError, match=match):
        Workflow(**bad)


def test_invalid_sizes_are_rejected():
    with pytest.raises(ValueError, match="generations"):
        run_recursion(TaggingLearner(), real_sampler(), Workflow("replace"), 0, 10, np.random.default_rng(0))


def test_from_array_draws_without_replacement(rng):
    draw = from_array(np.arange(10)[:, None])
    assert sorted(draw(10, rng)[:, 0]) == list(range(10))
    with pytest.raises(ValueError, match="lower n"):
        draw(11, rng)


class Killed(Exception):
    pass


def test_killed_run_resumes_from_checkpoint_and_matches_uninterrupted(tmp_path):
    """A run killed during generation 3 resumes there and ends bit-identical to an unbroken run."""
    wf, gens = Workflow("fresh", 0.5), 6

    def measure(g, learner, train, samples, rng):
        return {"mean": samples[:, 1].mean(), "noise": rng.random()}

    def measure_dying(g, *args):
        if g == 3:
            raise Killed
        return measure(g, *args)

    reference = run_recursion(TaggingLearner(), real_sampler(), wf, gens, 40, np.random.default_rng(7), measure)
    ckpt = Checkpoints(tmp_path / "job", trusted=(TaggingLearner,))
    with pytest.raises(Killed):
        run_recursion(TaggingLearner(), real_sampler(), wf, gens, 40, np.random.default_rng(7), measure_dying,
                      checkpoints=ckpt)
    assert sorted(p.name for p in ckpt.directory.iterdir()) == [f"gen_{g:04d}.pt" for g in (1, 2, 3)]
    resumed = run_recursion(TaggingLearner(), real_sampler(), wf, gens, 40, np.random.default_rng(999), measure,
                            checkpoints=ckpt)
    for key in reference.metrics:
        np.testing.assert_array_equal(resumed.metrics[key], reference.metrics[key])
    assert resumed.learner.generation == gens - 1  # the checkpointed learner continued
