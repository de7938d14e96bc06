"""Driving jobs: submit inside the call, one owner per job across processes, polling that ends.

Life of a job:

1. :meth:`JobManager.start` writes the job to the ledger, leased to this process, *before* any
   vendor is asked (an identical unfinished request returns the existing job instead). It then
   runs the handler's ``submit`` and returns once the vendor has accepted the first step (for
   chunked work, the first chunk) — so a refusal is the caller's error, not a job that fails
   later, unseen. The rest of the submit goes on in the background.
2. ``submit`` sends each credit-spending request through :meth:`JobControl.step`, which records
   the step ``prepared`` before the call, ``sending`` right before the request leaves (see
   :mod:`enrich_mcp.sendmark`) and ``done`` with the vendor's id after it. After a crash a
   ``prepared`` step certainly never left and is sent; a ``sending`` step is resent only when the
   vendor makes that safe (``resend_safe``), reconciled with the vendor where it can be listed,
   and otherwise the job (or that chunk) is ``unknown`` and says so.
3. The poller polls every job this process holds at the handler's advised interval, normalises
   the vendor's status, stores result rows (once per chunk or page) and tells listeners.
   Errors without an HTTP status end the job after a few tries; transient ones back off; each
   kind of job has a maximum age.

Several processes may share the ledger. Each holds the jobs it drives through a lease renewed by
a heartbeat, and takes over the jobs of a process whose lease expired. Submits in flight at
shutdown are shielded for a grace period; new steps are not started once shutdown began (the
next process resumes them).

The spend reservation of a job ends with the job (see :meth:`JobManager._settle`).
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import math
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio
from anyio.abc import TaskGroup

from enrich_mcp.budget import Charge, SpendStore
from enrich_mcp.errors import EnrichError, JobNotFound, VendorError, VendorResponseLost
from enrich_mcp.jobs.models import TERMINAL, Job, JobInfo, JobResult, PollOutcome
from enrich_mcp.jobs.store import JobStore, Write
from enrich_mcp.sendmark import on_send

logger = logging.getLogger(__name__)


class StepOutcomeUnknown(EnrichError):
    """A submit step may have reached the vendor, and nothing can tell whether it did."""


class SubmitRefused(EnrichError):
    """The vendor refused the job's first submit step; nothing was accepted or charged."""


class _Stop(Exception):
    """Stop driving this job here: it ended (cancelled), another process holds it, or shutdown began."""


Reconcile = Callable[[], Awaitable[str | None]]
"""Find a step at the vendor: its id, ``None`` when certainly absent; raises StepOutcomeUnknown otherwise."""


class JobHandler(Protocol):
    """A vendor's kind of long work. Knows its vendor client, not MCP."""

    kind: str
    vendor: str
    poll_interval: float

    async def submit(self, job: Job, ctl: JobControl) -> PollOutcome | None:
        """Send the work (through ``ctl.step``); may return a first outcome (e.g. a sync answer)."""
        ...

    async def poll(self, job: Job, ctl: JobControl) -> PollOutcome: ...

    async def cancel(self, job: Job, ctl: JobControl) -> bool:
        """Cancel at the vendor; ``False`` when the vendor has no way to cancel."""
        ...


DEFAULT_MAX_AGE_SECONDS = 24 * 3600.0
"""A job still unfinished after this long is given up on (handlers may set ``max_age_seconds``)."""


