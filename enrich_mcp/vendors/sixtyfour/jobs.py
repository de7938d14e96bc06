"""Sixtyfour's long work as job handlers: research tasks, bulk finders, deep search, workflow runs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from enrich_mcp.budget import Budget
from enrich_mcp.cache import ResultCache
from enrich_mcp.errors import VendorError, VendorNotFound, VendorProtocolError, VendorResponseLost
from enrich_mcp.jobs import Job, JobControl, JobStatus, PollOutcome, StatusWords, StepOutcomeUnknown
from enrich_mcp.vendors.sixtyfour.client import BULK_LIMIT, VENDOR, SixtyfourClient
from enrich_mcp.vendors.sixtyfour.models import parse_emails, parse_phones

ENRICH_LEAD = "sixtyfour.enrich_lead"
ENRICH_COMPANY = "sixtyfour.enrich_company"
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


def _vendor_id(job: Job, step: str) -> str:
    """The vendor id a submit step recorded (survives restarts, unlike in-memory state)."""
    return job.vendor_job_id or str(job.state["steps"][step]["id"])


@dataclass
class ResearchHandler:
    """enrich-lead-async / enrich-company-async: one task, polled on /job-status, answer cached."""

    kind: str
    operation: str
    start: Callable[[dict[str, Any]], Awaitable[str]]
    client: SixtyfourClient
    cache: ResultCache
    account: str
    vendor: str = VENDOR
    poll_interval: float = 10.0

    async def submit(self, job: Job, ctl: JobControl) -> PollOutcome | None:
        job.vendor_job_id = await ctl.step("submit", lambda: self.start(job.request))
        return None

    async def poll(self, job: Job, ctl: JobControl) -> PollOutcome:
        body = await self.client.job_status(_vendor_id(job, "submit"))
        word = str(body.get("status"))
        status = normalise(word, "job-status")
        if status == "completed":
            result = body.get("result")
            if not isinstance(result, dict):
                raise VendorProtocolError(VENDOR, "job-status said completed without a result object")
            await self.cache.set(VENDOR, self.operation, job.request, self.account, result)
            return PollOutcome(status="completed", vendor_status=word, rows=[result])
        if status == "failed":
            reason = body.get("error") or body.get("message") or "no reason given"
            return PollOutcome(status="failed", vendor_status=word, error=f"Sixtyfour could not finish: {reason}")
        return PollOutcome(status=status, vendor_status=word, message=f"Sixtyfour says {word}")

    async def cancel(self, job: Job, ctl: JobControl) -> bool:
        return False  # Sixtyfour has no cancel for async tasks


Channel = Literal["email", "phone"]
_CHARGED = ("found", "not_found")


@dataclass
class BulkHandler:
    """Any number of leads as chunks of <=100 to a bulk-async endpoint; per-lead rows, partial failures kept."""

    kind: str
    channel: Channel
    client: SixtyfourClient
    budget: Budget
    vendor: str = VENDOR
    poll_interval: float = 10.0

    def operation(self, job: Job) -> str:
        return f"find_email.{job.request['mode']}" if self.channel == "email" else "find_phone"

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

    def _answered_rows(self, job: Job, chunk: dict[str, Any], items: list[Any]) -> list[dict[str, Any]]:
        leads = job.request["leads"]
        rows = []
        for i in range(chunk["size"]):
            index = chunk["start"] + i
            item = items[i] if i < len(items) else None
            if not isinstance(item, dict):
                rows.append(self._row(index, leads[index], "failed", error="missing from Sixtyfour's answer"))
            elif item.get("error"):
                rows.append(self._row(index, leads[index], "failed", error=str(item["error"])))
            else:
                row = self._row(index, leads[index], "not_found", item)
                if row.get("emails") or row.get("personal_email") or row.get("phones"):
                    row["status"] = "found"
                rows.append(row)
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
        price = self.budget.unit_price(VENDOR, self.operation(job)) or 0.0
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
                chunk["status"] = "done"
                rows += self._answered_rows(job, chunk, _result_items(body.get("result")))
            elif status == "failed":
                error = f"Sixtyfour failed this chunk: {body.get('error') or 'no reason given'}"
                chunk.update(status="failed", error=error)
                rows += self._failed_rows(job, chunk, "failed", error)
        return self._outcome(job, rows, "processing" if "processing" in words else (words[-1] if words else None))

    async def cancel(self, job: Job, ctl: JobControl) -> bool:
        return False  # Sixtyfour has no cancel for bulk tasks


def _result_items(result: Any) -> list[Any]:
    """A bulk task's per-lead answers, in input order: a list, or a list under results/leads/data."""
    if isinstance(result, list):
        return result
    if isinstance(result, dict):
        for key in ("results", "leads", "data"):
            if isinstance(result.get(key), list):
                return result[key]
    raise VendorProtocolError(VENDOR, "a completed bulk task had no list of per-lead results")


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
                status="failed", vendor_status=word, error=f"The deep search failed: {body.get('error') or 'no reason'}"
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
