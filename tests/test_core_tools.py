"""Core tools: cache_stats and forget_person (nothing of the person left in any file of the data directory)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mcp import Client

from enrich_mcp.jobs import Job
from enrich_mcp.local import MxAnswer
from enrich_mcp.server import EnrichServer
from tests.conftest import connect

ADA = {"name": "Ada Lovelace", "company": "Analytical Engines"}
ADA_EMAIL = "ada.lovelace@analyticalengines.example.com"


class AlwaysMx:
    async def mx(self, domain: str) -> MxAnswer:
        return MxAnswer(status="has_mx", hosts=("mx." + domain,))


async def call(client: Client, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(tool, args)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


def files_mentioning(home: Path, *needles: str) -> list[str]:
    """enrich-mcp's files under home that mention a needle; home/sandbox is the fake vendors' own storage."""
    lowered = [n.lower().encode() for n in needles]
    return sorted(
        str(path.relative_to(home))
        for path in home.rglob("*")
        if path.is_file()
        and path.relative_to(home).parts[0] != "sandbox"
        and any(n in path.read_bytes().lower() for n in lowered)
    )


async def test_cache_stats_counts_entries_size_and_hit_rate(server: EnrichServer, era: str) -> None:
    async with connect(server, mode=era) as client:
        empty = await call(client, "cache_stats", {})
        await call(client, "sixtyfour_find_email", {"lead": ADA})
        await call(client, "sixtyfour_find_email", {"lead": ADA})
        await call(client, "sixtyfour_find_email", {"lead": ADA, "mode": "PERSONAL"})
        stats = await call(client, "cache_stats", {})
    assert empty == {
        "entries": 0,
        "size_bytes": empty["size_bytes"],
        "entries_by_vendor": {},
        "hits": 0,
        "misses": 0,
        "hit_rate": None,
    }
    assert (stats["entries"], stats["entries_by_vendor"]) == (2, {"sixtyfour": 2})
    assert (stats["hits"], stats["misses"], stats["hit_rate"]) == (1, 2, 0.3333)
    assert stats["size_bytes"] > 0


async def test_forget_person_leaves_no_trace_under_home(server: EnrichServer) -> None:
    runtime = server.runtime
    runtime.mx_resolver = AlwaysMx()
    job = Job(
        id="job-erasure", vendor="sixtyfour", kind="sixtyfour.find_emails_bulk", tool="sixtyfour_find_emails_bulk"
    )
    job.request, job.status, job.result_count = {"leads": [ADA]}, "completed", 2
    job.status = "running"
    await runtime.jobs.store.insert(job, owner="test", lease_seconds=30)
    job.status = "completed"
    await runtime.jobs.store.update(
        job,
        [{**ADA, "email": ADA_EMAIL}, {"name": "Grace Hopper", "company": "Navy", "email": "grace@navy.example.com"}],
    )

    async with connect(server) as client:
        await call(client, "sixtyfour_find_email", {"lead": ADA})
        person = await call(client, "enrich_person", {**ADA, "want": ["work_email"], "providers": ["sixtyfour"]})
        assert person["answers"][0]["value"] == ADA_EMAIL
        await call(client, "export_job_results", {"job_id": job.id, "format": "csv"})
        await call(client, "export_job_results", {"job_id": job.id, "format": "jsonl"})
        assert files_mentioning(runtime.home, ADA_EMAIL, "Ada Lovelace")

        forgot = await call(client, "forget_person", {"identifiers": [ADA_EMAIL]})
        rows = await call(client, "get_job_results", {"job_id": job.id})
        stats = await call(client, "cache_stats", {})

    assert files_mentioning(runtime.home, ADA_EMAIL, "Ada Lovelace") == []
    assert forgot["identifiers"] == [ADA_EMAIL]
    # Both exports are rewritten without Ada's row; Grace's row stays in them.
    assert (forgot["export_rows_removed"], forgot["export_files_rewritten"], forgot["export_files_removed"]) == (
        2,
        2,
        0,
    )
    # The name was only in the job request and the ledger: it was found through the cached answer.
    assert forgot["related_identifiers"] == ["ada lovelace"]
    assert forgot["cache_entries_removed"] == 2  # Sixtyfour's answer and the person-index entry
    assert forgot["ledger_rows_scrubbed"] == 1
    assert (forgot["job_rows_removed"], forgot["jobs_scrubbed"], forgot["unfinished_jobs"]) == (1, 1, [])
    # Someone else in the same job is untouched.
    assert [r["name"] for r in rows["rows"]] == ["Grace Hopper"]
    assert rows["job"]["result_count"] == 1 and rows["next_offset"] is None
    assert stats["entries"] == 0
    assert len(files_mentioning(runtime.home / "exports", "grace@navy.example.com")) == 2


GRACE = {"name": "Grace Hopper", "company": "Navy"}
ALAN = {"name": "Alan Turing", "company": "Navy"}
GRACE_EMAIL, ALAN_EMAIL = "grace.hopper@navy.example.com", "alan.turing@navy.example.com"
# Every form in which each person was written, searched byte by byte, case-insensitively.
GRACE_TRACES = (GRACE_EMAIL, "Grace Hopper", "(650) 555-0101", "6505550101", "grace-hopper")
ALAN_TRACES = (ALAN_EMAIL, "Alan Turing", "+1 650-555-0102")


def stores_mentioning(home: Path, *needles: str) -> set[str]:
    """Files holding a needle, a database's -wal/-shm counted as the database (a checkpoint empties them)."""
    return {name.removesuffix("-wal").removesuffix("-shm") for name in files_mentioning(home, *needles)}


