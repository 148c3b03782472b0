"""Imports every command module so that each registers its commands."""

from __future__ import annotations

from trnsim.cli import (  # noqa: F401
    cmd_catalog,
    cmd_estimate,
    cmd_kernel_profile,
    cmd_kernel_run,
    cmd_plan,
    cmd_serve,
    cmd_validate,
)
