"""trnsim.nki."""
