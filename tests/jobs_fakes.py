"""A fake vendor for job-system tests: a :class:`JobHandler` over a tiny in-memory vendor.

The vendor state (:class:`FakeVendor`) is a plain object that outlives any one
server, so a test can stop server A, build server B on the same home with the
same vendor and check what the vendor really received (submits, polls, cancels).

Each vendor job advances one stage per poll: ``queued`` → ``running`` → ``completed``
(or ``failed``), and produces ``rows`` result rows when it completes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import anyio
from mcp.server.mcpserver import Context

from enrich_mcp.errors import VendorError
from enrich_mcp.jobs import Job, JobControl, JobManager, JobResult, PollOutcome, SqliteJobStore
from enrich_mcp.sendmark import mark_sending
from enrich_mcp.server import EnrichServer
from enrich_mcp.tooling import start_job

STAGES = ("queued", "running", "completed")
# The vendor's own words, so tests can see normalisation keep them.
VENDOR_WORDS = {"queued": "PENDING", "running": "IN_PROGRESS", "completed": "DONE", "failed": "ERROR"}


@dataclass
class FakeVendorJob:
    request: dict[str, Any]
    polls: int = 0
    cancelled: bool = False


@dataclass
class FakeVendor:
    """What the vendor saw and does. Knobs are plain attributes; tests set them freely."""

    rows: int = 3
    fail: bool = False
    cancellable: bool = True
    # Polls that report "queued", then "running", before the job completes.
    queued_polls: int = 1
    running_polls: int = 1
    # When set, every poll waits for it: holds jobs unfinished until the test says so.
    poll_gate: anyio.Event | None = None
    # When set, a submit is recorded and then hangs on it (a crash "after the vendor got it").
    hang_after_submit: anyio.Event | None = None
    # When set, a submit waits on it before sending anything (killed here, nothing reached the vendor).
    hang_before_send: anyio.Event | None = None
    # When set, a completed job returns these rows instead of ``rows`` generated ones.
    payload: list[dict[str, Any]] | None = None
    submitted: anyio.Event = field(default_factory=anyio.Event)
    about_to_send: anyio.Event = field(default_factory=anyio.Event)
    submits: int = 0
    polls_started: int = 0  # including polls parked at the gate
    poll_count: int = 0
    cancels: list[str] = field(default_factory=list)
    jobs: dict[str, FakeVendorJob] = field(default_factory=dict)
    _ticks: list[anyio.Event] = field(default_factory=list)

    def polls_of(self, vendor_id: str) -> int:
        return self.jobs[vendor_id].polls

    def _tick(self) -> None:
        for event in self._ticks:
            event.set()
        self._ticks.clear()

    async def until(self, condition: Callable[[], bool]) -> None:
        """Wait (no sleeps) until ``condition`` holds after some vendor action; bound it with ``fail_after``."""
        while not condition():
            event = anyio.Event()
            self._ticks.append(event)
            await event.wait()

    async def submit(self, request: dict[str, Any]) -> str:
        if self.hang_before_send is not None:  # stuck before any byte left (a rate limiter, a slow DNS)
            self.about_to_send.set()
            await self.hang_before_send.wait()
        await mark_sending()  # what the HTTP client does right before a paid request leaves
        self.submits += 1
        vendor_id = f"v{self.submits}"
        self.jobs[vendor_id] = FakeVendorJob(request=dict(request))
        self.submitted.set()
        self._tick()
        if self.hang_after_submit is not None:
            await self.hang_after_submit.wait()
        return vendor_id

    def stage(self, job: FakeVendorJob) -> str:
        if job.cancelled:
            return "cancelled"
        if job.polls <= self.queued_polls:
            return "queued"
        if job.polls <= self.queued_polls + self.running_polls:
            return "running"
        return "failed" if self.fail else "completed"

    async def poll(self, vendor_id: str) -> tuple[str, list[dict[str, Any]]]:
        self.polls_started += 1
        self._tick()
        if self.poll_gate is not None:
            await self.poll_gate.wait()
        job = self.jobs.get(vendor_id)
        if job is None:
            raise VendorError("fake", f"no job {vendor_id}", status=404)
        job.polls += 1
        self.poll_count += 1
        self._tick()
        stage = self.stage(job)
        if stage != "completed":
            return stage, []
        return stage, list(self.payload) if self.payload is not None else [self.row(job, i) for i in range(self.rows)]

    def row(self, job: FakeVendorJob, i: int) -> dict[str, Any]:
        return {"idx": i, "email": f"p{i}@example.com", "name": f"Person {i}", "query": job.request.get("query")}

    async def cancel(self, vendor_id: str) -> bool:
        if not self.cancellable:
            return False
        self.cancels.append(vendor_id)
        self.jobs[vendor_id].cancelled = True
        self._tick()
        return True


@dataclass
class FakeHandler:
    """The :class:`JobHandler` for ``fake.search`` jobs on a :class:`FakeVendor`."""

    vendor_state: FakeVendor
    kind: str = "fake.search"
    vendor: str = "fake"
    poll_interval: float = 0.01

    async def submit(self, job: Job, ctl: JobControl) -> PollOutcome | None:
        job.vendor_job_id = await ctl.step("submit", lambda: self.vendor_state.submit(job.request))
        return None

    async def poll(self, job: Job, ctl: JobControl) -> PollOutcome:
        assert job.vendor_job_id is not None
        stage, rows = await self.vendor_state.poll(job.vendor_job_id)
        if stage == "failed":
            return PollOutcome(status="failed", vendor_status=VENDOR_WORDS[stage], error="The vendor said ERROR")
        total = float(
            len(self.vendor_state.payload) if self.vendor_state.payload is not None else self.vendor_state.rows
        )
        return PollOutcome(
            status=stage,  # type: ignore[arg-type]  # the fake's stages are already normalised words
            vendor_status=VENDOR_WORDS.get(stage, stage),
            progress=float(len(rows)) if stage == "completed" else 0.0,
            total=total,
            rows=rows,
            summary={"stage": stage},
        )

    async def cancel(self, job: Job, ctl: JobControl) -> bool:
        if job.vendor_job_id is None:  # the submit is still in flight: nothing to name yet
            return False
        return await self.vendor_state.cancel(job.vendor_job_id)


def add_fake_tool(server: EnrichServer, handler: FakeHandler) -> None:
    """Register ``handler`` and a ``fake_search`` tool that starts its jobs through :func:`run_job`."""
    runtime = server.runtime
    runtime.jobs.register(handler)
    services: Any = SimpleNamespace(
        name=handler.vendor, account="fake-account", jobs=runtime.jobs, budget=runtime.budget, settings=runtime.settings
    )

    async def fake_search(
        query: str,
        wait_seconds: float = 0.0,
        fresh: bool = False,
        price_usd: float | None = None,
        ctx: Context[Any, Any] | None = None,
    ) -> JobResult:
        """Start a fake search job (``price_usd`` reserves that much as the ``fake.search`` operation)."""
        if price_usd is not None:
            runtime.budget.prices["fake.search"] = price_usd
        return await start_job(
            services,
            ctx,
            kind=handler.kind,
            tool="fake_search",
            request={"query": query},
            wait_seconds=wait_seconds,
            operation="search" if price_usd is not None else None,
            fresh=fresh,
        )

    server.add_tool(fake_search, name="fake_search", structured_output=True)


class Changes:
    """Wakes a test whenever the job manager reports a change (no sleeps, no polling loops)."""

    def __init__(self, jobs: JobManager) -> None:
        self.jobs = jobs
        self._event = anyio.Event()
        jobs.listeners.append(self._on_change)

    async def _on_change(self, job: Job) -> None:
        self._event.set()

    async def until(self, job_id: str, condition: Callable[[Job], bool]) -> Job:
        with anyio.fail_after(5):
            while True:
                event = self._event  # taken before the check, so a change during it is not missed
                job = await self.jobs.get(job_id)
                if condition(job):
                    return job
                await event.wait()
                if self._event is event:
                    self._event = anyio.Event()


def fake_server(build: Callable[[], EnrichServer], vendor: FakeVendor) -> EnrichServer:
    """A server with the fake vendor's handler and tool on it."""
    server = build()
    add_fake_tool(server, FakeHandler(vendor))
    return server


async def left_by_a_dead_process(home: Path, job: Job) -> None:
    """``job`` in the ledger of ``home`` as a process that died left it: owned, its lease long expired."""
    store = SqliteJobStore(home / "jobs.sqlite3")
    try:
        await store.insert(job, owner="dead-process", lease_seconds=-1)
    finally:
        store.close()
