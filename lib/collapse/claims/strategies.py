"""Claims of notebook 08 (what stops collapse, on the exact 1-D testbed), with the tables they are counted from.

[MAD]'s decline is a fall "generation after generation": a loop *still declines* when its precision or its recall
falls from the second quarter of the run to the last quarter by more than 2 standard errors of the paired
difference over replicates; it has *settled* when both change by less than MARGIN in that stretch (the change's
lower 2-standard-error end above -MARGIN: an equivalence test, with our margin). A loop moving to a fixed point
loses quality early and then settles: the *total loss*, generation 1 to the last, is reported beside it. Criteria
revised after the first full runs, before any was committed: the first version judged the total loss, which a loop
that settles at a fixed point below its start also shows; boundedness was judged at every real share, while a run
shorter than a few memory lengths 1/alpha cannot tell a bounded loop from a growing one; and a claim about every
(or some) run of a family tested each run at 2 standard errors, so that one run in twenty crossed by chance: such
claims now use a family-wise margin (Bonferroni over the family's comparisons, :func:`family_margin`).
"""

import numpy as np
import pandas as pd

from collapse.claims import UNDECIDED, Claim, Decision, decreasing, every, sign
from collapse.studies import strategies as study

K = 2.0  # standard errors: the margin of every comparison below (replicates are independent seeds)
MARGIN = 0.005  # ours: a change of F score below half a percent over a quarter of the run counts as settled
MEMORIES = 5  # ours: boundedness is judged where the run spans this many memory lengths 1/alpha (e^-5 of the way)


def family_margin(comparisons: int) -> float:
    """The margin in standard errors that keeps a family of ``comparisons`` two-sided tests at 5 % in all
    (Bonferroni): 1.96 for one, 2.87 for twelve."""
    from scipy.stats import norm

    return float(norm.ppf(1 - 0.025 / max(comparisons, 1)))


def _mean_se(values, dim="replicate"):
    return float(values.mean(dim)), float(values.std(dim, ddof=1) / np.sqrt(values.sizes[dim]))


def _quarters(values, generation):
    """The mean of the last quarter of the run minus that of its second quarter, per replicate."""
    quarter = values.sizes[generation] // 4
    return (values.isel({generation: slice(-quarter, None)}).mean(generation)
            - values.isel({generation: slice(quarter, 2 * quarter)}).mean(generation))


def declines(result, k: float = K) -> pd.DataFrame:
    """Per (workflow, alpha, tau): the total loss (generation 1 minus the last) and the late change (last quarter
    minus second quarter) of precision and recall, and whether the loop still declines or has settled, at a margin
    of ``k`` standard errors."""
    rows = []
    for workflow in result.workflow.values:
        for alpha in result.alpha.values:
            for tau in result.tau.values:
                run, row = result.sel(workflow=workflow, alpha=alpha, tau=tau), {}
                for m in ("precision", "recall"):
                    values = run[f"loop_{m}"]
                    row[f"{m}_loss"], row[f"{m}_loss_se"] = _mean_se(values.isel(generation=1)
                                                                     - values.isel(generation=-1))
                    row[f"{m}_late"], row[f"{m}_late_se"] = _mean_se(_quarters(values, "generation"))
                late = [(row[f"{m}_late"], row[f"{m}_late_se"]) for m in ("precision", "recall")]
                rows.append(dict(workflow=workflow, alpha=float(alpha), tau=float(tau), **row,
                                 declines=any(c < -k * se for c, se in late),
                                 settled=all(c - k * se > -MARGIN for c, se in late)))
    return pd.DataFrame(rows)


def share_needed(table: pd.DataFrame) -> pd.DataFrame:
    """The smallest real share in the grid at which a loop has settled, per (workflow, tau)."""
    found = {}
    for (workflow, tau), rows in table.groupby(["workflow", "tau"]):
        calm = rows[rows.settled].alpha
        found[(workflow, tau)] = float(calm.min()) if len(calm) else np.nan
    return pd.Series(found, name="smallest share settled").rename_axis(["workflow", "tau"]).unstack("tau")


