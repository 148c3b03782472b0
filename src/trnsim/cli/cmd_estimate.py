"""Command module cmd_estimate (filled in by its layer)."""
