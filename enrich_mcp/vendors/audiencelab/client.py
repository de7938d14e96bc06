"""AudienceLab HTTP client: one method per documented endpoint. Knows nothing about MCP."""

from __future__ import annotations

import csv
import gzip
import io
from typing import Any
from urllib.parse import quote

from enrich_mcp.errors import VendorProtocolError
from enrich_mcp.http import VendorHTTP

VENDOR = "audiencelab"
MAX_PAGE_SIZE = 1000
GCS_PUBLIC = "https://storage.googleapis.com"


def gcs_public_url(csv_url: str) -> str | None:
    """``gs://bucket/path`` as its public https address (readable without a key when the object is public)."""
    if not csv_url.startswith("gs://"):
        return None
    bucket, _, path = csv_url.removeprefix("gs://").partition("/")
    if not bucket or not path:
        return None
    return f"{GCS_PUBLIC}/{bucket}/{quote(path, safe='/')}"


class AudienceLabClient:
    def __init__(self, http: VendorHTTP) -> None:
        self.http = http

    async def enrich(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST /enrich: one real-time lookup (spends credits; not deduplicated by the vendor)."""
        return await self.http.json("POST", "/enrich", json_body=body, spends=True, parse=_enrich_answer)

    async def create_enrichment(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST /enrichments: start a bulk job; answers 202 ``{jobId, status}``."""
        return await self.http.json("POST", "/enrichments", json_body=body, spends=True, parse=_created_job)

    async def list_enrichments(self, page: int = 1, page_size: int = 100) -> dict[str, Any]:
        """GET /enrichments: one page of the account's jobs, in the vendor's (undocumented) order."""
        return await self.http.json(
            "GET", "/enrichments", params={"page": page, "page_size": page_size}, parse=_listing
        )

    async def all_enrichments(self, *, page_size: int = MAX_PAGE_SIZE, max_pages: int = 50) -> list[dict[str, Any]]:
        """Every job of the account (bounded to ``max_pages`` pages of the listing)."""
        rows: list[dict[str, Any]] = []
        page = 1
        while True:
            listing = await self.list_enrichments(page, page_size)
            rows += [r for r in listing["data"] if isinstance(r, dict)]
            if page >= min(int(listing.get("total_pages") or 1), max_pages):
                return rows
            page += 1

    async def find_enrichment(
        self, job_id: str, *, start_page: int = 1, page_size: int = MAX_PAGE_SIZE
    ) -> tuple[dict[str, Any] | None, int]:
        """The job's row and the page it was on, or ``(None, start_page)``.

        The vendor has no "get one job" endpoint and does not fix the listing's
        order, so the job may be on any page. The search starts at the page it
        was last seen on, goes forward, then wraps around.
        """
        listing = await self.list_enrichments(start_page, page_size)
        if (row := _row_with_id(listing, job_id)) is not None:
            return row, start_page
        total_pages = int(listing.get("total_pages") or 0)
        for page in [*range(start_page + 1, total_pages + 1), *range(1, min(start_page, total_pages + 1))]:
            listing = await self.list_enrichments(page, page_size)
            if (row := _row_with_id(listing, job_id)) is not None:
                return row, page
        return None, start_page

    async def download_results(self, csv_url: str) -> list[dict[str, str]]:
        """Fetch an https ``csv_url`` (no key is sent; the one download policy of ``http.py``) and parse the
        (gzipped) CSV into rows."""
        data = await self.http.download(csv_url)
        if data[:2] == b"\x1f\x8b":  # served as a .gz file; httpx already undid any Content-Encoding
            try:
                data = self.http.redact_bytes(gzip.decompress(data))
            except (OSError, EOFError) as exc:
                raise VendorProtocolError(VENDOR, f"the results file is not valid gzip ({exc})") from None
        text = data.decode("utf-8-sig", errors="replace")
        return [dict(row) for row in csv.DictReader(io.StringIO(text), restkey="_extra")]


def _enrich_answer(answer: Any) -> dict[str, Any]:
    if not isinstance(answer, dict):
        raise VendorProtocolError(VENDOR, "/enrich did not answer with an object")
    return answer


def _created_job(answer: Any) -> dict[str, Any]:
    if not isinstance(answer, dict) or not answer.get("jobId"):
        raise VendorProtocolError(VENDOR, "/enrichments did not answer with a jobId")
    return answer


def _listing(answer: Any) -> dict[str, Any]:
    if not isinstance(answer, dict) or not isinstance(answer.get("data"), list):
        raise VendorProtocolError(VENDOR, "/enrichments did not answer with a data list")
    return answer


def _row_with_id(listing: dict[str, Any], job_id: str) -> dict[str, Any] | None:
    return next((row for row in listing["data"] if isinstance(row, dict) and row.get("id") == job_id), None)
