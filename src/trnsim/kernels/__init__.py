"""trnsim.kernels."""
