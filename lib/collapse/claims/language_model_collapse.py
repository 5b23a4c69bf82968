"""Claims of notebook 05 (character language models retrained under five workflows; [KZ]'s cardinality)."""

import numpy as np

from collapse.claims import UNDECIDED, Claim, Decision, decreasing, every, plus_minus
from collapse.core.recursion import Workflow
from collapse.core.stats import mean_se
from collapse.models.text import ALPHABET

LEARNERS = {"ngram": "character n-gram", "transformer": "small transformer"}


def _learner_claims(result, learner, alphas, keep):
    setting = f" ({LEARNERS[learner]})"
    runs = result.bpc.sel(learner=learner).dropna("seed", how="all").isel(generation=-1)
    mean, se = mean_se(runs, "seed")
    seeds = runs.sizes["seed"]

    def pick(labels):
        return mean.sel(workflow=labels).values, se.sel(workflow=labels).values

    names = ["replace", "accumulate-subsample", "accumulate"]
    fresh = [Workflow("fresh", a).label for a in alphas]
    kept = ["replace", Workflow("keep-fraction", keep).label]
    return [
        Claim(f"KZ-workflow-order-{learner}", "[KZ] Sec. 5, [S]",
              "test loss after recursive training: replace > accumulate-subsample > accumulate" + setting, "empirical",
              "final test bits per character ordered, each gap larger than 2 combined standard errors over seeds "
              "(inconclusive with one run)", dict(zip(names, pick(names)[0])), decreasing(*pick(names)),
              ", ".join(f"{v:.3f}" for v in pick(names)[0]) + f" bpc ({seeds} seed{'s' * (seeds > 1)})",
              figure="figS10_lm_perplexity"),
        Claim(f"K-fresh-order-{learner}", "[K] Sec. 4 (fresh data)", "more fresh data, less drift" + setting,
              "empirical",
              "final bpc falls as alpha grows, each gap larger than 2 combined standard errors (inconclusive with "
              "one run)", dict(zip(fresh, pick(fresh)[0])), decreasing(*pick(fresh)),
              ", ".join(f"{v:.3f}" for v in pick(fresh)[0]) + f" bpc for alpha = {', '.join(map(str, alphas))}",
              figure="figS10_lm_perplexity"),
        Claim(f"S-keep-fraction-{learner}", "[S] Sec. 3 (10 % of the original data kept)",
              "keeping a share of the original data slows the degradation" + setting, "empirical",
              "final bpc of keep-fraction below replace by more than 2 combined standard errors (inconclusive with "
              "one run)", dict(zip(kept, pick(kept)[0])), decreasing(*pick(kept)),
              " vs ".join(f"{name} {v:.3f}" for name, v in zip(kept, pick(kept)[0])) + " bpc",
              figure="figS10_lm_perplexity"),
    ]


def claims(result, parameters, sizes):
    alphas, keep = parameters["alphas"], parameters["keep"]
    out = [c for learner in ("ngram", "transformer") for c in _learner_claims(result, learner, alphas, keep)]
    uniform = np.log2(len(ALPHABET))
    alone = result.cardinality_bpc.sel(source="alone")
    worst = float(alone.max())
    unresolved = _unresolved_students(result, sizes["cardinality_steps"])
    trivial = _not_above_unigram(result)
    gates = [f"worst baseline {worst:.2f} bpc against uniform {uniform:.2f}"]
    gates += [f"not better than the unigram: {', '.join(trivial)}"] if trivial else []
    gates += [f"stopped by the {sizes['cardinality_steps']}-step budget: {unresolved}"] if unresolved else []
    decided = worst < uniform and not trivial and not unresolved
    gate = (f"decided only if every real-data-only baseline beats uniform guessing (log2 {len(ALPHABET)} = "
            f"{uniform:.2f} bits per character) and, by 2 standard errors, a unigram on the same blocks, and no "
            "transformer student kept the last step of its budget; then, for every learner, by the change in test "
            "bits per character from adding the synthetic blocks, at the smallest and the largest n_real: confirmed "
            "if it is below 0 by 2 standard errors at the smallest and above 0 by 2 at the largest, refuted if it is "
            "above 0 by 2 at the smallest or below 0 by 2 at the largest")
    undecided = "a budget that lets every student reach its early stop, or a stronger baseline, would decide it"
    out.append(Claim(
        "KZ-cardinality", "[KZ] Sec. 5 (cardinality)",
        "synthetic data from a model that saw more real data help when real data are scarce and hurt when they "
        "are plentiful", "empirical",
        "[KZ]'s setup: the synthetic blocks come from a generator fitted on other real blocks, as many as 3.3 "
        "times the largest real set; " + gate,
        {"worst_baseline_bpc": worst, "uniform_bpc": uniform},
        _cardinality_decision(result, "+ generator's") if decided else UNDECIDED,
        "; ".join(gates) + "; " + _cardinality_summary(result, "+ generator's"), figure="figS13_lm_cardinality",
        note="" if decided else undecided))
    out.append(Claim(
        "C-cardinality-own", "this companion (self-consumption in [KZ]'s cardinality question)",
        "synthetic data from the learner itself help when real data are scarce and hurt when they are plentiful",
        "empirical",
        "the student's own model, fitted on its n_real real blocks, supplies the synthetic blocks; " + gate,
        {"worst_baseline_bpc": worst, "uniform_bpc": uniform},
        _cardinality_decision(result, "+ own") if decided else UNDECIDED,
        "; ".join(gates) + "; " + _cardinality_summary(result, "+ own"), figure="figS13_lm_cardinality",
        note="the n-gram's own samples add no counts its model lacks, so for it 'helps' can hardly hold"
             if decided else undecided))
    out.append(Claim(
        "S-keep-fraction-pretrained", "[S] Sec. 3 (OPT-125m)", "a pretrained model fine-tuned on its own text "
        "degrades less when a share of the original data is kept", "not-reproducible-here",
        "needs [S]'s scale: thousands of blocks, several seeds and generations of fine-tuning a 125 M-parameter "
        "model", {}, "inconclusive", "not run at a scale that decides it",
        note="on 2 CPU cores one SmolLM2-135M fine-tuning step takes seconds; the opt-in demonstration "
             "(make smollm, paper mode on a GPU) is the route"))
    return out


