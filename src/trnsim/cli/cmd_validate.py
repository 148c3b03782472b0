"""Command module cmd_validate (filled in by its layer)."""
