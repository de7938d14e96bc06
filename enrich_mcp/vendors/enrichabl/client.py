"""Enrichabl HTTP client: one method per documented endpoint. Knows nothing about MCP."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from typing import Any

import anyio

from enrich_mcp.errors import VendorProtocolError
from enrich_mcp.http import UUID_PATTERN, VendorHTTP, segment

VENDOR = "enrichabl"
MAX_PAGE = 10_000
TEMPLATE_PATHS = {
    "ai": "/columns/ai-templates",
    "multi_ai": "/columns/multi-ai-templates",
    "firecrawl": "/columns/firecrawl-templates",
}
TEMPLATE_ID_FIELDS = {"ai": "ai_column_template_id", "multi_ai": "multi_ai_id", "firecrawl": "firecrawl_id"}
"""The id keys the document writes (``<ai_column_template_id>``, ``multi_ai_id``, ``firecrawl_id``)."""
JOB_PATHS = {"enrichment": "/enrichment", "validation": "/validation"}
MAX_UPLOADS_IN_FLIGHT = 3
"""The document: "max 3 concurrent uploads per account"; beyond it Enrichabl answers 429."""


def _data(body: Any, what: str) -> list[dict[str, Any]]:
    """A listing: ``{"data": [...]}``, a bare array, or one named array (``{"pipelines": [...]}``)."""
    items = body
    if isinstance(body, dict):
        items = body.get("data")
        if not isinstance(items, list):
            lists = [v for v in body.values() if isinstance(v, list)]
            items = lists[0] if len(lists) == 1 else None
    if not isinstance(items, list):
        raise VendorProtocolError(VENDOR, f"{what} did not answer with a list")
    return [item for item in items if isinstance(item, dict)]


def _object(body: Any, what: str) -> dict[str, Any]:
    if isinstance(body, dict) and isinstance(body.get("data"), dict):
        body = body["data"]
    if not isinstance(body, dict):
        raise VendorProtocolError(VENDOR, f"{what} did not answer with an object")
    return body


def template_id(template: dict[str, Any], kind: str) -> str | None:
    """A template's id: the document's key for its kind, else any key an API would use for it."""
    keys = (TEMPLATE_ID_FIELDS[kind], "id", "template_id", f"{kind}_template_id", *TEMPLATE_ID_FIELDS.values())
    for key in keys:
        value = template.get(key)
        if isinstance(value, str | int) and str(value):
            return str(value)
    return None


def job_id_of(answer: Any, run: str) -> str | None:
    """The job id of a start answer; the document shows none, so every plausible key is read."""
    if not isinstance(answer, dict):
        return None
    for key in ("job_id", "jobId", "id", f"{run}_job_id", f"{run}JobId"):
        value = answer.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return str(value)
    for key in ("job", "data", f"{run}_job"):
        if (nested := job_id_of(answer.get(key), run)) is not None:
            return nested
    return None


def _count(value: Any) -> int | None:
    """A count given as a number, or as the list of the rows it counts."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, list):
        return len(value)
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def upload_counts(answer: dict[str, Any]) -> dict[str, int | None]:
    """An upload's created / skipped / failed / dropped counts.

    The document says "a summary of created / skipped / failed per row" and that a truncated
    batch "reports how many were dropped", without a shape: counts or per-row lists are read,
    at the top or under ``summary``, and ``truncated`` as a count when it is a number.
    """
    nested = answer.get("summary")
    summary: dict[str, Any] = nested if isinstance(nested, dict) else answer
    out = {name: _count(summary.get(name, answer.get(name))) for name in ("created", "skipped", "failed")}
    dropped = summary.get("dropped", answer.get("dropped"))
    truncated = summary.get("truncated", answer.get("truncated"))
    if dropped is None and not isinstance(truncated, bool):
        dropped = truncated
    if isinstance(dropped, dict):  # {"dropped": {"count": n}} or {"truncated": {"dropped": n}}
        dropped = dropped.get("count", dropped.get("dropped"))
    out["dropped"] = _count(dropped)
    return out


def pipeline_segment(pipeline_id: str) -> str:
    """``pipeline_id`` checked and encoded for a path (raises InputError).

    Enrichabl ids are UUIDs (the document: "We don't reveal whether a given UUID exists").
    """
    return segment(pipeline_id, name="pipeline_id", pattern=UUID_PATTERN)


def _job(job_id: str) -> str:
    # Job ids come from Enrichabl's own start answer.
    return segment(job_id, name="job_id", vendor=VENDOR)


def _leads_page(answer: Any) -> dict[str, Any]:
    if not isinstance(answer, dict) or not isinstance(answer.get("data"), list):
        raise VendorProtocolError(VENDOR, "GET /pipelines/:id/leads did not answer with a data list")
    return answer


