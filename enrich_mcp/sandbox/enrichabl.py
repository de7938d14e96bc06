"""Fake Enrichabl API (https://api.enrichabl.com/v1), written from vendor-docs/enrichabl.md.

Documented, and followed: Bearer tokens; 600 requests/min/token (then 429);
``{"error": "..."}`` bodies (402 adds ``current_count`` / ``quota_limit``);
pipelines with computed stats; uploads as a JSON array answering 202 with a
created / skipped / failed summary, dedup by email across the account, the
plan's lead quota (truncation reporting what was dropped, then 402), the 4 MB
body cap, at most 3 concurrent uploads per account (429); ``limit`` clamped to
[1, 10000] and ``offset`` ≥ 0 on listings, newest first; the four column
types; the model allow-list; the three enrichment types and three validation
services, with the three target modes; jobs PENDING → IN_PROGRESS → COMPLETED
(or CANCELLED) with the documented progress counters; values written where the
document says they land ("{template}", "{template}: {field}", "Firecrawl:
{field}"); already-validated leads skipped; 400 "No API key found for …" when
the provider key is missing (leads of a pipeline named ``no-keys``).

Open points (see ``variants``):

* ``list_shape``: listings as ``{"data": [...]}``, a bare array, or ``{"pipelines" | "templates": [...]}``.
* ``object_shape``: single objects bare or under ``data``.
* ``upload_summary``: counts; per-row lists (``created: [{index, email, lead_id}]`` …); or counts under
  ``data`` with the dropped count as ``truncated``.
* ``start_answer``: the job id as ``job_id``, ``id``, ``jobId``, ``{"job": {"id"}}`` or
  ``enrichment_job_id`` / ``validation_job_id``.
* ``ai_template_id``: an AI template's id key (the document writes ``<ai_column_template_id>``).
* ``lead_errors``: a ``{lead_id: message}`` map or a ``[{lead_id, error}]`` list.
* ``job_record``: ``GET /enrichment/jobs/:job_id`` flat or under ``job``.

Jobs advance one step per progress poll: PENDING, then half the leads, then the rest.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

import anyio.lowlevel
import httpx

from enrich_mcp.sandbox import RateWindow, SandboxApp, route

MODELS = {
    "OPENAI": (
        "gpt-4o",
        "gpt-4o-mini",
        "gpt-4.1",
        "gpt-4.1-mini",
        "gpt-4.1-nano",
        "o1",
        "o1-mini",
        "o3",
        "o3-mini",
        "o4-mini",
    ),
    "GEMINI": (
        "gemini-2.5-pro",
        "gemini-2.5-flash",
        "gemini-2.5-flash-lite",
        "gemini-2.0-flash",
        "gemini-2.0-flash-lite",
    ),
    "PERPLEXITY": ("sonar", "sonar-pro", "sonar-reasoning", "sonar-reasoning-pro"),
}
PROVIDER_OF_MODEL = {model: provider for provider, models in MODELS.items() for model in models}
LEAD_FIELDS = (
    "email",
    "first_name",
    "last_name",
    "company",
    "title",
    "phone",
    "linkedin_url",
    "company_website",
    "company_description",
    "company_size",
    "industry",
    "location",
)
"""The document's "Supported fields" of an uploaded lead; everything else is custom_fields."""
ENRICHMENT_TYPES = ("AI_COLUMN", "MULTI_AI_COLUMN", "FIRECRAWL_EXTRACT")
SERVICES = ("BOUNCEBAN", "MAILVERI", "HYBRID")
DOCUMENTED_IDS = {"multi_ai": "multi_ai_id", "firecrawl": "firecrawl_id"}
NO_KEYS_PIPELINE = "no-keys"
"""Leads in a pipeline with this name belong to an account without provider keys: starts answer 400."""
MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_CONCURRENT_UPLOADS = 3
QUOTAS = {"free": 100, "starter": 30_000, "pro": 1_000_000}
_NAMESPACE = uuid.UUID("6f1c1e0a-5b1d-4c4e-9a51-000000e41c4b")
_DONE = ("COMPLETED", "FAILED", "CANCELLED")


