"""Fake AudienceLab API (https://api.audiencelab.io), written from vendor-docs/audiencelab.md.

Documented, and followed: the ``X-Api-Key`` header; ``POST /enrich`` (real-time,
16 output fields); ``POST /enrichments`` answering 202 ``{jobId, status:
IN_QUEUE}`` (16 input columns, operator OR/AND); ``GET /enrichments`` paged
(``page``, ``page_size`` ≤ 1000) with IN_QUEUE → PROCESSING → COMPLETED |
FAILED; a COMPLETED job's ``csv_url`` is ``gs://bucket/path.csv.gz``, the only
form the document shows; errors 400/401/500.

Each time ``GET /enrichments`` lists a job it shows the job's status and then
moves it on (stored, so another process sees the same progress). A job whose
name contains "fail" ends FAILED. A filter whose email starts with ``nobody``
finds no one. The account starts with 150 older jobs (``add_old_jobs`` adds
more), so new jobs land on a later page once the list is long.

The gzipped CSV is served at the object's public Google Cloud Storage address,
``https://storage.googleapis.com/<bucket>/<path>``, without a key — or refused
there with GCS's 403 ``AccessDenied``, as for a private bucket.

Open points (see ``variants``): ``list_order`` of ``GET /enrichments``;
``gcs_access`` (public, public with ``Content-Encoding: gzip`` transcoding, or
private); ``error_body`` (``{error}``, ``{message}`` or ``{detail}``: the document
shows none); ``enrich_keys`` (result keys as the ``fields`` name them, or as the
document's example answer does, ``company_name`` for ``company``);
``csv_header`` (the result file's columns upper-case like the input columns, or
lower-case like the output fields).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import math
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx

from enrich_mcp.sandbox import SandboxApp, route

GCS_HOST = "storage.googleapis.com"
BUCKET = "audiencelab-sandbox-exports"
OLD_JOBS = 150

OUTPUT_FIELDS = (
    "company",
    "job_title",
    "first_name",
    "last_name",
    "b2b_email",
    "personal_email",
    "b2b_phone",
    "personal_phone",
    "sha256",
    "linkedin_url",
    "address",
    "city",
    "state",
    "zip",
    "industry",
    "company_domain",
)
INPUT_COLUMNS = frozenset(
    {
        "EMAIL",
        "PERSONAL_EMAIL",
        "BUSINESS_EMAIL",
        "FIRST_NAME",
        "LAST_NAME",
        "PHONE",
        "PERSONAL_ADDRESS",
        "PERSONAL_CITY",
        "PERSONAL_STATE",
        "PERSONAL_ZIP",
        "COMPANY_NAME",
        "COMPANY_DOMAIN",
        "COMPANY_INDUSTRY",
        "SHA256_PERSONAL_EMAIL",
        "LINKEDIN_URL",
        "UP_ID",
    }
)
DEFAULT_FIELDS = ("first_name", "last_name", "company", "job_title")
"""Returned when ``fields`` is left out (the document's example request)."""
_EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
_NEXT = {"IN_QUEUE": "PROCESSING", "PROCESSING": "COMPLETED"}
_PRIVATE = (
    "<?xml version='1.0' encoding='UTF-8'?><Error><Code>AccessDenied</Code><Message>Access denied.</Message>"
    "<Details>Anonymous caller does not have storage.objects.get access to the Google Cloud Storage object. "
    "Permission 'storage.objects.get' denied on resource (or it may not exist).</Details></Error>"
)


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
    variants: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "list_order": ("oldest_first", "newest_first"),
        "gcs_access": ("public", "public_transcoded", "private"),
        "error_body": ("error", "message", "detail"),
        "enrich_keys": ("fields", "example"),
        "csv_header": ("upper", "lower"),
    }

    def seed_state(self) -> None:
        self._add_old_jobs(OLD_JOBS)

    def error(self, status: int, message: str, **extra: Any) -> httpx.Response:
        return self.json(status, {self.shape["error_body"]: message, **extra})

    def is_public(self, request: httpx.Request) -> bool:
        return request.url.host == GCS_HOST

    # -- test hooks ------------------------------------------------------------------------------

    def add_old_jobs(self, count: int) -> None:
        """Finished jobs from before this session (oldest first), so listings need paging."""
        with self.store.transaction():
            self._add_old_jobs(count)

    def jobs(self) -> list[dict[str, Any]]:
        """Every job, oldest first, as stored (``records`` included)."""
        with self.store.transaction():
            return self.store.list("job")

    def job(self, job_id: str) -> dict[str, Any]:
        with self.store.transaction():
            job = self.store.get("job", job_id)
        assert job is not None, job_id
        return job

    def _add_old_jobs(self, count: int) -> None:
        start = self.store.count("job")
        items = []
        for n in range(start, start + count):
            job_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"audiencelab-sandbox/old/{n}"))
            failed = n % 10 == 9
            items.append(
                (
                    job_id,
                    {
                        "id": job_id,
                        "name": f"Sandbox history {n + 1}",
                        "status": "FAILED" if failed else "COMPLETED",
                        "csv_url": None if failed else f"gs://{BUCKET}/enrichments/{job_id}.csv.gz",
                        "total": 100 + n,
                        "created_at": _iso(_EPOCH + timedelta(hours=n)),
                        "records": [],
                    },
                )
            )
        self.store.put_many("job", items)

    # -- API ---------------------------------------------------------------------------------------

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
        found = person(_seed_of(body["filter"]))
        result = []
        if found is not None:
            rename = {"company": "company_name"} if self.shape["enrich_keys"] == "example" else {}
            shown = {rename.get(f, f): found[f] for f in (fields or DEFAULT_FIELDS)}
            email = body["filter"].get("email")
            result.append({**({"email": email} if email else {}), **shown})
        return self.json(
            200,
            {
                "request_id": body.get("request_id"),
                "timestamp": int(self.clock() * 1000),
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
        n = self.store.counter("job")
        job = {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"audiencelab-sandbox/new/{n}")),
            "name": body["name"],
            "status": "IN_QUEUE",
            "csv_url": None,
            "total": len(records),
            "created_at": _iso(datetime.fromtimestamp(self.clock(), UTC)),
            "records": records,
        }
        self.store.put("job", job["id"], job)
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
        total = self.store.count("job")
        shown = self.store.list(
            "job",
            newest_first=self.shape["list_order"] == "newest_first",
            offset=(page - 1) * page_size,
            limit=page_size,
        )
        data = [{k: v for k, v in job.items() if k != "records"} for job in shown]
        for job in shown:
            self._advance(job)
        return self.json(
            200,
            {
                "total_records": total,
                "page_size": page_size,
                "page": page,
                "total_pages": math.ceil(total / page_size),
                "data": data,
            },
        )

    # -- Google Cloud Storage (the csv_url's bucket) ---------------------------------------------

    def _route(self, request: httpx.Request, path: str) -> httpx.Response:
        if request.url.host != GCS_HOST:
            return super()._route(request, path)
        bucket, _, name = path.lstrip("/").partition("/")
        job_id = name.removeprefix("enrichments/").removesuffix(".csv.gz")
        job = self.store.get("job", job_id) if bucket == BUCKET else None
        if request.method != "GET" or job is None or job.get("csv_url") != f"gs://{bucket}/{name}":
            return httpx.Response(404, text="<Error><Code>NoSuchKey</Code></Error>")
        if self.shape["gcs_access"] == "private":
            return httpx.Response(403, text=_PRIVATE, headers={"Content-Type": "application/xml; charset=UTF-8"})
        data = self._csv_gz(job["records"])
        if self.shape["gcs_access"] == "public_transcoded":
            # An object stored with Content-Encoding: gzip is served decompressed-on-the-fly by clients.
            return httpx.Response(200, content=data, headers={"Content-Type": "text/csv", "Content-Encoding": "gzip"})
        return httpx.Response(200, content=data, headers={"Content-Type": "application/gzip"})

    # -- internals -----------------------------------------------------------------------------------

    def _advance(self, job: dict[str, Any]) -> None:
        nxt = _NEXT.get(job["status"])
        if nxt is None:
            return
        if nxt == "COMPLETED" and "fail" in job["name"].lower():
            job["status"] = "FAILED"
        else:
            job["status"] = nxt
        if job["status"] == "COMPLETED":
            job["csv_url"] = f"gs://{BUCKET}/enrichments/{job['id']}.csv.gz"
        self.store.put("job", job["id"], job)

    def _csv_gz(self, records: list[dict[str, Any]]) -> bytes:
        upper = self.shape["csv_header"] == "upper"
        rows = []
        for record in records:
            row = {(str(k).upper() if upper else str(k).lower()): v for k, v in record.items()}
            found = person(_seed_of(record))
            for field in ("first_name", "last_name", "b2b_email", "personal_email", "job_title", "company"):
                row.setdefault(field.upper() if upper else field, found[field] if found else "")
            rows.append(row)
        header: list[str] = []
        for row in rows:
            header.extend(k for k in row if k not in header)
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=header, restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return gzip.compress(text.getvalue().encode(), mtime=0)
