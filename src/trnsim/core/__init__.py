"""trnsim.core."""
