"""Language-model collapse (notebooks/05_language_model_collapse.ipynb): character LMs retrained on their own
text under the five workflows, and [KZ]'s cardinality question.

One job = (learner, workflow, seed): :func:`collapse.core.recursion.run_recursion` on blocks of Shakespeare.
Each generation g records, for the model fitted at g:

- ``bpc``: bits per character on the real test blocks (perplexity per character is 2^bpc);
- ``coverage``, ``rare_coverage``: the share of the test set's distinct character n-grams, and of those
  that occur once in it (its tail), that appear anywhere in the model's generated blocks;
- ``scored``: the perplexity of each generated block under the generation-0 model ([S]'s histograms).
"""

from __future__ import annotations

import copy

import numpy as np

from collapse.core.recursion import Workflow, from_array, run_recursion
from collapse.models.lm import NGramLM, TransformerLM, bits_per_char
from collapse.models.text import ALPHABET, load_corpus

LEARNERS = {"ngram": NGramLM, "transformer": TransformerLM}


def make_learner(kind: str, options: dict):
    if kind == "smollm":  # optional dependencies: imported only when asked for
        from collapse.models.smollm import SmolLM2

        return SmolLM2(**options)
    if kind not in LEARNERS:
        raise ValueError(f"learner={kind!r} is unknown; use one of {', '.join(LEARNERS)}, smollm")
    return LEARNERS[kind](**options)


class KeepFirst:
    """A learner that also keeps a copy of its first fitted model, the generation-0 model that scores
    every later generation's text."""

    def __init__(self, learner):
        self.learner, self.first = learner, None

    def fit(self, blocks):
        self.learner.fit(blocks)
        if self.first is None:
            self.first = copy.deepcopy(self.learner)
        return self

    def sample(self, n, rng):
        return self.learner.sample(n, rng)


def ngram_keys(blocks: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct character n-grams inside the blocks (as integers in base |ALPHABET|) and their counts."""
    blocks = np.asarray(blocks, np.int64)
    keys = np.zeros((len(blocks), blocks.shape[1] - n + 1), np.int64)
    for k in range(n):
        keys = keys * len(ALPHABET) + blocks[:, k: blocks.shape[1] - n + 1 + k]
    return np.unique(keys, return_counts=True)


def coverage(generated: np.ndarray, test_grams: np.ndarray, rare_grams: np.ndarray, n: int) -> tuple[float, float]:
    seen = ngram_keys(generated, n)[0]
    return float(np.isin(test_grams, seen).mean()), float(np.isin(rare_grams, seen).mean())


def block_perplexity(model, blocks) -> np.ndarray:
    return np.exp(-model.log_prob(blocks).mean(axis=1))


def run_job(learner, options, workflow, fraction, seed, n, generations, block, test_blocks, ngram, checkpoints=None):
    corpus = load_corpus(block)
    test = corpus.test[:test_blocks]
    grams, counts = ngram_keys(corpus.test, ngram)
    rare = grams[counts == 1]
    rng = np.random.default_rng([seed, 5])

    def measure(g, model, train, samples, rng):
        all_cov, rare_cov = coverage(samples, grams, rare, ngram)
        return {"bpc": bits_per_char(model.learner.log_prob(test)), "coverage": all_cov, "rare_coverage": rare_cov,
                "scored": block_perplexity(model.first, samples)}

    result = run_recursion(KeepFirst(make_learner(learner, options)), from_array(corpus.train),
                           Workflow(workflow, fraction), generations, n, rng, measure=measure,
                           checkpoints=checkpoints, desc=f"{learner} {workflow} {fraction or ''}")
    first = result.learner.first
    return {**result.metrics, "real_scored": block_perplexity(first, test), "real_coverage": np.array(
        coverage(corpus.train[rng.choice(len(corpus.train), n, replace=False)], grams, rare, ngram))}


def cardinality_job(learner, options, seed, generator_n, real_ns, synthetic_n, generator_synthetic_n, block,
                    test_blocks, validation_blocks):
    """[KZ]'s question: does adding synthetic blocks to n_real real ones lower or raise test bpc?

    Two sources of synthetic data: the student's own model fitted on its n_real real blocks (self-consumption,
    ``synthetic_n`` blocks), and a generator fitted once on ``generator_n`` other real blocks
    (``generator_synthetic_n`` blocks; [KZ]'s synthetic data come from a model that has seen more than the
    student, and at their largest real set they add about 3.3 times as much synthetic data). Every model stops early on
    ``validation_blocks`` real validation blocks, so that each training-set size gets the budget it needs.
    Returns ``bpc`` (n_real x [real only, real + own, real + generator's]) on the test blocks and the
    ``steps`` each of those students trained (0 for a learner without a training budget).
    """
    corpus = load_corpus(block)
    test, validation = corpus.test[:test_blocks], corpus.validation[:validation_blocks]
    rng = np.random.default_rng([seed, 6])
    order = rng.permutation(len(corpus.train))
    if generator_n + max(real_ns) > len(order):
        raise ValueError(f"generator_n + max(real_ns) = {generator_n + max(real_ns)} exceeds the "
                         f"{len(order)} training blocks; lower them")

    def fit(blocks):
        return make_learner(learner, options).fit(blocks, validation)

    from_generator = fit(corpus.train[order[:generator_n]]).sample(generator_synthetic_n, rng)
    bpc, steps = np.empty((len(real_ns), 3)), np.zeros((len(real_ns), 3), int)
    for i, n_real in enumerate(real_ns):
        real = corpus.train[order[generator_n: generator_n + n_real]]
        alone = fit(real)
        students = [alone] + [fit(np.concatenate([real, synthetic]))
                              for synthetic in (alone.sample(synthetic_n, rng), from_generator)]
        bpc[i] = [bits_per_char(s.log_prob(test)) for s in students]
        steps[i] = [getattr(s, "trained_steps", 0) for s in students]
    return {"bpc": bpc, "steps": steps}
