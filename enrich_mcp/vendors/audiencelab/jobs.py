"""The AudienceLab bulk enrichment job: submit once, find it by listing, download the gzipped CSV."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from enrich_mcp.errors import VendorAuthError, VendorBadRequest, VendorForbidden, VendorNotFound, VendorProtocolError
from enrich_mcp.jobs import Job, JobControl, PollOutcome, StatusWords, StepOutcomeUnknown
from enrich_mcp.vendors.audiencelab.client import VENDOR, AudienceLabClient, gcs_public_url

STATUS = StatusWords(
    VENDOR,
    {
        "IN_QUEUE": "queued",
        "PROCESSING": "running",
        "COMPLETED": "completed",
        "FAILED": "failed",
    },
)

# A job that was just created may not be listed yet; give up after this many polls that cannot find it.
MAX_MISSES = 5
# Our clock and AudienceLab's may differ; a job listed as created this long before our send still matches.
CLOCK_SKEW_SECONDS = 300.0


def _epoch(value: Any) -> float | None:
    """An ISO-8601 ``created_at`` (``2025-10-29T10:30:00Z``) as epoch seconds, or ``None``."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


# Google Cloud Storage's answers for an object it will not serve without credentials.
_REFUSED = (VendorAuthError, VendorForbidden, VendorNotFound, VendorBadRequest)


def gs_message(csv_url: str) -> str:
    public = gcs_public_url(csv_url)
    return (
        f"AudienceLab finished, but the results are in Google Cloud Storage at {csv_url}"
        + (f", and the bucket refused an anonymous download ({public})" if public else "")
        + ". Fetching it needs Google Cloud credentials that enrich-mcp does not have: run "
        f"`gsutil cp {csv_url} .` (or `gcloud storage cp {csv_url} .`) as an account that can read the bucket, "
        "then `gunzip` it. No rows were imported here."
    )


class EnrichmentJobHandler:
    kind = "audiencelab.enrichment"
    vendor = VENDOR
    poll_interval = 15.0  # bulk jobs take minutes; each poll may list several pages

    def __init__(self, client: AudienceLabClient) -> None:
        self.client = client

    async def submit(self, job: Job, ctl: JobControl) -> PollOutcome:
        answer: dict[str, Any] = {}

        async def send() -> str:
            answer.update(await self.client.create_enrichment(job.request))
            return str(answer["jobId"])

        job.vendor_job_id = await ctl.step("create", send, reconcile=lambda: self._reconcile(job))
        word = str(answer.get("status") or "IN_QUEUE")
        return PollOutcome(
            status=STATUS.get(word, "queued"),
            vendor_status=word,
            message=f"AudienceLab accepted job {job.vendor_job_id}",
        )

    async def _reconcile(self, job: Job) -> str | None:
        """After a crash mid-create: find our job in AudienceLab's list (same name and size, created since).

        One recent match is ours. No job of that name and size at all means the create never happened
        (it is sent). Anything else (older namesakes, several recent ones) cannot be told apart: unknown.
        """
        sent_at = float(job.state.get("steps", {}).get("create", {}).get("at") or job.created_at)
        name, size = job.request.get("name"), len(job.request.get("records") or [])
        namesakes = [
            row
            for row in await self.client.all_enrichments()
            if row.get("name") == name and row.get("total") in (None, size)
        ]
        if not namesakes:
            return None
        recent = [r for r in namesakes if (_epoch(r.get("created_at")) or 0.0) >= sent_at - CLOCK_SKEW_SECONDS]
        if len(recent) == 1 and recent[0].get("id"):
            return str(recent[0]["id"])
        raise StepOutcomeUnknown(
            f"AudienceLab lists {len(namesakes)} job(s) named {name!r} of this size and enrich-mcp cannot tell "
            "whether one is the job it was creating when it stopped, so it sent nothing again.",
            hint="Check AudienceLab's job list before starting the same work again.",
        )

    async def poll(self, job: Job, ctl: JobControl) -> PollOutcome:
        assert job.vendor_job_id is not None, "polled before the submit recorded the vendor's job id"
        row, page = await self.client.find_enrichment(job.vendor_job_id, start_page=int(job.state.get("page", 1)))
        if row is None:
            misses = int(job.state.get("misses", 0)) + 1
            job.state["misses"] = misses
            if misses >= MAX_MISSES:
                return PollOutcome(
                    status="failed",
                    error=f"AudienceLab's job list no longer shows job {job.vendor_job_id} after {misses} polls.",
                )
            return PollOutcome(status=job.status, message="Not listed by AudienceLab yet")
        job.state.update(page=page, misses=0)
        word = str(row.get("status"))
        summary = {k: row[k] for k in ("name", "total", "created_at", "csv_url") if row.get(k) is not None}
        status = STATUS.get(word)
        if status is None:
            return PollOutcome(
                status="failed",
                vendor_status=word,
                summary=summary,
                error=f"AudienceLab reported an undocumented status {word!r}.",
            )
        if status == "failed":
            return PollOutcome(
                status="failed", vendor_status=word, summary=summary, error="AudienceLab reports the job FAILED."
            )
        if status != "completed":
            return PollOutcome(status=status, vendor_status=word, summary=summary)
        csv_url = str(row.get("csv_url") or "")
        if csv_url.startswith("gs://"):
            # The document's only form. A public object is readable at its https address, without a key.
            public = gcs_public_url(csv_url)
            try:
                rows = await self.client.download_results(public) if public else None
            except _REFUSED:
                rows = None
            if rows is None:
                return PollOutcome(status="completed", vendor_status=word, summary=summary, message=gs_message(csv_url))
            return PollOutcome(
                status="completed",
                vendor_status=word,
                summary={**summary, "rows": len(rows), "downloaded_from": public},
                rows=rows,
            )
        try:
            if not csv_url:
                raise VendorProtocolError(VENDOR, "no csv_url")
            self.client.http.check_download_url(csv_url)  # the one download policy, shared by every vendor
        except VendorProtocolError as exc:
            return PollOutcome(
                status="failed",
                vendor_status=word,
                summary=summary,
                error=f"AudienceLab marked the job COMPLETED without a downloadable csv_url ({exc.message}).",
            )
        rows = await self.client.download_results(csv_url)
        return PollOutcome(status="completed", vendor_status=word, summary={**summary, "rows": len(rows)}, rows=rows)

    async def cancel(self, job: Job, ctl: JobControl) -> bool:
        return False  # AudienceLab documents no way to cancel an enrichment job
