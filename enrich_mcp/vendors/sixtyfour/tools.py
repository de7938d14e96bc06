"""Sixtyfour tools: thin wrappers that validate, call the client, and shape the answer."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context
from pydantic import Field

from enrich_mcp.tooling import Toolset, cache_note, paid_call, require
from enrich_mcp.vendors.base import VendorServices
from enrich_mcp.vendors.sixtyfour.client import SixtyfourClient
from enrich_mcp.vendors.sixtyfour.models import EmailMode, FindEmailResult, FoundEmail, Lead

Fresh = Annotated[bool, Field(description="Skip the cache and ask the vendor again (spends credits)")]
Confirm = Annotated[bool, Field(description="The user already approved this spend")]


def parse_emails(raw: dict[str, Any]) -> list[FoundEmail]:
    """``email`` is ``[[address, OK|UNKNOWN, COMPANY|PERSONAL], ...]`` per the document."""
    found = []
    for item in raw.get("email") or []:
        if isinstance(item, list | tuple) and item:
            parts = [str(p) for p in item] + ["UNKNOWN", "COMPANY"]
            found.append(FoundEmail(address=parts[0], status=parts[1], type=parts[2]))
    return found


def register(tools: Toolset, services: VendorServices) -> None:
    client = SixtyfourClient(services.http)
    vendor = services.name

    @tools.tool(title="Sixtyfour: find email", read_only=False, idempotent=True)
    async def sixtyfour_find_email(
        lead: Lead,
        ctx: Context,
        mode: EmailMode = "PROFESSIONAL",
        fresh: Fresh = False,
        confirm: Confirm = False,
    ) -> FindEmailResult:
        """Find a person's work email (PROFESSIONAL, $0.05) or personal email (PERSONAL, $0.20) with Sixtyfour.

        Give as much as you know (name + company or LinkedIn at least). Answers are cached; `fresh` re-asks.
        """
        payload = lead.payload()
        require(
            bool(payload.get("name") or payload.get("linkedin") or payload.get("email")),
            "Give at least the person's name (with company or domain) or their LinkedIn URL.",
        )
        operation = f"find_email.{mode}"
        request = {"lead": payload, "mode": mode}
        cost = services.budget.estimate(vendor, operation).estimated_usd

        async def fetch() -> dict[str, Any]:
            return await paid_call(
                services.budget,
                ctx,
                lambda: client.find_email(payload, mode),
                vendor=vendor,
                tool="sixtyfour_find_email",
                operation=operation,
                subject=str(payload.get("name") or payload.get("linkedin") or payload.get("email")),
                confirm=confirm,
            )

        cached = await services.cache.get_or_fetch(vendor, "find_email", request, services.account, fetch, fresh=fresh)
        raw = cached.value
        return FindEmailResult(
            emails=parse_emails(raw),
            personal_email=raw.get("personal_email") or None,
            mode=mode,
            cost_usd=0.0 if cached.hit else cost,
            cache=cache_note(cached),
            raw=raw,
        )
