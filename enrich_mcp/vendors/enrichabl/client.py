"""Enrichabl HTTP client: one method per documented endpoint. Knows nothing about MCP."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from enrich_mcp.errors import VendorProtocolError
from enrich_mcp.http import VendorHTTP

VENDOR = "enrichabl"
MAX_PAGE = 10_000
TEMPLATE_PATHS = {
    "ai": "/columns/ai-templates",
    "multi_ai": "/columns/multi-ai-templates",
    "firecrawl": "/columns/firecrawl-templates",
}
TEMPLATE_ID_FIELDS = {"ai": "ai_column_template_id", "multi_ai": "multi_ai_id", "firecrawl": "firecrawl_id"}
JOB_PATHS = {"enrichment": "/enrichment", "validation": "/validation"}


def _data(body: Any, what: str) -> list[dict[str, Any]]:
    """Listings answer ``{"data": [...]}`` (or a bare array)."""
    items = body.get("data") if isinstance(body, dict) else body
    if not isinstance(items, list):
        raise VendorProtocolError(VENDOR, f"{what} did not answer with a list")
    return [item for item in items if isinstance(item, dict)]


def _object(body: Any, what: str) -> dict[str, Any]:
    if isinstance(body, dict) and isinstance(body.get("data"), dict):
        body = body["data"]
    if not isinstance(body, dict):
        raise VendorProtocolError(VENDOR, f"{what} did not answer with an object")
    return body


class EnrichablClient:
    def __init__(self, http: VendorHTTP) -> None:
        self.http = http

    async def list_pipelines(self) -> list[dict[str, Any]]:
        return _data(await self.http.json("GET", "/pipelines"), "GET /pipelines")

    async def get_pipeline(self, pipeline_id: str) -> dict[str, Any]:
        return _object(await self.http.json("GET", f"/pipelines/{pipeline_id}"), "GET /pipelines/:id")

    async def create_pipeline(self, body: dict[str, Any]) -> dict[str, Any]:
        return _object(await self.http.json("POST", "/pipelines", json_body=body), "POST /pipelines")

    async def upload_leads(self, pipeline_id: str, body: bytes) -> dict[str, Any]:
        """POST /pipelines/:id/leads with a pre-serialised JSON array (the caller measured its size).

        Marked as spending so that a request whose answer was lost is not resent
        blindly: the caller reports that chunk as "unknown" instead. Error answers
        (429 for the concurrent-upload cap, 5xx) stored nothing and are retried.
        """
        answer = await self.http.json(
            "POST",
            f"/pipelines/{pipeline_id}/leads",
            content=body,
            headers={"Content-Type": "application/json"},
            spends=True,
        )
        return _object(answer, "POST /pipelines/:id/leads")

    async def list_leads(self, pipeline_id: str, limit: int, offset: int) -> dict[str, Any]:
        """One page: ``{"data": [...], "pagination": {limit, offset, total, has_more}}``."""
        answer = await self.http.json(
            "GET", f"/pipelines/{pipeline_id}/leads", params={"limit": limit, "offset": offset}
        )
        if not isinstance(answer, dict) or not isinstance(answer.get("data"), list):
            raise VendorProtocolError(VENDOR, "GET /pipelines/:id/leads did not answer with a data list")
        return answer

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
        answer = await self.http.json("POST", f"/pipelines/{pipeline_id}/columns", json_body=body)
        return _object(answer, "POST /pipelines/:id/columns")

    async def list_templates(self, kind: str) -> list[dict[str, Any]]:
        path = TEMPLATE_PATHS[kind]
        return _data(await self.http.json("GET", path), f"GET {path}")

    async def create_template(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        path = TEMPLATE_PATHS[kind]
        return _object(await self.http.json("POST", path, json_body=body), f"POST {path}")

    async def start(self, kind: str, body: dict[str, Any]) -> str:
        """POST /enrichment/start or /validation/start; returns the vendor's job id.

        Spends provider usage on the user's own keys, so a lost answer is never resent.
        """
        path = f"{JOB_PATHS[kind]}/start"
        answer = _object(await self.http.json("POST", path, json_body=body, spends=True), f"POST {path}")
        job_id = answer.get("job_id") or answer.get("id")
        if not job_id:
            raise VendorProtocolError(VENDOR, f"POST {path} did not answer with a job_id")
        return str(job_id)

    async def progress(self, kind: str, job_id: str) -> dict[str, Any]:
        path = f"{JOB_PATHS[kind]}/jobs/{job_id}/progress"
        return _object(await self.http.json("GET", path), f"GET {JOB_PATHS[kind]}/jobs/:id/progress")

    async def cancel(self, kind: str, job_id: str) -> None:
        await self.http.json("POST", f"{JOB_PATHS[kind]}/jobs/{job_id}/cancel")
