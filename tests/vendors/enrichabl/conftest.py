"""Enrichabl test helpers: the sandbox, seeded pipelines, request decoding."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from enrich_mcp.sandbox.enrichabl import Sandbox
from enrich_mcp.server import EnrichServer, build_server
from enrich_mcp.settings import Settings
from tests.conftest import sandbox_of

BASE = "https://api.enrichabl.com/v1"
AUTH = "Bearer sandbox-key-not-secret"
PID = "6f1c1e0a-5b1d-4c4e-9a51-00000000abcd"
"""A well-formed pipeline id (Enrichabl ids are UUIDs) that the sandbox does not hold."""


@pytest.fixture
def server(make_settings: Callable[..., Settings]) -> Iterator[EnrichServer]:
    """Only the Enrichabl toolset (and core): faster to build, same behaviour."""
    srv = build_server(make_settings(toolsets=["enrichabl"]))
    yield srv
    srv.runtime.close()


@pytest.fixture
def sandbox(server: EnrichServer) -> Sandbox:
    return sandbox_of(server, Sandbox)


def seed(sandbox: Sandbox, name: str, leads: list[dict[str, Any]]) -> str:
    """A pipeline holding ``leads`` (stored oldest first), without going through the API."""
    return sandbox.seed_pipeline(name, leads)


def body(request: httpx.Request) -> Any:
    return json.loads(request.content)


def text(result: Any) -> str:
    return result.content[0].text
