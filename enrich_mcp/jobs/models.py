"""What a job is: the stored record, what a poll learned, how tools show it, and vendor status words."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, overload

from pydantic import BaseModel, ConfigDict, Field

from enrich_mcp.errors import VendorProtocolError
from enrich_mcp.schema import published

JobStatus = Literal["queued", "running", "completed", "failed", "cancelled", "unknown"]
TERMINAL: frozenset[str] = frozenset({"completed", "failed", "cancelled", "unknown"})


def job_uri(job_id: str) -> str:
    return f"enrich://jobs/{job_id}"


class Job(BaseModel):
    """One unit of long vendor work, as stored in the ledger."""

    id: str
    vendor: str
    kind: str
    tool: str
    status: JobStatus = "queued"
    vendor_status: str | None = None
    vendor_job_id: str | None = None
    request: dict[str, Any] = Field(default_factory=dict)
    state: dict[str, Any] = Field(default_factory=dict, description="Handler-private progress (steps, chunk ids)")
    progress: float | None = None
    total: float | None = None
    message: str | None = None
    error: str | None = None
    summary: dict[str, Any] = Field(default_factory=dict)
    result_count: int = 0
    charge_id: int | None = None
    dedup_key: str | None = None
    created_at: float = Field(default_factory=time.time)
    updated_at: float = Field(default_factory=time.time)
    finished_at: float | None = None

    @property
    def done(self) -> bool:
        return self.status in TERMINAL

    @property
    def phase(self) -> str:
        return str(self.state.get("phase", "submit"))

    def steps(self) -> dict[str, dict[str, Any]]:
        return self.state.setdefault("steps", {})

    def accepted_by_vendor(self) -> bool:
        """True once any submit step may have reached the vendor (sent, done or unknown)."""
        return any(s.get("status") in ("done", "sending", "unknown") for s in self.state.get("steps", {}).values())


@dataclass
class PollOutcome:
    """What one poll (or a submit) learned.

    ``rows`` are appended to the job's results. With ``part`` set they are stored once per
    ``(job, part)``: a chunk or page answered twice (a retried poll, a second process) is not
    stored twice.
    """

    status: JobStatus
    vendor_status: str | None = None
    progress: float | None = None
    total: float | None = None
    message: str | None = None
    rows: Sequence[Mapping[str, Any]] | None = None
    part: str | None = None
    summary: Mapping[str, Any] | None = None
    error: str | None = None
    actual_cost_usd: float | None = None
    next_poll_in: float | None = None


class StatusWords:
    """A vendor's documented status words, mapped to ours; an undocumented word is a protocol error.

    The poller gives up on a job whose polls keep raising protocol errors (a bounded number of
    tries), so an unknown word ends the job instead of polling forever.
    """

    def __init__(self, vendor: str, words: Mapping[str, JobStatus], *, case_sensitive: bool = False) -> None:
        self.vendor = vendor
        self.case_sensitive = case_sensitive
        self.words: dict[str, JobStatus] = dict(words) if case_sensitive else {k.lower(): v for k, v in words.items()}

    @overload
    def get(self, word: Any) -> JobStatus | None: ...
    @overload
    def get(self, word: Any, default: JobStatus) -> JobStatus: ...
    def get(self, word: Any, default: JobStatus | None = None) -> JobStatus | None:
        """Our status for ``word``, or ``default`` (a vendor that fails a job on a word it did not document)."""
        status = self.words.get(str(word) if self.case_sensitive else str(word).lower())
        return default if status is None else status

    def __call__(self, word: Any, what: str = "the job") -> JobStatus:
        status = self.get(word)
        if status is None:
            raise VendorProtocolError(self.vendor, f"{what} reported the undocumented status {word!r}")
        return status


class JobInfo(BaseModel):
    """A job as tools and resources show it: one compact shape, shared by every job handle.

    Its published schema types the handle's three key fields; the others are in every answer too.
    """

    model_config = ConfigDict(json_schema_extra=published("job_id", "status", "resource_uri", nested=True))

    job_id: str
    tool: str
    status: JobStatus
    vendor_status: str | None = Field(default=None, description="The vendor's own word")
    vendor_job_id: str | None = None
    progress: float | None = None
    total: float | None = None
    message: str | None = None
    error: str | None = None
    result_count: int = 0
    summary: dict[str, Any] = Field(default_factory=dict)
    resource_uri: str = Field(description="Read it for the job; add /results for its rows")
    updated_at: str = Field(description="Last change, UTC ISO 8601")

    @classmethod
    def of(cls, job: Job) -> JobInfo:
        return cls(
            job_id=job.id,
            tool=job.tool,
            status=job.status,
            vendor_status=job.vendor_status,
            vendor_job_id=job.vendor_job_id,
            progress=job.progress,
            total=job.total,
            message=job.message,
            error=job.error,
            result_count=job.result_count,
            summary=job.summary,
            resource_uri=job_uri(job.id),
            updated_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(job.updated_at)),
        )


class JobResult(BaseModel):
    """What a long-running tool returns: the job, and its first rows when it finished in time."""

    model_config = ConfigDict(json_schema_extra=published("job", "finished", "rows", "reused", "next_step"))

    job: JobInfo
    finished: bool = Field(description="The job ended within wait_seconds")
    rows: list[dict[str, Any]] | None = None
    more_rows: bool = Field(default=False, description="get_job_results has more rows")
    reused: bool = Field(default=False, description="The same request's unfinished job, not a new one")
    next_step: str