def stability(result, k: float = K) -> pd.DataFrame:
    """Per (first-model shift, alpha): the late growth of KL(p_hat || p) (last quarter minus second quarter, paired
    over replicates; it grows without bound as a loop with no real data widens), bounded when it is at most ``k``
    standard errors, growing when above; ``judged`` where the run spans MEMORIES memory lengths 1/alpha (always at
    alpha = 0, which has no memory)."""
    kl = result.stability_kl_quality
    generations = kl.sizes["stability_generation"] - 1
    rows = []
    for shift in result.first_model_shift.values:
        for alpha in result.stability_alpha.values:
            run = kl.sel(first_model_shift=shift, stability_alpha=alpha)
            growth, se = _mean_se(_quarters(run, "stability_generation"))
            rows.append(dict(shift=float(shift), alpha=float(alpha), growth=growth, growth_se=se,
                             bounded=bool(growth <= k * se), growing=bool(growth > k * se),
                             judged=bool(alpha == 0 or alpha * generations >= MEMORIES),
                             final=float(run.isel(stability_generation=-1).mean())))
    return pd.DataFrame(rows)


def verification(result) -> pd.DataFrame:
    """Per verifier: the last generation's coverage KL to the data and to the verifier's own picture p_v."""
    rows = []
    for m in result.verifier_points.values:
        run = result.sel(verifier_points=m).isel(generation=-1)
        (kp, kpse), (kv, kvse) = (_mean_se(run[v]) for v in ("verify_kl_coverage", "verify_kl_to_verifier"))
        gap, gap_se = _mean_se(run.verify_kl_coverage - run.verify_kl_to_verifier)
        rows.append(dict(verifier="ideal" if m < 0 else f"{m} points", points=int(m), kl_to_data=kp,
                         kl_to_data_se=kpse, kl_to_verifier=kv, kl_to_verifier_se=kvse, gap=gap, gap_se=gap_se))
    return pd.DataFrame(rows)


def practice(result, target: float) -> pd.DataFrame:
    """Per (errors, eps2): the fresh fraction at which the measured plateau crosses ``target`` (log-log
    interpolation on the grid of alphas; NaN where the plateau never crosses it) beside the rule's."""
    rows = []
    for errors in result.errors.values:
        for eps2 in result.eps2.values:
            level = result.plateau.sel(errors=errors, eps2=eps2)
            alphas, values = result.plateau_alpha.values, level.values
            below = np.flatnonzero(values <= target)
            measured = np.nan
            if len(below) and below[0] > 0 and np.isfinite(values[below[0] - 1]):
                i = below[0]
                t = np.log(target / values[i - 1]) / np.log(values[i] / values[i - 1])
                measured = float(np.exp(np.log(alphas[i - 1]) + t * np.log(alphas[i] / alphas[i - 1])))
            rule = float(study.fresh_fraction_needed(eps2, target, str(errors)))
            rows.append(dict(errors=str(errors), eps2=float(eps2), measured=measured, rule=rule,
                             relative_gap=abs(measured - rule) / rule if np.isfinite(measured) else np.nan))
    return pd.DataFrame(rows)


