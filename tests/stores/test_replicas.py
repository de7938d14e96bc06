"""Three real `enrich-mcp serve --http` replicas on one PostgreSQL database (issue 14).

The vendor is Sixtyfour's sandbox served over real HTTP by one separate process
(``tests/stores/fake_vendor.py``): the built-in sandbox lives inside each server process, so it
cannot show what several replicas together sent. That process records every request, so the tests
assert what the vendor really received. Each replica has its own data directory; only the
database is shared.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import psycopg
import pytest

from tests.stores.replicas import (
    FakeVendorProcess,
    Replica,
    call,
    eventually,
    read_json,
    start_replicas,
    text_of,
)

pytestmark = pytest.mark.filterwarnings("ignore:resources/subscribe is removed")  # still right for 2025 clients


@pytest.fixture
def processes() -> Iterator[list[Any]]:
    started: list[Any] = []
    yield started
    for proc in started:
        proc.stop()


def _db_job(url: str, job_id: str) -> dict[str, Any]:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT data FROM jobs WHERE id = %s", (job_id,)).fetchone()
    assert row is not None
    return json.loads(row[0])


async def test_a_bulk_job_whose_owner_is_killed_finishes_on_another_replica_with_each_chunk_sent_once(
    tmp_path: Path, pg_url: str, processes: list[Any]
) -> None:
    vendor = FakeVendorProcess(tmp_path)
    processes.append(vendor)
    a, b, c = start_replicas(
        tmp_path,
        pg_url,
        vendor.url,
        {
            # A's own limit lets two chunks out and parks the third in the shared limiter: written
            # "prepared", never sent — the exact point where a crash must neither lose nor repeat it.
            "a": {"SIXTYFOUR_RATE_LIMIT": "2/min"},
            "b": {},
            # C drives nothing (no Sixtyfour toolset, so it claims no Sixtyfour job): it only answers.
            "c": {"ENRICH_MCP_TOOLSETS": "core", "SIXTYFOUR_API_KEY": ""},
        },
    )
    processes += [a, b, c]
    leads = [{"name": f"Person {i}", "company": f"Company {i}"} for i in range(350)]  # 4 chunks of <=100
    updates: list[str] = []
    moved = anyio.Event()

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            updates.append(str(message.params.uri))
            moved.set()

    async with a.client() as on_a, c.client(message_handler=on_message) as on_c:
        handle = await call(on_a, "sixtyfour_find_emails_bulk", leads=leads, wait_seconds=0)
        job_id = handle["job"]["job_id"]
        uri = f"enrich://jobs/{job_id}"
        await on_c.subscribe_resource(uri)  # a client of C follows the job

        async def parked() -> dict[str, Any] | None:
            steps = _db_job(pg_url, job_id)["state"].get("steps", {})
            return steps if steps.get("chunk-2", {}).get("status") == "prepared" else None

        steps = await eventually(parked, timeout=20)
        assert [steps[f"chunk-{i}"]["status"] for i in range(2)] == ["done", "done"]
        updates.clear()
        moved = anyio.Event()
        a.kill()

        async def ended() -> dict[str, Any] | None:
            job = await call(on_c, "get_job", job_id=job_id)
            return job if job["status"] in ("completed", "failed", "unknown") else None

        job = await eventually(ended, timeout=30, interval=0.1)
        with anyio.fail_after(10):
            await moved.wait()
        assert job["status"] == "completed" and job["result_count"] == 350
        assert uri in updates  # C's subscriber heard of what B did, through NOTIFY

        page = await call(on_c, "get_job_results", job_id=job_id, limit=500)
        assert sorted(r["index"] for r in page["rows"]) == list(range(350))
        resource = read_json(await on_c.read_resource(f"{uri}/results"))
        assert resource["result_count"] == 350 and len(resource["rows"]) == 350

    posts = [r for r in vendor.log() if r["path"] == "/find-email-bulk-async"]
    sent = [lead["name"] for r in posts for lead in r["body"]["leads"]]
    assert len(posts) == 4 and sorted(sent) == sorted(lead["name"] for lead in leads)  # each chunk once
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT count(*), count(DISTINCT data) FROM results WHERE job_id = %s", (job_id,))
        assert rows.fetchone() == (350, 350)  # each row stored once
    stored = _db_job(pg_url, job_id)
    assert all(step["status"] == "done" for step in stored["state"]["steps"].values())
    assert f"driving job {job_id}" in b.log()
    assert f"driving job {job_id}" not in c.log()


async def test_three_replicas_never_overshoot_one_budget(tmp_path: Path, pg_url: str, processes: list[Any]) -> None:
    vendor = FakeVendorProcess(tmp_path)
    processes.append(vendor)
    replicas = start_replicas(tmp_path, pg_url, vendor.url, {n: {"ENRICH_MCP_BUDGET_USD": "1.00"} for n in "abc"})
    processes += replicas
    with anyio.fail_after(60):
        outcomes = await _burst(replicas, calls_per_replica=20, concurrency=20, budget=True)  # $0.05 each
    assert outcomes.count("ok") == 20 and outcomes.count("refused") == 40, outcomes
    assert len([r for r in vendor.log() if r["path"] == "/find-email"]) == 20  # the refused never reached it
    reports = []
    for replica in replicas:
        async with replica.client() as client:
            reports.append(await call(client, "spend_report"))
    assert reports[0] == reports[1] == reports[2]  # one ledger, whichever replica answers
    assert (reports[0]["spent_usd"], reports[0]["reserved_usd"], reports[0]["remaining_usd"]) == (1.0, 0.0, 0.0)


async def test_the_shared_limiter_keeps_three_replicas_under_one_vendor_rate(
    tmp_path: Path, pg_url: str, processes: list[Any]
) -> None:
    # Sixtyfour's 500/min with the window shrunk tenfold: 50 requests per 6 s, enforced by the vendor.
    vendor = FakeVendorProcess(tmp_path, rate="50/6s")
    processes.append(vendor)
    replicas = start_replicas(tmp_path, pg_url, vendor.url, {n: {"SIXTYFOUR_RATE_LIMIT": "50/6s"} for n in "abc"})
    processes += replicas
    with anyio.fail_after(60):
        outcomes = await _burst(replicas, calls_per_replica=50, concurrency=20, budget=False)
    assert outcomes == ["ok"] * 150  # no 429 (nor anything else) reached a caller
    log = vendor.log()  # the vendor counts every request (health probes too), so the window does
    accepted = sorted(r["t"] for r in log if r["status"] != 429)
    rejected = [r for r in log if r["status"] == 429]
    assert len([r for r in log if r["path"] == "/find-email" and r["status"] == 200]) == 150
    print(f"vendor answered 429 to {len(rejected)} of {len(log)} requests")
    # Kept under the vendor's window together (three replicas each limiting itself alone would send 150
    # at once and be refused 100 times). A request admitted as a slot frees can still reach the vendor
    # before a slower earlier one left its window (the limiter holds the window 5 % longer for that):
    # the rare 429 is safe to resend, and resent, so no caller sees it.
    assert len(rejected) <= 10
    # ... and used it: each full window after the first carried at least 90% of the limit.
    t0 = accepted[0]
    per_window = [sum(1 for t in accepted if t0 + 6 * k <= t < t0 + 6 * (k + 1)) for k in range(3)]
    print(f"requests per 6 s window: {per_window}")
    assert per_window[0] >= 45 and per_window[1] >= 45 and max(per_window) <= 50


async def _burst(replicas: list[Replica], calls_per_replica: int, concurrency: int, *, budget: bool) -> list[str]:
    """``calls_per_replica`` find-email calls on each replica, ``concurrency`` at a time, all replicas at once."""
    outcomes: list[str] = []

    async def worker(client: Any, queue: list[int]) -> None:
        while queue:
            n = queue.pop()
            lead = {"name": f"Person {n}", "company": "Load Co"}
            result = await client.call_tool("sixtyfour_find_email", {"lead": lead})
            if not result.is_error:
                outcomes.append("ok")
            elif budget and "budget" in text_of(result).lower():
                outcomes.append("refused")
            else:
                outcomes.append("error: " + text_of(result))

    async def drive(replica: Replica, first: int) -> None:
        queue = list(range(first, first + calls_per_replica))
        async with replica.client() as client, anyio.create_task_group() as tg:
            for _ in range(concurrency):
                tg.start_soon(worker, client, queue)

    async with anyio.create_task_group() as tg:
        for i, replica in enumerate(replicas):
            tg.start_soon(drive, replica, i * 1000)
    return outcomes