def _verdict(email: str, service: str) -> str:
    """Deterministic outcomes: invalid*/risky* local parts, and BounceBan's UNKNOWN on webmail."""
    local, _, domain = email.partition("@")
    if local.startswith("invalid"):
        return "INVALID"
    if local.startswith("risky"):
        return "RISKY"
    if service == "BOUNCEBAN" and domain in ("gmail.com", "yahoo.com"):
        return "UNKNOWN"
    return "VALID"


class Sandbox(SandboxApp):
    vendor = "enrichabl"
    base_path = "/v1"
    auth_header = "Authorization"
    auth_prefix = "Bearer "
    rate = RateWindow(600, 60.0)
    variants: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "list_shape": ("data", "bare", "named"),
        "object_shape": ("bare", "data"),
        "upload_summary": ("counts", "lists", "nested"),
        "start_answer": ("job_id", "id", "jobId", "nested", "typed"),
        "ai_template_id": ("ai_column_template_id", "id", "template_id"),
        "lead_errors": ("map", "list"),
        "job_record": ("flat", "nested"),
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # In flight right now in this process; never stored (a crash would leave it stuck).
        self.uploads_in_flight = 0
        self.max_uploads_in_flight = 0

    def seed_state(self) -> None:
        self.store.set_meta("quota_limit", QUOTAS["starter"])

    # -- shapes ----------------------------------------------------------------------------------

    def _list(self, items: list[dict[str, Any]], name: str) -> httpx.Response:
        shape = self.shape["list_shape"]
        if shape == "bare":
            return self.json(200, items)
        return self.json(200, {"data" if shape == "data" else name: items})

    def _object(self, status: int, item: dict[str, Any]) -> httpx.Response:
        return self.json(status, {"data": item} if self.shape["object_shape"] == "data" else item)

    def _template_id_key(self, kind: str) -> str:
        return DOCUMENTED_IDS.get(kind) or self.shape["ai_template_id"]

    # -- test hooks ------------------------------------------------------------------------------

    @property
    def quota_limit(self) -> int:
        with self.store.transaction():
            return int(self.store.meta("quota_limit"))

    @quota_limit.setter
    def quota_limit(self, value: int) -> None:
        with self.store.transaction():
            self.store.set_meta("quota_limit", value)

    def seed_pipeline(self, name: str, leads: list[dict[str, Any]]) -> str:
        """A pipeline holding ``leads`` (stored oldest first), as if made in Enrichabl's UI."""
        with self.store.transaction():
            pipeline = self._new_pipeline({"pipeline_name": name})
            for lead in leads:
                self._store_lead(pipeline["pipeline_id"], str(lead["email"]).strip().lower(), lead)
        return pipeline["pipeline_id"]

    def create_template(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.store.transaction():
            template = self._create_template(kind, body)
        assert isinstance(template, dict), template
        return template

    def leads(self) -> dict[str, dict[str, Any]]:
        with self.store.transaction():
            return {lead["lead_id"]: lead for lead in self.store.list("lead")}

    def has_email(self, email: str) -> bool:
        with self.store.transaction():
            return self.store.has("email", email.strip().lower())

    def jobs(self) -> dict[str, dict[str, Any]]:
        with self.store.transaction():
            return {job["job_id"]: job for job in self.store.list("job")}

    # -- plumbing --------------------------------------------------------------------------------

    def transport(self) -> httpx.AsyncBaseTransport:
        return _UploadGate(self)

    def _id(self, kind: str) -> str:
        return str(uuid.uuid5(_NAMESPACE, f"{kind}:{self.store.counter(kind)}"))

    def _now(self) -> str:
        return datetime.fromtimestamp(self.clock(), UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def is_upload(self, request: httpx.Request) -> bool:
        path = self.relative_path(request)
        return request.method == "POST" and path.startswith("/pipelines/") and path.rstrip("/").endswith("/leads")

    def _rows(self, pipeline_id: str, *, offset: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
        """A pipeline's pipeline_leads rows, newest first (the listing order)."""
        return self.store.list("membership", parent=pipeline_id, newest_first=True, offset=offset, limit=limit)

    def _pipeline_view(self, pipeline: dict[str, Any]) -> dict[str, Any]:
        rows = self._rows(pipeline["pipeline_id"])
        statuses = [r["pipeline_lead_email_validation_status"] for r in rows]
        enriched = sum(
            1 for r in rows if (self.store.get("lead", r["lead_id"]) or {}).get("lead_enrichment_status") == "ENRICHED"
        )
        return {
            **pipeline,
            "total_leads": len(rows),
            "imported_leads": len(rows),
            "validated_leads": sum(1 for s in statuses if s is not None),
            "enriched_leads": enriched,
            "valid_emails": statuses.count("VALID"),
        }

    def _row_view(self, row: dict[str, Any]) -> dict[str, Any]:
        return {
            "pipeline_lead_id": row["pipeline_lead_id"],
            "pipeline_lead_stage": row["pipeline_lead_stage"],
            "pipeline_lead_email_validation_status": row["pipeline_lead_email_validation_status"],
            "lead": self.store.get("lead", row["lead_id"]),
        }

    # -- pipelines -------------------------------------------------------------------------------

    def _new_pipeline(self, body: dict[str, Any]) -> dict[str, Any]:
        pipeline = {
            "pipeline_id": self._id("pipeline"),
            "pipeline_name": body["pipeline_name"],
            "pipeline_description": body.get("pipeline_description"),
            "pipeline_color": body.get("pipeline_color"),
            "pipeline_created_at": self._now(),
        }
        self.store.put("pipeline", pipeline["pipeline_id"], pipeline)
        return pipeline

    @route("GET", "/pipelines")
    def list_pipelines(self, request: httpx.Request) -> httpx.Response:
        return self._list([self._pipeline_view(p) for p in self.store.list("pipeline")], "pipelines")

    @route("POST", "/pipelines")
    def create_pipeline(self, request: httpx.Request) -> httpx.Response:
        body = self.body(request)
        if not isinstance(body, dict) or not isinstance(body.get("pipeline_name"), str) or not body["pipeline_name"]:
            return self.error(400, "pipeline_name is required")
        return self._object(201, self._pipeline_view(self._new_pipeline(body)))

    @route("GET", "/pipelines/{pipeline_id}")
    def get_pipeline(self, request: httpx.Request, pipeline_id: str) -> httpx.Response:
        pipeline = self.store.get("pipeline", pipeline_id)
        if pipeline is None:
            return self.error(404, "Pipeline not found")
        return self._object(200, self._pipeline_view(pipeline))

    # -- leads -----------------------------------------------------------------------------------

    @route("POST", "/pipelines/{pipeline_id}/leads")
    def upload_leads(self, request: httpx.Request, pipeline_id: str) -> httpx.Response:
        if len(request.content) > MAX_BODY_BYTES:
            return self.error(413, "Request body exceeds the 4 MB cap; chunk the upload")
        if self.store.get("pipeline", pipeline_id) is None:
            return self.error(404, "Pipeline not found")
        body = self.body(request)
        if not isinstance(body, list):
            return self.error(400, "Body must be a JSON array of leads")
        created: list[dict[str, Any]] = []
        skipped: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        fresh: list[tuple[int, str, dict[str, Any]]] = []
        seen: set[str] = set()
        for index, item in enumerate(body):
            email = item.get("email") if isinstance(item, dict) else None
            if not isinstance(email, str) or "@" not in email:
                failed.append({"index": index, "error": "email is required"})
                continue
            key = email.strip().lower()
            if key in seen or self.store.has("email", key):
                skipped.append({"index": index, "email": key, "reason": "duplicate email"})
                continue
            seen.add(key)
            fresh.append((index, key, item))
        quota = int(self.store.meta("quota_limit"))
        current = self.store.count("lead")
        room = max(0, quota - current)
        if fresh and room == 0:
            return self.error(402, "Lead quota exceeded", current_count=current, quota_limit=quota)
        dropped = [{"index": index, "email": key} for index, key, _ in fresh[room:]]
        for index, key, item in fresh[:room]:
            lead_id = self._store_lead(pipeline_id, key, item)
            created.append({"index": index, "email": key, "lead_id": lead_id})
        return self.json(202, self._upload_summary(created, skipped, failed, dropped))

    def _upload_summary(
        self,
        created: list[dict[str, Any]],
        skipped: list[dict[str, Any]],
        failed: list[dict[str, Any]],
        dropped: list[dict[str, Any]],
    ) -> dict[str, Any]:
        shape = self.shape["upload_summary"]
        if shape == "lists":
            return {"created": created, "skipped": skipped, "failed": failed, "dropped": dropped}
        counts = {"created": len(created), "skipped": len(skipped), "failed": len(failed)}
        if shape == "nested":
            return {"data": {**counts, "truncated": len(dropped)}}
        return {**counts, "dropped": len(dropped), "truncated": bool(dropped), "errors": failed}

    def _store_lead(self, pipeline_id: str, key: str, item: dict[str, Any]) -> str:
        lead_id = self._id("lead")
        lead: dict[str, Any] = {"lead_id": lead_id}
        for name in LEAD_FIELDS:
            lead[f"lead_{name}"] = item.get(name)
        lead["lead_email"] = key
        custom = item.get("custom_fields")
        lead["lead_custom_fields"] = dict(custom) if isinstance(custom, dict) else {}
        lead["lead_enrichment_status"] = "NOT_ENRICHED"
        membership = self._id("pipeline_lead")
        lead["_memberships"] = [membership]
        self.store.put("lead", lead_id, lead)
        self.store.put("email", key, {"lead_id": lead_id})
        self.store.put(
            "membership",
            membership,
            {
                "pipeline_lead_id": membership,
                "pipeline_id": pipeline_id,
                "lead_id": lead_id,
                "pipeline_lead_stage": "IMPORTED",
                "pipeline_lead_email_validation_status": None,
            },
            parent=pipeline_id,
        )
        return lead_id

    @route("GET", "/pipelines/{pipeline_id}/leads")
    def list_leads(self, request: httpx.Request, pipeline_id: str) -> httpx.Response:
        if self.store.get("pipeline", pipeline_id) is None:
            return self.error(404, "Pipeline not found")
        try:
            limit = int(request.url.params.get("limit", "1000"))
            offset = int(request.url.params.get("offset", "0"))
        except ValueError:
            return self.error(400, "limit and offset must be integers")
        if offset < 0:
            return self.error(400, "offset must be >= 0")
        limit = min(max(limit, 1), 10_000)
        total = self.store.count("membership", parent=pipeline_id)
        page = self._rows(pipeline_id, offset=offset, limit=limit)
        data = []
        for row in page:
            view = self._row_view(row)
            view["lead"] = {k: v for k, v in (view["lead"] or {}).items() if not k.startswith("_")}
            data.append(view)
        return self.json(
            200,
            {
                "data": data,
                "pagination": {
                    "limit": limit,
                    "offset": offset,
                    "total": total,
                    "has_more": offset + len(page) < total,
                },
            },
        )

    # -- columns and templates -------------------------------------------------------------------

    @route("POST", "/pipelines/{pipeline_id}/columns")
    def add_column(self, request: httpx.Request, pipeline_id: str) -> httpx.Response:
        if self.store.get("pipeline", pipeline_id) is None:
            return self.error(404, "Pipeline not found")
        body = self.body(request)
        if not isinstance(body, dict):
            return self.error(400, "Body must be a JSON object")
        kind = body.get("type")
        column: dict[str, Any] = {"column_id": self._id("column"), "pipeline_id": pipeline_id, "type": kind}
        if kind == "base":
            if body.get("key") not in LEAD_FIELDS:
                return self.error(400, "key must be a lead field")
            column["key"] = body["key"]
        elif kind == "ai" and isinstance(body.get("template"), dict):
            if "template_id" in body:
                return self.error(400, "Give template_id or template, not both")
            answer = self._create_template("ai", body["template"])
            if isinstance(answer, httpx.Response):
                return answer
            column.update(template_id=answer[self._template_id_key("ai")], template=answer)
        elif kind in ("ai", "multi_ai", "firecrawl"):
            if "template" in body:
                return self.error(400, f"Inline templates are only supported for ai columns, not {kind}")
            template = self.store.get(f"template:{kind}", str(body.get("template_id")))
            if template is None:
                return self.error(404, "Template not found")
            column["template_id"] = body["template_id"]
            if kind != "ai":
                if body.get("field") not in template["output_fields"]:
                    return self.error(400, "field must be one of the template's output_fields")
                column["field"] = body["field"]
        else:
            return self.error(400, "type must be one of base, ai, multi_ai, firecrawl")
        self.store.put("column", column["column_id"], column, parent=pipeline_id)
        return self._object(201, column)

    def _templates(self, request: httpx.Request, kind: str) -> httpx.Response:
        if request.method == "GET":
            return self._list(self.store.list(f"template:{kind}"), "templates")
        body = self.body(request)
        answer = self._create_template(kind, body if isinstance(body, dict) else {})
        return answer if isinstance(answer, httpx.Response) else self._object(201, answer)

    @route("GET", "/columns/ai-templates")
    def list_ai_templates(self, request: httpx.Request) -> httpx.Response:
        return self._templates(request, "ai")

    @route("POST", "/columns/ai-templates")
    def create_ai_template(self, request: httpx.Request) -> httpx.Response:
        return self._templates(request, "ai")

    @route("GET", "/columns/multi-ai-templates")
    def list_multi_ai_templates(self, request: httpx.Request) -> httpx.Response:
        return self._templates(request, "multi_ai")

    @route("POST", "/columns/multi-ai-templates")
    def create_multi_ai_template(self, request: httpx.Request) -> httpx.Response:
        return self._templates(request, "multi_ai")

    @route("GET", "/columns/firecrawl-templates")
    def list_firecrawl_templates(self, request: httpx.Request) -> httpx.Response:
        return self._templates(request, "firecrawl")

    @route("POST", "/columns/firecrawl-templates")
    def create_firecrawl_template(self, request: httpx.Request) -> httpx.Response:
        return self._templates(request, "firecrawl")

    def _create_template(self, kind: str, body: dict[str, Any]) -> dict[str, Any] | httpx.Response:
        if not isinstance(body.get("name"), str) or not body["name"]:
            return self.error(400, "name is required")
        if kind == "firecrawl":
            required: tuple[str, ...] = ("url_column", "prompt", "output_fields")
        elif kind == "multi_ai":
            required = ("prompt_template", "model", "output_fields")
        else:
            required = ("prompt_template", "model")
        missing = [name for name in required if not body.get(name)]
        if missing:
            return self.error(400, f"{', '.join(missing)} required")
        if "model" in required and body["model"] not in PROVIDER_OF_MODEL:
            return self.error(400, f"model {body['model']!r} is not supported")
        if kind == "firecrawl" and str(body["url_column"]).startswith("lead_"):
            return self.error(400, "url_column is the lead-field suffix, e.g. company_website")
        template_id = self._id(kind)
        template = {self._template_id_key(kind): template_id, **body}
        if "model" in required:
            provider = PROVIDER_OF_MODEL[body["model"]].lower()
            template.setdefault("endpoint_url", f"https://{provider}.provider.example.com/v1")
        self.store.put(f"template:{kind}", template_id, template)
        return template

    # -- enrichment and validation jobs ----------------------------------------------------------

    def _targets(self, body: dict[str, Any]) -> list[dict[str, Any]] | httpx.Response:
        """The pipeline_leads rows a start request targets (whole pipeline, top N, or lead ids)."""
        if isinstance(body.get("lead_ids"), list) and body["lead_ids"]:
            rows = []
            for lead_id in body["lead_ids"]:
                lead = self.store.get("lead", str(lead_id))
                if lead is None:
                    return self.error(404, f"Lead not found: {lead_id}")
                rows.append(self.store.get("membership", lead["_memberships"][0]))
            return [r for r in rows if r is not None]
        pipeline_id = body.get("pipeline_id")
        if not isinstance(pipeline_id, str) or not pipeline_id:
            return self.error(400, "pipeline_id or lead_ids is required")
        if self.store.get("pipeline", pipeline_id) is None:
            return self.error(404, "Pipeline not found")
        limit = body.get("limit")
        if limit is not None and (not isinstance(limit, int) or limit < 1):
            return self.error(400, "limit must be a positive integer")
        return self._rows(pipeline_id, limit=limit)

    def _keys_missing(self, rows: list[dict[str, Any]]) -> bool:
        names = {(self.store.get("pipeline", r["pipeline_id"]) or {}).get("pipeline_name") for r in rows}
        return NO_KEYS_PIPELINE in names

    def _new_job(self, kind: str, rows: list[dict[str, Any]], body: dict[str, Any], **extra: Any) -> httpx.Response:
        job_id = self._id(f"{kind}_job")
        job = {
            "job_id": job_id,
            "kind": kind,
            "status": "PENDING",
            "polls": 0,
            "lead_ids": [r["lead_id"] for r in rows],
            "completed": [],
            "failed": [],
            "lead_errors": {},
            "counters": {"valid_leads": 0, "invalid_leads": 0, "risky_leads": 0},
            "request": body,
            "created_at": self._now(),
            **extra,
        }
        self.store.put("job", job_id, job)
        shape = self.shape["start_answer"]
        if shape == "nested":
            return self.json(202, {"job": {"id": job_id, "status": "PENDING", "total_leads": len(rows)}})
        key = {"job_id": "job_id", "id": "id", "jobId": "jobId", "typed": f"{kind}_job_id"}[shape]
        return self.json(202, {key: job_id, "status": "PENDING", "total_leads": len(rows)})

    @route("POST", "/enrichment/start")
    def start_enrichment(self, request: httpx.Request) -> httpx.Response:
        body = self.body(request)
        if not isinstance(body, dict):
            return self.error(400, "Body must be a JSON object")
        kind = body.get("enrichment_type")
        if kind not in ENRICHMENT_TYPES:
            return self.error(400, "invalid enrichment_type")
        rows = self._targets(body)
        if isinstance(rows, httpx.Response):
            return rows
        if kind == "FIRECRAWL_EXTRACT":
            config = body.get("firecrawl_extract_config")
            if not isinstance(config, dict) or not all(
                config.get(k) for k in ("url_column", "prompt", "output_fields")
            ):
                return self.error(400, "firecrawl_extract_config needs url_column, prompt and output_fields")
            provider = "FIRECRAWL"
            keys = [[f"Firecrawl: {field}", field] for field in config["output_fields"]]
            extra: dict[str, Any] = {"url_column": config["url_column"]}
        else:
            template_kind, id_field = (
                ("ai", "ai_template_id") if kind == "AI_COLUMN" else ("multi_ai", "multi_ai_template_id")
            )
            template = self.store.get(f"template:{template_kind}", str(body.get(id_field)))
            if template is None:
                return self.error(404, "Template not found")
            provider = PROVIDER_OF_MODEL[template["model"]]
            if template_kind == "ai":
                keys = [[template["name"], template["name"]]]
            else:
                keys = [[f"{template['name']}: {field}", field] for field in template["output_fields"]]
            extra = {}
        if self._keys_missing(rows):
            return self.error(400, f"No API key found for {provider}")
        return self._new_job("enrichment", rows, body, enrichment_type=kind, keys=keys, **extra)

    @route("POST", "/validation/start")
    def start_validation(self, request: httpx.Request) -> httpx.Response:
        body = self.body(request)
        if not isinstance(body, dict):
            return self.error(400, "Body must be a JSON object")
        service = body.get("service")
        if service not in SERVICES:
            return self.error(400, "invalid service")
        rows = self._targets(body)
        if isinstance(rows, httpx.Response):
            return rows
        if self._keys_missing(rows):
            return self.error(400, f"No API key found for {'MAILVERI' if service == 'MAILVERI' else 'BOUNCEBAN'}")
        # Already-validated leads are skipped: the job only counts new work.
        todo = [r for r in rows if r["pipeline_lead_email_validation_status"] is None]
        return self._new_job("validation", todo, body, service=service)

    def _job(self, kind: str, job_id: str) -> dict[str, Any] | None:
        job = self.store.get("job", job_id)
        return job if job is not None and job["kind"] == kind else None

    def _progress_view(self, job: dict[str, Any]) -> dict[str, Any]:
        total = len(job["lead_ids"])
        processed = len(job["completed"]) + len(job["failed"])
        errors: Any = job["lead_errors"]
        if self.shape["lead_errors"] == "list":
            errors = [{"lead_id": k, "error": v} for k, v in errors.items()]
        view = {
            "status": job["status"],
            "progress_percentage": 100
            if total == 0 and job["status"] == "COMPLETED"
            else (processed * 100 // total if total else 0),
            "processed_leads": processed,
            "total_leads": total,
            "failed_leads": len(job["failed"]),
            "completed_lead_ids": list(job["completed"]),
            "failed_lead_ids": list(job["failed"]),
            "lead_errors": errors,
        }
        if job["kind"] == "validation":
            view.update(job["counters"])
        return view

    def _advance(self, job: dict[str, Any]) -> None:
        """One progress poll's worth of work: PENDING, then half the leads, then the rest."""
        if job["status"] in _DONE:
            return
        job["polls"] += 1
        if job["polls"] > 1:
            done = len(job["completed"]) + len(job["failed"])
            step = max(1, math.ceil(len(job["lead_ids"]) / 2))
            for lead_id in job["lead_ids"][done : done + step]:
                self._process(job, lead_id)
            finished = len(job["completed"]) + len(job["failed"]) >= len(job["lead_ids"])
            job["status"] = "COMPLETED" if finished else "IN_PROGRESS"
        self.store.put("job", job["job_id"], job)

    def _process(self, job: dict[str, Any], lead_id: str) -> None:
        lead = self.store.get("lead", lead_id)
        assert lead is not None
        if job["kind"] == "validation":
            status = _verdict(lead["lead_email"], job["service"])
            for membership in lead["_memberships"]:
                row = self.store.get("membership", membership)
                if row is not None:
                    row["pipeline_lead_email_validation_status"] = status
                    self.store.put("membership", membership, row)
            counter = {"VALID": "valid_leads", "INVALID": "invalid_leads", "RISKY": "risky_leads"}.get(status)
            if counter:
                job["counters"][counter] += 1
            job["completed"].append(lead_id)
            return
        subject = lead["lead_company"] or lead["lead_email"].split("@")[-1]
        if job["enrichment_type"] == "FIRECRAWL_EXTRACT":
            url = lead.get(f"lead_{job['url_column']}") or lead["lead_custom_fields"].get(job["url_column"])
            if not url:
                job["failed"].append(lead_id)
                job["lead_errors"][lead_id] = f"No URL in {job['url_column']}"
                return
            subject = url
        for key, field in job["keys"]:
            lead["lead_custom_fields"][key] = f"Synthetic {field} for {subject}"
        lead["lead_enrichment_status"] = "ENRICHED"
        self.store.put("lead", lead_id, lead)
        job["completed"].append(lead_id)

    def _progress(self, kind: str, job_id: str) -> httpx.Response:
        job = self._job(kind, job_id)
        if job is None:
            return self.error(404, "Job not found")
        self._advance(job)
        return self.json(200, self._progress_view(job))

    def _cancel(self, kind: str, job_id: str) -> httpx.Response:
        job = self._job(kind, job_id)
        if job is None:
            return self.error(404, "Job not found")
        if job["status"] in ("PENDING", "IN_PROGRESS"):
            job["status"] = "CANCELLED"
            self.store.put("job", job_id, job)
        return self.json(200, {"status": job["status"], "message": f"Job {job['status'].lower()}"})

    @route("GET", "/enrichment/jobs/{job_id}")
    def enrichment_job(self, request: httpx.Request, job_id: str) -> httpx.Response:
        """The job record (the document names it, without a shape)."""
        job = self._job("enrichment", job_id)
        if job is None:
            return self.error(404, "Job not found")
        request_body = job["request"]
        record = {
            "id": job_id,
            "status": job["status"],
            "enrichment_type": job["enrichment_type"],
            "pipeline_id": request_body.get("pipeline_id"),
            "ai_template_id": request_body.get("ai_template_id"),
            "multi_ai_template_id": request_body.get("multi_ai_template_id"),
            "firecrawl_extract_config": request_body.get("firecrawl_extract_config"),
            "output_keys": [key for key, _ in job.get("keys", [])],
            "total_leads": len(job["lead_ids"]),
            "processed_leads": len(job["completed"]) + len(job["failed"]),
            "failed_leads": len(job["failed"]),
            "created_at": job["created_at"],
        }
        return self.json(200, {"job": record} if self.shape["job_record"] == "nested" else record)

    @route("GET", "/enrichment/jobs/{job_id}/progress")
    def enrichment_progress(self, request: httpx.Request, job_id: str) -> httpx.Response:
        return self._progress("enrichment", job_id)

    @route("POST", "/enrichment/jobs/{job_id}/cancel")
    def enrichment_cancel(self, request: httpx.Request, job_id: str) -> httpx.Response:
        return self._cancel("enrichment", job_id)

    @route("GET", "/validation/jobs/{job_id}/progress")
    def validation_progress(self, request: httpx.Request, job_id: str) -> httpx.Response:
        return self._progress("validation", job_id)

    @route("POST", "/validation/jobs/{job_id}/cancel")
    def validation_cancel(self, request: httpx.Request, job_id: str) -> httpx.Response:
        return self._cancel("validation", job_id)


class _UploadGate(httpx.AsyncBaseTransport):
    """Serves the sandbox, refusing a 4th simultaneous upload with 429 as the vendor does.

    Handlers are synchronous, so an upload yields to the event loop a few times
    (its "processing time") to let overlapping uploads be seen. Only this
    process's uploads are counted.
    """

    def __init__(self, app: Sandbox) -> None:
        self.app = app

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        app = self.app
        if not app.is_upload(request):
            return app.handle(request)
        app.uploads_in_flight += 1
        app.max_uploads_in_flight = max(app.max_uploads_in_flight, app.uploads_in_flight)
        try:
            if app.uploads_in_flight > MAX_CONCURRENT_UPLOADS:
                request.read()
                app.requests.append(request)
                return app.error(429, "Too many concurrent bulk operations (max 3 per account)")
            for _ in range(5):
                await anyio.lowlevel.checkpoint()
            return app.handle(request)
        finally:
            app.uploads_in_flight -= 1
