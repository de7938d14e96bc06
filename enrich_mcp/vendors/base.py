"""What a vendor folder provides (:class:`VendorSpec`) and what it is given (:class:`VendorServices`)."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from enrich_mcp.http import Auth, Rate, VendorHTTP

if TYPE_CHECKING:
    from enrich_mcp.budget import Budget
    from enrich_mcp.cache import ResultCache
    from enrich_mcp.jobs import JobManager
    from enrich_mcp.settings import Settings
    from enrich_mcp.tooling import Toolset
    from enrich_mcp.waterfall import Provider


@dataclass(frozen=True)
class VendorSpec:
    """A vendor's identity, wire conventions and tool registration."""

    name: str
    """Toolset name and tool-name prefix, e.g. ``"sixtyfour"``."""
    title: str
    env_prefix: str
    """``<PREFIX>_API_KEY`` / ``_BASE_URL`` / ``_RATE_LIMIT``."""
    default_base_url: str | None
    """``None`` when the vendor is self-hosted and the base URL is required."""
    auth: Auth
    rate: Rate | None
    """The documented rate, kept client-side (overridable with ``<PREFIX>_RATE_LIMIT``)."""
    tools: str
    """The module whose ``register(toolset, services)`` adds the vendor's tools (and job handlers).

    Named, not imported: importing a vendor's client or models does not load MCP; the server
    imports the tools module when it registers the toolset.
    """
    prices: Mapping[str, float] = field(default_factory=dict)
    """Default USD price per unit by operation; overridable with ENRICH_MCP_PRICES."""
    sandbox_base_url: str | None = None
    """Base URL used in sandbox mode when there is no default (self-hosted vendors)."""
    docs: str = ""
    waterfall: str | None = None
    """``module:attribute`` of the vendor's ``enrich_person`` source: a :class:`~enrich_mcp.waterfall.Provider`
    subclass (or any callable taking :class:`VendorServices` and returning one). Named, not imported, like
    :attr:`tools`. ``None``: the vendor cannot answer a person lookup with the value itself."""
    waterfall_priority: int = 100
    """The provider's place in the waterfall (lower first, then by name). Steps run cheapest first, so
    this decides between equal costs; it also orders ``providers_skipped``."""

    def register(self, toolset: Toolset, services: VendorServices) -> None:
        module = importlib.import_module(self.tools)
        module.register(toolset, services)

    def provider(self) -> Callable[[VendorServices], Provider] | None:
        """The waterfall provider's factory, imported now; ``None`` when the vendor offers none."""
        return None if self.waterfall is None else pkgutil.resolve_name(self.waterfall)


@dataclass
class VendorServices:
    """Everything a vendor's tools may use; built once per server."""

    spec: VendorSpec
    http: VendorHTTP
    account: str
    """Hash of the API key: the cache's account dimension."""
    settings: Settings
    cache: ResultCache
    budget: Budget
    jobs: JobManager
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.spec.name
