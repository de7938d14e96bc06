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
    lowered = [n.lower().encode() for n in needles]
    return sorted(
        str(path.relative_to(home))
        for path in home.rglob("*")
        if path.is_file() and any(n in path.read_bytes().lower() for n in lowered)
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
    assert forgot["export_files_removed"] == 2
    # The name was only in the job request and the ledger: it was found through the cached answer.
    assert forgot["related_identifiers"] == ["Ada Lovelace"]
    assert forgot["cache_entries_removed"] == 2  # Sixtyfour's answer and the person-index entry
    assert forgot["ledger_rows_scrubbed"] == 1
    # Someone else in the same job is untouched.
    assert [r["name"] for r in rows["rows"]] == ["Grace Hopper"]
    assert stats["entries"] == 0
