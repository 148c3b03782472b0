"""trnsim.plan."""
