"""Sixtyfour HTTP client: one method per documented endpoint. Knows nothing about MCP."""

from __future__ import annotations

from typing import Any

from enrich_mcp.errors import VendorProtocolError
from enrich_mcp.http import VendorHTTP


class SixtyfourClient:
    def __init__(self, http: VendorHTTP) -> None:
        self.http = http

    async def find_email(self, lead: dict[str, Any], mode: str) -> dict[str, Any]:
        """POST /find-email (PROFESSIONAL $0.05, PERSONAL $0.20)."""
        body = await self.http.json("POST", "/find-email", json_body={"lead": lead, "mode": mode}, spends=True)
        if not isinstance(body, dict):
            raise VendorProtocolError("sixtyfour", "find-email did not answer with an object")
        return body
