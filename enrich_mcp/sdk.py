"""Where enrich-mcp meets the MCP SDK: the server class, and the few SDK internals it must reach.

``MCPServer`` has public API for everything enrich-mcp does except three things; each is reached
here, and only here, so an SDK upgrade that moves them breaks one module (and its tests), not five:

- the low-level ``Server`` (``_lowlevel_server``): stdio is served with our own guarded stdin, the
  2025-era ``resources/subscribe`` handlers are added on it, and ``tools.listChanged`` is declared
  through its initialization options (MCPServer has no setting for any of these);
- the ``Tool`` that ``add_tool`` built (``_tool_manager``): add_tool returns nothing, and the built
  schemas are closed and leaned in place (``schema.prepare_tool``);
- a request's connection (``ServerSession._connection``): a ``resources/subscribe`` subscriber
  outlives the request's session wrapper, so the connection itself is remembered (weakly).

The subscription bus is not among them: enrich-mcp makes the bus and hands it to the constructor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mcp.server.mcpserver import MCPServer
from mcp.server.subscriptions import InMemorySubscriptionBus, SubscriptionBus

if TYPE_CHECKING:
    from mcp.server.lowlevel.server import Server
    from mcp.server.mcpserver.tools import Tool

    from enrich_mcp.runtime import Runtime


class EnrichServer(MCPServer[Any]):
    """An MCPServer that carries its :class:`Runtime` and its subscription bus."""

    runtime: Runtime
    bus: SubscriptionBus

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.bus = kwargs.setdefault("subscriptions", InMemorySubscriptionBus())
        super().__init__(*args, **kwargs)


def lowlevel(server: MCPServer[Any]) -> Server[Any]:
    """The low-level server under ``server`` (see the module docstring for why)."""
    return server._lowlevel_server  # pyright: ignore[reportPrivateUsage]


def built_tool(server: MCPServer[Any], name: str) -> Tool:
    """The ``Tool`` that ``server.add_tool`` just built for ``name``."""
    tool = server._tool_manager.get_tool(name)  # pyright: ignore[reportPrivateUsage]
    if tool is None:
        raise KeyError(name)
    return tool


def connection_of(session: Any) -> Any:
    """The connection under a request's session: what a ``resources/subscribe`` subscriber is."""
    return session._connection
