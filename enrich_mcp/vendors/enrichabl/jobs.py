"""Enrichabl jobs: paging a pipeline's leads, and enrichment / validation runs read back from the pipeline."""

from __future__ import annotations

from contextlib import aclosing
from typing import Any

from enrich_mcp.jobs import Job, JobControl, PollOutcome, StatusWords
from enrich_mcp.vendors.enrichabl.client import MAX_PAGE, VENDOR, EnrichablClient
from enrich_mcp.vendors.enrichabl.models import flatten_row, select

STATUS = StatusWords(
    VENDOR,
    {
        "PENDING": "queued",
        "IN_PROGRESS": "running",
        "COMPLETED": "completed",
        "FAILED": "failed",
        "CANCELLED": "cancelled",
    },
)
COUNTERS = (
    "progress_percentage",
    "processed_leads",
    "total_leads",
    "failed_leads",
    "valid_leads",
    "invalid_leads",
    "risky_leads",
)
MAX_ERRORS_SHOWN = 50


class ListLeadsHandler:
    """``enrichabl_list_leads`` with ``all``: one page per poll until ``pagination.has_more`` is false."""

    kind = "enrichabl.list_leads"
    vendor = VENDOR
    poll_interval = 1.0  # only after a failed poll; pages follow each other at once (next_poll_in=0)

    def __init__(self, client: EnrichablClient) -> None:
        self.client = client

    async def submit(self, job: Job, ctl: JobControl) -> PollOutcome:
        job.state["offset"] = int(job.request.get("offset", 0))
        return PollOutcome(status="running", message="Reading the pipeline's leads", next_poll_in=0.0)

    async def poll(self, job: Job, ctl: JobControl) -> PollOutcome:
        request = job.request
        offset = int(job.state.get("offset", 0))
        page = await self.client.list_leads(request["pipeline_id"], int(request["limit"]), offset)
        data = [r for r in page["data"] if isinstance(r, dict)]
        rows = [select(flatten_row(r), request.get("fields")) for r in data]
        offset += len(data)
        job.state["offset"] = offset
        pagination = page.get("pagination") or {}
        total = pagination.get("total")
        if pagination.get("has_more") and data:
            return PollOutcome(
                status="running",
                progress=float(offset),
                total=float(total) if total is not None else None,
                message=f"Read {offset} lead(s)" + (f" of {total}" if total is not None else ""),
                rows=rows,
                next_poll_in=0.0,
            )
        return PollOutcome(status="completed", progress=float(offset), total=float(offset), rows=rows)

    async def cancel(self, job: Job, ctl: JobControl) -> bool:
        return False  # nothing runs at the vendor; stopping here stops the paging


