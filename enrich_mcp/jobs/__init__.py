"""Long-running vendor work: the ledger (:mod:`.store`), what a job is (:mod:`.models`), and the
manager that submits, drives and waits on jobs (:mod:`.manager`)."""

from enrich_mcp.jobs.manager import (
    JobControl,
    JobHandler,
    JobManager,
    Progress,
    StepOutcomeUnknown,
    SubmitRefused,
    process_owner,
)
from enrich_mcp.jobs.models import TERMINAL, Job, JobInfo, JobResult, JobStatus, PollOutcome, StatusWords, job_uri
from enrich_mcp.jobs.store import JobStore, SqliteJobStore, Write

__all__ = [
    "TERMINAL",
    "Job",
    "JobControl",
    "JobHandler",
    "JobInfo",
    "JobManager",
    "JobResult",
    "JobStatus",
    "JobStore",
    "PollOutcome",
    "Progress",
    "SqliteJobStore",
    "StatusWords",
    "StepOutcomeUnknown",
    "SubmitRefused",
    "Write",
    "job_uri",
    "process_owner",
]
