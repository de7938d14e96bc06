"""Sixtyfour's long work as job handlers: research tasks, bulk finders, deep search, workflow runs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from enrich_mcp.budget import Budget
from enrich_mcp.cache import ResultCache
from enrich_mcp.errors import VendorError, VendorNotFound, VendorProtocolError, VendorResponseLost
from enrich_mcp.jobs import Job, JobControl, JobStatus, PollOutcome, StatusWords, StepOutcomeUnknown
from enrich_mcp.vendors.sixtyfour.client import BULK_LIMIT, VENDOR, SixtyfourClient
from enrich_mcp.vendors.sixtyfour.models import parse_emails, parse_phones

# A job is stored with its kind and resumed by it: never rename one. Most kinds are "sixtyfour.<operation>",
# which start_job derives from the price key; the bulk kinds each serve more than one price, and qualify_lead's
# kind predates its price key ("qa_agent").
QUALIFY_LEAD = "sixtyfour.qualify_lead"
FIND_EMAILS_BULK = "sixtyfour.find_emails_bulk"
FIND_PHONES_BULK = "sixtyfour.find_phones_bulk"
DEEP_SEARCH = "sixtyfour.deep_search"
WORKFLOW_RUN = "sixtyfour.workflow_run"

STATUS = StatusWords(
    VENDOR,
    {
        "pending": "queued",
        "queued": "queued",
        "processing": "running",
        "running": "running",
        "completed": "completed",
        "failed": "failed",
        "cancelled": "cancelled",
        "canceled": "cancelled",
    },
)


def normalise(word: Any, what: str) -> JobStatus:
    """Sixtyfour's status word as ours; an undocumented word is a protocol error, which ends the job after a few."""
    return STATUS(word, what)


def failure_reason(body: dict[str, Any]) -> str:
    """Why a task failed: the document names no key, so look where APIs put it."""
    for source in (body, body.get("result")):
        if isinstance(source, dict):
            for key in ("error", "message", "detail", "reason", "error_message"):
                value = source.get(key)
                if isinstance(value, str) and value.strip():
                    return value.strip()
                if isinstance(value, dict) and isinstance(value.get("message"), str):
                    return value["message"]
    return "no reason given"


def _vendor_id(job: Job, step: str) -> str:
    """The vendor id a submit step recorded (survives restarts, unlike in-memory state)."""
    return job.vendor_job_id or str(job.state["steps"][step]["id"])


@dataclass
class ResearchHandler:
    """enrich-lead-async / enrich-company-async / qa-agent-async: one task, polled on /job-status."""

    operation: str
    """The price key and the cache entry the answer is kept under."""
    start: Callable[[dict[str, Any]], Awaitable[str]]
    client: SixtyfourClient
    cache: ResultCache | None
    """Where answers are kept for the next identical request; ``None`` for answers that must be fresh."""
    account: str
    kind: str = ""
    """``sixtyfour.<operation>`` unless given (qualify_lead's stored kind predates its price key)."""
    vendor: str = VENDOR
    poll_interval: float = 10.0

    def __post_init__(self) -> None:
        self.kind = self.kind or f"{self.vendor}.{self.operation}"

    async def submit(self, job: Job, ctl: JobControl) -> PollOutcome | None:
        job.vendor_job_id = await ctl.step("submit", lambda: self.start(job.request))
        return None

    async def poll(self, job: Job, ctl: JobControl) -> PollOutcome:
        body = await self.client.job_status(_vendor_id(job, "submit"))
        word = str(body.get("status"))
        status = normalise(word, "job-status")
        if status == "completed":
            result = body.get("result")
            if result is None and "structured_data" in body:  # the result's fields beside the status
                result = {k: v for k, v in body.items() if k not in ("task_id", "status")}
            if not isinstance(result, dict):
                raise VendorProtocolError(VENDOR, "job-status said completed without a result object")
            if self.cache is not None:
                await self.cache.set(VENDOR, self.operation, job.request, self.account, result)
            return PollOutcome(status="completed", vendor_status=word, rows=[result], part="result")
        if status == "failed":
            reason = failure_reason(body)
            return PollOutcome(status="failed", vendor_status=word, error=f"Sixtyfour could not finish: {reason}")
        return PollOutcome(status=status, vendor_status=word, message=f"Sixtyfour says {word}")

    async def cancel(self, job: Job, ctl: JobControl) -> bool:
        return False  # Sixtyfour has no cancel for async tasks


