"""Fake Lance API (https://app.lance.so/api/v1), written from vendor-docs/lance.md.

Documented, and followed:

* ``POST /operations/enrichment/{personId}?field=emails|phones`` creates a ``pending`` enrichment, or
  returns the pending or finished one for that person and field without new credits; after a failed,
  timed-out or cancelled one it creates a new record.
* ``GET`` returns the latest record (404 ``NOT_FOUND`` when there is none). An enrichment still
  ``pending`` past the maximum age (800 s, from its stored ``createdAt``) is marked ``timeout`` when read.
* Statuses ``pending``, ``finished``, ``failed``, ``timeout``, ``cancelled``; errors
  ``{"error": {"code", "message", "details"}}`` with the documented codes.

Life cycle: the first GET after the trigger still says ``pending``; the next one says ``finished``
(credits are recorded then). Special people: ``NO_DATA_PERSON`` finishes with ``dataFound: false``;
``FAILING_PERSON`` ends ``failed``; ``CANCELLED_PERSON`` ends ``cancelled``; ``SLOW_PERSON`` stays
pending until it times out; ``ODD_PERSON`` reports the undocumented word ``ODD_STATUS``; ``BROKE_PERSON``
(or no credits left) gets 402 ``INSUFFICIENT_CREDITS``. ``trigger_elsewhere`` starts an enrichment as
Lance's web app would (another user of the organisation), and ``set_status`` forces any word.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from enrich_mcp.sandbox import SandboxApp, route

NO_DATA_PERSON = "00000000-0000-4000-8000-00000000000d"
FAILING_PERSON = "00000000-0000-4000-8000-00000000000f"
CANCELLED_PERSON = "00000000-0000-4000-8000-00000000000c"
SLOW_PERSON = "00000000-0000-4000-8000-000000000800"
ODD_PERSON = "00000000-0000-4000-8000-0000000000dd"
BROKE_PERSON = "00000000-0000-4000-8000-000000000402"
ODD_STATUS = "enriching"
"""Not one of the documented words."""
MAX_AGE_SECONDS = 800.0
API_USER = "user_sandbox000example"
WEB_APP_USER = "user_webapp0000example"

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
_CODES = {
    400: "VALIDATION_ERROR",
    401: "UNAUTHORIZED",
    402: "INSUFFICIENT_CREDITS",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
}
_OPERATION = {"emails": "enrichment_email", "phones": "enrichment_phone"}
_REUSED = ("pending", "finished")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ts * 1000) % 1000:03d}Z"


def _ts(iso: str) -> float:
    return datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()


class Sandbox(SandboxApp):
    vendor = "lance"
    base_path = "/api/v1"
    auth_header = "Authorization"
    auth_prefix = "Bearer "

    def seed_state(self) -> None:
        self.store.set_meta("credits", 1000)

    def error(self, status: int, message: str, **extra: Any) -> httpx.Response:
        body: dict[str, Any] = {"code": extra.pop("code", _CODES.get(status, "INTERNAL_ERROR")), "message": message}
        if extra.get("details") is not None:
            body["details"] = extra["details"]
        return self.json(status, {"error": body})

    # -- test hooks ------------------------------------------------------------------------------

    @property
    def credits(self) -> int:
        with self.store.transaction():
            return int(self.store.meta("credits", 0))

    @credits.setter
    def credits(self, value: int) -> None:
        with self.store.transaction():
            self.store.set_meta("credits", value)

    def history(self) -> list[dict[str, Any]]:
        """Every enrichment record ever created, oldest first, as the API shows it."""
        with self.store.transaction():
            return [entry["record"] for entry in self.store.list("enrichment")]

    def trigger_elsewhere(self, person_id: str, field: str) -> dict[str, Any]:
        """Start an enrichment as Lance's web app does (another user), not through this API key."""
        with self.store.transaction():
            return self._create(person_id.lower(), field, created_by=WEB_APP_USER)

    def set_status(self, person_id: str, field: str, word: str, **changes: Any) -> None:
        """Force the latest enrichment's status word (documented or not)."""
        with self.store.transaction():
            entry = self._latest(person_id.lower(), field)
            assert entry is not None, "no enrichment for this person and field"
            entry["record"].update(status=word, updatedAt=_iso(self.clock()), **changes)
            entry["forced"] = True
            self.store.put("enrichment", entry["record"]["id"], entry)

    # -- API -------------------------------------------------------------------------------------

    def _check(self, request: httpx.Request, person_id: str) -> str | httpx.Response:
        if not _UUID.match(person_id):
            return self.error(400, "personId must be a valid UUID")
        field = request.url.params.get("field")
        if field not in ("phones", "emails"):
            return self.error(400, 'Field query parameter is required and must be "phones" or "emails"')
        return field

    def _latest(self, person_id: str, field: str) -> dict[str, Any] | None:
        entries = self.store.list("enrichment", parent=f"{person_id}/{field}", newest_first=True, limit=1)
        return entries[0] if entries else None

    def _create(self, person_id: str, field: str, *, created_by: str) -> dict[str, Any]:
        now = _iso(self.clock())
        number = self.store.counter("enrichment")
        record = {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"lance-sandbox/enrichment/{number}")),
            "createdAt": now,
            "updatedAt": now,
            "entityId": person_id,
            "entityType": "person",
            "field": field,
            "status": "pending",
            "error": None,
            "dataFound": None,
            "createdBy": created_by,
            "orgId": "org_sandbox000example",
            "globalEnrichmentId": None,
            "creditTransactionId": None,
        }
        self.store.put("enrichment", record["id"], {"record": record, "reads": 0}, parent=f"{person_id}/{field}")
        return record

    @route("POST", "/operations/enrichment/{person_id}")
    def trigger(self, request: httpx.Request, person_id: str) -> httpx.Response:
        field = self._check(request, person_id)
        if isinstance(field, httpx.Response):
            return field
        person_id = person_id.lower()
        existing = self._latest(person_id, field)
        if existing is not None:
            self._expire(existing)
            if existing["record"]["status"] in _REUSED:
                return self.json(200, existing["record"])
        if int(self.store.meta("credits", 0)) < 1 or person_id == BROKE_PERSON:
            operation = _OPERATION[field]
            return self.error(
                402,
                f"Insufficient credits for {operation}. Required: 1 credits.",
                details={"operationType": operation, "count": 1, "required": 1},
            )
        return self.json(200, self._create(person_id, field, created_by=API_USER))

    @route("GET", "/operations/enrichment/{person_id}")
    def status(self, request: httpx.Request, person_id: str) -> httpx.Response:
        field = self._check(request, person_id)
        if isinstance(field, httpx.Response):
            return field
        entry = self._latest(person_id.lower(), field)
        if entry is None:
            return self.error(404, "Enrichment not found")
        self._expire(entry)
        shown = dict(entry["record"])
        if shown["status"] == "pending" and not entry.get("forced"):
            entry["reads"] += 1
            self._finish(entry)  # seen pending once; moved on from the next read
        return self.json(200, shown)

    def _expire(self, entry: dict[str, Any]) -> None:
        """The document: a pending enrichment past the maximum age is marked ``timeout`` when read."""
        record = entry["record"]
        if record["status"] == "pending" and self.clock() - _ts(record["createdAt"]) > MAX_AGE_SECONDS:
            record.update(status="timeout", updatedAt=_iso(self.clock()), error="Enrichment timed out")
            self.store.put("enrichment", record["id"], entry)

    def _finish(self, entry: dict[str, Any]) -> None:
        """Move a pending enrichment on, after it was seen pending once."""
        record = entry["record"]
        person = record["entityId"]
        if person == SLOW_PERSON:
            self.store.put("enrichment", record["id"], entry)
            return
        record["updatedAt"] = _iso(self.clock())
        if person == FAILING_PERSON:
            record.update(status="failed", error="All enrichment providers failed for this person", dataFound=False)
        elif person == CANCELLED_PERSON:
            record.update(status="cancelled", error="Enrichment was cancelled")
        elif person == ODD_PERSON:
            record.update(status=ODD_STATUS)
        else:
            self.store.set_meta("credits", int(self.store.meta("credits", 0)) - 1)
            n = self.store.counter("credit")
            record.update(
                status="finished",
                dataFound=person != NO_DATA_PERSON,
                globalEnrichmentId=str(uuid.uuid5(uuid.NAMESPACE_URL, f"lance-sandbox/global/{person}")),
                creditTransactionId=str(uuid.uuid5(uuid.NAMESPACE_URL, f"lance-sandbox/credit/{record['id']}/{n}")),
            )
        self.store.put("enrichment", record["id"], entry)
