"""The one HTTP client: retry table, Retry-After, response-lost safety, limiter, error mapping, redaction."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from enrich_mcp.errors import (
    VendorAuthError,
    VendorBadRequest,
    VendorCreditsError,
    VendorForbidden,
    VendorNotFound,
    VendorRateLimited,
    VendorResponseLost,
    VendorUnavailable,
)
from enrich_mcp.http import BEARER, Auth, Rate, RateLimiter, RetryPolicy, VendorHTTP, parse_retry_after

KEY = "sk-test-0123456789abcdef"


class FakeTime:
    """A clock that only moves when something sleeps on it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def make_http(
    handler: Callable[[httpx.Request], httpx.Response], *, fake: FakeTime | None = None, retries: int = 3, **kw
) -> VendorHTTP:
    fake = fake or FakeTime()
    return VendorHTTP(
        vendor="acme",
        base_url="https://api.acme.test/v1",
        auth=BEARER,
        api_key=KEY,
        transport=httpx.MockTransport(handler),
        retry=RetryPolicy(max_retries=retries, base_delay=0.5, max_delay=8, retry_after_cap=30),
        sleep=fake.sleep,
        clock=fake.clock,
        limiter=RateLimiter(None, clock=fake.clock, sleep=fake.sleep),
        **kw,
    )


def sequence(*responses: httpx.Response | Exception) -> tuple[Callable[[httpx.Request], httpx.Response], list]:
    seen: list[httpx.Request] = []
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        item = queue.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    return handler, seen


@pytest.mark.parametrize(
    ("status", "retried"),
    [
        (400, False),
        (401, False),
        (402, False),
        (403, False),
        (404, False),
        (408, True),
        (409, False),
        (422, False),
        (429, True),
        (500, True),
        (502, True),
        (503, True),
        (504, True),
    ],
)
async def test_retry_table(status: int, retried: bool) -> None:
    handler, seen = sequence(httpx.Response(status, json={"error": "nope"}), httpx.Response(200, json={"ok": 1}))
    http = make_http(handler)
    if retried:
        assert await http.json("GET", "/things") == {"ok": 1}
        assert len(seen) == 2
    else:
        with pytest.raises(Exception):  # noqa: B017 - the class is checked in test_error_mapping
            await http.json("GET", "/things")
        assert len(seen) == 1


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, VendorBadRequest),
        (401, VendorAuthError),
        (402, VendorCreditsError),
        (403, VendorForbidden),
        (404, VendorNotFound),
        (429, VendorRateLimited),
        (500, VendorUnavailable),
    ],
)
async def test_error_mapping_after_retries(status: int, cls: type[Exception]) -> None:
    handler, _ = sequence(*[httpx.Response(status, json={"error": "went wrong"})] * 4)
    http = make_http(handler)
    with pytest.raises(cls) as info:
        await http.json("PUT", "/things", json_body={"a": 1})
    assert f"HTTP {status}" in str(info.value) and "went wrong" in str(info.value)
    assert http.log.last_error is not None


async def test_retry_after_seconds_is_honoured_and_capped() -> None:
    fake = FakeTime()
    handler, seen = sequence(
        httpx.Response(429, headers={"Retry-After": "7"}, json={"error": "slow down"}),
        httpx.Response(429, headers={"Retry-After": "3600"}, json={"error": "slow down"}),
        httpx.Response(200, json={"ok": True}),
    )
    http = make_http(handler, fake=fake)
    assert await http.json("GET", "/x") == {"ok": True}
    assert fake.sleeps == [7.0, 30.0]  # second one capped at retry_after_cap
    assert [r.headers.get("X-Enrich-Attempt") for r in seen] == [None, "1", "2"]


def test_parse_retry_after_http_date() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == pytest.approx(10.0)
    assert parse_retry_after("garbage") is None
    assert parse_retry_after(None) is None


async def test_backoff_is_exponential_with_jitter_within_bounds() -> None:
    fake = FakeTime()
    handler, _ = sequence(*[httpx.Response(503, json={"error": "x"})] * 4)
    http = make_http(handler, fake=fake)
    with pytest.raises(VendorUnavailable):
        await http.json("GET", "/x")
    assert len(fake.sleeps) == 3
    for attempt, slept in enumerate(fake.sleeps):
        assert 0 <= slept <= 0.5 * 2**attempt


async def test_connection_errors_are_retried_even_for_paid_calls() -> None:
    handler, seen = sequence(httpx.ConnectError("refused"), httpx.Response(200, json={"id": "t1"}))
    http = make_http(handler)
    assert await http.json("POST", "/spend", json_body={}, spends=True) == {"id": "t1"}
    assert len(seen) == 2


