"""Job-system benchmark: poller overhead with many jobs in flight, and results paging through MCP.

Run: ``.venv/bin/python benchmarks/bench_jobs.py`` (about 20 s). Prints the figures and exits
non-zero when a target is missed.

1. 1,000 concurrent fake jobs (sandbox-like: they stay ``running``) on one JobManager
   polling every 10 s, the vendors' advice. After a warm-up cycle (each job's first poll
   records "running"), over one full poll cycle it measures the
   process CPU time divided by wall time (target < 5% of one core) and the growth of
   resident memory from before the jobs were started (target < 50 MB).
2. A finished job with 10,000 rows paged through ``get_job_results`` at 1,000 rows a
   call over the in-memory MCP client (target < 50 ms a page).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from mcp import Client

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from enrich_mcp.budget import SpendLedger
from enrich_mcp.jobs import JobManager, SqliteJobStore
from enrich_mcp.server import build_server
from enrich_mcp.settings import Settings
from tests.jobs_fakes import FakeHandler, FakeVendor, fake_server

CPU_TARGET = 0.05
MEMORY_TARGET_MB = 50.0
PAGE_TARGET_MS = 50.0


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def bench_poller(home: Path, jobs_count: int, interval: float) -> tuple[float, float, int]:
    """CPU share of one core and RSS growth (MB) over one poll cycle with ``jobs_count`` jobs running."""
    vendor = FakeVendor(queued_polls=0, running_polls=10**9, rows=0)
    store = SqliteJobStore(home / "jobs.sqlite3")
    ledger = SpendLedger(home / "spend.sqlite3")
    manager = JobManager(store, ledger)
    manager.register(FakeHandler(vendor, poll_interval=interval))
    rss_before = rss_mb()
    cpu = wall = 0.0
    polls = 0
    rss_growth = 0.0
    try:
        async with anyio.create_task_group() as tg:
            await tg.start(manager.run)
            for i in range(jobs_count):
                await manager.start(vendor="fake", kind="fake.search", tool="bench", request={"query": f"q{i}"})
            with anyio.fail_after(60):
                await vendor.until(lambda: vendor.submits == jobs_count)
            # Warm-up cycle: every job's first poll records "running"; after that a sandbox-like job
            # mostly reports no news, which is what a long wait costs.
            with anyio.fail_after(interval * 3):
                await vendor.until(lambda: vendor.poll_count >= jobs_count)
            polls_before = vendor.poll_count
            cpu0, wall0 = time.process_time(), time.perf_counter()
            await anyio.sleep(interval + 0.5)  # one full cycle: every job is polled once
            cpu = time.process_time() - cpu0
            wall = time.perf_counter() - wall0
            polls = vendor.poll_count - polls_before
            rss_growth = rss_mb() - rss_before
            tg.cancel_scope.cancel()
    finally:
        store.close()
        ledger.close()
    return cpu / wall, rss_growth, polls


async def bench_paging(home: Path, rows: int, page: int, rounds: int) -> tuple[list[float], list[float]]:
    """Wall and CPU milliseconds per ``get_job_results`` page over the in-memory client, ``rounds`` times over."""
    payload = [
        {
            "idx": i,
            "first_name": f"First{i}",
            "last_name": f"Last{i}",
            "email": f"person{i}@company{i % 97}.example.com",
            "phone": f"+1 555 {i:07d}",
            "title": "Head of Revenue Operations",
            "company": f"Company {i % 97} Inc.",
            "domain": f"company{i % 97}.example.com",
            "linkedin": f"https://www.linkedin.com/in/person-{i}",
            "confidence": 0.93,
            "verified": i % 3 == 0,
        }
        for i in range(rows)
    ]
    settings = Settings(home=home / "server", sandbox=True, toolsets=["core"], poll_interval_seconds=0.01)
    server = fake_server(lambda: build_server(settings), FakeVendor(payload=payload, running_polls=0))
    wall: list[float] = []
    cpu: list[float] = []
    try:
        async with Client(server, mode="legacy") as client:
            started = await client.call_tool("fake_search", {"query": "q", "wait_seconds": 60})
            assert started.structured_content is not None
            job: dict[str, Any] = started.structured_content["job"]
            assert job["status"] == "completed" and job["result_count"] == rows, job
            for _ in range(rounds):
                offset: int | None = 0
                seen = 0
                while offset is not None:
                    t0, c0 = time.perf_counter(), time.process_time()
                    result = await client.call_tool(
                        "get_job_results", {"job_id": job["job_id"], "offset": offset, "limit": page}
                    )
                    wall.append((time.perf_counter() - t0) * 1000)
                    cpu.append((time.process_time() - c0) * 1000)
                    assert result.structured_content is not None, result.content
                    seen += len(result.structured_content["rows"])
                    offset = result.structured_content["next_offset"]
                assert seen == rows
    finally:
        server.runtime.close()
    return wall, cpu


async def main(args: argparse.Namespace) -> int:
    missed: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        share, growth, polls = await bench_poller(home, args.jobs, args.interval)
        print(
            f"poller: {args.jobs} jobs, poll every {args.interval:g} s: {polls} polls in the window, "
            f"CPU {share * 100:.2f}% of one core (target < {CPU_TARGET * 100:.0f}%), "
            f"RSS growth {growth:.1f} MB (target < {MEMORY_TARGET_MB:.0f} MB)"
        )
        if share >= CPU_TARGET:
            missed.append("poller CPU")
        if growth >= MEMORY_TARGET_MB:
            missed.append("poller memory")

        wall, cpu = await bench_paging(home, args.rows, args.page, args.rounds)
        median = statistics.median(wall)
        print(
            f"paging: {args.rows} rows at {args.page} a page over MCP, {args.rounds} passes ({len(wall)} pages): "
            f"median {median:.1f} ms, mean {statistics.fmean(wall):.1f} ms, max {max(wall):.1f} ms a page "
            f"(target < {PAGE_TARGET_MS:.0f} ms); CPU {statistics.median(cpu):.1f} ms a page"
        )
        if median >= PAGE_TARGET_MS:
            missed.append("results paging")
    if missed:
        print("MISSED: " + ", ".join(missed))
        return 1
    print("all targets met")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--page", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3, help="passes over the rows (the median page is judged)")
    sys.exit(anyio.run(main, parser.parse_args()))
