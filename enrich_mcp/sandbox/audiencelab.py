"""Fake AudienceLab API (https://api.audiencelab.io), following vendor-docs/audiencelab.md.

* ``POST /enrich`` answers at once; a filter whose email starts with ``nobody`` finds no one.
* ``POST /enrichments`` answers 202 ``IN_QUEUE``. Each time ``GET /enrichments`` lists a job, it shows the
  job's current status and then moves it on: IN_QUEUE, PROCESSING, then COMPLETED (or FAILED when the job
  name contains "fail").
* A COMPLETED job's ``csv_url`` is a signed https URL on another host that serves the gzipped CSV (no key),
  or a ``gs://`` URL when the job name contains "gcs" (as real accounts without signed exports get).
* The account already has 150 older jobs, and the list is oldest-first, so new jobs land on a later page
  once the list is long enough (``add_old_jobs`` makes it longer).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import math
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, get_args

import httpx

from enrich_mcp.sandbox import SandboxApp, route
from enrich_mcp.vendors.audiencelab.models import InputColumn, OutputField

EXPORT_HOST = "exports.sandbox.audiencelab.example"
OLD_JOBS = 150

OUTPUT_FIELDS: tuple[str, ...] = get_args(OutputField)
INPUT_COLUMNS = frozenset(get_args(InputColumn))
_EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
_NEXT = {"IN_QUEUE": "PROCESSING", "PROCESSING": "COMPLETED"}


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _slug(text: str) -> str:
    words = "".join(c if c.isalnum() else " " for c in text.lower()).split()
    return ".".join(words) or "someone"


def person(seed: str) -> dict[str, Any] | None:
    """A synthetic example.com person derived from what was given; ``None`` for "nobody…"."""
    local = _slug(seed.split("@", 1)[0])
    if local.startswith("nobody"):
        return None
    names = local.split(".")
    first, last = names[0].title(), (names[-1].title() if len(names) > 1 else "Example")
    digits = int(hashlib.sha256(local.encode()).hexdigest()[:4], 16) % 100
    personal = f"{local}@personal.example.com"
    return {
        "company": "Example Analytics",
        "job_title": "Head of Sandbox Data",
        "first_name": first,
        "last_name": last,
        "b2b_email": f"{local}@example.com",
        "personal_email": personal,
        "b2b_phone": f"+1-555-010-{digits:04d}",
        "personal_phone": f"+1-555-011-{digits:04d}",
        "sha256": hashlib.sha256(personal.encode()).hexdigest(),
        "linkedin_url": f"https://www.linkedin.com/in/{local.replace('.', '-')}-example",
        "address": "1 Example Street",
        "city": "Springfield",
        "state": "IL",
        "zip": "62701",
        "industry": "Software",
        "company_domain": "example.com",
    }


def _seed_of(values: dict[str, Any]) -> str:
    lowered = {str(k).lower(): v for k, v in values.items() if v not in (None, "")}
    for key in ("email", "business_email", "personal_email", "b2b_email"):
        if key in lowered:
            return str(lowered[key])
    names = [str(lowered[k]) for k in ("first_name", "last_name") if k in lowered]
    return " ".join(names) or " ".join(str(v) for v in lowered.values())


class Sandbox(SandboxApp):
    vendor = "audiencelab"
    auth_header = "X-Api-Key"

    def __init__(self) -> None:
        super().__init__()
        self.jobs: list[dict[str, Any]] = []
        self.lookups = 0
        self.add_old_jobs(OLD_JOBS)

    # -- test hooks ------------------------------------------------------------------------------

    def add_old_jobs(self, count: int) -> None:
        """Finished jobs from before this session (oldest first), so listings need paging."""
        for _ in range(count):
            n = len(self.jobs)
            job_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"audiencelab-sandbox/old/{n}"))
            self.jobs.append(
                {
                    "id": job_id,
                    "name": f"Sandbox history {n + 1}",
                    "status": "FAILED" if n % 10 == 9 else "COMPLETED",
                    "csv_url": None if n % 10 == 9 else f"gs://audiencelab-sandbox-exports/enrichments/{job_id}.csv.gz",
                    "total": 100 + n,
                    "created_at": _iso(_EPOCH + timedelta(hours=n)),
                    "_records": [],
                }
            )

    def job(self, job_id: str) -> dict[str, Any]:
        return next(j for j in self.jobs if j["id"] == job_id)

    # -- API ---------------------------------------------------------------------------------------

    def is_public(self, request: httpx.Request) -> bool:
        return request.url.host == EXPORT_HOST

    @route("POST", "/enrich")
    def enrich(self, request: httpx.Request) -> httpx.Response:
        body = self.body(request)
        if not isinstance(body, dict) or not isinstance(body.get("filter"), dict) or not body["filter"]:
            return self.error(400, "filter is required and must be a non-empty object")
        fields = body.get("fields")
        if fields is not None:
            if not isinstance(fields, list):
                return self.error(400, "fields must be an array")
            unknown = [f for f in fields if f not in OUTPUT_FIELDS]
            if unknown:
                return self.error(400, f"Unknown field(s): {', '.join(map(str, unknown))}")
        self.lookups += 1
        found = person(_seed_of(body["filter"]))
        result = []
        if found is not None:
            shown = {f: found[f] for f in (fields or ["first_name", "last_name", "company", "job_title"])}
            email = body["filter"].get("email")
            result.append({**({"email": email} if email else {}), **shown})
        return self.json(
            200,
            {
                "request_id": body.get("request_id"),
                "timestamp": 1_735_689_600_000 + self.lookups * 1000,
                "found": len(result),
                "result": result,
            },
        )

    @route("POST", "/enrichments")
    def create_enrichment(self, request: httpx.Request) -> httpx.Response:
        body = self.body(request)
        if not isinstance(body, dict):
            return self.error(400, "Request body must be a JSON object")
        if not isinstance(body.get("name"), str) or not body["name"].strip():
            return self.error(400, "name is required")
        if body.get("operator", "OR") not in ("OR", "AND"):
            return self.error(400, "operator must be OR or AND")
        columns = body.get("columns", [])
        if not isinstance(columns, list) or any(c not in INPUT_COLUMNS for c in columns):
            return self.error(400, "columns must be a list of supported input columns")
        records = body.get("records")
        if not isinstance(records, list) or not records or not all(isinstance(r, dict) for r in records):
            return self.error(400, "records must be a non-empty array of objects")
        n = len(self.jobs)
        job = {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"audiencelab-sandbox/new/{n}")),
            "name": body["name"],
            "status": "IN_QUEUE",
            "csv_url": None,
            "total": len(records),
            "created_at": _iso(_EPOCH + timedelta(days=300, minutes=n)),
            "_records": records,
        }
        self.jobs.append(job)
        return self.json(202, {"jobId": job["id"], "status": "IN_QUEUE"})

    @route("GET", "/enrichments")
    def list_enrichments(self, request: httpx.Request) -> httpx.Response:
        try:
            page = int(request.url.params.get("page", "1"))
            page_size = int(request.url.params.get("page_size", "100"))
        except ValueError:
            return self.error(400, "page and page_size must be integers")
        if page < 1 or not 1 <= page_size <= 1000:
            return self.error(400, "page must be >= 1 and page_size between 1 and 1000")
        shown = self.jobs[(page - 1) * page_size : page * page_size]
        data = [{k: v for k, v in job.items() if not k.startswith("_")} for job in shown]
        for job in shown:
            self._advance(job)
        return self.json(
            200,
            {
                "total_records": len(self.jobs),
                "page_size": page_size,
                "page": page,
                "total_pages": math.ceil(len(self.jobs) / page_size),
                "data": data,
            },
        )

    @route("GET", "/exports/{file_name}")
    def download(self, request: httpx.Request, file_name: str) -> httpx.Response:
        job_id = file_name.removesuffix(".csv.gz")
        job = next((j for j in self.jobs if j["id"] == job_id and j["csv_url"] == str(request.url)), None)
        if request.url.host != EXPORT_HOST or job is None:
            return httpx.Response(403, text="<Error><Code>AccessDenied</Code></Error>")
        return httpx.Response(200, content=self._csv_gz(job["_records"]), headers={"Content-Type": "application/gzip"})

    # -- internals -----------------------------------------------------------------------------------

    def _advance(self, job: dict[str, Any]) -> None:
        nxt = _NEXT.get(job["status"])
        if nxt is None:
            return
        if nxt == "COMPLETED" and "fail" in job["name"].lower():
            job["status"] = "FAILED"
            return
        job["status"] = nxt
        if nxt == "COMPLETED":
            if "gcs" in job["name"].lower():
                job["csv_url"] = f"gs://audiencelab-sandbox-exports/enrichments/{job['id']}.csv.gz"
            else:
                signature = hashlib.sha256(f"sandbox-signing-key/{job['id']}".encode()).hexdigest()[:32]
                job["csv_url"] = (
                    f"https://{EXPORT_HOST}/exports/{job['id']}.csv.gz"
                    f"?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Expires=3600&X-Goog-Signature={signature}"
                )

    @staticmethod
    def _csv_gz(records: list[dict[str, Any]]) -> bytes:
        rows = []
        for record in records:
            row = {str(k).upper(): v for k, v in record.items()}
            found = person(_seed_of(record))
            for field in ("first_name", "last_name", "b2b_email", "personal_email", "job_title", "company"):
                row.setdefault(field.upper(), found[field] if found else "")
            rows.append(row)
        header: list[str] = []
        for row in rows:
            header.extend(k for k in row if k not in header)
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=header, restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return gzip.compress(text.getvalue().encode(), mtime=0)
