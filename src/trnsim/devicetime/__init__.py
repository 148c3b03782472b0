"""trnsim.devicetime."""
