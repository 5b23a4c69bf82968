"""Claims of notebook 05's optional SmolLM2-135M demonstration."""

from collapse.claims import Claim
from collapse.core.recursion import Workflow


def claims(result, parameters, sizes):
    keep = Workflow("keep-fraction", parameters["keep"]).label
    final = result.bpc.isel(generation=-1)
    replace, kept = float(final.sel(workflow="replace")), float(final.sel(workflow=keep))
    return [Claim(
        "S-SmolLM2-keep-fraction", "[S] Sec. 3", "a pretrained model fine-tuned on its own text degrades less when "
        "a share of the original data is kept", "empirical",
        "one seed, few blocks: no interval, so the ordering alone cannot decide it", {"replace": replace, keep: kept},
        "inconclusive", f"final bpc: replace {replace:.3f}, {keep} {kept:.3f}",
        note="more blocks, seeds and generations (an opt-in budget) would decide it")]