class EnrichablClient:
    def __init__(self, http: VendorHTTP) -> None:
        self.http = http
        # One client per server and key: every upload of every call shares the account's three slots.
        self.upload_slots = anyio.Semaphore(MAX_UPLOADS_IN_FLIGHT)

    async def list_pipelines(self) -> list[dict[str, Any]]:
        return await self.http.json("GET", "/pipelines", parse=lambda b: _data(b, "GET /pipelines"))

    async def get_pipeline(self, pipeline_id: str) -> dict[str, Any]:
        return await self.http.json(
            "GET", f"/pipelines/{pipeline_segment(pipeline_id)}", parse=lambda b: _object(b, "GET /pipelines/:id")
        )

    async def create_pipeline(self, body: dict[str, Any]) -> dict[str, Any]:
        return await self.http.json("POST", "/pipelines", json_body=body, parse=lambda b: _object(b, "POST /pipelines"))

    async def upload_leads(
        self, pipeline_id: str, body: bytes, *, still_wanted: Callable[[], bool] | None = None
    ) -> dict[str, Any] | None:
        """POST /pipelines/:id/leads with a pre-serialised JSON array (the caller measured its size).

        Waits for one of the account's three upload slots, shared by every call of this server;
        ``still_wanted`` is asked once the slot is held (``None`` comes back when it says no, and
        nothing is sent). Not resent after a lost answer (408/5xx, read timeout): the caller reports
        that chunk as "unknown". The document's dedup by email would make a resend create nothing
        twice, but the resent chunk would come back as "skipped" and its real outcome (created, or
        truncated by the quota) would be lost. 429 (the concurrent-upload cap) stored nothing and is retried.
        """
        async with self.upload_slots:
            if still_wanted is not None and not still_wanted():
                return None
            return await self.http.json(
                "POST",
                f"/pipelines/{pipeline_segment(pipeline_id)}/leads",
                content=body,
                headers={"Content-Type": "application/json"},
                parse=lambda b: _object(b, "POST /pipelines/:id/leads"),
            )

    async def list_leads(self, pipeline_id: str, limit: int, offset: int) -> dict[str, Any]:
        """One page: ``{"data": [...], "pagination": {limit, offset, total, has_more}}``."""
        return await self.http.json(
            "GET",
            f"/pipelines/{pipeline_segment(pipeline_id)}/leads",
            params={"limit": limit, "offset": offset},
            parse=_leads_page,
        )

    async def iter_leads(self, pipeline_id: str, page_size: int = MAX_PAGE) -> AsyncGenerator[dict[str, Any]]:
        """Every pipeline_leads row, following ``pagination.has_more`` (the cookbook's export loop)."""
        offset = 0
        while True:
            page = await self.list_leads(pipeline_id, page_size, offset)
            rows = [r for r in page["data"] if isinstance(r, dict)]
            for row in rows:
                yield row
            if not (page.get("pagination") or {}).get("has_more") or not rows:
                return
            offset += len(rows)

    async def add_column(self, pipeline_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self.http.json(
            "POST",
            f"/pipelines/{pipeline_segment(pipeline_id)}/columns",
            json_body=body,
            parse=lambda b: _object(b, "POST /pipelines/:id/columns"),
        )

    async def list_templates(self, kind: str) -> list[dict[str, Any]]:
        path = TEMPLATE_PATHS[kind]
        return await self.http.json("GET", path, parse=lambda b: _data(b, f"GET {path}"))

    async def create_template(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        path = TEMPLATE_PATHS[kind]
        return await self.http.json("POST", path, json_body=body, parse=lambda b: _object(b, f"POST {path}"))

    async def start(self, kind: str, body: dict[str, Any]) -> str:
        """POST /enrichment/start or /validation/start; returns the vendor's job id.

        Spends provider usage on the user's own keys, so a lost answer is never resent.
        """
        path = f"{JOB_PATHS[kind]}/start"

        def job_id(answer: Any) -> str:
            found = job_id_of(answer, kind)
            if found is None:
                raise VendorProtocolError(VENDOR, f"POST {path} did not answer with a job id")
            return found

        return await self.http.json("POST", path, json_body=body, spends=True, parse=job_id)

    async def get_enrichment_job(self, job_id: str) -> dict[str, Any]:
        """GET /enrichment/jobs/:job_id, the job record (the document gives no shape; ``job``/``data`` unwrapped)."""

        def record(answer: Any) -> dict[str, Any]:
            if isinstance(answer, dict) and isinstance(answer.get("job"), dict) and len(answer) == 1:
                answer = answer["job"]
            return _object(answer, "GET /enrichment/jobs/:job_id")

        return await self.http.json("GET", f"/enrichment/jobs/{_job(job_id)}", parse=record)

    async def progress(self, kind: str, job_id: str) -> dict[str, Any]:
        path = f"{JOB_PATHS[kind]}/jobs/{_job(job_id)}/progress"
        return await self.http.json("GET", path, parse=lambda b: _object(b, f"GET {JOB_PATHS[kind]}/jobs/:id/progress"))

    async def cancel(self, kind: str, job_id: str) -> None:
        # A cancel cannot spend or create anything; sent twice, the job is still cancelled.
        await self.http.json("POST", f"{JOB_PATHS[kind]}/jobs/{_job(job_id)}/cancel", idempotent=True)