def _unresolved_students(result, budget) -> str:
    """The transformer students whose early stop kept the budget's last step (so more steps might have helped)."""
    steps = result.cardinality_steps.sel(learner="transformer").dropna("seed", how="all")
    capped = (steps >= budget).sum("seed")
    return ", ".join(f"{int(c)} of {steps.sizes['seed']} at n_real {int(n)} ({source})"
                     for (n, source), c in capped.stack(cell=("n_real", "source")).to_series().items() if c)


def _not_above_unigram(result) -> list[str]:
    """The (learner, n_real) whose real-data-only baseline does not beat the unigram on the same blocks by 2 s.e."""
    found = []
    for learner in ("ngram", "transformer"):
        alone = result.cardinality_bpc.sel(learner=learner, source="alone").dropna("seed", how="all")
        gap, se = mean_se(result.unigram_bpc.sel(seed=alone.seed) - alone, "seed")
        found += [f"{learner} at {int(n)}" for n, g, e in zip(gap.n_real.values, gap.values, se.values)
                  if not g > 2 * np.nan_to_num(e, nan=np.inf)]
    return found


def _change(result, learner, source):
    """Mean and standard error over seeds, per n_real, of the change in test bpc from adding ``source``'s
    synthetic blocks to the real ones."""
    tables = result.cardinality_bpc.sel(learner=learner).dropna("seed", how="all")
    return mean_se(tables.sel(source=source) - tables.sel(source="alone"), "seed")


def _cardinality_summary(result, source) -> str:
    """The change in test bpc from adding ``source``'s synthetic data, at the smallest and largest n_real, per
    learner."""
    parts = []
    for learner in result.learner.values:
        change, se = _change(result, learner, source)
        ends = [f"{plus_minus(change.isel(n_real=i).item(), se.isel(n_real=i).item(), sign='+')[0]} at "
                f"{int(change.n_real[i])}" for i in (0, -1)]
        parts.append(f"{learner} {source}: " + ", ".join(ends))
    return "; ".join(parts)


def _cardinality_decision(result, source) -> Decision:
    """For every learner: ``source``'s synthetic data lower bpc at the smallest n_real and raise it at the largest,
    by more than 2 standard errors over seeds (refuted by the opposite, resolved, at either end)."""
    parts = []
    for learner in result.learner.values:
        change, se = (v.values for v in _change(result, learner, source))
        if not np.all(np.isfinite(se)):
            return UNDECIDED
        scarce, plentiful = (change[i] / se[i] for i in (0, -1))
        parts.append(Decision(scarce < -2 and plentiful > 2, scarce > 2 or plentiful < -2))
    return every(parts)


def tables(result, parameters, sizes) -> dict:
    import pandas as pd

    final = result.bpc.isel(generation=-1)
    columns = {}
    for learner in result.learner.values:
        runs = final.sel(learner=learner).dropna("seed", how="all")
        mean, se = mean_se(runs, "seed")
        columns[f"{learner} ({runs.sizes['seed']} seed{'s' * (runs.sizes['seed'] > 1)})"] = plus_minus(mean.values,
                                                                                                      se.values)
    frame = pd.DataFrame(columns, index=pd.Index(result.workflow.values, name="workflow"))
    return {f"Language models (notebook 05): test bits per character at generation {result.generation.size - 1}":
            frame}
