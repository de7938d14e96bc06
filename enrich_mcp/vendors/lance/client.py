"""Lance HTTP client: the person enrichment endpoint. Knows nothing about MCP."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from enrich_mcp.errors import VendorProtocolError
from enrich_mcp.http import UUID_PATTERN, VendorHTTP, segment

VENDOR = "lance"


class LanceClient:
    def __init__(self, http: VendorHTTP) -> None:
        self.http = http

    @staticmethod
    def _path(person_id: UUID | str) -> str:
        return f"/operations/enrichment/{segment(person_id, name='person_id', pattern=UUID_PATTERN)}"

    async def trigger(self, person_id: UUID | str, field: str) -> dict[str, Any]:
        """POST: start an enrichment, or get the pending/finished one back without new credits.

        Lance documents the trigger as idempotent (a pending or finished enrichment for the same person and
        field is returned without new credits), so resending it after a lost answer cannot pay twice.
        """
        return await self.http.json(
            "POST", self._path(person_id), params={"field": field}, spends=True, idempotent=True, parse=_record
        )

    async def get(self, person_id: UUID | str, field: str) -> dict[str, Any]:
        """GET: the person's latest enrichment for ``field`` (404 NOT_FOUND when there is none)."""
        return await self.http.json("GET", self._path(person_id), params={"field": field}, parse=_record)


def _record(answer: Any) -> dict[str, Any]:
    if not isinstance(answer, dict) or not answer.get("id") or not answer.get("status"):
        raise VendorProtocolError(VENDOR, "the enrichment endpoint did not answer with an enrichment record")
    return answer
