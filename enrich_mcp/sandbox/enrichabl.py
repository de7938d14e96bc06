"""Fake Enrichabl API (https://api.enrichabl.com/v1), following vendor-docs/enrichabl.md.

Stateful: pipelines, leads deduplicated by email across the account, the plan's
lead quota (truncation with a ``dropped`` count, then 402), the 4 MB body cap,
the 3-concurrent-uploads cap (429), templates, columns, and enrichment /
validation jobs that advance one step per progress poll (PENDING, then
IN_PROGRESS with half the leads done, then COMPLETED) and write their values
where the document says they land.
"""

from __future__ import annotations

import math
import uuid
from typing import Any

import anyio.lowlevel
import httpx

from enrich_mcp.sandbox import SandboxApp, route
from enrich_mcp.vendors.enrichabl.models import LEAD_FIELDS

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
ENRICHMENT_TYPES = ("AI_COLUMN", "MULTI_AI_COLUMN", "FIRECRAWL_EXTRACT")
SERVICES = ("BOUNCEBAN", "MAILVERI", "HYBRID")
TEMPLATE_IDS = {"ai": "ai_column_template_id", "multi_ai": "multi_ai_id", "firecrawl": "firecrawl_id"}
NO_KEYS_PIPELINE = "no-keys"
"""Leads in a pipeline with this name belong to an account without provider keys: starts answer 400."""
_NAMESPACE = uuid.UUID("6f1c1e0a-5b1d-4c4e-9a51-000000e41c4b")


