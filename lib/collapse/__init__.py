"""collapse: the helper library behind the model-collapse notebooks.

The few ideas, each in one module:

- ``mixture``     Gaussian mixtures (data GMM, KDE, training mixture, OU-noised versions)
- ``diffusion``   the OU forward process and the one reverse-SDE sampler, with path statistics
- ``recursion``   the one recursive-training loop and its five workflows
- ``divergences`` divergences between known densities
- ``kde_diffusion`` the KDE-score learner of [K]'s GMM experiment and its population model
- ``config``      modes, the table of sizes, output locations, threads
- ``cache``       keyed, atomic, checkpointed results
- ``figures``     one style, deterministic files, the figure registry
- ``experiment``  what a notebook opens with; ``parallel`` runs independent jobs
"""

from collapse.infra.config import console_log, set_threads

set_threads()  # one BLAS/torch thread per process unless $COLLAPSE_THREADS says otherwise
console_log()

# The names below load on first use (PEP 562): the command line checks its input before torch is imported.
_EXPORTS = {
    "collapse.core.diffusion": ("PathStatistics", "SamplerConfig", "ou_coefficient", "ou_forward", "reverse_sde"),
    "collapse.core.mixture": ("GaussianMixture", "blend", "kde", "paper_gmm"),
    "collapse.core.recursion": ("Workflow", "from_array", "run_recursion"),
    "collapse.infra.experiment": ("Experiment",),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted([*_WHERE, "set_threads"])


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'collapse' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_WHERE[name]), name)
