"""Fake Lance API (https://app.lance.so/api/v1), following vendor-docs/lance.md.

* ``POST /operations/enrichment/{personId}?field=`` creates a ``pending`` enrichment, or returns the pending
  or finished one for that person and field without a new credit transaction; after a failed, timed-out or
  cancelled one it creates a new record.
* Each ``GET`` shows the record and then moves it on: the first GET after the trigger still says
  ``pending``, the next one says ``finished`` (credits are recorded then).
* Special people: ``NO_DATA_PERSON`` finishes with ``dataFound: false``, ``FAILING_PERSON`` ends ``failed``,
  ``BROKE_PERSON`` (or ``credits = 0``) gets 402 INSUFFICIENT_CREDITS.
* Errors use the documented ``{"error": {"code", "message", "details"}}`` shape.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from enrich_mcp.sandbox import SandboxApp, route

NO_DATA_PERSON = "00000000-0000-4000-8000-00000000000d"
FAILING_PERSON = "00000000-0000-4000-8000-00000000000f"
BROKE_PERSON = "00000000-0000-4000-8000-000000000402"

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
_CODES = {
    400: "VALIDATION_ERROR",
    401: "UNAUTHORIZED",
    402: "INSUFFICIENT_CREDITS",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
}
_EPOCH = datetime(2024, 1, 15, 10, 30, tzinfo=UTC)
_OPERATION = {"emails": "enrichment_email", "phones": "enrichment_phone"}


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.000Z")


class Sandbox(SandboxApp):
    vendor = "lance"
    base_path = "/api/v1"
    auth_header = "Authorization"
    auth_prefix = "Bearer "

    def __init__(self) -> None:
        super().__init__()
        self.credits = 1000
        self.records: dict[tuple[str, str], dict[str, Any]] = {}
        self.history: list[dict[str, Any]] = []
        self._clock = 0

    def error(self, status: int, message: str, **extra: Any) -> httpx.Response:
        body: dict[str, Any] = {"code": extra.pop("code", _CODES.get(status, "INTERNAL_ERROR")), "message": message}
        if extra.get("details") is not None:
            body["details"] = extra["details"]
        return self.json(status, {"error": body})

    def _now(self) -> str:
        self._clock += 1
        return _iso(_EPOCH + timedelta(seconds=self._clock))

    def _check(self, request: httpx.Request, person_id: str) -> str | httpx.Response:
        if not _UUID.match(person_id):
            return self.error(400, "personId must be a valid UUID")
        field = request.url.params.get("field")
        if field not in ("phones", "emails"):
            return self.error(400, 'Field query parameter is required and must be "phones" or "emails"')
        return field

    @route("POST", "/operations/enrichment/{person_id}")
    def trigger(self, request: httpx.Request, person_id: str) -> httpx.Response:
        field = self._check(request, person_id)
        if isinstance(field, httpx.Response):
            return field
        person_id = person_id.lower()
        existing = self.records.get((person_id, field))
        if existing is not None and existing["status"] in ("pending", "finished"):
            return self.json(200, existing)
        if self.credits < 1 or person_id == BROKE_PERSON:
            operation = _OPERATION[field]
            return self.error(
                402,
                f"Insufficient credits for {operation}. Required: 1 credits.",
                details={"operationType": operation, "count": 1, "required": 1},
            )
        now = self._now()
        record = {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"lance-sandbox/enrichment/{len(self.history)}")),
            "createdAt": now,
            "updatedAt": now,
            "entityId": person_id,
            "entityType": "person",
            "field": field,
            "status": "pending",
            "error": None,
            "dataFound": None,
            "createdBy": "user_sandbox000example",
            "orgId": "org_sandbox000example",
            "globalEnrichmentId": None,
            "creditTransactionId": None,
        }
        self.records[(person_id, field)] = record
        self.history.append(record)
        return self.json(200, record)

    @route("GET", "/operations/enrichment/{person_id}")
    def status(self, request: httpx.Request, person_id: str) -> httpx.Response:
        field = self._check(request, person_id)
        if isinstance(field, httpx.Response):
            return field
        record = self.records.get((person_id.lower(), field))
        if record is None:
            return self.error(404, "Enrichment not found")
        shown = dict(record)
        if record["status"] == "pending":
            self._finish(record)  # seen pending once; finished from the next read on
        return self.json(200, shown)

    def _finish(self, record: dict[str, Any]) -> None:
        record["updatedAt"] = self._now()
        n = len(self.history)
        if record["entityId"] == FAILING_PERSON:
            record.update(status="failed", error="All enrichment providers failed for this person", dataFound=False)
            return
        self.credits -= 1
        record.update(
            status="finished",
            dataFound=record["entityId"] != NO_DATA_PERSON,
            globalEnrichmentId=str(uuid.uuid5(uuid.NAMESPACE_URL, f"lance-sandbox/global/{record['entityId']}")),
            creditTransactionId=str(uuid.uuid5(uuid.NAMESPACE_URL, f"lance-sandbox/credit/{record['id']}/{n}")),
        )
