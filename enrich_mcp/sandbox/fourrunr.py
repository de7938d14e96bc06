"""Fake 4Runr API (``http://localhost:5000/api/v1``), written from vendor-docs/fourrunr.md.

Documented, and followed: Bearer keys; every answer the envelope
(``{success, data}``, ``pagination`` on lists, or ``{success: false, error:
{code, message, details}}``) with the documented codes (400 VALIDATION_ERROR,
401, 403, 404, 429, 500); the documented request and answer fields; 1000
requests/hour (Standard) with ``X-RateLimit-Limit/Remaining/Reset`` on every
answer and 429 beyond it.

State (leads, campaigns, sync status) is stored, so every process on one data
directory sees the same 4Runr. Open points (see ``variants``):

* ``campaign_list``: ``GET /campaigns`` answers a list in ``data``, ``{campaigns, total}`` like
  ``GET /leads``'s ``{leads, total}``, or a list with ``pagination``.
* ``campaign_conflict``: starting a running campaign (or pausing one that is not running) is a no-op
  success, or a 400 VALIDATION_ERROR (the document lists no conflict code).
* ``campaign_create``: create answers ``{id, message}`` like lead create, or the whole campaign.
* ``reset_format``: ``X-RateLimit-Reset`` as epoch seconds or as seconds from now.

Other answers the document leaves out (update, delete, bulk clean, enrich,
campaign analytics, trigger) are shaped like create's (``{id, message, ...}``).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx

from enrich_mcp.sandbox import RateWindow, SandboxApp, route

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CODES = {
    400: "VALIDATION_ERROR",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    429: "RATE_LIMIT_EXCEEDED",
    500: "INTERNAL_ERROR",
}
LEAD_FIELDS = (
    "name",
    "email",
    "company",
    "company_website",
    "engagement_stage",
    "ai_message",
    "last_contacted",
    "source",
)
_LIST_FIELDS = ("id", "name", "email", "company", "engagement_stage", "created_at", "updated_at")
ENRICHMENT_SOURCES = frozenset({"google", "linkedin", "company_website"})
AUTOMATION_OPERATIONS = frozenset({"enrich_leads", "clean_leads", "sync_airtable", "generate_messages"})
_SEED_TIME = "2025-01-15T10:30:00Z"

_SEED = [
    ("Ada Lovelace", "ada.lovelace@analytical.example.com", "Analytical Engines", "1st degree", "airtable"),
    ("Grace Hopper", "grace.hopper@compilers.example.com", "Compilers Inc", "contacted", "airtable"),
    ("Alan Turing", "alan.turing@bombe.example.com", "Bombe Works", "ready_for_contact", "manual"),
    ("Katherine Johnson", "katherine.johnson@orbits.example.com", "Orbits Co", "responded", "api"),
    ("Edsger Dijkstra", None, "Shortest Paths", "qualified", "airtable"),
    ("Barbara Liskov", "barbara.liskov@substitution.example.com", "Substitution Labs", "1st degree", "manual"),
]


def record_id(prefix: str, seed: str) -> str:
    """``prefix`` + 9 lowercase alphanumerics, deterministic per seed (e.g. ``rec1a2b3c4d5``)."""
    return prefix + hashlib.sha256(seed.encode()).hexdigest()[:9]


def _slug(text: str) -> str:
    return "".join(c for c in text.lower() if c.isalnum()) or "example"


def clean_value(field: str, value: Any) -> Any:
    """4Runr-style cleaning: trim, collapse spaces, title-case names, lower-case emails, drop a trailing dot."""
    if not isinstance(value, str):
        return value
    text = " ".join(value.split())
    if field == "email":
        return text.lower()
    if field == "name":
        return text.title()
    if field == "company":
        return text.rstrip(".")
    return text


class Sandbox(SandboxApp):
    vendor = "fourrunr"
    base_path = "/api/v1"
    auth_header = "authorization"
    auth_prefix = "Bearer "
    rate = RateWindow(1000, 3600.0)
    variants: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "campaign_list": ("list", "object", "paginated"),
        "campaign_conflict": ("noop", "refused"),
        "campaign_create": ("summary", "object"),
        "reset_format": ("epoch", "delta"),
    }

    def seed_state(self) -> None:
        self.store.set_meta(
            "sync",
            {
                "last_sync": "2025-01-15T06:00:00Z",
                "next_sync": "2025-01-16T06:00:00Z",
                "sync_status": "completed",
                "total_synced": sum(1 for *_, source in _SEED if source == "airtable"),
            },
        )
        for name, email, company, stage, source in _SEED:
            lead = self._new_lead(
                {"name": name, "email": email, "company": company, "engagement_stage": stage, "source": source},
                at=_SEED_TIME,
            )
            lead["company_website"] = f"https://{_slug(company)}.example.com"
            self._save(lead)

    # -- plumbing --------------------------------------------------------------------------------

    def now(self) -> str:
        return datetime.fromtimestamp(self.clock(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def rate_headers(self, limit: int, remaining: int, reset_at: float) -> dict[str, str]:
        reset = reset_at if self.shape["reset_format"] == "epoch" else max(0.0, reset_at - self.clock())
        return {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str(int(reset)),
        }

    def rate_limited(self, retry_after: float) -> httpx.Response:
        response = self.error(429, "Rate limit exceeded")
        response.headers["Retry-After"] = str(max(0, int(retry_after)))
        return response

    def error(self, status: int, message: str, **extra: Any) -> httpx.Response:
        code = extra.pop("code", None) or _CODES.get(status, "ERROR")
        error: dict[str, Any] = {"code": code, "message": message}
        if extra:
            error["details"] = extra
        return self.json(status, {"success": False, "error": error})

    def ok(self, data: Any, status: int = 200, **extra: Any) -> httpx.Response:
        return self.json(status, {"success": True, "data": data, **extra})

    def invalid(self, field: str, value: Any, message: str) -> httpx.Response:
        return self.error(400, message, field=field, value=value)

    def _save(self, lead: dict[str, Any]) -> None:
        self.store.put("lead", lead["id"], lead)

    def _new_lead(self, fields: dict[str, Any], *, at: str) -> dict[str, Any]:
        lead_id = record_id("rec", f"lead-{self.store.counter('lead')}")
        lead: dict[str, Any] = {"id": lead_id, **dict.fromkeys(LEAD_FIELDS)}
        lead.update({k: v for k, v in fields.items() if k in LEAD_FIELDS})
        lead["engagement_stage"] = lead["engagement_stage"] or "1st degree"
        lead["created_at"] = lead["updated_at"] = at
        lead["_cleaned"] = lead["_enriched"] = False
        self._save(lead)
        return lead

    def _check_lead_fields(self, body: dict[str, Any]) -> httpx.Response | None:
        for key, value in body.items():
            if key not in LEAD_FIELDS:
                return self.invalid(key, value, f"Unknown field {key!r}")
            if value is not None and not isinstance(value, str):
                return self.invalid(key, value, f"{key} must be a string")
        if body.get("email") is not None and not _EMAIL.match(body["email"]):
            return self.invalid("email", body["email"], "Invalid email format")
        return None

    def _lead_or_404(self, lead_id: str) -> dict[str, Any] | httpx.Response:
        lead = self.store.get("lead", lead_id)
        return lead if lead is not None else self.error(404, f"Lead {lead_id} not found")

    def _campaign_or_404(self, campaign_id: str) -> dict[str, Any] | httpx.Response:
        campaign = self.store.get("campaign", campaign_id)
        return campaign if campaign is not None else self.error(404, f"Campaign {campaign_id} not found")

    @staticmethod
    def _public(lead: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in lead.items() if not k.startswith("_")}

    @staticmethod
    def _int_param(request: httpx.Request, name: str, default: int) -> int | None:
        raw = request.url.params.get(name)
        if raw is None:
            return default
        try:
            return int(raw)
        except ValueError:
            return None

    # -- test hooks ------------------------------------------------------------------------------

    def leads(self) -> dict[str, dict[str, Any]]:
        with self.store.transaction():
            return {lead["id"]: self._public(lead) for lead in self.store.list("lead")}

    def campaigns(self) -> dict[str, dict[str, Any]]:
        with self.store.transaction():
            return {c["id"]: c for c in self.store.list("campaign")}

    # -- leads -----------------------------------------------------------------------------------

    @route("GET", "/leads")
    def list_leads(self, request: httpx.Request) -> httpx.Response:
        limit = self._int_param(request, "limit", 50)
        offset = self._int_param(request, "offset", 0)
        if limit is None or not 1 <= limit <= 1000:
            return self.invalid("limit", request.url.params.get("limit"), "limit must be between 1 and 1000")
        if offset is None or offset < 0:
            return self.invalid("offset", request.url.params.get("offset"), "offset must be 0 or more")
        stage = request.url.params.get("stage")
        source = request.url.params.get("source")
        matches = [
            lead
            for lead in self.store.list("lead")
            if (stage is None or lead["engagement_stage"] == stage) and (source is None or lead["source"] == source)
        ]
        page = [{k: lead[k] for k in _LIST_FIELDS} for lead in matches[offset : offset + limit]]
        total = len(matches)
        return self.ok(
            {"leads": page, "total": total, "limit": limit, "offset": offset},
            pagination={"limit": limit, "offset": offset, "total": total, "has_more": offset + len(page) < total},
        )

    @route("GET", "/leads/{lead_id}")
    def get_lead(self, request: httpx.Request, lead_id: str) -> httpx.Response:
        lead = self._lead_or_404(lead_id)
        if isinstance(lead, httpx.Response):
            return lead
        return self.ok({k: v for k, v in self._public(lead).items() if k != "source"})

    @route("POST", "/leads")
    def create_lead(self, request: httpx.Request) -> httpx.Response:
        body = self.body(request)
        if not isinstance(body, dict):
            return self.invalid("body", None, "Request body must be a JSON object")
        if not isinstance(body.get("name"), str) or not body["name"].strip():
            return self.invalid("name", body.get("name"), "name is required")
        if (denied := self._check_lead_fields(body)) is not None:
            return denied
        lead = self._new_lead({**body, "source": body.get("source") or "api"}, at=self.now())
        return self.ok({"id": lead["id"], "message": "Lead created successfully"}, status=201)

    @route("PUT", "/leads/{lead_id}")
    def update_lead(self, request: httpx.Request, lead_id: str) -> httpx.Response:
        lead = self._lead_or_404(lead_id)
        if isinstance(lead, httpx.Response):
            return lead
        body = self.body(request)
        if not isinstance(body, dict) or not body:
            return self.invalid("body", body, "Give at least one field to update")
        if (denied := self._check_lead_fields(body)) is not None:
            return denied
        if "name" in body and not (body["name"] or "").strip():
            return self.invalid("name", body["name"], "name cannot be empty")
        lead.update(body)
        lead["updated_at"] = self.now()
        self._save(lead)
        return self.ok({"id": lead_id, "message": "Lead updated successfully", "updated_fields": sorted(body)})

    @route("DELETE", "/leads/{lead_id}")
    def delete_lead(self, request: httpx.Request, lead_id: str) -> httpx.Response:
        if not self.store.delete("lead", lead_id):
            return self.error(404, f"Lead {lead_id} not found")
        return self.ok({"id": lead_id, "message": "Lead deleted successfully"})

    # -- sync and cleaning -----------------------------------------------------------------------

    @route("POST", "/sync/airtable")
    def sync_airtable(self, request: httpx.Request) -> httpx.Response:
        body = self.body(request)
        body = body if isinstance(body, dict) else {}
        for flag in ("force_full_sync", "clean_data"):
            if flag in body and not isinstance(body[flag], bool):
                return self.invalid(flag, body[flag], f"{flag} must be true or false")
        airtable = [lead for lead in self.store.list("lead") if lead["source"] == "airtable"]
        cleaned = 0
        if body.get("clean_data", True):
            for lead in airtable:
                for field in ("name", "email", "company"):
                    lead[field] = clean_value(field, lead[field])
                lead["_cleaned"] = True
                self._save(lead)
                cleaned += 1
        sync = self.store.meta("sync")
        sync.update(last_sync=self.now(), sync_status="completed", total_synced=len(airtable))
        self.store.set_meta("sync", sync)
        return self.ok(
            {"synced_leads": len(airtable), "cleaned_leads": cleaned, "skipped_leads": 0, "sync_duration": "0.4s"}
        )

    @route("GET", "/sync/status")
    def sync_status(self, request: httpx.Request) -> httpx.Response:
        return self.ok(self.store.meta("sync"))

    @route("POST", "/clean/lead")
    def clean_lead(self, request: httpx.Request) -> httpx.Response:
        body = self.body(request)
        lead_data = body.get("lead_data") if isinstance(body, dict) else None
        if not isinstance(lead_data, dict) or not lead_data:
            return self.invalid("lead_data", lead_data, "lead_data must be a non-empty object")
        cleaned = {k: clean_value(k, v) for k, v in lead_data.items()}
        changed = sum(1 for k in lead_data if cleaned[k] != lead_data[k])
        return self.ok(
            {
                "cleaned_data": cleaned,
                "cleaning_stats": {"fields_cleaned": changed, "confidence_score": 0.95, "processing_time": 0.023},
            }
        )

    @route("POST", "/clean/bulk")
    def clean_bulk(self, request: httpx.Request) -> httpx.Response:
        body = self.body(request)
        ids = body.get("lead_ids") if isinstance(body, dict) else None
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
            return self.invalid("lead_ids", ids, "lead_ids must be a non-empty list of lead ids")
        force = bool(body.get("force_reclean", False))
        done, skipped, missing = [], [], []
        for lead_id in ids:
            lead = self.store.get("lead", lead_id)
            if lead is None:
                missing.append(lead_id)
            elif lead["_cleaned"] and not force:
                skipped.append(lead_id)
            else:
                for field in ("name", "email", "company"):
                    lead[field] = clean_value(field, lead[field])
                lead["updated_at"] = self.now()
                lead["_cleaned"] = True
                self._save(lead)
                done.append(lead_id)
        return self.ok(
            {
                "cleaned_leads": len(done),
                "skipped_leads": len(skipped),
                "not_found": missing,
                "message": "Bulk cleaning completed",
            }
        )

    # -- AI --------------------------------------------------------------------------------------

    @route("POST", "/ai/generate-message")
    def generate_message(self, request: httpx.Request) -> httpx.Response:
        body = self.body(request)
        if not isinstance(body, dict) or not isinstance(body.get("lead_id"), str):
            return self.invalid("lead_id", None, "lead_id is required")
        level = body.get("personalization_level", "medium")
        if level not in ("low", "medium", "high"):
            return self.invalid("personalization_level", level, "personalization_level must be low, medium or high")
        lead = self._lead_or_404(body["lead_id"])
        if isinstance(lead, httpx.Response):
            return lead
        first = str(lead["name"] or "there").split()[0]
        company = lead["company"] or "your company"
        elements = {"low": ["company_name"], "medium": ["company_name", "industry"]}.get(
            level, ["company_name", "industry", "recent_news"]
        )
        return self.ok(
            {
                "ai_message": f"Hi {first}, I noticed {company} is growing fast and thought we should talk.",
                "confidence_score": 0.92,
                "personalization_elements": elements,
            }
        )

    @route("POST", "/ai/enrich-lead")
    def enrich_lead(self, request: httpx.Request) -> httpx.Response:
        body = self.body(request)
        if not isinstance(body, dict) or not isinstance(body.get("lead_id"), str):
            return self.invalid("lead_id", None, "lead_id is required")
        sources = body.get("enrichment_sources", sorted(ENRICHMENT_SOURCES))
        if not isinstance(sources, list) or not sources or not set(sources) <= ENRICHMENT_SOURCES:
            return self.invalid(
                "enrichment_sources", sources, "enrichment_sources must be google/linkedin/company_website"
            )
        lead = self._lead_or_404(body["lead_id"])
        if isinstance(lead, httpx.Response):
            return lead
        company = _slug(lead["company"] or lead["name"] or "example")
        filled: list[str] = []
        if not lead["company_website"]:
            lead["company_website"] = f"https://{company}.example.com"
            filled.append("company_website")
        if not lead["email"] and lead["name"]:
            lead["email"] = f"{'.'.join(lead['name'].lower().split())}@{company}.example.com"
            filled.append("email")
        lead["updated_at"] = self.now()
        lead["_enriched"] = True
        self._save(lead)
        return self.ok(
            {"lead_id": lead["id"], "fields_enriched": filled, "sources_used": sources, "confidence_score": 0.89}
        )

    # -- campaigns -------------------------------------------------------------------------------

    @route("GET", "/campaigns")
    def list_campaigns(self, request: httpx.Request) -> httpx.Response:
        campaigns = self.store.list("campaign")
        shape = self.shape["campaign_list"]
        if shape == "object":
            return self.ok({"campaigns": campaigns, "total": len(campaigns)})
        if shape == "paginated":
            pagination = {"limit": 50, "offset": 0, "total": len(campaigns), "has_more": False}
            return self.ok(campaigns, pagination=pagination)
        return self.ok(campaigns)

    @route("POST", "/campaigns")
    def create_campaign(self, request: httpx.Request) -> httpx.Response:
        body = self.body(request)
        if not isinstance(body, dict):
            return self.invalid("body", None, "Request body must be a JSON object")
        for field in ("name", "target_stage", "message_template"):
            if not isinstance(body.get(field), str) or not body[field].strip():
                return self.invalid(field, body.get(field), f"{field} is required")
        schedule = body.get("schedule")
        if not isinstance(schedule, dict):
            return self.invalid("schedule", schedule, "schedule is required")
        if not isinstance(schedule.get("max_sends_per_day"), int) or schedule["max_sends_per_day"] < 1:
            return self.invalid(
                "schedule.max_sends_per_day", schedule.get("max_sends_per_day"), "must be a positive integer"
            )
        campaign_id = record_id("cmp", f"campaign-{self.store.counter('campaign')}")
        campaign = {
            "id": campaign_id,
            "name": body["name"],
            "target_stage": body["target_stage"],
            "message_template": body["message_template"],
            "schedule": schedule,
            "status": "draft",
            "messages_sent": 0,
            "created_at": self.now(),
        }
        self.store.put("campaign", campaign_id, campaign)
        if self.shape["campaign_create"] == "object":
            return self.ok(campaign, status=201)
        return self.ok({"id": campaign_id, "status": "draft", "message": "Campaign created successfully"}, status=201)

    def _transition(self, campaign_id: str, allowed_from: tuple[str, ...], to: str, verb: str) -> httpx.Response:
        campaign = self._campaign_or_404(campaign_id)
        if isinstance(campaign, httpx.Response):
            return campaign
        if campaign["status"] not in allowed_from:
            if self.shape["campaign_conflict"] == "refused":
                return self.invalid(
                    "status", campaign["status"], f"Cannot {verb} a campaign that is {campaign['status']}"
                )
            return self.ok(
                {
                    "id": campaign_id,
                    "status": campaign["status"],
                    "message": f"Campaign is already {campaign['status']}",
                }
            )
        campaign["status"] = to
        self.store.put("campaign", campaign_id, campaign)
        return self.ok({"id": campaign_id, "status": to, "message": f"Campaign {to}"})

    @route("POST", "/campaigns/{campaign_id}/start")
    def start_campaign(self, request: httpx.Request, campaign_id: str) -> httpx.Response:
        return self._transition(campaign_id, ("draft", "paused"), "running", "start")

    @route("POST", "/campaigns/{campaign_id}/pause")
    def pause_campaign(self, request: httpx.Request, campaign_id: str) -> httpx.Response:
        return self._transition(campaign_id, ("running",), "paused", "pause")

    # -- analytics and operations ----------------------------------------------------------------

    @route("GET", "/health")
    def health(self, request: httpx.Request) -> httpx.Response:
        return self.ok(
            {
                "system_status": "healthy",
                "database_status": "connected",
                "airtable_status": "synced",
                "automation_status": "running",
                "last_health_check": self.now(),
                "uptime": "7d 12h 45m",
            }
        )

    @route("GET", "/analytics/leads")
    def lead_analytics(self, request: httpx.Request) -> httpx.Response:
        leads = self.store.list("lead")
        return self.ok(
            {
                "total_leads": len(leads),
                "by_stage": dict(Counter(lead["engagement_stage"] for lead in leads)),
                "by_source": dict(Counter(lead["source"] or "unknown" for lead in leads)),
                "quality_metrics": {
                    "with_email": sum(1 for lead in leads if lead["email"]),
                    "with_company": sum(1 for lead in leads if lead["company"]),
                    "fully_enriched": sum(
                        1 for lead in leads if all(lead[f] for f in ("email", "company", "company_website"))
                    ),
                },
            }
        )

    @route("GET", "/analytics/campaigns")
    def campaign_analytics(self, request: httpx.Request) -> httpx.Response:
        campaigns = self.store.list("campaign")
        leads = self.store.list("lead")
        return self.ok(
            {
                "total_campaigns": len(campaigns),
                "by_status": dict(Counter(c["status"] for c in campaigns)),
                "campaigns": [
                    {
                        "id": c["id"],
                        "name": c["name"],
                        "status": c["status"],
                        "target_leads": sum(1 for lead in leads if lead["engagement_stage"] == c["target_stage"]),
                        "messages_sent": c["messages_sent"],
                    }
                    for c in campaigns
                ],
            }
        )

    @route("GET", "/automation/status")
    def automation_status(self, request: httpx.Request) -> httpx.Response:
        return self.ok(
            {
                "automation_engine": "running",
                "last_cycle": "2025-01-15T15:25:00Z",
                "next_cycle": "2025-01-15T15:30:00Z",
                "cycles_completed": 2880,
                "average_cycle_time": "2.3s",
            }
        )

    @route("POST", "/automation/trigger")
    def trigger_automation(self, request: httpx.Request) -> httpx.Response:
        body = self.body(request)
        operation = body.get("operation") if isinstance(body, dict) else None
        if operation not in AUTOMATION_OPERATIONS:
            return self.invalid("operation", operation, f"operation must be one of {sorted(AUTOMATION_OPERATIONS)}")
        parameters = body.get("parameters") or {}
        if not isinstance(parameters, dict):
            return self.invalid("parameters", parameters, "parameters must be an object")
        return self.ok({"operation": operation, "status": "started", "parameters": parameters})
