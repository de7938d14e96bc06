"""Lance tests run on a server with only this toolset, so other vendors' work cannot break them."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from enrich_mcp.server import EnrichServer, build_server
from enrich_mcp.settings import Settings


@pytest.fixture
def server(make_settings: Callable[..., Settings]) -> Iterator[EnrichServer]:
    srv = build_server(make_settings(toolsets=["lance"]))
    yield srv
    srv.runtime.close()