def claims(result, parameters, sizes):
    inner = [a for a in parameters["alphas"] if 0 < a <= 0.3]
    shares = [a for a in parameters["alphas"] if 0 < a < 1]
    k_fixed, k_fresh = family_margin(2 * len(inner)), family_margin(2 * len(shares))  # two metrics per loop

    def row(table, workflow, alpha, tau=1.0):
        return table[(table.workflow == workflow) & np.isclose(table.alpha, alpha) & np.isclose(table.tau, tau)].iloc[0]

    synthetic = row(declines(result), "fresh", 0.0)
    fixed = [row(declines(result, k_fixed), "keep-fraction", a) for a in inner]
    fresh = pd.DataFrame([row(declines(result, k_fresh), "fresh", a) for a in shares])
    calm = fresh[fresh.settled & (fresh.alpha <= 0.5)].alpha
    needed = share_needed(declines(result))
    margin = f"both change by less than {MARGIN:g} at the margin in standard errors (our margin)"

    biased, plain = (row(declines(result), "fresh", 0.0, tau) for tau in (min(parameters["taus"]), 1.0))
    at = result.sel(workflow="fresh", alpha=0.0)
    gain, gain_se = _mean_se(at.loop_precision.sel(tau=min(parameters["taus"])).isel(generation=1)
                             - at.loop_precision.sel(tau=1.0).isel(generation=1))
    faster, faster_se = _mean_se((at.loop_recall.isel(generation=1) - at.loop_recall.isel(generation=-1))
                                 .sel(tau=min(parameters["taus"]))
                                 - (at.loop_recall.isel(generation=1) - at.loop_recall.isel(generation=-1))
                                 .sel(tau=1.0))

    stable = stability(result)
    judged = stable[stable.judged]
    close_rows = (judged["shift"] <= 1) & (judged.alpha >= 0.1)
    close = stability(result, family_margin(int(close_rows.sum())))[stable.judged][close_rows]
    family = stability(result, family_margin(len(judged)))[stable.judged]
    positive, none = family[family.alpha > 0], family[family.alpha == 0]
    unjudged = sorted(set(stable[~stable.judged].alpha))

    verified = verification(result).set_index("points")
    ideal = verified.loc[-1]
    unverified = _mean_se(result.loop_kl_coverage.sel(workflow="fresh", alpha=0.0, tau=1.0).isel(generation=-1))
    ideal_gain = _mean_se(result.loop_kl_coverage.sel(workflow="fresh", alpha=0.0, tau=1.0).isel(generation=-1)
                          - result.verify_kl_coverage.sel(verifier_points=-1).isel(generation=-1))
    ordered = verified.loc[[m for m in sorted(verified.index) if m > 0] + [-1]]  # worst verifier first
    imperfect = verified[(verified.index > 0) & (verified.index <= 100)]

    final = result.correct_kl_coverage.isel(generation=-1)
    by_alpha = {float(a): [_mean_se(final.sel(correct_alpha=a, correction=g)) for g in parameters["corrections"]]
                for a in parameters["correction_alphas"]}

    rule = practice(result, parameters["target"])
    tolerance = 0.25
    return [
        Claim("MAD-no-fresh", "[MAD] abstract (fully synthetic loop)",
              "without fresh real data, the precision or the recall of a self-consuming loop decreases generation "
              "after generation", "empirical",
              "alpha = 0, tau = 1: precision or recall still falls from the second quarter of the run to the last "
              f"by more than {K:g} standard errors of the paired difference over replicates",
              {"precision_late": synthetic.precision_late, "precision_late_se": synthetic.precision_late_se,
               "recall_late": synthetic.recall_late, "recall_late_se": synthetic.recall_late_se,
               "precision_loss": synthetic.precision_loss, "recall_loss": synthetic.recall_loss},
              Decision(bool(synthetic.declines), bool(synthetic.settled), rule=f"refuted if settled: {margin}"),
              f"last quarter against second: precision {synthetic.precision_late:+.3f} ± "
              f"{synthetic.precision_late_se:.2g}, recall {synthetic.recall_late:+.3f} ± "
              f"{synthetic.recall_late_se:.2g}; lost since generation 1: {synthetic.precision_loss:.3f}, "
              f"{synthetic.recall_loss:.3f}", figure="figS21_mad_loops"),
        Claim("MAD-fixed-real", "[MAD] abstract (synthetic-augmentation loop)",
              "a fixed set of real data kept every generation does not stop the decline", "empirical",
              "keep-fraction loop, tau = 1: still declines (as above, at a family-wise margin of "
              f"{k_fixed:.2f} standard errors) at every real share in (0, 0.3] of the grid (0.3: our bound on 'a "
              "fixed set')",
              {f"declines_alpha{a:g}": float(f.declines) for a, f in zip(inner, fixed)}
              | {f"settled_alpha{a:g}": float(f.settled) for a, f in zip(inner, fixed)},
              Decision(all(f.declines for f in fixed), any(f.settled for f in fixed),
                       rule=f"refuted if one of them has settled: {margin}"),
              f"still declining at {sum(f.declines for f in fixed)} of {len(fixed)} real shares in (0, 0.3], "
              f"settled at {sum(f.settled for f in fixed)}", figure="figS21_mad_loops"),
        Claim("MAD-fresh-stops", "[MAD] abstract (fresh-data loop)",
              "enough fresh real data each generation stops the decline", "empirical",
              f"fresh loop, tau = 1: settled ({margin}; family-wise, {k_fresh:.2f}) at some real share <= 0.5 (our "
              "bound on 'enough')",
              {"smallest_share": float(calm.min()) if len(calm) else np.nan,
               "declining_shares": int(fresh.declines.sum()), "shares": len(fresh)},
              Decision(bool(len(calm)), bool(len(fresh) and fresh.declines.all()),
                       rule="refuted if the loop still declines at every share below 1"),
              f"settled at {len(calm)} of {int((fresh.alpha <= 0.5).sum())} shares <= 0.5 and still declining at "
              f"{int(fresh.declines.sum())} of {len(fresh)} at the family-wise margin; per loop at 2 standard "
              "errors, settled from alpha = " + ", ".join(f"{needed.loc['fresh', t]:g} (tau {t:g})"
                                                           for t in needed.columns),
              figure="figS21_mad_loops"),
        Claim("MAD-sampling-bias", "[MAD] abstract (sampling bias)",
              "biasing sampling towards quality raises precision and speeds the loss of diversity", "empirical",
              f"fully synthetic loop, tau = {min(parameters['taus']):g} against 1: precision at generation 1 higher "
              f"and the recall lost by the last generation larger, each by more than {K:g} standard errors",
              {"precision_gain": gain, "precision_gain_se": gain_se, "extra_recall_loss": faster,
               "extra_recall_loss_se": faster_se},
              every([sign(gain, gain_se, K), sign(faster, faster_se, K)]),
              f"precision {gain:+.3f} ± {gain_se:.2g} at generation 1; recall lost {biased.recall_loss:.3f} against "
              f"{plain.recall_loss:.3f}", figure="figS21_mad_loops"),
        Claim("Bertrand-stability", "[B] abstract",
              "retraining on a mix of real and own data is stable when the first model is close enough to the data "
              "and the real share is large enough", "empirical",
              "every run with a first model moved by at most 1 and a real share of at least 0.1 (our reading of "
              "'close enough' and 'large enough') is bounded: KL(p_hat || p) no higher in the last quarter than in "
              "the second beyond a family-wise margin (Bonferroni over those runs)",
              {"bounded": int(close.bounded.sum()), "runs": len(close)},
              Decision(bool(len(close) and close.bounded.all()), bool(close.growing.any()),
                       rule="refuted if one grows beyond that margin"),
              f"bounded in {int(close.bounded.sum())} of {len(close)} such runs", figure="figS22_stability"),
        Claim("C-stability-any-real-share", "companion (beyond [B]'s sufficient condition)",
              "on the exact testbed any positive real share keeps the loop bounded, however far the first model is, "
              "and none does not", "empirical",
              f"bounded (as above) at every real share > 0 and first-model error where the run spans {MEMORIES} "
              "memory lengths 1/alpha (ours: shorter runs cannot tell), and growing at alpha = 0 for every "
              "first-model error, each beyond a family-wise margin (Bonferroni over the judged runs)",
              {"bounded_positive": int(positive.bounded.sum()), "runs_positive": len(positive),
               "growing_without": int(none.growing.sum()), "runs_without": len(none)},
              Decision(bool(positive.bounded.all() and none.growing.all()), bool(positive.growing.any()),
                       rule="refuted if a judged run with a positive real share grows beyond that margin"),
              f"bounded in {int(positive.bounded.sum())} of {len(positive)} judged runs with alpha > 0; growing "
              f"in {int(none.growing.sum())} of {len(none)} with alpha = 0"
              + (f" (alpha = {', '.join(f'{a:g}' for a in unjudged)} not judged: too few generations)"
                 if unjudged else ""), figure="figS22_stability"),
        Claim("Feng-verification", "[FE] abstract",
              "verifying synthetic data before retraining prevents collapse without fresh data", "empirical",
              f"fully synthetic loop: with the ideal verifier the last generation's coverage KL is below the "
              f"unverified loop's by more than {K:g} standard errors of the paired difference",
              {"kl_verified": ideal.kl_to_data, "kl_verified_se": ideal.kl_to_data_se, "kl_unverified": unverified[0],
               "kl_unverified_se": unverified[1]},
              sign(*ideal_gain, K),
              f"coverage KL {ideal.kl_to_data:.3f} ± {ideal.kl_to_data_se:.2g} verified against "
              f"{unverified[0]:.3f} ± {unverified[1]:.2g} unverified", figure="figS23_verification"),
        Claim("Feng-verifier-quality", "[FE] abstract (verifier quality)",
              "the benefit of verification is governed by the verifier's quality", "empirical",
              "the last generation's coverage KL falls as the verifier improves (its real points grow, then the "
              "ideal verifier), each step by more than 2 combined standard errors; whether the transition is sharp "
              "is not judged (the abstract gives no measure of sharpness)",
              {f"kl_{v}": k for v, k in zip(ordered.verifier, ordered.kl_to_data)},
              decreasing(ordered.kl_to_data.values, ordered.kl_to_data_se.values),
              ", ".join(f"{k:.3f} ({v})" for v, k in zip(ordered.verifier, ordered.kl_to_data)),
              figure="figS23_verification"),
        Claim("Yi-knowledge-centre", "[YI] abstract",
              "a loop guided by an imperfect verifier converges to the verifier's knowledge centre, not to the data",
              "empirical",
              f"for every verifier of at most 100 real points, the last generation's coverage KL to the verifier's "
              f"picture p_v is below its KL to the data by more than {K:g} standard errors (paired)",
              {f"gap_{v}": g for v, g in zip(imperfect.verifier, imperfect.gap)},
              Decision(bool((imperfect.gap > K * imperfect.gap_se).all()),
                       bool((imperfect.gap < -K * imperfect.gap_se).any()),
                       rule="refuted if one is closer to the data by more than 2 standard errors"),
              ", ".join(f"{v}: KL to p_v {kv:.3f}, to the data {kp:.3f}" for v, kv, kp in
                        zip(imperfect.verifier, imperfect.kl_to_verifier, imperfect.kl_to_data)),
              figure="figS23_verification"),
        Claim("Gillman-correction", "[GC] abstract",
              "self-correcting synthetic data towards the data stabilises the loop: the stronger the correction, "
              "the smaller the drift", "empirical",
              "at each real share, the last generation's coverage KL falls with the correction time gamma, each "
              "step by more than 2 combined standard errors",
              {f"kl_alpha{a:g}_gamma{g:g}": m for a, values in by_alpha.items()
               for g, (m, _) in zip(parameters["corrections"], values)},
              every(decreasing([m for m, _ in v], [s for _, s in v]) for v in by_alpha.values()),
              "; ".join(f"alpha {a:g}: " + ", ".join(f"{m:.3g}" for m, _ in v) for a, v in by_alpha.items())
              + f" (gamma = {', '.join(f'{g:g}' for g in parameters['corrections'])})", figure="figS24_self_correction",
              note="a decreasing curve needs every step resolved: where a larger gamma no longer helps (the "
                   "corrected points already follow p up to the KDE's own error), more replicates decide it"),
        Claim("C-fresh-fraction-rule", "companion (from [K] Thm. 4.2 and the floors of notebooks 02-03)",
              "the fresh fraction that keeps the drift at a target is 1 - sqrt(1 - eps^2 / target) for independent "
              "errors and sqrt(eps^2 / target) for coherent ones", "empirical",
              f"the measured fresh fraction (where the plateau crosses the target) within {tolerance:.0%} of the "
              f"rule's at every eps^2 and both error kinds ({tolerance:.0%}: ours, the first-order rule's "
              f"expected accuracy at these drifts)",
              {f"{e}_{eps2:g}": m for e, eps2, m in zip(rule.errors, rule.eps2, rule.measured)},
              Decision(bool((rule.relative_gap <= tolerance).all()), bool((rule.relative_gap > tolerance).any()),
                       rule=f"refuted by a measured fraction more than {tolerance:.0%} from the rule's")
              if rule.measured.notna().all() else UNDECIDED,
              "; ".join(f"{e} eps^2 {eps2:g}: measured {m:.3f}, rule {r_:.3f}" for e, eps2, m, r_ in
                        zip(rule.errors, rule.eps2, rule.measured, rule.rule)), figure="figS25_fresh_fraction_needed"),
    ]
