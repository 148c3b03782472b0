"""Command module cmd_kernel_run (filled in by its layer)."""
