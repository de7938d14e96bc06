"""PostgreSQL against the embedded default (SQLite + diskcache), measured in the same run.

Run: ``.venv/bin/python benchmarks/bench_postgres.py`` (about a minute). It starts a throwaway
PostgreSQL cluster (tests/pg.py: the machine's initdb/pg_ctl) and prints, per backend:

1. jobs polled per second: 1,000 running fake jobs (they stay ``running``, as long vendor jobs
   do) on one JobManager whose poll interval is short enough to keep it busy, counted over 3 s;
2. memory per replica at 1,000 tracked jobs: resident memory of a fresh process (one replica)
   once it tracks 1,000 jobs, and its growth from before the jobs were started;
3. the latency of a cache hit (``ResultCache.get`` of a stored answer), and what PostgreSQL adds;
4. the shared rate limiter's cost per request (``acquire`` with room in the window), against the
   in-process limiter it replaced;
5. the latency of one sandbox request (``ENRICH_MCP_SANDBOX=1``: Sixtyfour's ``GET /job-status``,
   one transaction that reads and rewrites the task), its state in a file or in the database.

Each poller measurement runs in its own process, so one backend's memory does not count in the
other's. Informational: no target is judged here (bench_jobs.py judges the poller's targets).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from enrich_mcp.cache import ResultCache
from enrich_mcp.http import Rate, RateLimiter
from enrich_mcp.jobs import JobManager
from enrich_mcp.sandbox.sixtyfour import Sandbox as SixtyfourSandbox
from enrich_mcp.settings import Settings
from enrich_mcp.stores import Stores, open_stores
from tests.jobs_fakes import FakeHandler, FakeVendor
from tests.pg import Cluster


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def settings_for(home: Path, url: str | None) -> Settings:
    return Settings(home=home, database_url=SecretStr(url) if url else None)


async def poller(home: Path, url: str | None, jobs: int, interval: float, seconds: float) -> dict[str, Any]:
    """One replica's poller with ``jobs`` running jobs: polls a second, CPU share, memory."""
    stores = open_stores(settings_for(home, url), owner="bench")
    vendor = FakeVendor(queued_polls=0, running_polls=10**9, rows=0)
    manager = JobManager(stores.jobs, stores.spend, owner="bench")
    manager.register(FakeHandler(vendor, poll_interval=interval))
    await stores.jobs.list(limit=1)  # open the pool / files before the baseline
    rss_before = rss_mb()
    polls, cpu, wall, rss = 0, 0.0, 1.0, 0.0
    try:
        async with anyio.create_task_group() as tg:
            await tg.start(manager.run)
            limit = anyio.Semaphore(20)

            async def start(i: int) -> None:
                async with limit:
                    await manager.start(vendor="fake", kind="fake.search", tool="bench", request={"query": f"q{i}"})

            async with anyio.create_task_group() as starts:
                for i in range(jobs):
                    starts.start_soon(start, i)
            with anyio.fail_after(120):
                await vendor.until(lambda: vendor.poll_count >= 2 * jobs)  # warm: every job polled twice
            polls0, cpu0, wall0 = vendor.poll_count, time.process_time(), time.perf_counter()
            await anyio.sleep(seconds)
            polls, cpu, wall = vendor.poll_count - polls0, time.process_time() - cpu0, time.perf_counter() - wall0
            rss = rss_mb()
            tg.cancel_scope.cancel()
    finally:
        await stores.aclose()
        stores.close()
    return {
        "polls_per_second": polls / wall,
        "cpu_share": cpu / wall,
        "rss_mb": rss,
        "rss_growth_mb": rss - rss_before,
    }


def _median_us(samples: list[float]) -> float:
    return statistics.median(samples) * 1e6


async def cache_hit(stores: Stores, rounds: int) -> tuple[float, float]:
    """Median and 99th-percentile µs of a cache hit."""
    cache = ResultCache(stores.cache)
    request = {"lead": {"name": "Ada Lovelace", "company": "Analytical Engines"}, "mode": "PROFESSIONAL"}
    value = {"email": [["ada.lovelace@analytical.example.com", "OK", "COMPANY"]], "personal_email": None}
    await cache.set("sixtyfour", "find_email", request, "acct", value)
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        hit = await cache.get("sixtyfour", "find_email", request, "acct")
        samples.append(time.perf_counter() - t0)
        assert hit is not None
    samples.sort()
    return _median_us(samples), samples[int(len(samples) * 0.99)] * 1e6