class Sandbox(SandboxApp):
    vendor = "enrichabl"
    base_path = "/v1"
    auth_header = "Authorization"
    auth_prefix = "Bearer "

    def __init__(self) -> None:
        super().__init__()
        self.quota_limit = 30_000  # the Starter plan
        self.max_body_bytes = 4 * 1024 * 1024
        self.max_concurrent_uploads = 3
        self.uploads_in_flight = 0
        self.max_uploads_in_flight = 0
        self.pipelines: dict[str, dict[str, Any]] = {}
        self.leads: dict[str, dict[str, Any]] = {}
        self.by_email: dict[str, str] = {}
        self.memberships: list[dict[str, Any]] = []
        """pipeline_leads rows, oldest first."""
        self.templates: dict[str, dict[str, dict[str, Any]]] = {kind: {} for kind in TEMPLATE_IDS}
        self.columns: list[dict[str, Any]] = []
        self.jobs: dict[str, dict[str, Any]] = {}
        self._counter = 0

    # -- plumbing --------------------------------------------------------------------------------

    def transport(self) -> httpx.AsyncBaseTransport:
        return _UploadGate(self)

    def _id(self, kind: str) -> str:
        self._counter += 1
        return str(uuid.uuid5(_NAMESPACE, f"{kind}:{self._counter}"))

    def is_upload(self, request: httpx.Request) -> bool:
        path = self.relative_path(request)
        return request.method == "POST" and path.startswith("/pipelines/") and path.rstrip("/").endswith("/leads")

    def _pipeline(self, pipeline_id: str) -> dict[str, Any] | None:
        return self.pipelines.get(pipeline_id)

    def _rows(self, pipeline_id: str) -> list[dict[str, Any]]:
        """A pipeline's pipeline_leads rows, newest first (the listing order)."""
        return [m for m in reversed(self.memberships) if m["pipeline_id"] == pipeline_id]

    def _pipeline_view(self, pipeline: dict[str, Any]) -> dict[str, Any]:
        rows = self._rows(pipeline["pipeline_id"])
        statuses = [r["pipeline_lead_email_validation_status"] for r in rows]
        return {
            **pipeline,
            "total_leads": len(rows),
            "imported_leads": len(rows),
            "validated_leads": sum(1 for s in statuses if s is not None),
            "enriched_leads": sum(1 for r in rows if self.leads[r["lead_id"]]["lead_enrichment_status"] == "ENRICHED"),
            "valid_emails": statuses.count("VALID"),
        }

    def _row_view(self, row: dict[str, Any]) -> dict[str, Any]:
        return {
            "pipeline_lead_id": row["pipeline_lead_id"],
            "pipeline_lead_stage": row["pipeline_lead_stage"],
            "pipeline_lead_email_validation_status": row["pipeline_lead_email_validation_status"],
            "lead": dict(self.leads[row["lead_id"]]),
        }

    # -- pipelines -------------------------------------------------------------------------------

    @route("GET", "/pipelines")
    def list_pipelines(self, request: httpx.Request) -> httpx.Response:
        return self.json(200, {"data": [self._pipeline_view(p) for p in self.pipelines.values()]})

    @route("POST", "/pipelines")
    def create_pipeline(self, request: httpx.Request) -> httpx.Response:
        body = self.body(request)
        if not isinstance(body, dict) or not isinstance(body.get("pipeline_name"), str) or not body["pipeline_name"]:
            return self.error(400, "pipeline_name is required")
        pipeline = {
            "pipeline_id": self._id("pipeline"),
            "pipeline_name": body["pipeline_name"],
            "pipeline_description": body.get("pipeline_description"),
            "pipeline_color": body.get("pipeline_color"),
            "pipeline_created_at": "2025-01-01T00:00:00Z",
        }
        self.pipelines[pipeline["pipeline_id"]] = pipeline
        return self.json(201, self._pipeline_view(pipeline))

    @route("GET", "/pipelines/{pipeline_id}")
    def get_pipeline(self, request: httpx.Request, pipeline_id: str) -> httpx.Response:
        pipeline = self._pipeline(pipeline_id)
        if pipeline is None:
            return self.error(404, "Pipeline not found")
        return self.json(200, self._pipeline_view(pipeline))

    # -- leads -----------------------------------------------------------------------------------

    @route("POST", "/pipelines/{pipeline_id}/leads")
    def upload_leads(self, request: httpx.Request, pipeline_id: str) -> httpx.Response:
        if len(request.content) > self.max_body_bytes:
            return self.error(413, "Request body exceeds the 4 MB cap; chunk the upload")
        if self._pipeline(pipeline_id) is None:
            return self.error(404, "Pipeline not found")
        body = self.body(request)
        if not isinstance(body, list):
            return self.error(400, "Body must be a JSON array of leads")
        created = skipped = failed = dropped = 0
        errors: list[dict[str, Any]] = []
        fresh: list[tuple[str, dict[str, Any]]] = []
        seen: set[str] = set()
        for index, item in enumerate(body):
            email = item.get("email") if isinstance(item, dict) else None
            if not isinstance(email, str) or "@" not in email:
                failed += 1
                errors.append({"index": index, "error": "email is required"})
                continue
            key = email.strip().lower()
            if key in self.by_email or key in seen:
                skipped += 1
                continue
            seen.add(key)
            fresh.append((key, item))
        room = max(0, self.quota_limit - len(self.leads))
        if fresh and room == 0:
            return self.error(402, "Lead quota exceeded", current_count=len(self.leads), quota_limit=self.quota_limit)
        if len(fresh) > room:
            dropped = len(fresh) - room
            fresh = fresh[:room]
        for key, item in fresh:
            self._store_lead(pipeline_id, key, item)
            created += 1
        return self.json(
            202,
            {
                "created": created,
                "skipped": skipped,
                "failed": failed,
                "dropped": dropped,
                "truncated": dropped > 0,
                "errors": errors,
            },
        )

    def _store_lead(self, pipeline_id: str, key: str, item: dict[str, Any]) -> None:
        lead_id = self._id("lead")
        lead: dict[str, Any] = {"lead_id": lead_id}
        for name in LEAD_FIELDS:
            lead[f"lead_{name}"] = item.get(name)
        lead["lead_email"] = key
        custom = item.get("custom_fields")
        lead["lead_custom_fields"] = dict(custom) if isinstance(custom, dict) else {}
        lead["lead_enrichment_status"] = "NOT_ENRICHED"
        self.leads[lead_id] = lead
        self.by_email[key] = lead_id
        self.memberships.append(
            {
                "pipeline_lead_id": self._id("pipeline_lead"),
                "pipeline_id": pipeline_id,
                "lead_id": lead_id,
                "pipeline_lead_stage": "IMPORTED",
                "pipeline_lead_email_validation_status": None,
            }
        )

    @route("GET", "/pipelines/{pipeline_id}/leads")
    def list_leads(self, request: httpx.Request, pipeline_id: str) -> httpx.Response:
        if self._pipeline(pipeline_id) is None:
            return self.error(404, "Pipeline not found")
        try:
            limit = int(request.url.params.get("limit", "1000"))
            offset = int(request.url.params.get("offset", "0"))
        except ValueError:
            return self.error(400, "limit and offset must be integers")
        if offset < 0:
            return self.error(400, "offset must be >= 0")
        limit = min(max(limit, 1), 10_000)
        rows = self._rows(pipeline_id)
        page = rows[offset : offset + limit]
        return self.json(
            200,
            {
                "data": [self._row_view(r) for r in page],
                "pagination": {
                    "limit": limit,
                    "offset": offset,
                    "total": len(rows),
                    "has_more": offset + len(page) < len(rows),
                },
            },
        )

    # -- columns and templates -------------------------------------------------------------------

    @route("POST", "/pipelines/{pipeline_id}/columns")
    def add_column(self, request: httpx.Request, pipeline_id: str) -> httpx.Response:
        if self._pipeline(pipeline_id) is None:
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
            column.update(template_id=answer["ai_column_template_id"], template=answer)
        elif kind in ("ai", "multi_ai", "firecrawl"):
            if "template" in body:
                return self.error(400, f"Inline templates are only supported for ai columns, not {kind}")
            template = self.templates[kind].get(str(body.get("template_id")))
            if template is None:
                return self.error(404, "Template not found")
            column["template_id"] = body["template_id"]
            if kind != "ai":
                if body.get("field") not in template["output_fields"]:
                    return self.error(400, "field must be one of the template's output_fields")
                column["field"] = body["field"]
        else:
            return self.error(400, "type must be one of base, ai, multi_ai, firecrawl")
        self.columns.append(column)
        return self.json(201, column)

    def _template_route(self, request: httpx.Request, kind: str) -> httpx.Response:
        if request.method == "GET":
            return self.json(200, {"data": list(self.templates[kind].values())})
        body = self.body(request)
        answer = self._create_template(kind, body if isinstance(body, dict) else {})
        return answer if isinstance(answer, httpx.Response) else self.json(201, answer)

    @route("GET", "/columns/ai-templates")
    def list_ai_templates(self, request: httpx.Request) -> httpx.Response:
        return self._template_route(request, "ai")

    @route("POST", "/columns/ai-templates")
    def create_ai_template(self, request: httpx.Request) -> httpx.Response:
        return self._template_route(request, "ai")

    @route("GET", "/columns/multi-ai-templates")
    def list_multi_ai_templates(self, request: httpx.Request) -> httpx.Response:
        return self._template_route(request, "multi_ai")

    @route("POST", "/columns/multi-ai-templates")
    def create_multi_ai_template(self, request: httpx.Request) -> httpx.Response:
        return self._template_route(request, "multi_ai")

    @route("GET", "/columns/firecrawl-templates")
    def list_firecrawl_templates(self, request: httpx.Request) -> httpx.Response:
        return self._template_route(request, "firecrawl")

    @route("POST", "/columns/firecrawl-templates")
    def create_firecrawl_template(self, request: httpx.Request) -> httpx.Response:
        return self._template_route(request, "firecrawl")

    def _create_template(self, kind: str, body: dict[str, Any]) -> dict[str, Any] | httpx.Response:
        if not isinstance(body.get("name"), str) or not body["name"]:
            return self.error(400, "name is required")
        if kind == "firecrawl":
            required = ("url_column", "prompt", "output_fields")
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
        template = {TEMPLATE_IDS[kind]: self._id(kind), **body}
        if "model" in required:
            provider = PROVIDER_OF_MODEL[body["model"]].lower()
            template.setdefault("endpoint_url", f"https://{provider}.provider.example.com/v1")
        self.templates[kind][template[TEMPLATE_IDS[kind]]] = template
        return template

    # -- enrichment and validation jobs ----------------------------------------------------------

    def _targets(self, body: dict[str, Any]) -> list[dict[str, Any]] | httpx.Response:
        """The pipeline_leads rows a start request targets (whole pipeline, top N, or lead ids)."""
        if isinstance(body.get("lead_ids"), list) and body["lead_ids"]:
            by_lead = {m["lead_id"]: m for m in self.memberships}
            missing = [i for i in body["lead_ids"] if i not in by_lead]
            if missing:
                return self.error(404, f"Lead not found: {missing[0]}")
            return [by_lead[i] for i in body["lead_ids"]]
        pipeline_id = body.get("pipeline_id")
        if not isinstance(pipeline_id, str) or not pipeline_id:
            return self.error(400, "pipeline_id or lead_ids is required")
        if self._pipeline(pipeline_id) is None:
            return self.error(404, "Pipeline not found")
        rows = self._rows(pipeline_id)
        limit = body.get("limit")
        if limit is not None:
            if not isinstance(limit, int) or limit < 1:
                return self.error(400, "limit must be a positive integer")
            rows = rows[:limit]
        return rows

    def _keys_missing(self, rows: list[dict[str, Any]]) -> bool:
        return any(self.pipelines[r["pipeline_id"]]["pipeline_name"] == NO_KEYS_PIPELINE for r in rows)

    def _new_job(self, kind: str, rows: list[dict[str, Any]], **extra: Any) -> httpx.Response:
        job_id = self._id(f"{kind}_job")
        self.jobs[job_id] = {
            "job_id": job_id,
            "kind": kind,
            "status": "PENDING",
            "polls": 0,
            "lead_ids": [r["lead_id"] for r in rows],
            "completed": [],
            "failed": [],
            "lead_errors": [],
            "counters": {"valid_leads": 0, "invalid_leads": 0, "risky_leads": 0},
            **extra,
        }
        return self.json(202, {"job_id": job_id, "status": "PENDING", "total_leads": len(rows)})

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
            keys = [(f"Firecrawl: {field}", field) for field in config["output_fields"]]
            extra: dict[str, Any] = {"url_column": config["url_column"]}
        else:
            template_kind, id_field = (
                ("ai", "ai_template_id") if kind == "AI_COLUMN" else ("multi_ai", "multi_ai_template_id")
            )
            template = self.templates[template_kind].get(str(body.get(id_field)))
            if template is None:
                return self.error(404, "Template not found")
            provider = PROVIDER_OF_MODEL[template["model"]]
            if template_kind == "ai":
                keys = [(template["name"], template["name"])]
            else:
                keys = [(f"{template['name']}: {field}", field) for field in template["output_fields"]]
            extra = {}
        if self._keys_missing(rows):
            return self.error(400, f"No API key found for {provider}")
        return self._new_job("enrichment", rows, enrichment_type=kind, keys=keys, **extra)

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
            return self.error(400, f"No API key found for {'BOUNCEBAN' if service != 'MAILVERI' else 'MAILVERI'}")
        # Already-validated leads are skipped: the job only counts new work.
        todo = [r for r in rows if r["pipeline_lead_email_validation_status"] is None]
        return self._new_job("validation", todo, service=service)

    def _job(self, kind: str, job_id: str) -> dict[str, Any] | None:
        job = self.jobs.get(job_id)
        return job if job is not None and job["kind"] == kind else None

    def _progress_view(self, job: dict[str, Any]) -> dict[str, Any]:
        total = len(job["lead_ids"])
        processed = len(job["completed"]) + len(job["failed"])
        view = {
            "job_id": job["job_id"],
            "status": job["status"],
            "progress_percentage": 100
            if total == 0 and job["status"] == "COMPLETED"
            else (processed * 100 // total if total else 0),
            "processed_leads": processed,
            "total_leads": total,
            "failed_leads": len(job["failed"]),
            "completed_lead_ids": list(job["completed"]),
            "failed_lead_ids": list(job["failed"]),
            "lead_errors": list(job["lead_errors"]),
        }
        if job["kind"] == "validation":
            view.update(job["counters"])
        return view

    def _advance(self, job: dict[str, Any]) -> None:
        """One progress poll's worth of work: PENDING, then half the leads, then the rest."""
        if job["status"] in ("COMPLETED", "FAILED", "CANCELLED"):
            return
        job["polls"] += 1
        if job["polls"] == 1:
            return
        done = len(job["completed"]) + len(job["failed"])
        step = max(1, math.ceil(len(job["lead_ids"]) / 2))
        for lead_id in job["lead_ids"][done : done + step]:
            self._process(job, lead_id)
        finished = len(job["completed"]) + len(job["failed"]) >= len(job["lead_ids"])
        job["status"] = "COMPLETED" if finished else "IN_PROGRESS"

    def _process(self, job: dict[str, Any], lead_id: str) -> None:
        lead = self.leads[lead_id]
        if job["kind"] == "validation":
            status = _verdict(lead["lead_email"], job["service"])
            for row in self.memberships:
                if row["lead_id"] == lead_id:
                    row["pipeline_lead_email_validation_status"] = status
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
                job["lead_errors"].append({"lead_id": lead_id, "error": f"No URL in {job['url_column']}"})
                return
            subject = url
        for key, field in job["keys"]:
            lead["lead_custom_fields"][key] = f"Synthetic {field} for {subject}"
        lead["lead_enrichment_status"] = "ENRICHED"
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
        return self.json(200, {"job_id": job_id, "status": job["status"]})

    @route("GET", "/enrichment/jobs/{job_id}")
    def enrichment_job(self, request: httpx.Request, job_id: str) -> httpx.Response:
        job = self._job("enrichment", job_id)
        if job is None:
            return self.error(404, "Job not found")
        return self.json(200, {**self._progress_view(job), "enrichment_type": job["enrichment_type"]})

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


class _UploadGate(httpx.AsyncBaseTransport):
    """Serves the sandbox, refusing a 4th simultaneous upload with 429 as the vendor does.

    Handlers are synchronous, so an upload yields to the event loop a few times
    (its "processing time") to let overlapping uploads be seen.
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
            if app.uploads_in_flight > app.max_concurrent_uploads:
                request.read()
                app.requests.append(request)
                return app.error(429, "Too many concurrent bulk operations (max 3 per account)")
            for _ in range(5):
                await anyio.lowlevel.checkpoint()
            return app.handle(request)
        finally:
            app.uploads_in_flight -= 1
