"""The services behind one server (:class:`Runtime`), with no MCP in it.

Tool modules (``core.py``, ``waterfall.py``, ``local/tools.py``) take a Runtime; ``server.py`` builds
one and assembles the MCP server around it, and nothing imports ``server.py`` back.
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from enrich_mcp.budget import Budget
from enrich_mcp.cache import ResultCache
from enrich_mcp.datadir import private_dir
from enrich_mcp.jobs import JobManager
from enrich_mcp.local import DnsMxResolver, MxResolver
from enrich_mcp.sandbox import SandboxApp
from enrich_mcp.settings import Settings
from enrich_mcp.stores import Stores
from enrich_mcp.vendors import VendorServices

if TYPE_CHECKING:
    from enrich_mcp.tooling import Toolset


@dataclass
class VendorStatus:
    name: str
    title: str
    enabled: bool
    reason: str
    base_url: str | None = None
    rate: str | None = None
    tools: list[str] = field(default_factory=list)


@dataclass
class Runtime:
    """The services behind one server; tests reach sandboxes and ledgers through it."""

    settings: Settings
    cache: ResultCache
    budget: Budget
    jobs: JobManager
    stores: Stores
    vendors: dict[str, VendorServices] = field(default_factory=dict)
    sandboxes: dict[str, SandboxApp] = field(default_factory=dict)
    status: dict[str, VendorStatus] = field(default_factory=dict)
    mx_resolver: MxResolver = field(default_factory=lambda: DnsMxResolver(timeout=2.0))
    """DNS for the local email checks (validate_emails, enrich_person); tests put a stub here."""
    subscribers: dict[str, weakref.WeakSet[Any]] = field(default_factory=dict)
    toolsets: dict[str, Toolset] = field(default_factory=dict)
    """Each configured vendor's toolset; with dynamic toolsets, enable_toolset activates one."""
    _users: int = 0
    _stop: anyio.Event | None = None

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[Runtime]:
        """Keep the process's one job poller running while anything uses this runtime.

        HTTP runs one MCP session per client, each entering the server's lifespan: the first user
        starts the poller in its own task group and every later one shares it. When the first user
        leaves while others remain, it waits for them (its task group hosts the poller), so the
        poller lives exactly as long as some session is open. `serve --http` enters this once for
        the whole app, so no session's end ever stops it there.
        """
        self._users += 1
        try:
            if self._users > 1:
                yield self
                return
            self._stop = anyio.Event()
            try:
                async with anyio.create_task_group() as tg:
                    await tg.start(self.jobs.run)
                    try:
                        yield self
                    finally:
                        with anyio.CancelScope(shield=True):
                            while self._users > 1:  # others still use the poller this task group hosts
                                await self._stop.wait()
                                self._stop = anyio.Event()
                        tg.cancel_scope.cancel()
            finally:
                await self.aclose()
        finally:
            self._users -= 1
            if self._stop is not None:
                self._stop.set()

    @property
    def home(self) -> Path:
        return self.settings.home

    @property
    def exports_dir(self) -> Path:
        return private_dir(self.home / "exports", what="exports folder")

    async def aclose(self) -> None:
        for services in self.vendors.values():
            await services.http.aclose()
        await self.stores.aclose()

    def close(self) -> None:
        self.stores.close()
