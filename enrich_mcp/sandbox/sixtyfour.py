"""Fake Sixtyfour API (https://api.sixtyfour.ai), written from vendor-docs/sixtyfour.md and the OpenAPI snapshot.

Documented, and followed: the ``x-api-key`` header; 500 requests/min (then 429,
with ``Retry-After``); ``{"detail": ...}`` errors (FastAPI); every async
endpoint answering ``{"task_id", "status": "pending"}`` and ``/job-status``
going pending → processing → completed (with ``result``) or failed; deep search
queued → running → completed (with ``resource_handle_id``); signed result URLs
that expire after 15 minutes; workflows (the document's routes and the
snapshot's), runs, live status, cancel and download links.

Open points (see ``variants``):

* ``bulk_result``: the shape of a bulk find task's ``result`` — a bare list in
  input order; ``{"results": [{"lead", ...answer}]}``; ``{"leads": [lead merged
  with its answer]}``; ``{"data": [{"input", "output"}]}``; or echoed items in
  no particular order (``shuffled``).
* ``task_error``: the key that carries a failed task's reason.
* ``validation_status``: a missing field is 400 (the document's table) or 422
  with FastAPI's ``detail`` list (the snapshot).
* ``cancelled_word``: a cancelled run's ``overall_status`` (the cancel answer
  says ``canceled``, the runs filter ``cancelled``).
* ``run_results``: workflow results as signed CSV URLs or inline ``results``.

Synthetic people: a lead whose name starts with "Fail" fails (per lead in bulk
answers, the whole task elsewhere); "Nobody" is not found; "Many" gets the
multi-number phone shape; "Odd" makes a task report the undocumented status
word ``throttled`` forever (for testing how pollers end).
"""

from __future__ import annotations

import csv
import hashlib
import io
import random
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from enrich_mcp.sandbox import RateWindow, SandboxApp, route

STORAGE_HOST = "storage.sandbox.example.com"
BULK_LIMIT = 100
SIGNED_URL_SECONDS = 15 * 60
MODES = ("PROFESSIONAL", "PERSONAL")
BLOCK_TYPES = ("webhook", "read_csv", "enrich_company", "enrich_lead", "find_email", "find_phone", "qa_agent")
UNDOCUMENTED_WORD = "throttled"


def _slug(name: str) -> str:
    return ".".join(part for part in "".join(c if c.isalnum() else " " for c in name.lower()).split()) or "someone"


def _digits(text: str, count: int) -> str:
    return str(int(hashlib.sha256(text.encode()).hexdigest(), 16))[:count]


def _phone(name: str) -> str:
    # 555-01xx numbers are reserved for fiction.
    return f"+1 555-01{_digits(name, 2)}"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def _name(lead: dict[str, Any]) -> str:
    return str(lead.get("name") or "")


def _email_answer(lead: dict[str, Any], mode: str) -> dict[str, Any]:
    """``email: [[address, OK|UNKNOWN, COMPANY|PERSONAL]]``; PERSONAL mode adds ``personal_email``."""
    name = _name(lead)
    if not name or name.lower().startswith("nobody"):
        return {"email": [], **({"personal_email": ""} if mode == "PERSONAL" else {})}
    local = _slug(name)
    company = _slug(str(lead.get("company") or "example")).replace(".", "")
    answer: dict[str, Any] = {"email": [[f"{local}@{company}.example.com", "OK", "COMPANY"]]}
    if mode == "PERSONAL":
        answer["personal_email"] = f"{local}.{hashlib.sha256(local.encode()).hexdigest()[:4]}@personal.example.com"
    return answer


def _phone_answer(lead: dict[str, Any]) -> dict[str, Any]:
    """The three documented shapes: a string, a list of ``{number, region}``, or ``""`` when not found."""
    name = _name(lead)
    if not name or name.lower().startswith("nobody"):
        return {"phone": ""}
    if name.lower().startswith("many"):
        return {"phone": [{"number": _phone(name), "region": "US"}, {"number": _phone(name + "2"), "region": "US"}]}
    return {"phone": _phone(name)}


def _value(field_name: str, spec: Any, subject: str) -> Any:
    kind = spec.get("type", "str") if isinstance(spec, dict) else "str"
    return {
        "int": 42,
        "float": 4.2,
        "bool": True,
        "list": [f"{field_name} 1", f"{field_name} 2"],
        "list[str]": [f"{field_name} 1", f"{field_name} 2"],
        "list[int]": [1, 2],
        "list[float]": [1.5, 2.5],
        "dict": {"source": "sandbox"},
    }.get(kind, f"{field_name} of {subject} (synthetic)")


