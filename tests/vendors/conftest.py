"""Vendor tests: a failing test's report shows the sandbox shapes it ran with (they vary per run)."""

from __future__ import annotations

import logging

import pytest


@pytest.fixture(autouse=True)
def _log_sandbox_shapes(caplog: pytest.LogCaptureFixture) -> None:
    # The shapes line is logged when a sandbox's state is created; a failure then says which ones to pin.
    caplog.set_level(logging.INFO, logger="enrich_mcp.sandbox")
