"""Shared helpers for the kernel-layer tests."""

from __future__ import annotations
