"""trnsim.cluster."""
