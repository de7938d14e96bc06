"""4Runr HTTP client: one method per documented endpoint. Knows nothing about MCP.

Every 4Runr answer is an envelope, ``{success, data}`` (list endpoints may add
``pagination``) or ``{success: false, error: {code, message, details}}``. A
non-2xx envelope is mapped by ``http.py``; an error envelope that arrives with
HTTP 2xx is mapped here, by its ``code``, to the same exception tree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from enrich_mcp.errors import (
    VendorAuthError,
    VendorBadRequest,
    VendorConflict,
    VendorError,
    VendorForbidden,
    VendorNotFound,
    VendorProtocolError,
    VendorRateLimited,
    VendorUnavailable,
)
from enrich_mcp.http import VendorHTTP, segment
from enrich_mcp.vendors.fourrunr.models import RECORD_ID_PATTERN

VENDOR = "fourrunr"

# The document names VALIDATION_ERROR; the rest follow its list of HTTP errors.
_CODE_ERRORS: dict[str, type[VendorError]] = {
    "VALIDATION_ERROR": VendorBadRequest,
    "BAD_REQUEST": VendorBadRequest,
    "UNAUTHORIZED": VendorAuthError,
    "FORBIDDEN": VendorForbidden,
    "NOT_FOUND": VendorNotFound,
    "CONFLICT": VendorConflict,
    "INVALID_STATE": VendorConflict,
    "RATE_LIMIT_EXCEEDED": VendorRateLimited,
    "TOO_MANY_REQUESTS": VendorRateLimited,
    "INTERNAL_ERROR": VendorUnavailable,
    "INTERNAL_SERVER_ERROR": VendorUnavailable,
}


def _record(value: str, name: str) -> str:
    return segment(value, name=name, pattern=RECORD_ID_PATTERN)


@dataclass
class Envelope:
    data: Any
    pagination: dict[str, Any] | None = None


class FourRunrClient:
    def __init__(self, http: VendorHTTP) -> None:
        self.http = http

    # -- plumbing ---------------------------------------------------------------------------------

    async def _call(self, method: str, path: str, **kwargs: Any) -> Envelope:
        def envelope(body: Any) -> Any:
            if body is not None and not isinstance(body, dict):
                raise VendorProtocolError(VENDOR, f"{method} {path} did not answer with a JSON object")
            return body

        body = await self.http.json(method, path, parse=envelope, **kwargs)
        if body is None:  # an empty 2xx (e.g. 204 on delete) is a success without data
            return Envelope({})
        if body.get("success") is False:
            raise self._envelope_error(body)
        pagination = body.get("pagination")
        # Undocumented answers may carry their fields beside `success` instead of in `data`.
        data = body["data"] if "data" in body else {k: v for k, v in body.items() if k not in {"success", "pagination"}}
        return Envelope(data, pagination if isinstance(pagination, dict) else None)

    async def _object(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        data = (await self._call(method, path, **kwargs)).data
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise VendorProtocolError(VENDOR, f"{method} {path} answered with data that is not an object")
        return data

    def _envelope_error(self, body: dict[str, Any]) -> VendorError:
        error = body.get("error")
        if isinstance(error, dict):
            code = str(error.get("code") or "") or None
            message = str(error.get("message") or code or "request failed")
            details = error.get("details")
        else:
            code, message, details = None, str(error or "request failed"), None
        cls = _CODE_ERRORS.get(code or "", VendorError)
        return cls(VENDOR, self.http.redact(message), code=code, details=details)

    # -- leads ------------------------------------------------------------------------------------

    async def list_leads(
        self, *, limit: int, offset: int, stage: str | None, source: str | None
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """GET /leads → (data, pagination)."""
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if stage is not None:
            params["stage"] = stage
        if source is not None:
            params["source"] = source
        envelope = await self._call("GET", "/leads", params=params)
        if not isinstance(envelope.data, dict):
            raise VendorProtocolError(VENDOR, "GET /leads answered with data that is not an object")
        return envelope.data, envelope.pagination

    async def get_lead(self, lead_id: str) -> dict[str, Any]:
        return await self._object("GET", f"/leads/{_record(lead_id, 'lead_id')}")

    async def create_lead(self, lead: dict[str, Any]) -> dict[str, Any]:
        return await self._object("POST", "/leads", json_body=lead)

    async def update_lead(self, lead_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        return await self._object("PUT", f"/leads/{_record(lead_id, 'lead_id')}", json_body=changes)

    async def delete_lead(self, lead_id: str) -> dict[str, Any]:
        return await self._object("DELETE", f"/leads/{_record(lead_id, 'lead_id')}")

    # -- sync and cleaning ------------------------------------------------------------------------

    async def sync_airtable(self, *, force_full_sync: bool, clean_data: bool) -> dict[str, Any]:
        return await self._object(
            "POST", "/sync/airtable", json_body={"force_full_sync": force_full_sync, "clean_data": clean_data}
        )

    async def sync_status(self) -> dict[str, Any]:
        return await self._object("GET", "/sync/status")

    async def clean_lead(self, lead_data: dict[str, Any], context: dict[str, Any] | None) -> dict[str, Any]:
        body: dict[str, Any] = {"lead_data": lead_data}
        if context:
            body["context"] = context
        return await self._object("POST", "/clean/lead", json_body=body, spends=True)

    async def clean_bulk(self, lead_ids: list[str], *, force_reclean: bool) -> dict[str, Any]:
        return await self._object(
            "POST", "/clean/bulk", json_body={"lead_ids": lead_ids, "force_reclean": force_reclean}, spends=True
        )

    # -- AI ---------------------------------------------------------------------------------------

    async def generate_message(self, lead_id: str, message_type: str, personalization_level: str) -> dict[str, Any]:
        return await self._object(
            "POST",
            "/ai/generate-message",
            json_body={
                "lead_id": lead_id,
                "message_type": message_type,
                "personalization_level": personalization_level,
            },
            spends=True,
        )

    async def enrich_lead(self, lead_id: str, enrichment_sources: list[str] | None) -> dict[str, Any]:
        body: dict[str, Any] = {"lead_id": lead_id}
        if enrichment_sources is not None:
            body["enrichment_sources"] = enrichment_sources
        return await self._object("POST", "/ai/enrich-lead", json_body=body, spends=True)

    # -- campaigns --------------------------------------------------------------------------------

    async def list_campaigns(self) -> list[dict[str, Any]]:
        """GET /campaigns: the document shows no answer; accept a list or ``{campaigns: [...]}``."""
        data = (await self._call("GET", "/campaigns")).data
        if isinstance(data, dict):
            data = data.get("campaigns", [])
        if not isinstance(data, list) or not all(isinstance(c, dict) for c in data):
            raise VendorProtocolError(VENDOR, "GET /campaigns did not answer with a list of campaigns")
        return data

    async def create_campaign(self, campaign: dict[str, Any]) -> dict[str, Any]:
        return await self._object("POST", "/campaigns", json_body=campaign)

    async def start_campaign(self, campaign_id: str) -> dict[str, Any]:
        return await self._object("POST", f"/campaigns/{_record(campaign_id, 'campaign_id')}/start")

    async def pause_campaign(self, campaign_id: str) -> dict[str, Any]:
        return await self._object("POST", f"/campaigns/{_record(campaign_id, 'campaign_id')}/pause")

    # -- analytics and operations -----------------------------------------------------------------

    async def health(self) -> dict[str, Any]:
        return await self._object("GET", "/health")

    async def lead_analytics(self) -> dict[str, Any]:
        return await self._object("GET", "/analytics/leads")

    async def campaign_analytics(self) -> dict[str, Any]:
        return await self._object("GET", "/analytics/campaigns")

    async def automation_status(self) -> dict[str, Any]:
        return await self._object("GET", "/automation/status")

    async def trigger_automation(self, operation: str, parameters: dict[str, Any] | None) -> dict[str, Any]:
        body: dict[str, Any] = {"operation": operation}
        if parameters is not None:
            body["parameters"] = parameters
        # Operations such as enrich_leads run AI work at the operator's provider: never resend blindly.
        return await self._object("POST", "/automation/trigger", json_body=body, spends=True)