async def limiter_cost(stores: Stores | None, rounds: int) -> float:
    """Median µs of one ``acquire`` with room in the window (``None``: the in-process limiter).

    Sixtyfour's 500/min: the window fills up to 499 starts, as it does under load (each acquire
    counts the window), and never makes a caller wait."""
    rate = Rate(500, 60)
    limiter = RateLimiter(rate) if stores is None else stores.limiter("bench", "acct", rate)
    samples = []
    for _ in range(min(rounds, rate.requests - 1)):
        t0 = time.perf_counter()
        await limiter.acquire()
        samples.append(time.perf_counter() - t0)
    return _median_us(samples)


def sandbox_request(stores: Stores, rounds: int) -> tuple[float, float]:
    """Median and 99th-percentile µs of one sandbox request, through ``SandboxApp.handle``."""
    box = SixtyfourSandbox(store=stores.sandbox("sixtyfour"), seed=0)
    box.rate = None  # the documented 500/min would answer 429 long before the last round
    headers = {"x-api-key": "bench"}
    started = box.handle(
        httpx.Request(
            "POST",
            "https://api.sixtyfour.ai/enrich-lead-async",
            json={"lead_info": {"name": "Ada Lovelace"}, "struct": {"email": "Work email"}},
            headers=headers,
        )
    )
    poll = httpx.Request("GET", f"https://api.sixtyfour.ai/job-status/{started.json()['task_id']}", headers=headers)
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        answer = box.handle(poll)
        samples.append(time.perf_counter() - t0)
        assert answer.status_code == 200
    samples.sort()
    return _median_us(samples), samples[int(len(samples) * 0.99)] * 1e6


def child(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        result = anyio.run(poller, Path(tmp), args.url, args.jobs, args.interval, args.seconds)
    print(json.dumps(result))


async def in_process(url: str, rounds: int) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, db in (("embedded", None), ("postgresql", url)):
            stores = open_stores(settings_for(Path(tmp) / name, db), owner="bench")
            try:
                median, p99 = await cache_hit(stores, rounds)
                out[name] = {"cache_hit_us": median, "cache_hit_p99_us": p99}
                out[name]["limiter_us"] = await limiter_cost(stores, rounds)
                out[name]["sandbox_us"], out[name]["sandbox_p99_us"] = sandbox_request(stores, rounds)
            finally:
                await stores.aclose()
                stores.close()
        out["in-process"] = {"limiter_us": await limiter_cost(None, rounds)}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=0.05, help="poll interval: short, to keep the poller busy")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return 0

    cluster = Cluster()
    try:
        url = cluster.create_database()
        pollers: dict[str, dict[str, Any]] = {}
        for name, db in (("embedded", None), ("postgresql", url)):
            command = [sys.executable, __file__, "--child", "--jobs", str(args.jobs), "--interval", str(args.interval)]
            command += ["--seconds", str(args.seconds)] + (["--url", db] if db else [])
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            pollers[name] = json.loads(done.stdout.strip().splitlines()[-1])
        lookups = anyio.run(in_process, cluster.create_database(), args.rounds)
    finally:
        cluster.stop()

    print(f"jobs polled per second ({args.jobs} running jobs, one replica, poller kept busy):")
    for name, r in pollers.items():
        print(f"  {name:<11} {r['polls_per_second']:8.0f} polls/s  (CPU {r['cpu_share'] * 100:.0f}% of one core)")
    print(f"memory per replica at {args.jobs} tracked jobs:")
    for name, r in pollers.items():
        print(f"  {name:<11} {r['rss_mb']:6.1f} MB resident, {r['rss_growth_mb']:+.1f} MB for the jobs")
    embedded, pg = lookups["embedded"], lookups["postgresql"]
    print(f"cache hit (ResultCache.get, median of {args.rounds}):")
    print(f"  embedded    {embedded['cache_hit_us']:7.0f} µs  (p99 {embedded['cache_hit_p99_us']:.0f} µs)")
    print(f"  postgresql  {pg['cache_hit_us']:7.0f} µs  (p99 {pg['cache_hit_p99_us']:.0f} µs)")
    print(f"  added by PostgreSQL: {pg['cache_hit_us'] - embedded['cache_hit_us']:+.0f} µs")
    print("rate limiter, one acquire with room in a 500/min window (median of 499):")
    print(f"  in-process  {lookups['in-process']['limiter_us']:7.1f} µs  (before: each process alone)")
    print(f"  shared on SQLite (default) {embedded['limiter_us']:7.1f} µs")
    print(f"  shared on PostgreSQL       {pg['limiter_us']:7.1f} µs")
    print(f"sandbox request (Sixtyfour GET /job-status, one transaction; median of {args.rounds}):")
    print(f"  embedded    {embedded['sandbox_us']:7.0f} µs  (p99 {embedded['sandbox_p99_us']:.0f} µs)")
    print(f"  postgresql  {pg['sandbox_us']:7.0f} µs  (p99 {pg['sandbox_p99_us']:.0f} µs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