@dataclass
class JobControl:
    """The handler's handle on its job's durable state."""

    manager: JobManager
    job: Job
    accepted: anyio.Event = field(default_factory=anyio.Event)

    async def save(self) -> None:
        """Store the job's state; stops the handler when the job ended or moved to another process."""
        result = await self.manager.store.update(
            self.job, owner=self.manager.owner, lease_seconds=self.manager.lease_seconds
        )
        if result is not Write.OK:
            raise _Stop(result.value)

    async def step(
        self,
        name: str,
        send: Callable[[], Awaitable[str]],
        *,
        resend_safe: bool = False,
        reconcile: Reconcile | None = None,
    ) -> str:
        """Send a credit-spending submit at most once; returns the vendor's id for it.

        ``resend_safe``: the vendor deduplicates this request (an idempotency key, a documented
        reuse rule), so a step that may have been sent is sent again. ``reconcile`` looks a step
        that may have been sent up at the vendor (its job list): it returns the vendor's id, or
        ``None`` when the list shows it was never created (then it is sent), and raises
        :class:`StepOutcomeUnknown` when the list cannot tell.
        """
        steps = self.job.steps()
        existing = steps.get(name)
        if existing is not None:
            status = existing.get("status")
            if status == "done":
                self.accepted.set()
                return str(existing["id"])
            if status == "failed":
                raise SubmitRefused(str(existing.get("error") or f"step {name} was refused by the vendor"))
            if status in ("sending", "submitting", "unknown") and not resend_safe:
                if reconcile is None:
                    steps[name] = {**existing, "status": "unknown"}
                    await self.save()
                    raise StepOutcomeUnknown(
                        f"Submit step {name!r} of job {self.job.id} was in flight when its server stopped; "
                        "it may have reached the vendor, so it was not sent again.",
                        hint="Check the vendor's dashboard before starting the same work again.",
                    )
                found = await reconcile()  # raises StepOutcomeUnknown when the vendor's list cannot tell
                if found is not None:
                    steps[name] = {"status": "done", "id": found, "at": time.time(), "reconciled": True}
                    self.job.vendor_job_id = self.job.vendor_job_id or found
                    await self.save()
                    self.accepted.set()
                    return found
                logger.info("job %s: step %s is not at the vendor (its list says so); sending it", self.job.id, name)
            # "prepared": written before the request, and the request never left. Send it.
        if self.manager.stopping:
            raise _Stop("shutdown")
        steps[name] = {"status": "prepared", "at": time.time()}
        await self.save()

        async def sending() -> None:
            if steps[name]["status"] == "prepared":
                steps[name] = {"status": "sending", "at": time.time()}
                try:
                    await self.save()
                except _Stop:  # cancelled or taken over meanwhile: nothing leaves
                    steps[name] = {"status": "prepared", "at": time.time()}
                    raise

        try:
            with on_send(sending):
                vendor_id = await send()
        except _Stop:
            raise
        except VendorResponseLost:
            steps[name] = {"status": "unknown", "at": time.time()}
            await self._save_quietly()
            raise
        except anyio.get_cancelled_exc_class():
            # Stopped past the grace period: "sending" stays on disk (unknown after restart), "prepared" is resent.
            raise
        except BaseException as exc:
            if steps[name]["status"] == "sending" and not isinstance(exc, VendorError | EnrichError):
                steps[name] = {"status": "unknown", "error": str(exc)[:500], "at": time.time()}
            else:  # the vendor answered with an error, or the request never left: nothing was done
                steps[name] = {"status": "failed", "error": str(exc)[:500], "at": time.time()}
            await self._save_quietly()
            raise
        steps[name] = {"status": "done", "id": vendor_id, "at": time.time()}
        if self.job.vendor_job_id is None:
            self.job.vendor_job_id = vendor_id  # the first accepted step names the job at the vendor
        await self._save_quietly()
        self.accepted.set()
        return vendor_id

    async def _save_quietly(self) -> None:
        """Record a step's end; when the job was cancelled meanwhile the caller finds out at the next save."""
        with contextlib.suppress(_Stop):
            await self.save()

    def step_status(self, name: str) -> str | None:
        step = self.job.state.get("steps", {}).get(name)
        return None if step is None else str(step["status"])


Listener = Callable[[Job], Awaitable[None]]
Progress = Callable[[float, float | None, str | None], Awaitable[None]]


@dataclass
class _Waiter:
    event: anyio.Event = field(default_factory=anyio.Event)


