"""Fake Sixtyfour API (https://api.sixtyfour.ai), following vendor-docs/sixtyfour.md.

Synthetic and deterministic. Async tasks, deep searches and workflow runs advance one
state per status poll. A lead whose name starts with "Fail" fails (per lead in bulk
answers, the whole task for enrich-lead); "Nobody" is not found; a find-phone lead
whose name starts with "Many" gets the multi-number answer shape. Result files are
served from a separate signed-URL host that needs no API key.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass, field
from typing import Any

import httpx

from enrich_mcp.sandbox import SandboxApp, route

STORAGE_HOST = "storage.sandbox.example.com"
BULK_LIMIT = 100
_TIME = "2025-01-01T00:00:00+00:00"


def _slug(name: str) -> str:
    return ".".join(part for part in "".join(c if c.isalnum() else " " for c in name.lower()).split()) or "someone"


def _digits(text: str, count: int) -> str:
    return str(int(hashlib.sha256(text.encode()).hexdigest(), 16))[:count]


def _phone(name: str) -> str:
    # 555-01xx numbers are reserved for fiction.
    return f"+1 555-01{_digits(name, 2)}"


def _email_answer(lead: dict[str, Any], mode: str) -> dict[str, Any]:
    name = str(lead.get("name") or "")
    if not name or name.lower().startswith("nobody"):
        return {"email": [], **({"personal_email": ""} if mode == "PERSONAL" else {})}
    local = _slug(name)
    company = _slug(str(lead.get("company") or "example")).replace(".", "")
    answer: dict[str, Any] = {"email": [[f"{local}@{company}.example.com", "OK", "COMPANY"]]}
    if mode == "PERSONAL":
        answer["personal_email"] = f"{local}.{hashlib.sha256(local.encode()).hexdigest()[:4]}@personal.example.com"
    return answer


def _phone_answer(lead: dict[str, Any]) -> dict[str, Any]:
    """The three documented shapes: a string, a list of {number, region}, or "" when not found."""
    name = str(lead.get("name") or "")
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
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else ["name"])
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


@dataclass
class _Task:
    """An async job-status task: pending on the 1st poll, processing on the 2nd, then done."""

    result: Any
    error: str | None = None
    polls: int = 0


@dataclass
class _Search:
    query: str
    mode: str
    max_results: int
    polls: int = 0


@dataclass
class _Run:
    workflow_id: str
    payload: list[dict[str, Any]]
    polls: int = 0
    cancelled: bool = False

    @property
    def status(self) -> str:
        if self.cancelled:
            return "cancelled"
        return "queued" if self.polls <= 1 else "running" if self.polls == 2 else "completed"


@dataclass
class _State:
    tasks: dict[str, _Task] = field(default_factory=dict)
    searches: dict[str, _Search] = field(default_factory=dict)
    workflows: dict[str, dict[str, Any]] = field(default_factory=dict)
    runs: dict[str, _Run] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    counter: int = 0

    def next_id(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter:012d}"


class Sandbox(SandboxApp):
    vendor = "sixtyfour"
    auth_header = "x-api-key"

    def __init__(self) -> None:
        super().__init__()
        self.state = _State()

    def error(self, status: int, message: str, **extra: Any) -> httpx.Response:
        return self.json(status, {"detail": message, **extra})

    def is_public(self, request: httpx.Request) -> bool:
        return request.url.host == STORAGE_HOST

    def _signed_url(self, name: str, data: bytes) -> str:
        self.state.files[name] = data
        return f"https://{STORAGE_HOST}/signed/{name}?token=sig-{_digits(name, 8)}"

    @route("GET", "/signed/{name}")
    def storage_get(self, request: httpx.Request, name: str) -> httpx.Response:
        if request.url.host != STORAGE_HOST or name not in self.state.files:
            return self.error(404, "Not found")
        if not request.url.params.get("token"):
            return self.error(403, "Missing signature")
        return httpx.Response(200, content=self.state.files[name], headers={"content-type": "text/csv"})

    # -- people and companies ------------------------------------------------------------------

    @route("POST", "/find-email")
    def find_email(self, request: httpx.Request) -> httpx.Response:
        body = self.body(request)
        if not isinstance(body, dict) or not isinstance(body.get("lead"), dict):
            return self.error(400, "lead is required")
        mode = body.get("mode", "PROFESSIONAL")
        if mode not in ("PROFESSIONAL", "PERSONAL"):
            return self.error(400, f"mode must be PROFESSIONAL or PERSONAL, not {mode!r}")
        return self.json(200, _email_answer(body["lead"], mode))

    @route("POST", "/find-phone")
    def find_phone(self, request: httpx.Request) -> httpx.Response:
        body = self.body(request)
        if not isinstance(body, dict) or not isinstance(body.get("lead"), dict):
            return self.error(400, "lead is required")
        return self.json(200, _phone_answer(body["lead"]))

    def _bulk(self, request: httpx.Request, answer: Any) -> httpx.Response:
        body = self.body(request)
        leads = body.get("leads") if isinstance(body, dict) else None
        if not isinstance(leads, list) or not leads or not all(isinstance(lead, dict) for lead in leads):
            return self.error(400, "leads is required: a non-empty list of objects")
        if len(leads) > BULK_LIMIT:
            return self.error(400, f"At most {BULK_LIMIT} leads per request, got {len(leads)}")
        results = [
            {"lead": lead, "error": "Could not process this lead"}
            if str(lead.get("name") or "").startswith("Fail")
            else {"lead": lead, **answer(lead)}
            for lead in leads
        ]
        return self._start_task({"results": results})

    @route("POST", "/find-email-bulk-async")
    def find_email_bulk_async(self, request: httpx.Request) -> httpx.Response:
        body = self.body(request)
        mode = body.get("mode", "PROFESSIONAL") if isinstance(body, dict) else "PROFESSIONAL"
        if mode not in ("PROFESSIONAL", "PERSONAL"):
            return self.error(400, f"mode must be PROFESSIONAL or PERSONAL, not {mode!r}")
        return self._bulk(request, lambda lead: _email_answer(lead, mode))

    @route("POST", "/find-phone-bulk-async")
    def find_phone_bulk_async(self, request: httpx.Request) -> httpx.Response:
        return self._bulk(request, _phone_answer)

    def _start_task(self, result: Any, error: str | None = None) -> httpx.Response:
        task_id = self.state.next_id("task_")
        self.state.tasks[task_id] = _Task(result, error)
        return self.json(200, {"task_id": task_id, "status": "pending"})

    @route("POST", "/enrich-lead-async")
    def enrich_lead_async(self, request: httpx.Request) -> httpx.Response:
        body = self.body(request)
        if not isinstance(body, dict) or not isinstance(body.get("lead_info"), dict):
            return self.error(400, "lead_info is required")
        if not isinstance(body.get("struct"), dict) or not body["struct"]:
            return self.error(400, "struct is required")
        name = str(body["lead_info"].get("name") or body["lead_info"].get("linkedin") or "this lead")
        if name.startswith("Fail"):
            return self._start_task(None, f"Could not find enough public information about {name}")
        return self._start_task(
            {
                "notes": f"Synthetic research on {name}.",
                "structured_data": _fill(body["struct"], name),
                "references": {f"https://example.com/people/{_slug(name)}": "Synthetic profile page"},
                "confidence_score": 9.0,
            }
        )

    @route("POST", "/enrich-company-async")
    def enrich_company_async(self, request: httpx.Request) -> httpx.Response:
        body = self.body(request)
        if not isinstance(body, dict) or not isinstance(body.get("target_company"), dict):
            return self.error(400, "target_company is required")
        if not isinstance(body.get("struct"), dict) or not body["struct"]:
            return self.error(400, "struct is required")
        company = body["target_company"]
        name = str(company.get("company_name") or company.get("website") or "this company")
        data = _fill(body["struct"], name)
        if body.get("find_people"):
            lead_struct = body.get("lead_struct") or {"name": "Full name", "title": "Job title"}
            data["leads"] = [
                {**_fill(lead_struct, f"person {i} at {name}"), "score": score} for i, score in ((1, 9), (2, 7))
            ]
        return self._start_task(
            {
                "notes": f"Synthetic research on {name}.",
                "structured_data": data,
                "references": {f"https://example.com/companies/{_slug(name)}": "Synthetic company page"},
                "confidence_score": 8.5,
            }
        )

    @route("GET", "/job-status/{task_id}")
    def job_status(self, request: httpx.Request, task_id: str) -> httpx.Response:
        task = self.state.tasks.get(task_id)
        if task is None:
            return self.error(404, f"Task {task_id} not found")
        task.polls += 1
        if task.polls == 1:
            return self.json(200, {"task_id": task_id, "status": "pending"})
        if task.polls == 2:
            return self.json(200, {"task_id": task_id, "status": "processing"})
        if task.error:
            return self.json(200, {"task_id": task_id, "status": "failed", "error": task.error})
        return self.json(200, {"task_id": task_id, "status": "completed", "result": task.result})

    @route("POST", "/qa-agent")
    def qa_agent(self, request: httpx.Request) -> httpx.Response:
        body = self.body(request)
        if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
            return self.error(400, "data is required")
        criteria = body.get("qualification_criteria")
        if not isinstance(criteria, list) or not criteria:
            return self.error(400, "qualification_criteria is required")
        for c in criteria:
            if not isinstance(c, dict) or not c.get("criteria_name") or not c.get("description"):
                return self.error(400, "each criterion needs criteria_name and description")
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
        return self.json(200, answer)

    # -- deep search ---------------------------------------------------------------------------

    @route("POST", "/search/start-deep-search")
    def start_deep_search(self, request: httpx.Request) -> httpx.Response:
        body = self.body(request)
        if not isinstance(body, dict) or not isinstance(body.get("query"), str) or not body["query"].strip():
            return self.error(400, "query is required")
        mode = body.get("mode", "people")
        if mode not in ("people", "company"):
            return self.error(400, "mode must be people or company")
        max_results = body.get("max_results", 1000)
        if not isinstance(max_results, int) or max_results < 1:
            return self.error(400, "max_results must be a positive integer")
        task_id = self.state.next_id("search_")
        self.state.searches[task_id] = _Search(body["query"], mode, max_results)
        return self.json(200, {"task_id": task_id, "status": "queued", "message": "Deep search started"})

    def _search_rows(self, search: _Search) -> list[dict[str, Any]]:
        count = min(search.max_results, 3)
        if search.mode == "company":
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
        search = self.state.searches.get(task_id)
        if search is None:
            return self.error(404, f"Task {task_id} not found")
        search.polls += 1
        base = {"task_id": task_id, "start_time": _TIME}
        if search.query.startswith("Fail"):
            return self.json(200, {**base, "status": "failed", "error": "The search agent gave up"})
        if search.polls == 1:
            return self.json(200, {**base, "status": "queued"})
        if search.polls == 2:
            return self.json(200, {**base, "status": "running", "progress_message": "Searching"})
        rows = self._search_rows(search)
        return self.json(
            200,
            {
                **base,
                "status": "completed",
                "close_time": _TIME,
                "resource_handle_id": f"rh_{task_id}",
                "total_results": len(rows),
                "exported_count": len(rows),
            },
        )

    @route("GET", "/search/download")
    def search_download(self, request: httpx.Request) -> httpx.Response:
        handle = request.url.params.get("resource_handle_id", "")
        search = self.state.searches.get(handle.removeprefix("rh_"))
        if search is None or search.polls < 3:
            return self.error(404, f"Resource {handle or '(missing)'} not found")
        name = f"{handle}.csv"
        url = self._signed_url(name, _csv(self._search_rows(search)))
        return self.json(200, {"url": url, "bucket": "search-results", "path": name})

    # -- workflows (documented routes, and the snapshot's for the fallback) --------------------

    def _workflow_out(self, workflow: dict[str, Any], *, detail: bool = True) -> dict[str, Any]:
        return workflow if detail else {k: v for k, v in workflow.items() if k != "workflow_definition"}

    def _valid_definition(self, definition: Any) -> bool:
        return (
            isinstance(definition, dict)
            and isinstance(definition.get("blocks"), list)
            and isinstance(definition.get("edges"), list)
        )

    @route("GET", "/workflows")
    def wf_list(self, request: httpx.Request) -> httpx.Response:
        return self.json(200, [self._workflow_out(w, detail=False) for w in self.state.workflows.values()])

    def _create(self, body: Any, *, description_required: bool) -> httpx.Response:
        if not isinstance(body, dict) or not isinstance(body.get("workflow_name"), str) or not body["workflow_name"]:
            return self.error(400, "workflow_name is required")
        if not self._valid_definition(body.get("workflow_definition")):
            return self.error(400, "workflow_definition is required: {blocks: [...], edges: [...]}")
        if description_required and not isinstance(body.get("workflow_description"), str):
            return self.error(400, "workflow_description is required")
        workflow_id = self.state.next_id("00000000-0000-4000-8000-")
        self.state.workflows[workflow_id] = {
            "id": workflow_id,
            "org_id": "org_sandbox",
            "name": body["workflow_name"],
            "description": body.get("workflow_description"),
            "status": "ready",
            "step": "complete",
            "created_at": _TIME,
            "updated_at": _TIME,
            "last_run_date": None,
            "workflow_definition": body["workflow_definition"],
        }
        return self.json(200, self.state.workflows[workflow_id])

    @route("POST", "/workflows")
    def wf_create(self, request: httpx.Request) -> httpx.Response:
        return self._create(self.body(request), description_required=False)

    @route("POST", "/workflows/create_workflow")
    def wf_create_snapshot(self, request: httpx.Request) -> httpx.Response:
        return self._create(self.body(request), description_required=True)

    def _update(self, workflow_id: str, body: Any) -> httpx.Response:
        workflow = self.state.workflows.get(workflow_id)
        if workflow is None:
            return self.error(404, f"Workflow {workflow_id} not found")
        if not isinstance(body, dict):
            return self.error(400, "body must be an object")
        if "workflow_definition" in body and not self._valid_definition(body["workflow_definition"]):
            return self.error(400, "workflow_definition must be {blocks: [...], edges: [...]}")
        renames = {"workflow_name": "name", "workflow_description": "description"}
        for key, value in body.items():
            if value is not None and key in (*renames, "workflow_definition"):
                workflow[renames[key] if key in renames else str(key)] = value
        workflow["updated_at"] = "2025-01-02T00:00:00+00:00"
        return self.json(200, workflow)

    @route("PATCH", "/workflows/{workflow_id}")
    def wf_update(self, request: httpx.Request, workflow_id: str) -> httpx.Response:
        return self._update(workflow_id, self.body(request))

    @route("POST", "/workflows/update_workflow")
    def wf_update_snapshot(self, request: httpx.Request) -> httpx.Response:
        return self._update(request.url.params.get("workflow_id", ""), self.body(request))

    @route("DELETE", "/workflows/{workflow_id}")
    def wf_delete(self, request: httpx.Request, workflow_id: str) -> httpx.Response:
        if self.state.workflows.pop(workflow_id, None) is None:
            return self.error(404, f"Workflow {workflow_id} not found")
        return httpx.Response(204)

    @route("POST", "/workflows/delete_workflow")
    def wf_delete_snapshot(self, request: httpx.Request) -> httpx.Response:
        workflow = self.state.workflows.pop(request.url.params.get("workflow_id", ""), None)
        if workflow is None:
            return self.error(404, "Workflow not found")
        return self.json(200, workflow)

    # Routes match in name order: runs_list ("/workflows/runs") is tried before wf_get.
    @route("GET", "/workflows/{workflow_id}")
    def wf_get(self, request: httpx.Request, workflow_id: str) -> httpx.Response:
        workflow = self.state.workflows.get(workflow_id)
        if workflow is None:
            return self.error(404, f"Workflow {workflow_id} not found")
        return self.json(200, workflow)

    @route("POST", "/workflows/run")
    def runs_start(self, request: httpx.Request) -> httpx.Response:
        workflow_id = request.url.params.get("workflow_id", "")
        workflow = self.state.workflows.get(workflow_id)
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
            return self.error(400, "webhook_payload must be a list of objects")
        run_id = self.state.next_id("11111111-0000-4000-8000-")
        self.state.runs[run_id] = _Run(workflow_id, payload)
        workflow["last_run_date"] = _TIME
        return self.json(200, {"status": "queued", "workflow_id": workflow_id, "job_id": run_id})

    @route("GET", "/workflows/runs/{run_id}/live_status")
    def runs_live_status(self, request: httpx.Request, run_id: str) -> httpx.Response:
        run = self.state.runs.get(run_id)
        if run is None:
            return self.error(404, f"Run {run_id} not found")
        if not run.cancelled:
            run.polls += 1
        status = run.status
        total = len(self.state.workflows.get(run.workflow_id, {}).get("workflow_definition", {}).get("blocks", [])) or 1
        done = {"queued": 0, "running": total // 2, "completed": total}.get(status, 0)
        return self.json(
            200,
            {
                "run_id": run_id,
                "workflow_id": run.workflow_id,
                "overall_status": status,
                "current_block": None if status in ("completed", "cancelled") else "enrich_lead",
                "total_blocks": total,
                "completed_blocks": done,
                "last_updated": _TIME,
                "blocks": [],
                "overall_progress_percentage": round(100.0 * done / total, 1),
            },
        )

    @route("GET", "/workflows/runs/{run_id}/results/download-links")
    def runs_download_links(self, request: httpx.Request, run_id: str) -> httpx.Response:
        run = self.state.runs.get(run_id)
        if run is None:
            return self.error(404, f"Run {run_id} not found")
        if run.status != "completed":
            return self.json(200, [])
        output = [
            {**row, "email": f"{_slug(str(row.get('name') or row.get('company_name') or 'row'))}@example.com"}
            for row in run.payload
        ]
        files = []
        for number, rows in ((1, run.payload), (2, output)):
            name = f"{run_id}-block{number}.csv"
            files.append(
                {
                    "filename": name,
                    "storage_bucket": "workflow-results",
                    "row_count": len(rows),
                    "block_number": number,
                    "created_at": _TIME,
                    "content_type": "text/csv",
                    "download_url": self._signed_url(name, _csv(rows)),
                    "download_expires_in_seconds": 900,
                    "results": None,
                }
            )
        return self.json(200, files)

    def _run_out(self, run_id: str, run: _Run) -> dict[str, Any]:
        return {
            "job_id": run_id,
            "workflow_id": run.workflow_id,
            "workflow_name": self.state.workflows.get(run.workflow_id, {}).get("name", "Untitled Workflow"),
            "status": run.status,
            "created_at": _TIME,
        }

    @route("GET", "/workflows/runs")
    def runs_list(self, request: httpx.Request) -> httpx.Response:
        wanted = request.url.params.get("status")
        workflow_id = request.url.params.get("workflow_id")
        limit = int(request.url.params.get("limit", "100"))
        runs = [
            self._run_out(run_id, run)
            for run_id, run in reversed(self.state.runs.items())
            if (not workflow_id or run.workflow_id == workflow_id)
            and (not wanted or run.status == wanted or (wanted == "active" and run.status in ("queued", "running")))
        ]
        return self.json(200, runs[:limit])

    @route("POST", "/workflows/cancel")
    def runs_cancel(self, request: httpx.Request) -> httpx.Response:
        run_id = request.url.params.get("job_id", "")
        run = self.state.runs.get(run_id)
        if run is None:
            return self.error(404, f"Run {run_id or '(missing)'} not found")
        run.cancelled = True
        return self.json(200, {"job_id": run_id, "status": "canceled"})
