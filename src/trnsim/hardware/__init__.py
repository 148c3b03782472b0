"""trnsim.hardware."""
