"""Sixtyfour HTTP client: one method per documented endpoint. Knows nothing about MCP."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from enrich_mcp.errors import VendorProtocolError
from enrich_mcp.http import UUID_PATTERN, VendorHTTP, segment

VENDOR = "sixtyfour"
BULK_LIMIT = 100
"""Leads per bulk-async request, per the document."""

_ROUTE_MISSING = frozenset({404, 405})


@dataclass(frozen=True)
class _Route:
    method: str
    path: str
    params: dict[str, str] | None = None
    idempotent: bool | None = None


def _object(body: Any, what: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise VendorProtocolError(VENDOR, f"{what} did not answer with an object")
    return body


def _list(body: Any, what: str) -> list[dict[str, Any]]:
    if not isinstance(body, list):
        raise VendorProtocolError(VENDOR, f"{what} did not answer with a list")
    return [item for item in body if isinstance(item, dict)]


def _task_id(body: Any, what: str, key: str = "task_id") -> str:
    value = _object(body, what).get(key)
    if not isinstance(value, str) or not value:
        raise VendorProtocolError(VENDOR, f"{what} did not return a {key}")
    return value


def _workflow(workflow_id: str) -> str:
    # The snapshot declares workflow ids as UUIDs (format: uuid).
    return segment(workflow_id, name="workflow_id", pattern=UUID_PATTERN)


def _vendor_id(value: str, name: str) -> str:
    """An id Sixtyfour itself returned (task, run), checked before it goes into a path."""
    return segment(value, name=name, vendor=VENDOR)


def parse_csv(data: bytes) -> list[dict[str, str]]:
    """Rows of a result CSV (header line first)."""
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


class SixtyfourClient:
    def __init__(self, http: VendorHTTP) -> None:
        self.http = http
        self.workflow_routes: Literal["documented", "snapshot"] | None = None
        """Which workflow management routes this account answers, once known (see DESIGN.md)."""

    # -- people and companies ------------------------------------------------------------------

    async def find_email(self, lead: dict[str, Any], mode: str) -> dict[str, Any]:
        """POST /find-email (PROFESSIONAL $0.05, PERSONAL $0.20)."""
        return await self.http.json(
            "POST",
            "/find-email",
            json_body={"lead": lead, "mode": mode},
            spends=True,
            parse=lambda body: _object(body, "find-email"),
        )

    async def find_phone(self, lead: dict[str, Any]) -> dict[str, Any]:
        return await self.http.json(
            "POST", "/find-phone", json_body={"lead": lead}, spends=True, parse=lambda b: _object(b, "find-phone")
        )

    async def find_email_bulk_async(self, leads: list[dict[str, Any]], mode: str) -> str:
        return await self.http.json(
            "POST",
            "/find-email-bulk-async",
            json_body={"leads": leads, "mode": mode},
            spends=True,
            parse=lambda b: _task_id(b, "find-email-bulk-async"),
        )

    async def find_phone_bulk_async(self, leads: list[dict[str, Any]]) -> str:
        return await self.http.json(
            "POST",
            "/find-phone-bulk-async",
            json_body={"leads": leads},
            spends=True,
            parse=lambda b: _task_id(b, "find-phone-bulk-async"),
        )

    async def enrich_lead_async(self, request: dict[str, Any]) -> str:
        return await self.http.json(
            "POST",
            "/enrich-lead-async",
            json_body=request,
            spends=True,
            parse=lambda b: _task_id(b, "enrich-lead-async"),
        )

    async def enrich_company_async(self, request: dict[str, Any]) -> str:
        return await self.http.json(
            "POST",
            "/enrich-company-async",
            json_body=request,
            spends=True,
            parse=lambda b: _task_id(b, "enrich-company-async"),
        )

    async def job_status(self, task_id: str) -> dict[str, Any]:
        """GET /job-status/{task_id}: pending|processing|completed (with ``result``)|failed."""
        path = f"/job-status/{_vendor_id(task_id, 'task_id')}"
        return await self.http.json("GET", path, parse=lambda b: _object(b, "job-status"))

    async def qa_agent_async(self, request: dict[str, Any]) -> str:
        """POST /qa-agent-async: the QA agent as a task polled on /job-status (a slow agent is not a lost answer)."""
        return await self.http.json(
            "POST", "/qa-agent-async", json_body=request, spends=True, parse=lambda b: _task_id(b, "qa-agent-async")
        )

    # -- deep search ---------------------------------------------------------------------------

    async def start_deep_search(self, query: str, mode: str, max_results: int) -> str:
        return await self.http.json(
            "POST",
            "/search/start-deep-search",
            json_body={"query": query, "mode": mode, "max_results": max_results},
            spends=True,
            parse=lambda b: _task_id(b, "start-deep-search"),
        )

    async def deep_search_status(self, task_id: str) -> dict[str, Any]:
        path = f"/search/deep-search-status/{_vendor_id(task_id, 'task_id')}"
        return await self.http.json("GET", path, parse=lambda b: _object(b, "deep-search-status"))

    async def search_download_url(self, resource_handle_id: str) -> str:
        body = await self.http.json(
            "GET",
            "/search/download",
            params={"resource_handle_id": resource_handle_id},
            parse=lambda b: _object(b, "search/download"),
        )
        url = body.get("url")
        if not isinstance(url, str) or not url:
            raise VendorProtocolError(VENDOR, "search/download did not return a url")
        return url

    async def download_csv(self, url: str) -> list[dict[str, str]]:
        """Fetch a signed CSV URL (the key is not sent to it) and parse it."""
        return parse_csv(await self.http.download(url))

    # -- workflows -----------------------------------------------------------------------------

    async def list_workflows(self) -> list[dict[str, Any]]:
        return await self.http.json("GET", "/workflows", parse=lambda b: _list(b, "GET /workflows"))

    async def get_workflow(self, workflow_id: str) -> dict[str, Any]:
        return await self.http.json(
            "GET", f"/workflows/{_workflow(workflow_id)}", parse=lambda b: _object(b, "GET /workflows/{id}")
        )

    async def create_workflow(self, body: dict[str, Any]) -> dict[str, Any]:
        # The snapshot's route requires workflow_description; the document does not.
        snapshot_body = {"workflow_description": "", **body}
        return await self._manage(
            _Route("POST", "/workflows"),
            _Route("POST", "/workflows/create_workflow"),
            body,
            snapshot_body,
            parse=lambda b: _object(b, "create workflow"),
        )

    async def update_workflow(self, workflow_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        # Sets the given fields to the given values: sending it twice leaves the same workflow.
        return await self._manage(
            _Route("PATCH", f"/workflows/{_workflow(workflow_id)}", idempotent=True),
            _Route("POST", "/workflows/update_workflow", {"workflow_id": workflow_id}, idempotent=True),
            changes,
            changes,
            parse=lambda b: _object(b, "update workflow"),
        )

    async def delete_workflow(self, workflow_id: str) -> None:
        await self._manage(
            _Route("DELETE", f"/workflows/{_workflow(workflow_id)}"),
            _Route("POST", "/workflows/delete_workflow", {"workflow_id": workflow_id}, idempotent=True),
            None,
            None,
        )

    async def _manage(
        self,
        documented: _Route,
        snapshot: _Route,
        body: Any,
        snapshot_body: Any,
        parse: Callable[[Any], Any] | None = None,
    ) -> Any:
        """Send the documented route; while the account's routes are unknown, a 404/405 tries the snapshot's once."""
        if self.workflow_routes == "snapshot":
            return await self.http.json(
                snapshot.method,
                snapshot.path,
                params=snapshot.params,
                json_body=snapshot_body,
                idempotent=snapshot.idempotent,
                parse=parse,
            )
        probing = self.workflow_routes is None
        response = await self.http.request(
            documented.method,
            documented.path,
            params=documented.params,
            json_body=body,
            idempotent=documented.idempotent,
            ok_statuses=_ROUTE_MISSING if probing else None,
        )
        if response.status_code in _ROUTE_MISSING:
            answer = await self.http.json(
                snapshot.method,
                snapshot.path,
                params=snapshot.params,
                json_body=snapshot_body,
                idempotent=snapshot.idempotent,
                parse=parse,
            )
            self.workflow_routes = "snapshot"
            return answer
        self.workflow_routes = "documented"
        return self.http.decode(response, parse=parse)

    async def run_workflow(
        self, workflow_id: str, webhook_payload: list[dict[str, Any]], *, idempotency_key: str | None = None
    ) -> str:
        """POST /workflows/run with an ``Idempotency-Key``: Sixtyfour answers a repeat with the run it already
        started (``already_started``, per the OpenAPI snapshot), so a lost answer can be resent safely.

        Pass a key that is stable for the job (its ledger id) so a resend after a restart is deduplicated too.
        """
        _workflow(workflow_id)
        return await self.http.json(
            "POST",
            "/workflows/run",
            params={"workflow_id": workflow_id},
            json_body={"webhook_payload": webhook_payload},
            headers={"Idempotency-Key": idempotency_key or f"enrich-mcp-{uuid.uuid4()}"},
            spends=True,
            idempotent=True,
            parse=lambda b: _task_id(b, "workflows/run", key="job_id"),
        )

    async def run_live_status(self, run_id: str) -> dict[str, Any]:
        path = f"/workflows/runs/{_vendor_id(run_id, 'run_id')}/live_status"
        return await self.http.json("GET", path, parse=lambda b: _object(b, "live_status"))

    async def run_download_links(self, run_id: str) -> list[dict[str, Any]]:
        path = f"/workflows/runs/{_vendor_id(run_id, 'run_id')}/results/download-links"
        return await self.http.json("GET", path, parse=lambda b: _list(b, "results/download-links"))

    async def list_runs(self, status: str | None, workflow_id: str | None, limit: int) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": limit}
        if status:
            params["status"] = status
        if workflow_id:
            params["workflow_id"] = workflow_id
        return await self.http.json(
            "GET", "/workflows/runs", params=params, parse=lambda b: _list(b, "GET /workflows/runs")
        )

    async def cancel_run(self, run_id: str) -> dict[str, Any]:
        # A cancel cannot spend or create anything; sent twice, the run is still cancelled.
        return await self.http.json(
            "POST",
            "/workflows/cancel",
            params={"job_id": run_id},
            idempotent=True,
            parse=lambda b: _object(b, "workflows/cancel"),
        )
