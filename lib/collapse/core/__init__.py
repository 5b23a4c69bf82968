"""The math core: Gaussian mixtures, the OU process and its sampler, divergences, bounds, the recursion."""
