"""Command module cmd_plan (filled in by its layer)."""
