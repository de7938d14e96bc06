"""4Runr test fixtures: a server with only the 4Runr toolset (plus core) on the sandbox."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from enrich_mcp.sandbox.fourrunr import Sandbox
from enrich_mcp.server import EnrichServer, build_server
from enrich_mcp.settings import Settings
from tests.conftest import sandbox_of

BASE = "http://localhost:5000/api/v1"
AUTH = "Bearer sandbox-key-not-secret"


@pytest.fixture
def server(make_settings: Callable[..., Settings]) -> Iterator[EnrichServer]:
    srv = build_server(make_settings(toolsets=["fourrunr"]))
    yield srv
    srv.runtime.close()


@pytest.fixture
def sandbox(server: EnrichServer) -> Sandbox:
    return sandbox_of(server, Sandbox)


def sent(request: httpx.Request) -> Any:
    """The JSON body a request carried, after checking the documented headers."""
    assert request.headers["authorization"] == AUTH
    return json.loads(request.content) if request.content else None