Channel = Literal["email", "phone"]
# "unparsed": Sixtyfour finished the chunk (and so, presumably, billed it) but its answer for the lead
# could not be read; counted as spent, the safe side of a budget.
_CHARGED = ("found", "not_found", "unparsed")
UNPARSED = (
    "Sixtyfour answered, but in a shape enrich-mcp could not match to this lead; "
    "the answer is kept as a raw row of this job (status raw)."
)


@dataclass
class BulkHandler:
    """Any number of leads as chunks of <=100 to a bulk-async endpoint; per-lead rows, partial failures kept."""

    kind: str
    channel: Channel
    client: SixtyfourClient
    budget: Budget
    vendor: str = VENDOR
    poll_interval: float = 10.0

    def operation(self, request: Mapping[str, Any]) -> str:
        """The price key of a job's leads: the single finder's, so bulk and single cost the same."""
        return f"find_email.{request['mode']}" if self.channel == "email" else "find_phone"

    async def _send(self, job: Job, leads: list[dict[str, Any]]) -> str:
        if self.channel == "email":
            return await self.client.find_email_bulk_async(leads, job.request["mode"])
        return await self.client.find_phone_bulk_async(leads)

    def _row(
        self,
        index: int,
        lead: dict[str, Any],
        status: str,
        item: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> dict[str, Any]:
        row: dict[str, Any] = {"index": index, "lead": lead, "status": status}
        if self.channel == "email":
            row["emails"] = [e.model_dump() for e in parse_emails(item or {})]
            row["personal_email"] = (item or {}).get("personal_email") or None
        else:
            row["phones"] = [p.model_dump() for p in parse_phones(item or {})]
        row["error"] = error
        return row

    def _failed_rows(self, job: Job, chunk: dict[str, Any], status: str, error: str) -> list[dict[str, Any]]:
        leads = job.request["leads"]
        start = chunk["start"]
        return [self._row(start + i, leads[start + i], status, error=error) for i in range(chunk["size"])]

    def _answered_rows(self, job: Job, chunk: dict[str, Any], result: Any) -> list[dict[str, Any]]:
        """One row per lead of the chunk, then a ``raw`` row for each part of the answer no lead claimed."""
        leads = job.request["leads"]
        part = leads[chunk["start"] : chunk["start"] + chunk["size"]]
        answers, unclaimed = bulk_answers(result, part)
        rows = []
        for i, answer in enumerate(answers):
            index = chunk["start"] + i
            if answer is None:
                rows.append(self._row(index, leads[index], "unparsed", error=UNPARSED))
            elif answer.get("error"):
                rows.append(self._row(index, leads[index], "failed", error=str(answer["error"])))
            else:
                row = self._row(index, leads[index], "not_found", answer)
                if row.get("emails") or row.get("personal_email") or row.get("phones"):
                    row["status"] = "found"
                rows.append(row)
        rows += [{"index": None, "lead": None, "status": "raw", "chunk": chunk["start"], "raw": r} for r in unclaimed]
        return rows

    def _outcome(self, job: Job, rows: list[dict[str, Any]], vendor_status: str | None) -> PollOutcome:
        counts: dict[str, int] = job.state.setdefault("counts", {})
        for row in rows:
            counts[row["status"]] = counts.get(row["status"], 0) + 1
        chunks = job.state["chunks"]
        open_chunks = [c for c in chunks if c["status"] == "submitted"]
        finished = len(job.request["leads"]) - sum(c["size"] for c in open_chunks)
        summary = {"chunks": len(chunks), "chunks_open": len(open_chunks), **counts}
        if open_chunks:
            return PollOutcome(
                status="running" if finished or vendor_status == "processing" else "queued",
                vendor_status=vendor_status,
                progress=finished,
                total=len(job.request["leads"]),
                rows=rows,
                summary=summary,
                message=f"{finished} of {len(job.request['leads'])} leads answered",
            )
        charged = sum(counts.get(s, 0) for s in _CHARGED)
        price = self.budget.unit_price(VENDOR, self.operation(job.request)) or 0.0
        if charged == 0 and any(c["status"] == "unknown" for c in chunks):
            return PollOutcome(status="unknown", rows=rows, summary=summary, error=chunks[0].get("error"))
        if charged == 0:
            errors = [c["error"] for c in chunks if c.get("error")]
            return PollOutcome(
                status="failed", rows=rows, summary=summary, error=errors[0] if errors else "No lead was answered."
            )
        # Leads of a chunk whose fate is unknown may have been billed: they count, never as free.
        maybe_billed = charged + counts.get("unknown", 0)
        return PollOutcome(
            status="completed",
            vendor_status=vendor_status,
            progress=finished,
            rows=rows,
            summary=summary,
            actual_cost_usd=round(price * maybe_billed, 6),
        )

    async def submit(self, job: Job, ctl: JobControl) -> PollOutcome | None:
        leads: list[dict[str, Any]] = job.request["leads"]
        chunks: list[dict[str, Any]] = []
        job.state["chunks"] = chunks
        job.state["counts"] = {}
        rows: list[dict[str, Any]] = []
        for number, start in enumerate(range(0, len(leads), BULK_LIMIT)):
            part = leads[start : start + BULK_LIMIT]
            chunk: dict[str, Any] = {"start": start, "size": len(part), "status": "submitted"}
            name = f"chunk-{number}"
            if ctl.step_status(name) == "failed":
                chunk.update(status="failed", error=job.state["steps"][name].get("error"))
            else:
                try:
                    chunk["task_id"] = await ctl.step(name, lambda part=part: self._send(job, part))
                except (VendorResponseLost, StepOutcomeUnknown) as exc:
                    chunk.update(status="unknown", error=str(exc))
                except VendorError as exc:
                    chunk.update(status="failed", error=str(exc))
            if chunk["status"] != "submitted":
                rows += self._failed_rows(job, chunk, chunk["status"], chunk["error"])
            chunks.append(chunk)
        return self._outcome(job, rows, "pending")

    async def poll(self, job: Job, ctl: JobControl) -> PollOutcome:
        rows: list[dict[str, Any]] = []
        words: list[str] = []
        for chunk in job.state["chunks"]:
            if chunk["status"] != "submitted":
                continue
            try:
                body = await self.client.job_status(chunk["task_id"])
            except VendorNotFound as exc:
                chunk.update(status="failed", error=str(exc))
                rows += self._failed_rows(job, chunk, "failed", str(exc))
                continue
            word = str(body.get("status"))
            status = normalise(word, "job-status")
            words.append(word)
            if status == "completed":
                # Rows first: the chunk is marked done in the same stored update that appends them.
                rows += self._answered_rows(job, chunk, body.get("result"))
                chunk["status"] = "done"
            elif status == "failed":
                error = f"Sixtyfour failed this chunk: {failure_reason(body)}"
                chunk.update(status="failed", error=error)
                rows += self._failed_rows(job, chunk, "failed", error)
        return self._outcome(job, rows, "processing" if "processing" in words else (words[-1] if words else None))

    async def cancel(self, job: Job, ctl: JobControl) -> bool:
        return False  # Sixtyfour has no cancel for bulk tasks


# Keys a per-lead answer may carry (the document's ``email`` / ``personal_email`` / ``phone``, and an error).
_ANSWER_KEYS = frozenset({"email", "personal_email", "phone", "error", "emails", "phones"})
_ECHO_KEYS = ("lead", "input", "lead_info", "request")
_NESTED_KEYS = ("output", "result", "answer", "response", "data")
_LIST_KEYS = ("results", "leads", "data", "items", "output", "outputs", "answers", "rows")


def _items(result: Any) -> list[Any] | None:
    """The list of per-lead parts of a bulk ``result``, wherever the (undocumented) shape put it."""
    if isinstance(result, list):
        return result
    if not isinstance(result, dict):
        return None
    for key in _LIST_KEYS:
        value = result.get(key)
        if isinstance(value, list):
            return value
        if isinstance(value, dict) and (inner := _items(value)) is not None:
            return inner
    if result and all(str(k).isdigit() for k in result):  # {"0": {...}, "1": {...}}
        return [result[k] for k in sorted(result, key=lambda k: int(str(k)))]
    lists = [v for v in result.values() if isinstance(v, list) and v and all(isinstance(i, dict) for i in v)]
    return lists[0] if len(lists) == 1 else None


def _split(item: Any) -> tuple[dict[str, Any] | None, dict[str, Any] | None, bool]:
    """``(answer, echoed lead, echo is explicit)`` of one part: ``{lead, ...answer}``, ``{input, output}``,
    or the lead merged with its answer (then the echo is the part itself)."""
    if not isinstance(item, dict):
        return None, None, False
    echo = next((item[k] for k in _ECHO_KEYS if isinstance(item.get(k), dict)), None)
    nested = next((item[k] for k in _NESTED_KEYS if isinstance(item.get(k), dict)), None)
    if nested is not None and _ANSWER_KEYS & nested.keys():
        return {**nested, **({"error": item["error"]} if item.get("error") else {})}, echo, echo is not None
    answer = {k: v for k, v in item.items() if k not in _ECHO_KEYS}
    if not _ANSWER_KEYS & answer.keys():
        return None, echo, echo is not None
    if echo is not None:
        return answer, echo, True
    return answer, item, False


def _echoes(echo: dict[str, Any] | None, explicit: bool, lead: dict[str, Any]) -> bool:
    """Whether ``echo`` repeats ``lead``; a merged part's answer keys (``email``…) may overwrite the lead's."""
    if echo is None:
        return False
    fields = lead if explicit else {k: v for k, v in lead.items() if k not in _ANSWER_KEYS}
    return bool(fields) and all(echo.get(k) == v for k, v in fields.items())


def bulk_answers(result: Any, leads: list[dict[str, Any]]) -> tuple[list[dict[str, Any] | None], list[Any]]:
    """Each lead's answer in a bulk task's ``result`` (``None`` where none could be read), and the unclaimed parts.

    The document gives no shape. Parts that echo their lead are matched by it, in any order;
    otherwise a list as long as the input is read in input order. Nothing is dropped: what no
    lead claims comes back to be kept as raw rows.
    """
    items = _items(result)
    if items is None:
        return [None] * len(leads), [result]
    answers: list[dict[str, Any] | None] = [None] * len(leads)
    split = [_split(item) for item in items]
    unclaimed: list[Any] = []
    matched_any = False
    for item, (answer, echo, explicit) in zip(items, split, strict=True):
        index = next(
            (
                i
                for i, lead in enumerate(leads)
                if answers[i] is None and answer is not None and _echoes(echo, explicit, lead)
            ),
            None,
        )
        if index is None:
            unclaimed.append(item)
        else:
            answers[index] = answer
            matched_any = True
    if not matched_any and len(items) == len(leads):
        answers = [answer for answer, _, _ in split]  # no echo: read in input order
        unclaimed = [item for item, (answer, _, _) in zip(items, split, strict=True) if answer is None]
    return answers, unclaimed


@dataclass
class DeepSearchHandler:
    """start-deep-search -> deep-search-status -> download (signed URL) -> CSV rows."""

    client: SixtyfourClient
    budget: Budget
    kind: str = DEEP_SEARCH
    vendor: str = VENDOR
    poll_interval: float = 12.0  # the document advises 10-15 s

    async def submit(self, job: Job, ctl: JobControl) -> PollOutcome | None:
        request = job.request
        job.vendor_job_id = await ctl.step(
            "start", lambda: self.client.start_deep_search(request["query"], request["mode"], request["max_results"])
        )
        return None

    async def poll(self, job: Job, ctl: JobControl) -> PollOutcome:
        body = await self.client.deep_search_status(_vendor_id(job, "start"))
        word = str(body.get("status"))
        status = normalise(word, "deep-search-status")
        summary = {k: body[k] for k in ("total_results", "exported_count") if body.get(k) is not None}
        if status == "completed":
            handle = body.get("resource_handle_id")
            if not isinstance(handle, str) or not handle:
                raise VendorProtocolError(VENDOR, "a completed deep search had no resource_handle_id")
            rows = await self.client.download_csv(await self.client.search_download_url(handle))
            price = self.budget.unit_price(VENDOR, "deep_search") or 0.0
            return PollOutcome(
                status="completed",
                vendor_status=word,
                rows=rows,
                summary=summary,
                actual_cost_usd=round(price * len(rows), 6),
            )
        if status == "failed":
            return PollOutcome(
                status="failed", vendor_status=word, error=f"The deep search failed: {failure_reason(body)}"
            )
        return PollOutcome(status=status, vendor_status=word, summary=summary, message=body.get("progress_message"))

    async def cancel(self, job: Job, ctl: JobControl) -> bool:
        return False  # the document has no cancel for deep search


@dataclass
class WorkflowRunHandler:
    """workflows/run -> live_status -> results/download-links (signed CSVs) -> rows of the final block."""

    client: SixtyfourClient
    kind: str = WORKFLOW_RUN
    vendor: str = VENDOR
    poll_interval: float = 7.5  # the document advises 5-10 s

    async def submit(self, job: Job, ctl: JobControl) -> PollOutcome | None:
        request = job.request
        # The key is stable across restarts, so a run whose answer was lost is resent safely.
        key = f"enrich-mcp-{job.id}-run"
        job.vendor_job_id = await ctl.step(
            "run",
            lambda: self.client.run_workflow(request["workflow_id"], request["webhook_payload"], idempotency_key=key),
            resend_safe=True,
        )
        return None

    async def poll(self, job: Job, ctl: JobControl) -> PollOutcome:
        run_id = _vendor_id(job, "run")
        live = await self.client.run_live_status(run_id)
        word = str(live.get("overall_status"))
        status = normalise(word, "live_status")
        progress = float(live.get("overall_progress_percentage") or 0.0)
        summary = {
            "run_id": run_id,
            "completed_blocks": live.get("completed_blocks"),
            "total_blocks": live.get("total_blocks"),
        }
        if status == "completed":
            rows, files = await self._results(run_id)
            return PollOutcome(
                status="completed", vendor_status=word, progress=100.0, rows=rows, summary={**summary, "files": files}
            )
        if status == "failed":
            errors = [b.get("error_message") for b in live.get("blocks") or [] if isinstance(b, dict)]
            reason = next((e for e in errors if e), "no reason given")
            return PollOutcome(status="failed", vendor_status=word, summary=summary, error=f"The run failed: {reason}")
        return PollOutcome(
            status=status,
            vendor_status=word,
            progress=progress,
            total=100.0,
            summary=summary,
            message=f"{word}: block {live.get('current_block') or '-'}, {progress:.0f}%",
        )

    async def _results(self, run_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Rows of the last block's file(s); earlier blocks' files are listed in the summary only."""
        items = await self.client.run_download_links(run_id)
        numbers = [i["block_number"] for i in items if isinstance(i.get("block_number"), int)]
        last = max(numbers) if numbers else None
        rows: list[dict[str, Any]] = []
        for item in items:
            if last is not None and item.get("block_number") != last:
                continue
            if item.get("download_url"):
                rows += await self.client.download_csv(str(item["download_url"]))
            elif isinstance(item.get("results"), list):
                rows += [r for r in item["results"] if isinstance(r, dict)]
            else:
                raise VendorProtocolError(VENDOR, f"result file {item.get('filename')!r} has no download URL")
        files = [{k: i.get(k) for k in ("filename", "block_number", "row_count")} for i in items]
        return rows, files

    async def cancel(self, job: Job, ctl: JobControl) -> bool:
        run_id = job.vendor_job_id or job.state.get("steps", {}).get("run", {}).get("id")
        if not run_id:
            return False  # the run was never started at Sixtyfour
        await self.client.cancel_run(str(run_id))
        return True