def process_owner() -> str:
    """This process's name in the ledger: host, pid and a random part (pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class JobManager:
    """Starts jobs, drives the ones this process holds, and lets tool calls wait on them."""

    def __init__(
        self,
        store: JobStore,
        ledger: SpendStore,
        *,
        poll_interval_override: float | None = None,
        max_concurrent_polls: int = 32,
        clock: Callable[[], float] = time.time,
        lease_seconds: float = 30.0,
        submit_grace_seconds: float = 10.0,
        accept_timeout_seconds: float = 60.0,
        max_poll_errors: int = 5,
        max_backoff_seconds: float = 600.0,
        owner: str | None = None,
    ) -> None:
        self.store = store
        self.ledger = ledger
        self.handlers: dict[str, JobHandler] = {}
        self.listeners: list[Listener] = []
        self.poll_interval_override = poll_interval_override
        self.owner = owner or process_owner()
        self.lease_seconds = lease_seconds
        self.submit_grace_seconds = submit_grace_seconds
        self.accept_timeout_seconds = accept_timeout_seconds
        self.max_poll_errors = max_poll_errors
        self.max_backoff_seconds = max_backoff_seconds
        self.stopping = False
        self._clock = clock
        self._limit = anyio.Semaphore(max_concurrent_polls)
        self._schedule: list[tuple[float, str]] = []
        self._scheduled: dict[str, float] = {}
        self._held: set[str] = set()
        self._busy: set[str] = set()
        self._submitting: dict[str, JobControl] = {}
        self._submit_scopes: set[anyio.CancelScope] = set()
        self._waiters: dict[str, list[_Waiter]] = {}
        self._wake = anyio.Event()
        self._tg: TaskGroup | None = None

    # -- registration --------------------------------------------------------------------------

    def register(self, handler: JobHandler) -> None:
        if handler.kind in self.handlers:
            raise ValueError(f"job kind {handler.kind!r} registered twice")
        self.handlers[handler.kind] = handler

    def interval(self, handler: JobHandler, advised: float | None = None) -> float:
        if self.poll_interval_override is not None:
            return self.poll_interval_override
        return advised if advised is not None else handler.poll_interval

    @property
    def running(self) -> bool:
        return self._tg is not None

    # -- running -------------------------------------------------------------------------------

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """The poller: take over unheld jobs, heartbeat, poll what is due — until cancelled."""
        # A manager can be run again (each stdio session runs it): start from the ledger, not from memory.
        self._schedule.clear()
        self._scheduled.clear()
        self._held.clear()
        self.stopping = False
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                await self.ledger.sweep(self.owner)
                await self.settle_orphaned_charges()
                await self._claim()
                tg.start_soon(self._heartbeat)
                tg.start_soon(self.store.watch, self._changed_elsewhere)
                task_status.started()
                try:
                    await self._loop(tg)
                finally:
                    self._shutdown()
        finally:
            self._tg = None
            with anyio.CancelScope(shield=True):
                try:
                    await self.store.release(self.owner)
                    await self.ledger.release(self.owner)
                except Exception:  # the files may be gone (tests) or locked; the leases simply expire
                    logger.debug("releasing leases failed", exc_info=True)

    def _shutdown(self) -> None:
        """Let submits in flight finish within the grace period; start no new step."""
        self.stopping = True
        deadline = anyio.current_time() + self.submit_grace_seconds
        for scope in self._submit_scopes:
            scope.deadline = min(scope.deadline, deadline)

    async def _loop(self, tg: TaskGroup) -> None:
        while True:
            now = self._clock()
            while self._schedule and self._schedule[0][0] <= now:
                due_at, job_id = heapq.heappop(self._schedule)
                if self._scheduled.get(job_id) != due_at:
                    continue  # superseded entry
                del self._scheduled[job_id]
                tg.start_soon(self._poll_one, job_id)
            wait = self._schedule[0][0] - now if self._schedule else math.inf
            self._wake = anyio.Event()
            with anyio.move_on_after(wait):
                await self._wake.wait()

    async def _heartbeat(self) -> None:
        """Renew our leases (jobs and pending charges) and take over jobs whose owner went away."""
        while True:
            await anyio.sleep(self.lease_seconds / 3)
            try:
                held = await self.store.heartbeat(self.owner, self.lease_seconds)
                await self.ledger.heartbeat(self.owner, self.lease_seconds)
                for lost in self._held - held - set(self._submitting):
                    self._held.discard(lost)
                    self._scheduled.pop(lost, None)
                await self._claim()
                await self.ledger.sweep(self.owner)
            except Exception:
                logger.warning("job heartbeat failed; retrying", exc_info=True)

    async def _claim(self) -> None:
        for job in await self.store.claim(self.owner, self.lease_seconds, list(self.handlers)):
            if job.id in self._held:
                continue
            self._held.add(job.id)
            logger.info("driving job %s (%s, %s)", job.id, job.kind, job.status)
            if job.phase == "submit":
                self._spawn(self._submit, job.id)
            else:
                self._schedule_poll(job.id, 0)

    def _schedule_poll(self, job_id: str, delay: float) -> None:
        due = self._clock() + max(0.0, delay)
        self._scheduled[job_id] = due
        earliest = self._schedule[0][0] if self._schedule else math.inf
        heapq.heappush(self._schedule, (due, job_id))
        if due < earliest:  # otherwise the loop already wakes in time; a wake per poll was measurable CPU
            self._wake.set()

    def _spawn(self, fn: Callable[[str], Coroutine[Any, Any, None]], job_id: str) -> None:
        if self._tg is None:
            raise RuntimeError("the job poller is not running (server lifespan not entered)")
        self._tg.start_soon(fn, job_id)

    # -- starting ----------------------------------------------------------------------------------

    async def start(
        self,
        *,
        vendor: str,
        kind: str,
        tool: str,
        request: Mapping[str, Any],
        charge: Charge | None = None,
        total: float | None = None,
        dedup_key: str | None = None,
    ) -> tuple[Job, bool]:
        """Write the job, submit it, and return once the vendor accepted its first step.

        Returns ``(job, created)``; ``created`` is ``False`` when an unfinished job for the same
        request (``dedup_key``) already existed — then ``charge`` is voided and that job returned.
        A refusal of the first step raises (the job is failed and its charge voided).
        """
        if kind not in self.handlers:
            raise RuntimeError(f"no handler for job kind {kind!r}")
        if self._tg is None:
            raise RuntimeError("the job poller is not running (server lifespan not entered)")
        fresh = Job(
            id=uuid.uuid4().hex[:16],
            vendor=vendor,
            kind=kind,
            tool=tool,
            request=dict(request),
            state={"phase": "submit"},
            charge_id=charge.id if charge else None,
            total=total,
            message="Submitting to the vendor",
            dedup_key=dedup_key,
        )
        try:
            job = await self.store.insert(fresh, owner=self.owner, lease_seconds=self.lease_seconds)
        except BaseException:
            if charge is not None:
                await charge.void()
            raise
        if job.id != fresh.id:
            if charge is not None:
                await charge.void()
            return job, False
        if charge is not None:
            await self.ledger.attach_job(charge.id, job.id)
        self._held.add(job.id)
        ctl = JobControl(self, job)
        self._submitting[job.id] = ctl
        self._tg.start_soon(self._submit, job.id)
        # Wait for the vendor's acceptance (or the refusal), not for the whole submit.
        with anyio.move_on_after(self.accept_timeout_seconds):
            await ctl.accepted.wait()
        stored = await self.get(job.id)
        if stored.status == "failed" and not stored.accepted_by_vendor():
            raise SubmitRefused(stored.error or "The vendor refused the job; nothing was charged.")
        return stored, True

    async def _submit(self, job_id: str) -> None:
        # start() and a takeover can both reach a fresh job; only one task may submit it.
        ctl = self._submitting.get(job_id)
        if ctl is not None and ctl.job.id in self._busy:
            return
        if ctl is None:
            job = await self.store.get(job_id)
            if job is None or job.done or job.phase != "submit":
                return
            ctl = JobControl(self, job)
            self._submitting[job_id] = ctl
        self._busy.add(job_id)
        scope = anyio.CancelScope(shield=True)
        if self.stopping:
            scope.deadline = anyio.current_time() + self.submit_grace_seconds
        self._submit_scopes.add(scope)
        try:
            with scope:
                await self._submit_once(ctl)
        finally:
            self._submit_scopes.discard(scope)
            self._busy.discard(job_id)
            self._submitting.pop(job_id, None)
            ctl.accepted.set()
            self._wake_waiters(job_id)

    async def _submit_once(self, ctl: JobControl) -> None:
        job = ctl.job
        handler = self.handlers[job.kind]
        try:
            outcome = await handler.submit(job, ctl)
        except _Stop as stop:
            await self._stopped_during_submit(job, handler, str(stop))
            return
        except (StepOutcomeUnknown, VendorResponseLost) as exc:
            await self._finish(job, PollOutcome(status="unknown", vendor_status="unknown", error=str(exc)))
            return
        except EnrichError as exc:
            await self._finish(job, PollOutcome(status="failed", error=str(exc)))
            return
        except anyio.get_cancelled_exc_class():
            # Past the shutdown grace period: leave the job to the next process (steps say what was sent).
            logger.warning("job %s: submit interrupted at shutdown; the next server resumes it", job.id)
            raise
        except Exception:
            logger.exception("job %s: submit crashed", job.id)
            status = "unknown" if job.accepted_by_vendor() else "failed"
            await self._finish(job, PollOutcome(status=status, error="Internal error while submitting the job."))
            return
        job.state["phase"] = "poll"
        outcome = outcome or PollOutcome(status=job.status, message="Submitted; waiting for the vendor")
        if outcome.status in TERMINAL:
            if not await self._finish(job, outcome):
                await self._stopped_during_submit(job, handler, Write.ENDED.value)
            return
        self._merge(job, outcome)
        written = await self.store.update(
            job, outcome.rows or (), part=outcome.part, owner=self.owner, lease_seconds=self.lease_seconds
        )
        if written is Write.ENDED:
            await self._stopped_during_submit(job, handler, written.value)
            return
        if written is Write.LOST:
            self._held.discard(job.id)
            return
        await self._changed(job)
        self._schedule_poll(job.id, self.interval(handler, outcome.next_poll_in))

    async def _stopped_during_submit(self, job: Job, handler: JobHandler, why: str) -> None:
        """The submit stopped: shutdown (resumed later), lease lost, or cancelled meanwhile."""
        if why != Write.ENDED.value:
            return
        stored = await self.store.get(job.id)
        if stored is None or stored.status != "cancelled":
            return
        await self._cancel_late_submit(job, handler)

    async def _cancel_late_submit(self, job: Job, handler: JobHandler) -> None:
        """The job was cancelled while its submit was in flight: stop what that submit started."""
        stored = await self.store.get(job.id)
        if stored is not None and "cancelled_at_vendor" in stored.summary:
            return  # cancel_job already told the vendor (the steps had all landed)
        if not job.accepted_by_vendor():
            await self.store.annotate(job.id, {"cancelled_at_vendor": False, "sent_to_vendor": False})
            await self._settle_charge(job.charge_id, "void", None)
            return
        try:
            told = await handler.cancel(job, JobControl(self, job))
        except Exception as exc:
            logger.warning("job %s: cancelling a late submit at the vendor failed", job.id, exc_info=True)
            await self.store.annotate(job.id, {"cancelled_at_vendor": False, "cancel_error": str(exc)[:300]})
            return
        await self.store.annotate(job.id, {"cancelled_at_vendor": told, "vendor_job_id": job.vendor_job_id})
        logger.info("job %s: cancelled during submit; vendor told: %s", job.id, told)

    # -- polling ---------------------------------------------------------------------------------

    async def _poll_one(self, job_id: str) -> None:
        if job_id in self._busy or job_id not in self._held:
            return
        async with self._limit:
            job = await self.store.get(job_id)
            if job is None or job.done:
                self._held.discard(job_id)
                return
            handler = self.handlers[job.kind]
            max_age = float(getattr(handler, "max_age_seconds", DEFAULT_MAX_AGE_SECONDS))
            if self._clock() - job.created_at > max_age:
                await self._finish(
                    job,
                    PollOutcome(
                        status="failed",
                        error=f"Gave up after {max_age / 3600:.1f} h without an answer; the vendor may still "
                        "finish it (check its dashboard).",
                    ),
                    gave_up=True,
                )
                return
            before = job.model_dump_json(exclude={"updated_at"})
            self._busy.add(job_id)
            try:
                outcome = await handler.poll(job, JobControl(self, job))
            except _Stop:
                self._held.discard(job_id)
                return
            except VendorError as exc:
                if exc.status in (400, 401, 403, 404, 410, 422):
                    outcome = PollOutcome(status="failed", error=str(exc))
                else:
                    await self._poll_failed(job, handler, exc, transient=exc.status is not None)
                    return
            except EnrichError as exc:
                await self._poll_failed(job, handler, exc, transient=False)
                return
            except Exception as exc:
                logger.exception("job %s: poll crashed", job_id)
                await self._poll_failed(job, handler, exc, transient=False)
                return
            finally:
                self._busy.discard(job_id)
            job.state.pop("poll_errors", None)
            job.state.pop("transient_errors", None)
            await self._apply(job, handler, outcome, before=before)

    async def _poll_failed(self, job: Job, handler: JobHandler, exc: Exception, *, transient: bool) -> None:
        """Back off exponentially; errors without an HTTP status end the job after a few tries."""
        key = "transient_errors" if transient else "poll_errors"
        count = int(job.state.get(key, 0)) + 1
        job.state[key] = count
        message = exc.message if isinstance(exc, EnrichError) else "internal error"
        if not transient and count >= self.max_poll_errors:
            await self._finish(
                job,
                PollOutcome(
                    status="failed",
                    error=f"Stopped after {count} polls failed without an answer we can read: {message}",
                ),
                gave_up=True,
            )
            return
        logger.warning("job %s: poll failed (%d), will retry: %s", job.id, count, message)
        job.message = f"Last poll failed ({message}); retrying"
        if await self.store.update(job, owner=self.owner, lease_seconds=self.lease_seconds):
            delay = min(self.max_backoff_seconds, self.interval(handler) * (2**count))
            self._schedule_poll(job.id, delay)
        else:
            self._held.discard(job.id)

    async def _apply(self, job: Job, handler: JobHandler, outcome: PollOutcome, *, before: str | None = None) -> None:
        """Record a non-final outcome and schedule the next poll; ``before`` is the job as read for the poll."""
        if outcome.status in TERMINAL:
            await self._finish(job, outcome)
            return
        changed = (outcome.status, outcome.vendor_status, outcome.progress) != (
            job.status,
            job.vendor_status,
            job.progress,
        )
        self._merge(job, outcome)
        if not outcome.rows and outcome.part is None and job.model_dump_json(exclude={"updated_at"}) == before:
            # "Still running, nothing new" is most polls of a long job: a durable (fsynced) write
            # of an identical record would be most of the poller's cost. A cancel meanwhile is
            # seen by the next poll's read; the lease is renewed by the heartbeat.
            self._schedule_poll(job.id, self.interval(handler, outcome.next_poll_in))
            return
        written = await self.store.update(
            job, outcome.rows or (), part=outcome.part, owner=self.owner, lease_seconds=self.lease_seconds
        )
        if not written:
            self._held.discard(job.id)
            return
        if changed or outcome.rows:
            await self._changed(job)
        self._schedule_poll(job.id, self.interval(handler, outcome.next_poll_in))

    @staticmethod
    def _merge(job: Job, outcome: PollOutcome) -> None:
        job.status = outcome.status
        if outcome.vendor_status is not None:
            job.vendor_status = outcome.vendor_status
        if outcome.progress is not None:
            job.progress = outcome.progress
        if outcome.total is not None:
            job.total = outcome.total
        if outcome.message is not None:
            job.message = outcome.message
        if outcome.summary:
            job.summary.update(outcome.summary)
        if outcome.error is not None:
            job.error = outcome.error

    async def _finish(self, job: Job, outcome: PollOutcome, *, gave_up: bool = False, driver: bool = True) -> bool:
        """End the job; ``False`` when it had already ended (the first end wins)."""
        self._merge(job, outcome)
        job.finished_at = self._clock()
        job.message = outcome.message or {
            "completed": f"Completed with {job.result_count + len(outcome.rows or ())} result row(s)",
            "failed": "Failed",
            "cancelled": "Cancelled",
            "unknown": "Outcome unknown: the submit may have reached the vendor; not resent",
        }.get(job.status, job.status)
        self._scheduled.pop(job.id, None)
        self._held.discard(job.id)
        written = await self.store.update(
            job, outcome.rows or (), part=outcome.part, owner=self.owner if driver else None
        )
        if not written:
            return False
        await self._settle(job, outcome, gave_up=gave_up)
        await self._changed(job)
        return True

    # -- money -----------------------------------------------------------------------------------

    async def _settle(self, job: Job, outcome: PollOutcome, *, gave_up: bool = False) -> None:
        """End the job's reservation. Work the vendor accepted is never recorded as free.

        completed → settled at the actual cost (or the estimate); refused before any step was
        accepted → void; the vendor reported a failure → void unless it gave a cost; anything else
        the vendor accepted (cancelled, unknown, given up on) → ``unknown`` at the estimate.
        """
        if job.charge_id is None:
            return
        status, actual = self.charge_outcome(job, outcome.actual_cost_usd, gave_up=gave_up)
        await self._settle_charge(job.charge_id, status, actual)

    @staticmethod
    def charge_outcome(job: Job, actual_cost_usd: float | None, *, gave_up: bool = False) -> tuple[str, float | None]:
        if job.status == "completed":
            return "settled", actual_cost_usd
        if actual_cost_usd:
            return "settled", actual_cost_usd
        if not job.accepted_by_vendor():
            return "void", 0.0
        if job.status == "failed" and not gave_up:
            return "void", 0.0
        return "unknown", None

    async def _settle_charge(self, charge_id: int | None, status: str, actual: float | None) -> None:
        if charge_id is None:
            return
        with anyio.CancelScope(shield=True):
            row = await self.ledger.get(charge_id)
            if row is None or row["status"] != "pending":
                return
            amount = row["estimated_usd"] if actual is None and status != "void" else (actual or 0.0)
            await self.ledger.settle(charge_id, status, amount)  # type: ignore[arg-type]

    async def settle_orphaned_charges(self) -> None:
        """Charges left pending by jobs that ended without settling them (a crash between the two writes)."""
        for row in await self.ledger.pending_for_jobs():
            job = await self.store.get(str(row["job_id"]))
            if job is None:
                await self.ledger.settle(int(row["id"]), "unknown", row["estimated_usd"])
            elif job.done:
                status, actual = self.charge_outcome(job, None)
                await self._settle_charge(int(row["id"]), status, actual)

    # -- listeners -------------------------------------------------------------------------------

    async def _changed(self, job: Job) -> None:
        self._wake_waiters(job.id)
        for listener in list(self.listeners):
            try:
                await listener(job)
            except Exception:  # a broken subscriber must not stop the poller
                logger.exception("job listener failed")

    async def _changed_elsewhere(self, job_id: str) -> None:
        """Another process moved a job (a shared ledger's notification): tell our waiters and subscribers."""
        job = await self.store.get(job_id)
        if job is not None:
            await self._changed(job)

    def _wake_waiters(self, job_id: str) -> None:
        for waiter in self._waiters.get(job_id, []):
            waiter.event.set()

    def _drop_waiter(self, job_id: str, waiter: _Waiter) -> None:
        waiters = self._waiters.get(job_id, [])
        if waiter in waiters:
            waiters.remove(waiter)
        if not waiters:
            self._waiters.pop(job_id, None)

    # -- tool-facing -----------------------------------------------------------------------------

    async def get(self, job_id: str) -> Job:
        job = await self.store.get(job_id)
        if job is None:
            raise JobNotFound(f"No job with id {job_id!r}.")
        return job

    async def find_open(self, dedup_key: str) -> Job | None:
        return await self.store.find_open(dedup_key)

    async def wait(self, job_id: str, timeout: float, progress: Progress | None = None) -> Job:  # noqa: ASYNC109
        """Wait up to ``timeout`` seconds for the job to end, reporting progress on every change.

        Running out of time is a normal answer (the caller returns a handle), hence no ``fail_after``.
        Jobs another process drives are re-read at the poll interval.
        """
        deadline = anyio.current_time() + timeout
        waiter = _Waiter()
        self._waiters.setdefault(job_id, []).append(waiter)
        try:
            while True:
                job = await self.get(job_id)
                if progress is not None:
                    await progress(job.progress or 0.0, job.total, job.message)
                if job.done:
                    return job
                remaining = deadline - anyio.current_time()
                if remaining <= 0:
                    return job
                recheck = remaining if job_id in self._held else min(remaining, self._recheck_interval(job))
                with anyio.move_on_after(recheck):
                    await waiter.event.wait()
                waiter.event = anyio.Event()
        finally:
            self._drop_waiter(job_id, waiter)

    def _recheck_interval(self, job: Job) -> float:
        handler = self.handlers.get(job.kind)
        return self.interval(handler) if handler is not None else 1.0

    async def cancel(self, job_id: str) -> tuple[Job, bool]:
        """Cancel here and at the vendor; returns the job and whether the vendor was told.

        Any process may cancel any job. A submit in flight (here or in another process) sees the
        cancel at its next write: a step not yet sent is never sent, and one that lands afterwards
        is cancelled at the vendor by the process that sent it (noted in the job's summary).
        """
        job = await self.get(job_id)
        if job.done:
            return job, False
        handler = self.handlers.get(job.kind)
        at_vendor = False
        in_flight = any(step.get("status") in ("prepared", "sending") for step in job.steps().values())
        if handler is not None and job.accepted_by_vendor() and not in_flight:
            try:
                at_vendor = await handler.cancel(job, JobControl(self, job))
            except VendorError as exc:
                raise VendorError(
                    exc.vendor, f"could not cancel job {job.id} at the vendor: {exc.message}", status=exc.status
                ) from exc
        title = handler.vendor.capitalize() if handler is not None else job.vendor
        if in_flight:
            message = (
                "Cancelled here while the submit was in flight; a step not yet sent will not be sent, and one "
                "that lands is cancelled at the vendor where it has a cancel (see summary.cancelled_at_vendor)."
            )
        elif at_vendor:
            message = "Cancelled here and at the vendor."
        elif job.accepted_by_vendor():
            message = (
                f"Stopped following it here. {title} has no way to cancel this work: it keeps working and billing "
                "for it, so the charge stays on the ledger."
            )
        else:
            message = "Cancelled before anything reached the vendor; nothing was charged."
        outcome = PollOutcome(
            status="cancelled",
            vendor_status="cancelled" if at_vendor else job.vendor_status,
            message=message,
            summary={"cancelled_at_vendor": at_vendor} if not in_flight else None,
        )
        ended = await self._finish(job, outcome, driver=False)
        if not ended:  # it finished on its own while the vendor was being told
            return await self.get(job_id), at_vendor
        return job, at_vendor

    async def results(
        self, job_id: str, *, offset: int = 0, limit: int = 100, fields: Sequence[str] | None = None
    ) -> tuple[Job, list[dict[str, Any]]]:
        job = await self.get(job_id)
        rows = await self.store.results(job_id, offset, limit)
        if fields:
            rows = [{f: row.get(f) for f in fields} for row in rows]
        return job, rows

    async def list(self, *, status: str | None = None, vendor: str | None = None, limit: int = 100) -> list[Job]:
        return await self.store.list(status=status, vendor=vendor, limit=limit)

    async def outcome(self, job: Job, *, preview: int = 50, reused: bool = False) -> JobResult:
        """The standard answer of a long-running tool."""
        info = JobInfo.of(job)
        again = (
            " This is the job already running for the same request (fresh: true starts a new one)." if reused else ""
        )
        if not job.done:
            return JobResult(
                job=info,
                finished=False,
                reused=reused,
                next_step=(
                    f"Still {job.status}.{again} The server keeps polling: read {info.resource_uri} (or call get_job) "
                    "later, then get_job_results."
                ),
            )
        rows = await self.store.results(job.id, 0, preview) if job.status == "completed" else None
        more = job.result_count > preview
        step = {
            "completed": "Done." + (f" Page through all {job.result_count} rows with get_job_results." if more else ""),
            "failed": "The job failed; see error.",
            "cancelled": "The job was cancelled; see message.",
            "unknown": "Check the vendor's dashboard before retrying: the work may have been submitted.",
        }[job.status]
        return JobResult(job=info, finished=True, rows=rows, more_rows=more, reused=reused, next_step=step + again)
