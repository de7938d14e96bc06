"""The third-party clients, installed once per test session by the project's own script (clients/install.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INSTALL_TIMEOUT = 900  # a cold install (two venvs and node_modules) takes about a minute here


@pytest.fixture(scope="session")
def real_clients() -> Path:
    """Install (or find up to date) every client; a failed install fails the tests that need it, never skips."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "clients" / "install.py")],
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(f"clients/install.py failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}", pytrace=False)
    return ROOT