async def test_forget_person_two_people_at_one_domain(server: EnrichServer) -> None:
    runtime = server.runtime
    runtime.mx_resolver = AlwaysMx()
    typed = Job(id="job-typed", vendor="sixtyfour", kind="sixtyfour.find_phones_bulk", tool="t", status="running")
    await runtime.jobs.store.insert(typed, owner="test", lease_seconds=30)
    typed.status = "completed"
    typed.summary = {"note": "Grace Hopper answered first"}
    rows = [
        {**GRACE, "phone": "(650) 555-0101", "linkedin": "https://www.linkedin.com/in/grace-hopper"},
        {**ALAN, "phone": "+1 650-555-0102", "met": "Grace Hopper"},
    ]
    await runtime.jobs.store.update(typed, rows)

    async with connect(server) as client:
        for lead in (GRACE, ALAN):
            await call(client, "sixtyfour_find_email", {"lead": lead})
        await call(client, "enrich_person", {**GRACE, "want": ["work_email"], "providers": ["sixtyfour"]})
        bulk = await call(client, "sixtyfour_find_emails_bulk", {"leads": [GRACE, ALAN], "wait_seconds": 30})
        assert bulk["finished"]
        for job_id, fmt in ((bulk["job"]["job_id"], "csv"), (bulk["job"]["job_id"], "jsonl"), (typed.id, "csv")):
            await call(client, "export_job_results", {"job_id": job_id, "format": fmt})
        grace_before = stores_mentioning(runtime.home, *GRACE_TRACES)
        alan_before = stores_mentioning(runtime.home, *ALAN_TRACES)
        assert {"cache/cache.db", "jobs.sqlite3", "spend.sqlite3"} <= grace_before
        assert len([s for s in alan_before if s.startswith("exports/")]) == 3

        for fragment in ("navy.example.com", "com", "Grace", "grace.hopper@navy", "+1650"):
            refused = await client.call_tool("forget_person", {"identifiers": [fragment]})
            assert refused.is_error, fragment
        dry = await call(client, "forget_person", {"identifiers": [GRACE_EMAIL.upper()], "dry_run": True})
        assert stores_mentioning(runtime.home, *GRACE_TRACES) == grace_before

        forgot = await call(client, "forget_person", {"identifiers": [GRACE_EMAIL.upper()]})
        typed_rows = await call(client, "get_job_results", {"job_id": typed.id})
        bulk_rows = await call(client, "get_job_results", {"job_id": bulk["job"]["job_id"]})

    assert stores_mentioning(runtime.home, *GRACE_TRACES) == set()
    assert stores_mentioning(runtime.home, *ALAN_TRACES) == alan_before
    assert {k: v for k, v in forgot.items() if k != "dry_run"} == {k: v for k, v in dry.items() if k != "dry_run"}
    assert forgot["identifiers"] == [GRACE_EMAIL]
    # Found beside the email (the name), then beside the name (phone and LinkedIn in another job's row).
    assert set(forgot["related_identifiers"]) == {
        "grace hopper",
        "+16505550101",
        "https://www.linkedin.com/in/grace-hopper",
    }
    assert forgot["export_rows_removed"] == 3 and forgot["export_files_removed"] == 0
    assert [r["name"] for r in typed_rows["rows"]] == ["Alan Turing"]
    assert typed_rows["rows"][0]["met"] == "[erased]"
    assert [r["index"] for r in bulk_rows["rows"]] == [1]
    stored = await runtime.jobs.store.get(bulk["job"]["job_id"])
    assert stored is not None and stored.request["leads"] == [{"erased": True}, ALAN]