def _fill(struct: dict[str, Any], subject: str) -> dict[str, Any]:
    return {name: _value(name, spec, subject) for name, spec in struct.items()}


def _csv(rows: list[dict[str, Any]]) -> bytes:
    header: list[str] = []
    for row in rows:
        header.extend(k for k in row if k not in header)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header or ["name"], restval="")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


class Sandbox(SandboxApp):
    vendor = "sixtyfour"
    auth_header = "x-api-key"
    rate = RateWindow(500, 60.0)
    variants: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "bulk_result": ("list", "results", "leads", "data", "shuffled"),
        "task_error": ("error", "message", "detail"),
        "validation_status": ("400", "422"),
        "cancelled_word": ("cancelled", "canceled"),
        "run_results": ("signed", "inline"),
    }

    # -- plumbing --------------------------------------------------------------------------------

    def error(self, status: int, message: str, **extra: Any) -> httpx.Response:
        return self.json(status, {"detail": message, **extra})

    def rate_limited(self, retry_after: float) -> httpx.Response:
        response = self.error(429, "Rate limit exceeded: 500 requests per minute")
        response.headers["Retry-After"] = str(max(1, round(retry_after)))
        return response

    def missing(self, field: str, message: str | None = None) -> httpx.Response:
        """A required body field is missing or malformed: 400 (the document) or FastAPI's 422 (the snapshot)."""
        if self.shape["validation_status"] == "422":
            return self.json(
                422,
                {"detail": [{"type": "missing", "loc": ["body", field], "msg": message or "Field required"}]},
            )
        return self.error(400, f"{field}: {message or 'Field required'}")

    def is_public(self, request: httpx.Request) -> bool:
        return request.url.host == STORAGE_HOST

    def _id(self, prefix: str) -> str:
        return f"{prefix}{self.store.counter(prefix):012d}"

    def _object_body(self, request: httpx.Request) -> dict[str, Any] | None:
        body = self.body(request)
        return body if isinstance(body, dict) else None

    def _bad_webhook(self, body: dict[str, Any]) -> httpx.Response | None:
        """``webhook_url`` is accepted on every async request (a URI, 1-2083 characters); delivery is not simulated."""
        url = body.get("webhook_url")
        if url is None:
            return None
        if not isinstance(url, str) or not url.startswith(("https://", "http://")) or len(url) > 2083:
            return self.missing("webhook_url", "Input should be a valid URL")
        return None

    def _signed_url(self, path: str) -> str:
        expires = int(self.clock()) + SIGNED_URL_SECONDS
        signature = hashlib.sha256(f"sandbox-signing/{path}/{expires}".encode()).hexdigest()[:32]
        return f"https://{STORAGE_HOST}/{path}?expires={expires}&signature={signature}"

    # -- signed files ----------------------------------------------------------------------------

    def _route(self, request: httpx.Request, path: str) -> httpx.Response:
        if request.url.host != STORAGE_HOST:
            return super()._route(request, path)
        bucket, _, name = path.strip("/").partition("/")
        if request.method != "GET" or not name or "/" in name:
            return httpx.Response(404, text="<Error><Code>NoSuchKey</Code></Error>")
        return self.storage_get(request, bucket, name)

    def storage_get(self, request: httpx.Request, bucket: str, name: str) -> httpx.Response:
        path = f"{bucket}/{name}"
        expires = request.url.params.get("expires", "")
        expected = hashlib.sha256(f"sandbox-signing/{path}/{expires}".encode()).hexdigest()[:32]
        if request.url.params.get("signature") != expected:
            return httpx.Response(403, text="<Error><Code>SignatureDoesNotMatch</Code></Error>")
        if self.clock() > int(expires or 0):
            return httpx.Response(400, text="<Error><Code>ExpiredToken</Code></Error>")
        rows = self._file_rows(bucket, name)
        if rows is None:
            return httpx.Response(404, text="<Error><Code>NoSuchKey</Code></Error>")
        return httpx.Response(200, content=_csv(rows), headers={"content-type": "text/csv"})

    def _file_rows(self, bucket: str, name: str) -> list[dict[str, Any]] | None:
        if bucket == "search-results":
            search = self.store.get("search", name.removesuffix(".csv"))
            return None if search is None or search["status"] != "completed" else self._search_rows(search)
        if bucket == "workflow-results":
            run_id, _, block = name.removesuffix(".csv").rpartition("-block")
            run = self.store.get("run", run_id)
            if run is None or run["status"] != "completed" or block not in ("1", "2"):
                return None
            return self._run_rows(run)[int(block) - 1]
        return None

    # -- people and companies ------------------------------------------------------------------

    def _lead(self, request: httpx.Request) -> tuple[dict[str, Any], dict[str, Any]] | httpx.Response:
        body = self._object_body(request)
        if body is None or not isinstance(body.get("lead"), dict):
            return self.missing("lead")
        return body, body["lead"]

    def _mode(self, body: dict[str, Any]) -> str | httpx.Response:
        mode = body.get("mode", "PROFESSIONAL")
        if mode not in MODES:
            return self.missing("mode", "Input should be 'PROFESSIONAL' or 'PERSONAL'")
        return str(mode)

    @route("POST", "/find-email")
    def find_email(self, request: httpx.Request) -> httpx.Response:
        parsed = self._lead(request)
        if isinstance(parsed, httpx.Response):
            return parsed
        mode = self._mode(parsed[0])
        if isinstance(mode, httpx.Response):
            return mode
        return self.json(200, _email_answer(parsed[1], mode))

    @route("POST", "/find-email-async")
    def find_email_async(self, request: httpx.Request) -> httpx.Response:
        parsed = self._lead(request)
        if isinstance(parsed, httpx.Response):
            return parsed
        mode = self._mode(parsed[0])
        if isinstance(mode, httpx.Response):
            return mode
        return self._start_task("find_email", parsed[0], _email_answer(parsed[1], mode))

    @route("POST", "/find-phone")
    def find_phone(self, request: httpx.Request) -> httpx.Response:
        parsed = self._lead(request)
        if isinstance(parsed, httpx.Response):
            return parsed
        return self.json(200, _phone_answer(parsed[1]))

    @route("POST", "/find-phone-async")
    def find_phone_async(self, request: httpx.Request) -> httpx.Response:
        parsed = self._lead(request)
        if isinstance(parsed, httpx.Response):
            return parsed
        return self._start_task("find_phone", parsed[0], _phone_answer(parsed[1]))

    def _bulk_result(self, leads: list[dict[str, Any]], answers: list[dict[str, Any]]) -> Any:
        """One bulk task's ``result``, in this run's shape (the document gives none)."""
        shape = self.shape["bulk_result"]
        if shape == "list":
            return answers
        if shape == "leads":
            return {"leads": [{**lead, **answer} for lead, answer in zip(leads, answers, strict=True)]}
        if shape == "data":
            return {
                "data": [{"input": lead, "output": answer} for lead, answer in zip(leads, answers, strict=True)],
                "count": len(leads),
            }
        items = [{"lead": lead, **answer} for lead, answer in zip(leads, answers, strict=True)]
        if shape == "shuffled":
            random.Random(len(items)).shuffle(items)  # answers arrive as each lead finishes
        return {"results": items}

    def _bulk(self, request: httpx.Request, answer: Any, task_type: str) -> httpx.Response:
        body = self._object_body(request)
        leads = body.get("leads") if body else None
        if body is None or not isinstance(leads, list) or not all(isinstance(lead, dict) for lead in leads):
            return self.missing("leads")
        if not leads:
            return self.error(400, "leads must not be empty")
        if len(leads) > BULK_LIMIT:
            return self.error(400, f"At most {BULK_LIMIT} leads per request, got {len(leads)}")
        answers = [
            {"error": "Could not process this lead"} if _name(lead).startswith("Fail") else answer(lead)
            for lead in leads
        ]
        return self._start_task(task_type, body, self._bulk_result(leads, answers))

    @route("POST", "/find-email-bulk-async")
    def find_email_bulk_async(self, request: httpx.Request) -> httpx.Response:
        body = self._object_body(request) or {}
        mode = self._mode(body)
        if isinstance(mode, httpx.Response):
            return mode
        return self._bulk(request, lambda lead: _email_answer(lead, mode), "find_email_bulk")

    @route("POST", "/find-phone-bulk-async")
    def find_phone_bulk_async(self, request: httpx.Request) -> httpx.Response:
        return self._bulk(request, _phone_answer, "find_phone_bulk")

    @route("POST", "/enrich-dataframe")
    def enrich_dataframe(self, request: httpx.Request) -> httpx.Response:
        """``{"csv_data", "enrichment_type"}`` (the document); the answer is undocumented: a task here."""
        body = self._object_body(request)
        if body is None or not isinstance(body.get("csv_data"), str) or not body["csv_data"].strip():
            return self.missing("csv_data")
        kind = body.get("enrichment_type")
        if kind not in ("email", "phone"):
            return self.missing("enrichment_type", "Input should be 'email' or 'phone'")
        rows = [dict(r) for r in csv.DictReader(io.StringIO(body["csv_data"]))]
        for row in rows:
            if kind == "phone":
                phone = _phone_answer(row)["phone"]
                row["phone"] = phone if isinstance(phone, str) else phone[0]["number"]
            else:
                found = _email_answer(row, "PROFESSIONAL")["email"]
                row["email"] = found[0][0] if found else ""
        return self._start_task("enrich_dataframe", body, {"csv_data": _csv(rows).decode(), "rows": len(rows)})

    def _start_task(
        self, task_type: str, body: dict[str, Any], result: Any, error: str | None = None
    ) -> httpx.Response:
        if (bad := self._bad_webhook(body)) is not None:
            return bad
        task_id = self._id("task_")
        self.store.put(
            "task",
            task_id,
            {
                "task_type": task_type,
                "result": result,
                "error": error,
                "polls": 0,
                "odd": False,
                "created": self.clock(),
            },
        )
        return self.json(200, {"task_id": task_id, "status": "pending"})

    def _research(
        self, request: httpx.Request, task_type: str
    ) -> tuple[dict[str, Any], Any, str | None] | httpx.Response:
        body = self._object_body(request)
        if task_type == "enrich_lead":
            if body is None or not isinstance(body.get("lead_info"), dict):
                return self.missing("lead_info")
            subject = str(body["lead_info"].get("name") or body["lead_info"].get("linkedin") or "this lead")
        else:
            if body is None or not isinstance(body.get("target_company"), dict):
                return self.missing("target_company")
            company = body["target_company"]
            subject = str(company.get("company_name") or company.get("website") or "this company")
        if not isinstance(body.get("struct"), dict) or not body["struct"]:
            return self.missing("struct")
        if subject.startswith("Fail"):
            return body, None, f"Could not find enough public information about {subject}"
        data = _fill(body["struct"], subject)
        if task_type == "enrich_company" and body.get("find_people"):
            lead_struct = body.get("lead_struct") or {"name": "Full name", "title": "Job title"}
            data["leads"] = [
                {**_fill(lead_struct, f"person {i} at {subject}"), "score": score} for i, score in ((1, 9), (2, 7))
            ]
        kind, page = ("people", "profile") if task_type == "enrich_lead" else ("companies", "company")
        result = {
            "notes": f"Synthetic research on {subject}.",
            "structured_data": data,
            "references": {f"https://example.com/{kind}/{_slug(subject)}": f"Synthetic {page} page"},
            "confidence_score": 9.0 if task_type == "enrich_lead" else 8.5,
        }
        return body, result, None

    def _research_sync(self, request: httpx.Request, task_type: str) -> httpx.Response:
        parsed = self._research(request, task_type)
        if isinstance(parsed, httpx.Response):
            return parsed
        _, result, error = parsed
        return self.error(500, error) if error else self.json(200, result)

    def _research_async(self, request: httpx.Request, task_type: str) -> httpx.Response:
        parsed = self._research(request, task_type)
        if isinstance(parsed, httpx.Response):
            return parsed
        body, result, error = parsed
        response = self._start_task(task_type, body, result, error)
        subject = body.get("lead_info") or body.get("target_company") or {}
        if response.status_code == 200 and str(subject.get("name") or subject.get("company_name") or "").startswith(
            "Odd"
        ):
            task_id = response.json()["task_id"]
            task = self.store.get("task", task_id)
            assert task is not None
            self.store.put("task", task_id, {**task, "odd": True})
        return response

    @route("POST", "/enrich-lead")
    def enrich_lead(self, request: httpx.Request) -> httpx.Response:
        return self._research_sync(request, "enrich_lead")

    @route("POST", "/enrich-lead-async")
    def enrich_lead_async(self, request: httpx.Request) -> httpx.Response:
        return self._research_async(request, "enrich_lead")

    @route("POST", "/enrich-company")
    def enrich_company(self, request: httpx.Request) -> httpx.Response:
        return self._research_sync(request, "enrich_company")

    @route("POST", "/enrich-company-async")
    def enrich_company_async(self, request: httpx.Request) -> httpx.Response:
        return self._research_async(request, "enrich_company")

    @route("GET", "/job-status/{task_id}")
    def job_status(self, request: httpx.Request, task_id: str) -> httpx.Response:
        task = self.store.get("task", task_id)
        if task is None:
            return self.error(404, f"Task {task_id} not found")
        task["polls"] += 1
        self.store.put("task", task_id, task)
        if task["polls"] == 1:
            return self.json(200, {"task_id": task_id, "status": "pending"})
        if task["odd"]:
            return self.json(200, {"task_id": task_id, "status": UNDOCUMENTED_WORD})
        if task["polls"] == 2:
            return self.json(200, {"task_id": task_id, "status": "processing"})
        if task["error"]:
            return self.json(200, {"task_id": task_id, "status": "failed", self.shape["task_error"]: task["error"]})
        return self.json(200, {"task_id": task_id, "status": "completed", "result": task["result"]})

    def _qa(self, request: httpx.Request) -> dict[str, Any] | httpx.Response:
        body = self._object_body(request)
        if body is None or not isinstance(body.get("data"), dict):
            return self.missing("data")
        criteria = body.get("qualification_criteria")
        if not isinstance(criteria, list) or not criteria:
            return self.missing("qualification_criteria")
        for c in criteria:
            if not isinstance(c, dict) or not c.get("criteria_name") or not c.get("description"):
                return self.missing("qualification_criteria", "each criterion needs criteria_name and description")
        # The answer's shape is not documented; this one is plausible and clearly synthetic.
        scores = [
            {
                "criteria_name": c["criteria_name"],
                "score": 0.8,
                "weight": c.get("weight", 1.0),
                "passed": (c.get("threshold") or 0) <= 0.8,
                "reasoning": "Synthetic evaluation.",
            }
            for c in criteria
        ]
        answer: dict[str, Any] = {
            "qualified": all(s["passed"] for s in scores),
            "score": 8.0,
            "criteria_scores": scores,
            "references": body.get("references") or [],
        }
        if isinstance(body.get("struct"), dict):
            answer["structured_data"] = _fill(body["struct"], "this record")
        return answer

    @route("POST", "/qa-agent")
    def qa_agent(self, request: httpx.Request) -> httpx.Response:
        answer = self._qa(request)
        return answer if isinstance(answer, httpx.Response) else self.json(200, answer)

    @route("POST", "/qa-agent-async")
    def qa_agent_async(self, request: httpx.Request) -> httpx.Response:
        answer = self._qa(request)
        if isinstance(answer, httpx.Response):
            return answer
        return self._start_task("qa_agent", self._object_body(request) or {}, answer)

    # -- deep search ---------------------------------------------------------------------------

    @route("POST", "/search/start-deep-search")
    def start_deep_search(self, request: httpx.Request) -> httpx.Response:
        body = self._object_body(request)
        if body is None or not isinstance(body.get("query"), str) or not body["query"].strip():
            return self.missing("query")
        mode = body.get("mode", "people")
        if mode not in ("people", "company"):
            return self.missing("mode", "Input should be 'people' or 'company'")
        max_results = body.get("max_results", 1000)
        if not isinstance(max_results, int) or max_results < 1:
            return self.missing("max_results", "Input should be a positive integer")
        task_id = self._id("search_")
        self.store.put(
            "search",
            task_id,
            {
                "query": body["query"],
                "mode": mode,
                "max_results": max_results,
                "polls": 0,
                "status": "queued",
                "created": self.clock(),
            },
        )
        return self.json(200, {"task_id": task_id, "status": "queued", "message": "Deep search started"})

    def _search_rows(self, search: dict[str, Any]) -> list[dict[str, Any]]:
        count = min(search["max_results"], 3)
        if search["mode"] == "company":
            return [
                {"company_name": f"Example Co {i}", "website": f"https://co{i}.example.com", "industry": "Software"}
                for i in range(1, count + 1)
            ]
        return [
            {
                "name": f"Sample Person {i}",
                "title": "Head of Sales",
                "company": f"Example Co {i}",
                "linkedin": f"https://www.linkedin.com/in/sample-person-{i}",
                "email": f"sample.person{i}@example.com",
            }
            for i in range(1, count + 1)
        ]

    @route("GET", "/search/deep-search-status/{task_id}")
    def deep_search_status(self, request: httpx.Request, task_id: str) -> httpx.Response:
        search = self.store.get("search", task_id)
        if search is None:
            return self.error(404, f"Task {task_id} not found")
        search["polls"] += 1
        base = {"task_id": task_id, "start_time": _iso(search["created"])}
        if search["query"].startswith("Fail"):
            search["status"] = "failed"
        elif search["polls"] >= 3:
            search["status"] = "completed"
        elif search["polls"] == 2:
            search["status"] = "running"
        self.store.put("search", task_id, search)
        if search["status"] == "failed":
            return self.json(200, {**base, "status": "failed", "error": "The search agent gave up"})
        if search["status"] == "queued":
            return self.json(200, {**base, "status": "queued"})
        if search["status"] == "running":
            return self.json(200, {**base, "status": "running", "current_phase": 1, "progress_message": "Searching"})
        rows = self._search_rows(search)
        return self.json(
            200,
            {
                **base,
                "status": "completed",
                "close_time": _iso(self.clock()),
                "resource_handle_id": f"rh_{task_id}",
                "total_results": len(rows),
                "exported_count": len(rows),
            },
        )

    @route("GET", "/search/download")
    def search_download(self, request: httpx.Request) -> httpx.Response:
        handle = request.url.params.get("resource_handle_id", "")
        task_id = handle.removeprefix("rh_")
        search = self.store.get("search", task_id)
        if search is None or search["status"] != "completed":
            return self.error(404, f"Resource {handle or '(missing)'} not found")
        path = f"search-results/{task_id}.csv"
        return self.json(200, {"url": self._signed_url(path), "bucket": "search-results", "path": f"{task_id}.csv"})

    # -- workflows (the document's routes, and the snapshot's for the fallback) ----------------

    def _valid_definition(self, definition: Any) -> bool:
        return (
            isinstance(definition, dict)
            and isinstance(definition.get("blocks"), list)
            and isinstance(definition.get("edges"), list)
        )

    @route("GET", "/workflows")
    def wf_list(self, request: httpx.Request) -> httpx.Response:
        # "Returns lightweight metadata without block definitions" (the snapshot).
        workflows = self.store.list("workflow")
        return self.json(200, [{k: v for k, v in w.items() if k != "workflow_definition"} for w in workflows])

    def _create(self, body: Any, *, description_required: bool) -> httpx.Response:
        if not isinstance(body, dict) or not isinstance(body.get("workflow_name"), str) or not body["workflow_name"]:
            return self.missing("workflow_name")
        if not self._valid_definition(body.get("workflow_definition")):
            return self.missing("workflow_definition", "Input should be {blocks: [...], edges: [...]}")
        if description_required and not isinstance(body.get("workflow_description"), str):
            return self.missing("workflow_description")
        number = self.store.counter("workflow")
        workflow_id = f"00000000-0000-4000-8000-{number:012d}"
        now = _iso(self.clock())
        workflow = {
            "id": workflow_id,
            "org_id": "org_sandbox",
            "name": body["workflow_name"],
            "description": body.get("workflow_description"),
            "status": "ready",
            "step": "complete",
            "created_at": now,
            "updated_at": now,
            "last_run_date": None,
            "workflow_definition": body["workflow_definition"],
        }
        self.store.put("workflow", workflow_id, workflow)
        return self.json(200, workflow)

    @route("POST", "/workflows")
    def wf_create(self, request: httpx.Request) -> httpx.Response:
        return self._create(self.body(request), description_required=False)

    @route("POST", "/workflows/create_workflow")
    def wf_create_snapshot(self, request: httpx.Request) -> httpx.Response:
        return self._create(self.body(request), description_required=True)

    def _update(self, workflow_id: str, body: Any) -> httpx.Response:
        workflow = self.store.get("workflow", workflow_id)
        if workflow is None:
            return self.error(404, f"Workflow {workflow_id} not found")
        if not isinstance(body, dict):
            return self.missing("body", "Input should be an object")
        if "workflow_definition" in body and not self._valid_definition(body["workflow_definition"]):
            return self.missing("workflow_definition", "Input should be {blocks: [...], edges: [...]}")
        renames = {"workflow_name": "name", "workflow_description": "description"}
        for key, value in body.items():
            if value is not None and key in (*renames, "workflow_definition"):
                workflow[renames.get(str(key), str(key))] = value
        workflow["updated_at"] = _iso(self.clock())
        self.store.put("workflow", workflow_id, workflow)
        return self.json(200, workflow)

    @route("PATCH", "/workflows/{workflow_id}")
    def wf_update(self, request: httpx.Request, workflow_id: str) -> httpx.Response:
        return self._update(workflow_id, self.body(request))

    @route("POST", "/workflows/update_workflow")
    def wf_update_snapshot(self, request: httpx.Request) -> httpx.Response:
        return self._update(request.url.params.get("workflow_id", ""), self.body(request))

    @route("DELETE", "/workflows/{workflow_id}")
    def wf_delete(self, request: httpx.Request, workflow_id: str) -> httpx.Response:
        if not self.store.delete("workflow", workflow_id):
            return self.error(404, f"Workflow {workflow_id} not found")
        return httpx.Response(204)

    @route("POST", "/workflows/delete_workflow")
    def wf_delete_snapshot(self, request: httpx.Request) -> httpx.Response:
        workflow_id = request.url.params.get("workflow_id", "")
        workflow = self.store.get("workflow", workflow_id)
        if workflow is None:
            return self.error(404, "Workflow not found")
        self.store.delete("workflow", workflow_id)
        return self.json(200, workflow)

    # Routes match in name order: runs_list ("/workflows/runs") is tried before wf_get.
    @route("GET", "/workflows/{workflow_id}")
    def wf_get(self, request: httpx.Request, workflow_id: str) -> httpx.Response:
        workflow = self.store.get("workflow", workflow_id)
        if workflow is None:
            return self.error(404, f"Workflow {workflow_id} not found")
        return self.json(200, workflow)

    @route("POST", "/workflows/run")
    def runs_start(self, request: httpx.Request) -> httpx.Response:
        workflow_id = request.url.params.get("workflow_id", "")
        workflow = self.store.get("workflow", workflow_id)
        if workflow is None:
            return self.error(404, f"Workflow {workflow_id or '(missing)'} not found")
        blocks = sorted(workflow["workflow_definition"]["blocks"], key=lambda b: b.get("sequence_number", 0))
        if blocks and blocks[0].get("block_name") == "read_csv":
            return self.error(400, "Workflows starting with read_csv cannot be triggered via API")
        body = self.body(request)
        payload = body.get("webhook_payload") if isinstance(body, dict) else None
        if isinstance(payload, dict):
            payload = [payload]
        if not isinstance(payload, list) or not all(isinstance(p, dict) for p in payload):
            return self.missing("webhook_payload", "Input should be a list of objects")
        # The snapshot's Idempotency-Key: the same key starts the run once (``already_started``).
        key = request.headers.get("idempotency-key")
        if key:
            known = self.store.get("run_key", key)
            if known is not None:
                run = self.store.get("run", known["run_id"])
                return self.json(
                    200,
                    {
                        "status": run["status"] if run else "queued",
                        "workflow_id": workflow_id,
                        "job_id": known["run_id"],
                        "already_started": True,
                    },
                )
        number = self.store.counter("run")
        run_id = f"11111111-0000-4000-8000-{number:012d}"
        self.store.put(
            "run",
            run_id,
            {
                "run_id": run_id,
                "workflow_id": workflow_id,
                "payload": payload,
                "polls": 0,
                "status": "queued",
                "created": self.clock(),
            },
        )
        if key:
            self.store.put("run_key", key, {"run_id": run_id})
        workflow["last_run_date"] = _iso(self.clock())
        self.store.put("workflow", workflow_id, workflow)
        return self.json(200, {"status": "queued", "workflow_id": workflow_id, "job_id": run_id})

    def _blocks(self, run: dict[str, Any]) -> int:
        workflow = self.store.get("workflow", run["workflow_id"]) or {}
        return len((workflow.get("workflow_definition") or {}).get("blocks", [])) or 1

    @route("GET", "/workflows/runs/{run_id}/live_status")
    def runs_live_status(self, request: httpx.Request, run_id: str) -> httpx.Response:
        run = self.store.get("run", run_id)
        if run is None:
            return self.error(404, f"Run {run_id} not found")
        if run["status"] in ("queued", "running"):
            run["polls"] += 1
            run["status"] = "queued" if run["polls"] <= 1 else "running" if run["polls"] == 2 else "completed"
            self.store.put("run", run_id, run)
        status = run["status"]
        total = self._blocks(run)
        done = {"queued": 0, "running": total // 2, "completed": total}.get(status, 0)
        word = self.shape["cancelled_word"] if status == "cancelled" else status
        return self.json(
            200,
            {
                "run_id": run_id,
                "workflow_id": run["workflow_id"],
                "overall_status": word,
                "current_block": None if status in ("completed", "cancelled") else "enrich_lead",
                "total_blocks": total,
                "completed_blocks": done,
                "started_at": _iso(run["created"]),
                "last_updated": _iso(self.clock()),
                "blocks": [],
                "overall_progress_percentage": round(100.0 * done / total, 1),
            },
        )

    def _run_rows(self, run: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        output = [
            {**row, "email": f"{_slug(str(row.get('name') or row.get('company_name') or 'row'))}@example.com"}
            for row in run["payload"]
        ]
        return run["payload"], output

    @route("GET", "/workflows/runs/{run_id}/results/download-links")
    def runs_download_links(self, request: httpx.Request, run_id: str) -> httpx.Response:
        run = self.store.get("run", run_id)
        if run is None:
            return self.error(404, f"Run {run_id} not found")
        if run["status"] != "completed":
            return self.json(200, [])
        inline = self.shape["run_results"] == "inline"
        files = []
        for number, rows in enumerate(self._run_rows(run), start=1):
            name = f"{run_id}-block{number}.csv"
            files.append(
                {
                    "filename": name,
                    "storage_bucket": "workflow-results",
                    "row_count": len(rows),
                    "block_number": number,
                    "created_at": _iso(self.clock()),
                    "content_type": "text/csv",
                    "download_url": None if inline else self._signed_url(f"workflow-results/{quote(name)}"),
                    "download_expires_in_seconds": SIGNED_URL_SECONDS,
                    "results": rows if inline else None,
                }
            )
        return self.json(200, files)

    @route("GET", "/workflows/runs")
    def runs_list(self, request: httpx.Request) -> httpx.Response:
        wanted = request.url.params.get("status")
        workflow_id = request.url.params.get("workflow_id")
        try:
            limit = int(request.url.params.get("limit", "100"))
        except ValueError:
            return self.missing("limit", "Input should be a valid integer")
        if not 1 <= limit <= 500:
            return self.missing("limit", "Input should be between 1 and 500")
        runs = [
            {
                "job_id": run["run_id"],
                "workflow_id": run["workflow_id"],
                "workflow_name": (self.store.get("workflow", run["workflow_id"]) or {}).get(
                    "name", "Untitled Workflow"
                ),
                "status": run["status"],
                "created_at": _iso(run["created"]),
                "blocks_count": self._blocks(run),
            }
            for run in self.store.list("run", newest_first=True)  # "sorted by most recent first"
            if (not workflow_id or run["workflow_id"] == workflow_id)
            and (
                not wanted or run["status"] == wanted or (wanted == "active" and run["status"] in ("queued", "running"))
            )
        ]
        return self.json(200, runs[:limit])

    @route("POST", "/workflows/cancel")
    def runs_cancel(self, request: httpx.Request) -> httpx.Response:
        run_id = request.url.params.get("job_id", "")
        run = self.store.get("run", run_id)
        if run is None:
            return self.error(404, f"Run {run_id or '(missing)'} not found")
        if run["status"] in ("queued", "running"):
            run["status"] = "cancelled"
            self.store.put("run", run_id, run)
        return self.json(200, {"job_id": run_id, "status": "canceled"})

    # -- test hooks ------------------------------------------------------------------------------

    def task(self, task_id: str) -> dict[str, Any] | None:
        with self.store.transaction():
            return self.store.get("task", task_id)

    def seed_workflow(self, workflow: dict[str, Any]) -> None:
        """Store a workflow as if made in Sixtyfour's UI."""
        with self.store.transaction():
            self.store.put("workflow", str(workflow["id"]), workflow)
