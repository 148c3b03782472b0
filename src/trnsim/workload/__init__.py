"""trnsim.workload."""
