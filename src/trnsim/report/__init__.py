"""trnsim.report."""
