"""Command module cmd_kernel_profile (filled in by its layer)."""
