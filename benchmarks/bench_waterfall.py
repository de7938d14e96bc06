"""Time ``enrich_person`` answered from the cache through the in-memory MCP client; exits 1 over target.

A sandbox server (DNS stubbed) looks one person up once, paying the sandbox vendor, then answers the same
question 200 times from the person index. Run from the repository root: ``python benchmarks/bench_waterfall.py``.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import anyio
from mcp import Client

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from enrich_mcp.local import MxAnswer
from enrich_mcp.server import build_server
from enrich_mcp.settings import Settings

CALLS = 200
TARGET_MS = 20.0
ARGS = {"name": "Ada Lovelace", "company": "Analytical Engines", "want": ["work_email", "personal_email"]}


class StubResolver:
    async def mx(self, domain: str) -> MxAnswer:
        return MxAnswer(status="has_mx", hosts=("mx." + domain,))


async def main() -> int:
    with tempfile.TemporaryDirectory() as home:
        server = build_server(Settings(home=Path(home), sandbox=True))
        server.runtime.mx_resolver = StubResolver()
        try:
            async with Client(server) as client:
                warm = await client.call_tool("enrich_person", ARGS)
                assert warm.structured_content and warm.structured_content["complete"], warm.content
                paid = sum(len(s.requests) for s in server.runtime.sandboxes.values())
                timings: list[float] = []
                for _ in range(CALLS):
                    start = time.perf_counter()
                    result = await client.call_tool("enrich_person", ARGS)
                    timings.append((time.perf_counter() - start) * 1000)
                    assert result.structured_content and result.structured_content["cost_usd"] == 0, result.content
                after = sum(len(s.requests) for s in server.runtime.sandboxes.values())
        finally:
            server.runtime.close()
    assert after == paid, f"{after - paid} vendor requests while serving from cache"
    mean = statistics.fmean(timings)
    p95 = statistics.quantiles(timings, n=20)[-1]
    ok = mean < TARGET_MS
    print(
        f"enrich_person from cache: {mean:.2f} ms/call mean, {statistics.median(timings):.2f} ms median, "
        f"{p95:.2f} ms p95 over {CALLS} calls (target < {TARGET_MS:g} ms/call) {'OK' if ok else 'MISSED'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(anyio.run(main))
