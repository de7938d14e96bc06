"""Shared fixtures: a hermetic environment, settings on a temp data dir, servers on the sandbox."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest
from mcp import Client

from enrich_mcp.sandbox import SandboxApp
from enrich_mcp.server import EnrichServer, build_server
from enrich_mcp.settings import Settings
from tests.pg import Cluster

S = TypeVar("S", bound=SandboxApp)

FAST = {
    "default_wait_seconds": 5.0,
    "poll_interval_seconds": 0.01,
    "http_max_retries": 3,
    "retry_base_delay_seconds": 0.0,
    "retry_max_delay_seconds": 0.0,
    "retry_after_cap_seconds": 0.0,
    "submit_grace_seconds": 0.5,
}

_VENDOR_VARS = ("SIXTYFOUR", "AUDIENCELAB", "LANCE", "ENRICHABL", "FOURRUNR")


@pytest.fixture(autouse=True)
def hermetic_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No developer key or ENRICH_MCP_* variable leaks into a test."""
    for name in list(os.environ):
        if name.startswith("ENRICH_MCP_") or name.startswith(_VENDOR_VARS):
            monkeypatch.delenv(name)
    # The sandbox picks among plausible shapes where a vendor document is silent. A test run pins the pick
    # (the variant tests pin each shape themselves), so CI is repeatable; explore others with
    # ENRICH_TEST_SANDBOX_SEED=<n> ./run test.
    monkeypatch.setenv("ENRICH_MCP_SANDBOX_SEED", os.environ.get("ENRICH_TEST_SANDBOX_SEED", "0"))


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """One throwaway PostgreSQL for the whole run (see tests/pg.py); a missing server fails the tests."""
    try:
        cluster = Cluster()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    yield cluster
    cluster.stop()


@pytest.fixture
def pg_url(pg_cluster: Cluster) -> str:
    """A fresh, empty database of the session's cluster."""
    return pg_cluster.create_database()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def make_settings(home: Path, tmp_path: Path) -> Callable[..., Settings]:
    # csv_path arguments may read the test's own temp folder (ENRICH_MCP_FILES_DIR); tests of the folder
    # rules pass files_dir themselves.
    def make(**overrides: Any) -> Settings:
        return Settings(**{"home": home, "sandbox": True, "files_dir": tmp_path, **FAST, **overrides})

    return make


@pytest.fixture
def server(make_settings: Callable[..., Settings]) -> Iterator[EnrichServer]:
    srv = build_server(make_settings())
    yield srv
    srv.runtime.close()


@asynccontextmanager
async def connect(server: EnrichServer, *, mode: str = "legacy", **kwargs: Any) -> AsyncIterator[Client]:
    """An in-memory MCP client; ``mode`` "legacy" (2025-11-25 handshake) or "2026-07-28" (stateless)."""
    async with Client(server, mode=mode, **kwargs) as client:
        yield client


@pytest.fixture(params=["legacy", "2026-07-28"])
def era(request: pytest.FixtureRequest) -> str:
    """Run a test on both protocol eras."""
    return request.param


@pytest.fixture
async def client(server: EnrichServer) -> AsyncIterator[Client]:
    async with connect(server) as c:
        yield c


def sandbox_of(server: EnrichServer, kind: type[S]) -> S:
    """The fake vendor a sandbox-mode server talks to, typed."""
    sandbox = server.runtime.sandboxes[kind.vendor]
    assert isinstance(sandbox, kind)
    return sandbox