class RunHandler:
    """An enrichment or validation run: start once, poll progress, then read the leads back.

    ``job.request`` holds ``body`` (sent as is), ``target`` (pipeline_id / limit /
    lead_ids, for the read-back) and, for enrichment, ``value_keys``: the
    lead_custom_fields keys the run writes (``None`` when the template could not
    be identified: each row then carries the whole lead_custom_fields).
    """

    vendor = VENDOR
    poll_interval = 5.0  # the cookbook polls every 5 s

    def __init__(self, client: EnrichablClient, run: str) -> None:
        self.client = client
        self.run = run  # "enrichment" | "validation"
        self.kind = f"enrichabl.{run}"

    async def submit(self, job: Job, ctl: JobControl) -> PollOutcome:
        job.vendor_job_id = await ctl.step("start", lambda: self.client.start(self.run, job.request["body"]))
        return PollOutcome(
            status="queued", vendor_status="PENDING", message=f"Enrichabl started job {job.vendor_job_id}"
        )

    async def poll(self, job: Job, ctl: JobControl) -> PollOutcome:
        assert job.vendor_job_id is not None, "polled before the submit recorded the vendor's job id"
        progress = await self.client.progress(self.run, job.vendor_job_id)
        word = str(progress.get("status"))
        summary: dict[str, Any] = {k: progress[k] for k in COUNTERS if progress.get(k) is not None}
        errors = _lead_errors(progress)
        if errors:
            summary["lead_errors"] = dict(list(errors.items())[:MAX_ERRORS_SHOWN])
        status = STATUS.get(word)
        processed = progress.get("processed_leads")
        total = progress.get("total_leads")
        done = float(processed) if isinstance(processed, int | float) else None
        of = float(total) if isinstance(total, int | float) else None
        if status is None:
            return PollOutcome(
                status="failed",
                vendor_status=word,
                summary=summary,
                error=f"Enrichabl reported an undocumented status {word!r}.",
            )
        if status == "failed":
            sample = "; ".join(f"{k}: {v}" for k, v in list(errors.items())[:3])
            return PollOutcome(
                status="failed",
                vendor_status=word,
                summary=summary,
                error="Enrichabl reports the job FAILED." + (f" Lead errors: {sample}" if sample else ""),
                progress=done,
                total=of,
            )
        if status != "completed":
            return PollOutcome(status=status, vendor_status=word, summary=summary, progress=done, total=of)
        rows, missing = await self.read_back(job.request, progress, errors)
        if missing:
            summary["lead_ids_not_found"] = missing[:100]
            summary["lead_ids_not_found_count"] = len(missing)
        return PollOutcome(status="completed", vendor_status=word, summary=summary, rows=rows, progress=done, total=of)

    async def cancel(self, job: Job, ctl: JobControl) -> bool:
        if job.vendor_job_id is None:
            return False
        await self.client.cancel(self.run, job.vendor_job_id)
        return True

    async def read_back(
        self, request: dict[str, Any], progress: dict[str, Any], errors: dict[str, str]
    ) -> tuple[list[dict[str, Any]], list[str]]:
        """The targeted leads as the pipeline now holds them.

        With only lead_ids (no pipeline), every pipeline of the account is read
        until all of them are found, since v1 has no endpoint for one lead.
        """
        target = request["target"]
        limit: int | None = target.get("limit")
        wanted: set[str] | None = set(target["lead_ids"]) if target.get("lead_ids") else None
        completed = {str(i) for i in progress.get("completed_lead_ids") or []}
        failed = {str(i) for i in progress.get("failed_lead_ids") or []}
        if target.get("pipeline_id"):
            pipelines = [str(target["pipeline_id"])]
        else:
            pipelines = [str(p["pipeline_id"]) for p in await self.client.list_pipelines() if p.get("pipeline_id")]
        page_size = min(limit, MAX_PAGE) if limit else MAX_PAGE
        rows: list[dict[str, Any]] = []
        found: set[str] = set()
        for pipeline_id in pipelines:
            async with aclosing(self.client.iter_leads(pipeline_id, page_size)) as leads:
                async for raw in leads:
                    flat = flatten_row(raw)
                    lead_id = str(flat.get("lead_id"))
                    if wanted is not None and lead_id not in wanted:
                        continue
                    found.add(lead_id)
                    outcome = "completed" if lead_id in completed else "failed" if lead_id in failed else None
                    rows.append(self.shape(flat, request, outcome, errors.get(lead_id)))
                    if (limit and len(rows) >= limit) or (wanted is not None and found >= wanted):
                        break
            if wanted is not None and found >= wanted:
                break
        return rows, sorted(wanted - found) if wanted is not None else []

    def shape(
        self, flat: dict[str, Any], request: dict[str, Any], outcome: str | None, error: str | None
    ) -> dict[str, Any]:
        row: dict[str, Any] = {
            "pipeline_lead_id": flat.get("pipeline_lead_id"),
            "lead_id": flat.get("lead_id"),
            "lead_email": flat.get("lead_email"),
            "outcome": outcome,
            "error": error,
        }
        if self.run == "validation":
            row["pipeline_lead_email_validation_status"] = flat.get("pipeline_lead_email_validation_status")
            return row
        custom = flat.get("lead_custom_fields")
        custom = custom if isinstance(custom, dict) else {}
        keys = request.get("value_keys")
        if keys is None:  # the template (and so its keys) was not identified: show every custom field
            row["lead_custom_fields"] = custom
        for key in keys or []:
            row[key] = custom.get(key)
        return row


def _lead_errors(progress: dict[str, Any]) -> dict[str, str]:
    """``lead_errors`` as ``{lead_id: message}``, from either a mapping or a list of ``{lead_id, error}``."""
    raw = progress.get("lead_errors")
    if isinstance(raw, dict):
        return {str(k): str(v) for k, v in raw.items()}
    out: dict[str, str] = {}
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, dict) and item.get("lead_id"):
            out[str(item["lead_id"])] = str(item.get("error") or item.get("message") or "failed")
    return out
