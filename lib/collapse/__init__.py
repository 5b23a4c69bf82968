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

from collapse.core.diffusion import PathStatistics, SamplerConfig, ou_coefficient, ou_forward, reverse_sde  # noqa: E402
from collapse.core.mixture import GaussianMixture, blend, kde, paper_gmm  # noqa: E402
from collapse.core.recursion import Workflow, from_array, run_recursion  # noqa: E402
from collapse.infra.experiment import Experiment  # noqa: E402

__all__ = [
    "Experiment", "GaussianMixture", "PathStatistics", "SamplerConfig", "Workflow", "blend",
    "from_array", "kde", "ou_coefficient", "ou_forward", "paper_gmm", "reverse_sde", "run_recursion",
    "set_threads",
]
