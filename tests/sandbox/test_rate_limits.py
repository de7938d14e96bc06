"""The documented rate limits: Sixtyfour 500 requests/min, Enrichabl 600/min/token; then 429."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from enrich_mcp.sandbox import SandboxApp
from enrich_mcp.sandbox.enrichabl import Sandbox as Enrichabl
from enrich_mcp.sandbox.sixtyfour import Sandbox as Sixtyfour

CASES = [
    (Sixtyfour, "https://api.sixtyfour.ai/workflows", {"x-api-key": "k1"}, {"x-api-key": "k2"}, 500),
    (
        Enrichabl,
        "https://api.enrichabl.com/v1/pipelines",
        {"Authorization": "Bearer eab_live_1"},
        {"Authorization": "Bearer eab_live_2"},
        600,
    ),
]


@pytest.mark.parametrize(("cls", "url", "token", "other", "limit"), CASES)
def test_over_the_documented_rate_is_429_with_retry_after(
    home: Path, cls: type[SandboxApp], url: str, token: dict[str, str], other: dict[str, str], limit: int
) -> None:
    now = [1_700_000_000.0]
    # Two instances on one home: the window is stored, so every process counts against it together.
    boxes = [cls(home=home), cls(home=home)]
    for box in boxes:
        box.clock = lambda: now[0]
    answers = [boxes[i % 2].handle(httpx.Request("GET", url, headers=token)).status_code for i in range(limit)]
    assert answers == [200] * limit
    now[0] += 45
    refused = boxes[0].handle(httpx.Request("GET", url, headers=token))
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "15"
    assert "rate" in refused.text.lower() or "limit" in refused.text.lower()
    # Per token: another key still has its own minute.
    assert boxes[1].handle(httpx.Request("GET", url, headers=other)).status_code == 200
    now[0] += 15
    assert boxes[1].handle(httpx.Request("GET", url, headers=token)).status_code == 200


async def test_the_client_side_limiter_keeps_a_burst_under_the_sandbox_limit(home: Path) -> None:
    """501 requests in a burst: the sandbox would refuse the 501st; our limiter makes it wait instead."""
    from enrich_mcp.http import Rate, RateLimiter, VendorHTTP
    from enrich_mcp.vendors.sixtyfour import SPEC

    box = Sixtyfour(home=home)
    now = [1_700_000_000.0]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    box.clock = lambda: now[0]
    assert SPEC.rate == Rate(500, 60)
    http = VendorHTTP(
        vendor="sixtyfour",
        base_url="https://api.sixtyfour.ai",
        auth=SPEC.auth,
        api_key="k",
        transport=box.transport(),
        limiter=RateLimiter(SPEC.rate, clock=lambda: now[0], sleep=sleep),
        sleep=sleep,
    )
    try:
        for _ in range(501):
            await http.json("GET", "/workflows")
    finally:
        await http.aclose()
    assert len(box.calls("GET", "/workflows")) == 501
    assert len(waits) == 1 and 59 < waits[0] <= 60  # the limiter waited out the minute; no 429 was seen