async def test_lost_response_of_a_paid_call_is_not_resent() -> None:
    handler, seen = sequence(httpx.ReadTimeout("no answer"), httpx.Response(200, json={"id": "again"}))
    http = make_http(handler)
    with pytest.raises(VendorResponseLost) as info:
        await http.json("POST", "/spend", json_body={}, spends=True)
    assert len(seen) == 1
    assert "not resent" in str(info.value) or "was not resent" in str(info.value)


async def test_lost_response_is_resent_when_vendor_is_idempotent_or_call_is_free() -> None:
    handler, seen = sequence(httpx.ReadTimeout("no answer"), httpx.Response(200, json={"id": "x"}))
    http = make_http(handler)
    assert await http.json("POST", "/spend", spends=True, idempotent=True) == {"id": "x"}
    handler2, seen2 = sequence(httpx.RemoteProtocolError("dropped"), httpx.Response(200, json=[]))
    assert await make_http(handler2).json("GET", "/list") == []
    assert len(seen) == 2 and len(seen2) == 2


async def test_limiter_keeps_under_the_rate() -> None:
    fake = FakeTime()
    limiter = RateLimiter(Rate(5, 60), clock=fake.clock, sleep=fake.sleep)
    starts: list[float] = []
    for _ in range(23):
        await limiter.acquire()
        starts.append(fake.now)
    for i, start in enumerate(starts):
        in_window = [s for s in starts[: i + 1] if s > start - 60]
        assert len(in_window) <= 5
    assert starts[-1] - starts[0] >= 4 * 60  # 23 requests at 5/min need four full windows


def test_rate_parsing() -> None:
    assert Rate.parse("500/min") == Rate(500, 60)
    assert Rate.parse("1000 / hour") == Rate(1000, 3600)
    assert str(Rate(600, 60)) == "600/min"
    with pytest.raises(ValueError):
        Rate.parse("fast")


async def test_rate_limit_headers_pause_the_next_request() -> None:
    fake = FakeTime()
    handler, _ = sequence(
        httpx.Response(200, json={}, headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "42"}),
        httpx.Response(200, json={}),
    )
    http = make_http(handler, fake=fake)
    await http.json("GET", "/a")
    await http.json("GET", "/b")
    assert fake.sleeps == [30.0]  # 42 s, capped by retry_after_cap


@pytest.mark.parametrize(
    ("body", "message", "code"),
    [
        ({"error": "Invalid body"}, "Invalid body", None),
        (
            {"error": {"code": "INSUFFICIENT_CREDITS", "message": "Need 1 credit"}},
            "Need 1 credit",
            "INSUFFICIENT_CREDITS",
        ),
        ({"success": False, "error": {"code": "NOT_FOUND", "message": "no lead"}}, "no lead", "NOT_FOUND"),
        ({"detail": "Bad key"}, "Bad key", None),
        ({"detail": [{"loc": ["body", "lead"], "msg": "field required"}]}, "body.lead: field required", None),
        ({"message": "Oops"}, "Oops", None),
    ],
)
async def test_every_documented_error_body_shape(body: dict, message: str, code: str | None) -> None:
    handler, _ = sequence(httpx.Response(400, json=body))
    with pytest.raises(VendorBadRequest) as info:
        await make_http(handler).json("GET", "/x")
    assert info.value.message.endswith(message)
    assert info.value.code == code


async def test_api_key_never_appears_in_errors_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    handler, seen = sequence(
        httpx.Response(500, json={"error": f"upstream rejected key {KEY}"}),
        httpx.Response(
            401, json={"error": {"code": "UNAUTHORIZED", "message": f"key {KEY} revoked", "details": {"key": KEY}}}
        ),
    )
    http = make_http(handler)
    with pytest.raises(VendorAuthError) as info:
        await http.json("GET", "/x")
    text = str(info.value) + json.dumps(info.value.details) + str(http.log.last_error) + caplog.text
    assert KEY not in text
    assert "[redacted]" in str(info.value)
    assert seen[0].headers["Authorization"] == f"Bearer {KEY}"


async def test_key_is_not_sent_to_other_hosts() -> None:
    handler, seen = sequence(httpx.Response(200, content=b"a,b\n1,2\n"))
    http = make_http(handler)
    assert await http.download("https://storage.example.com/signed?sig=abc") == b"a,b\n1,2\n"
    assert "Authorization" not in seen[0].headers


async def test_custom_auth_header() -> None:
    handler, seen = sequence(httpx.Response(200, json={}))
    http = make_http(handler)
    http.auth = Auth("x-api-key")
    await http.json("GET", "/x")
    assert seen[0].headers["x-api-key"] == KEY
    assert str(seen[0].url) == "https://api.acme.test/v1/x"
