"""The Lance enrichment job: trigger once (Lance deduplicates), then poll the same path until it ends."""

from __future__ import annotations

import time
from typing import Any, Literal

from enrich_mcp.errors import VendorError, VendorNotFound
from enrich_mcp.jobs import Job, JobControl, PollOutcome, StatusWords
from enrich_mcp.vendors.lance.client import VENDOR, LanceClient

REUSED = ("pending", "finished")
"""Statuses Lance hands back to a new trigger instead of starting again (the document's idempotency)."""
STATUS = StatusWords(
    VENDOR,
    {
        "pending": "running",
        "finished": "completed",
        "failed": "failed",
        "timeout": "failed",
        "cancelled": "cancelled",
    },
)


def charged_by_trigger(before: dict[str, Any] | Literal["unknown"] | None, after: dict[str, Any]) -> bool:
    """Whether our trigger started a new enrichment (and so used credits).

    Lance answers a trigger with the existing pending or finished enrichment, free, however
    it was started (another enrich-mcp job, Lance's web app); only a new record costs. A
    ``finished`` answer is always an existing one. When the state before the trigger is
    unknown, a pending answer counts as charged: the budget errs on the safe side.
    """
    if str(after.get("status")) != "pending":
        return False
    if before == "unknown":
        return True
    return before is None or str(before.get("status")) not in REUSED or before.get("id") != after.get("id")


# Lance stops an enrichment after 800 s and marks it "timeout" when next read; past this we stop waiting.
GIVE_UP_AFTER_SECONDS = 800 + 120


class EnrichmentJobHandler:
    kind = "lance.enrichment"
    vendor = VENDOR
    poll_interval = 5.0

    def __init__(self, client: LanceClient) -> None:
        self.client = client

    async def submit(self, job: Job, ctl: JobControl) -> PollOutcome | None:
        record: dict[str, Any] = {}

        # A trigger resent after a lost answer may find the enrichment its first send started.
        resent = ctl.step_status("trigger") in ("sending", "submitting", "unknown")

        async def send() -> str:
            # What Lance holds before our trigger decides whether the trigger started (and paid for)
            # anything: Lance returns a pending or finished enrichment as is, whoever started it.
            before = "unknown" if resent else await self._current(job)
            record.update(await self.client.trigger(job.request["person_id"], job.request["field"]))
            job.state["charged"] = charged_by_trigger(before, record)
            return str(record["id"])

        # Lance documents the trigger as reusable (a pending or finished enrichment is returned, not restarted).
        job.vendor_job_id = await ctl.step("trigger", send, resend_safe=True)
        job.state["triggered_at"] = time.time()
        if not record:  # resumed after a restart: the trigger already went through; just poll
            return None
        return self._outcome(job, record)

    async def poll(self, job: Job, ctl: JobControl) -> PollOutcome:
        record = await self.client.get(job.request["person_id"], job.request["field"])
        outcome = self._outcome(job, record)
        elapsed = time.time() - float(job.state.get("triggered_at", job.created_at))
        if outcome.status == "running" and elapsed > GIVE_UP_AFTER_SECONDS:
            outcome.status = "failed"
            outcome.error = f"Lance still reports 'pending' after {elapsed:.0f} s, past its documented 800 s limit."
        return outcome

    async def cancel(self, job: Job, ctl: JobControl) -> bool:
        return False  # Lance documents no way to cancel an enrichment

    async def _current(self, job: Job) -> dict[str, Any] | Literal["unknown"] | None:
        try:
            return await self.client.get(job.request["person_id"], job.request["field"])
        except VendorNotFound:
            return None
        except VendorError:
            return "unknown"

    @staticmethod
    def _outcome(job: Job, record: dict[str, Any]) -> PollOutcome:
        job.state["record"] = record
        charged = bool(job.state.get("charged", True))
        word = str(record["status"])
        summary = {"enrichment_id": record["id"], "dataFound": record.get("dataFound"), "charged": charged}
        status = STATUS.get(word)
        if status is None:
            return PollOutcome(
                status="failed",
                vendor_status=word,
                summary=summary,
                error=f"Lance reported an undocumented status {word!r}.",
            )
        if status == "completed":
            found = record.get("dataFound")
            return PollOutcome(
                status="completed",
                vendor_status=word,
                summary=summary,
                rows=[record],
                actual_cost_usd=None if charged else 0.0,
                message=(
                    "Finished: "
                    + ("contact data was found and added to the person in Lance" if found else "no contact data found")
                    + ("" if charged else " (an existing enrichment; no credits used)")
                ),
            )
        if status in ("failed", "cancelled"):
            return PollOutcome(
                status=status,
                vendor_status=word,
                summary=summary,
                error=record.get("error") or f"Lance reports the enrichment {word}.",
            )
        return PollOutcome(status=status, vendor_status=word, summary=summary, message="Lance is enriching (pending)")
