"""The one HTTP client: retry table, Retry-After, response-lost safety, limiter, error mapping, redaction."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from enrich_mcp.errors import (
    InputError,
    VendorAuthError,
    VendorBadRequest,
    VendorCreditsError,
    VendorError,
    VendorForbidden,
    VendorNotFound,
    VendorProtocolError,
    VendorRateLimited,
    VendorResponseLost,
    VendorResponseUnreadable,
    VendorUnavailable,
)
from enrich_mcp.http import (
    BEARER,
    UUID_PATTERN,
    Auth,
    Rate,
    RateLimiter,
    RetryPolicy,
    VendorHTTP,
    parse_retry_after,
    resend_safe,
    segment,
)

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


@pytest.mark.parametrize("error", [httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout])
async def test_failures_before_sending_are_retried_even_for_paid_calls(error: type[Exception]) -> None:
    handler, seen = sequence(error("refused"), httpx.Response(200, json={"id": "t1"}))
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


async def test_lost_response_is_resent_when_vendor_is_idempotent_or_the_method_is_safe() -> None:
    handler, seen = sequence(httpx.ReadTimeout("no answer"), httpx.Response(200, json={"id": "x"}))
    http = make_http(handler)
    assert await http.json("POST", "/spend", spends=True, idempotent=True) == {"id": "x"}
    handler2, seen2 = sequence(httpx.RemoteProtocolError("dropped"), httpx.Response(200, json=[]))
    assert await make_http(handler2).json("GET", "/list") == []
    assert len(seen) == 2 and len(seen2) == 2


# -- one retry rule: unsafe requests (POST/PATCH by default, or spends=True) ------------------------------


def test_resend_safety_defaults_fail_safe() -> None:
    assert [resend_safe(m) for m in ("GET", "HEAD", "PUT", "DELETE", "post", "PATCH")] == [
        True,
        True,
        True,
        True,
        False,
        False,
    ]
    assert resend_safe("POST", idempotent=True) and resend_safe("POST", spends=True, idempotent=True)
    assert not resend_safe("GET", spends=True)  # a paid GET is unsafe unless declared idempotent
    assert not resend_safe("PUT", idempotent=False)


RA = {"Retry-After": "0"}


@pytest.mark.parametrize(
    ("status", "headers", "sent", "outcome"),
    [
        (408, {}, 1, VendorResponseLost),
        (429, {}, 2, None),
        (429, RA, 2, None),
        (500, {}, 1, VendorResponseLost),
        (502, {}, 1, VendorResponseLost),
        (503, {}, 1, VendorResponseLost),  # no Retry-After: nothing proves the work was not done
        (503, RA, 2, None),
        (504, {}, 1, VendorResponseLost),
        (400, {}, 1, VendorBadRequest),
        (409, {}, 1, VendorError),
    ],
)
@pytest.mark.parametrize("method", ["POST", "PATCH"])
async def test_unsafe_retry_table(
    method: str, status: int, headers: dict[str, str], sent: int, outcome: type[Exception] | None
) -> None:
    handler, seen = sequence(
        httpx.Response(status, json={"error": "nope"}, headers=headers), httpx.Response(200, json={"ok": 1})
    )
    http = make_http(handler)
    if outcome is None:
        assert await http.json(method, "/things", json_body={"a": 1}) == {"ok": 1}
    else:
        with pytest.raises(outcome) as info:
            await http.json(method, "/things", json_body={"a": 1})
        if outcome is VendorResponseLost:
            assert info.value.status == status  # type: ignore[attr-defined]
    assert [r.method for r in seen] == [method] * sent


@pytest.mark.parametrize("status", [408, 500, 502, 503, 504])
async def test_the_same_statuses_are_retried_for_a_post_declared_idempotent(status: int) -> None:
    handler, seen = sequence(httpx.Response(status, json={"error": "x"}), httpx.Response(200, json={"ok": 1}))
    assert await make_http(handler).json("POST", "/run", idempotent=True, spends=True) == {"ok": 1}
    assert len(seen) == 2


@pytest.mark.parametrize(
    "error", [httpx.ReadTimeout, httpx.WriteTimeout, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError]
)
async def test_failures_after_sending_lose_an_unsafe_request(error: type[Exception]) -> None:
    handler, seen = sequence(error("gone"), httpx.Response(200, json={"id": "again"}))
    http = make_http(handler)
    with pytest.raises(VendorResponseLost) as info:
        await http.json("POST", "/pipelines", json_body={"pipeline_name": "x"})  # not paid, but a create
    assert len(seen) == 1
    assert info.value.status is None
    assert "POST /v1/pipelines: the answer was lost (no answer arrived: " in str(info.value)
    assert "list_jobs" in str(info.value) and "dashboard" in str(info.value)
    assert http.log.last_error is not None and "answer was lost" in http.log.last_error


async def test_response_lost_on_504_names_the_status_and_says_check_before_retrying() -> None:
    handler, seen = sequence(httpx.Response(504, text="<html>Gateway Timeout</html>"), httpx.Response(200, json={}))
    with pytest.raises(VendorResponseLost) as info:
        await make_http(handler).json("POST", "/find-email", json_body={"lead": {}}, spends=True)
    text = str(info.value)
    assert "HTTP 504" in text and "Gateway Timeout" in text
    assert "may have been processed" in text and "not resent" in text and "before retrying" in text
    assert len(seen) == 1


async def test_unsafe_503_with_retry_after_is_resent_until_the_retries_run_out() -> None:
    fake = FakeTime()
    handler, seen = sequence(*[httpx.Response(503, headers={"Retry-After": "2"}, json={"error": "later"})] * 4)
    with pytest.raises(VendorUnavailable) as info:  # the vendor said "not now": nothing was done
        await make_http(handler, fake=fake).json("POST", "/find-email", json_body={}, spends=True)
    assert len(seen) == 4 and fake.sleeps == [2.0, 2.0, 2.0]
    assert not isinstance(info.value, VendorResponseLost)


@pytest.mark.parametrize("body", [b"<html>oops</html>", b"", b"\xff\xfe", b'{"trunc'])
async def test_an_unreadable_2xx_is_accepted_outcome_unknown_for_unsafe_requests(body: bytes) -> None:
    def parse(answer: object) -> dict:
        if not isinstance(answer, dict):
            raise VendorProtocolError("acme", "did not answer with an object")
        return answer

    handler, seen = sequence(httpx.Response(200, content=body), httpx.Response(200, content=body))
    http = make_http(handler)
    with pytest.raises(VendorResponseUnreadable) as info:
        await http.json("POST", "/find-email", json_body={}, spends=True, parse=parse)
    assert isinstance(info.value, VendorResponseLost)  # the budget records it as unknown, estimate counted
    assert info.value.status == 200 and "may have charged" in str(info.value)
    assert len(seen) == 1
    with pytest.raises(VendorProtocolError) as safe_info:  # a GET: nothing was bought
        await http.json("GET", "/status", parse=parse)
    assert not isinstance(safe_info.value, VendorResponseLost)


async def test_a_wrong_shape_from_a_create_is_unreadable_but_a_good_one_parses() -> None:
    def task_id(answer: object) -> str:
        if not isinstance(answer, dict) or "task_id" not in answer:
            raise VendorProtocolError("acme", "did not return a task_id")
        return answer["task_id"]

    handler, _ = sequence(httpx.Response(200, json={"status": "queued"}), httpx.Response(200, json={"task_id": "t"}))
    http = make_http(handler)
    with pytest.raises(VendorResponseUnreadable, match="did not return a task_id"):
        await http.json("POST", "/start", spends=True, parse=task_id)
    assert await http.json("POST", "/start", spends=True, parse=task_id) == "t"


# -- redirects, downloads and keys --------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_api_calls_never_follow_redirects(method: str, status: int) -> None:
    handler, seen = sequence(
        httpx.Response(status, headers={"Location": "https://collector.example.net/grab"}),
        httpx.Response(200, json={"stolen": True}),
    )
    http = make_http(handler)
    with pytest.raises(VendorError) as info:
        await http.json(method, "/things")
    assert len(seen) == 1
    text = str(info.value)
    assert f"HTTP {status}" in text and "collector.example.net" in text and KEY not in text
    # A 307/308 says "send it there instead" (nothing done); a 301/302/303 after a POST may mean "done, see there".
    if method == "POST" and status not in (307, 308):
        assert isinstance(info.value, VendorResponseUnreadable)
    else:
        assert isinstance(info.value, VendorProtocolError)


async def test_download_follows_redirects_by_hand_without_any_key() -> None:
    handler, seen = sequence(
        httpx.Response(302, headers={"Location": "https://cdn.example.com/b?sig=2"}),
        httpx.Response(307, headers={"Location": "/c"}),
        httpx.Response(200, content=b"a,b\n1,2\n"),
    )
    http = make_http(handler)
    http.auth = Auth("x-api-key")
    assert await http.download("https://storage.example.com/a?sig=1") == b"a,b\n1,2\n"
    assert [str(r.url) for r in seen] == [
        "https://storage.example.com/a?sig=1",
        "https://cdn.example.com/b?sig=2",
        "https://cdn.example.com/c",
    ]
    for request in seen:
        assert "x-api-key" not in request.headers and "authorization" not in request.headers


async def test_download_redirects_are_bounded() -> None:
    handler, seen = sequence(*[httpx.Response(302, headers={"Location": "https://s.example.com/x"})] * 10)
    with pytest.raises(VendorProtocolError, match="more than 5 times"):
        await make_http(handler).download("https://s.example.com/x")
    assert len(seen) == 6


async def test_a_signed_url_on_the_vendor_host_gets_no_key_either() -> None:
    handler, seen = sequence(httpx.Response(200, content=b"x"))
    await make_http(handler).download("https://api.acme.test/v1/exports/1.csv")
    assert "authorization" not in seen[0].headers


@pytest.mark.parametrize(
    ("base_url", "url", "allowed"),
    [
        ("https://api.acme.test/v1", "https://storage.example.com/f.csv", True),
        ("https://api.acme.test/v1", "http://storage.example.com/f.csv", False),
        ("https://api.acme.test/v1", "gs://bucket/f.csv.gz", False),
        ("https://api.acme.test/v1", "ftp://storage.example.com/f.csv", False),
        ("https://api.acme.test/v1", "/relative/f.csv", False),
        ("http://localhost:5000/api/v1", "http://localhost:5000/exports/f.csv", True),  # a local test double
        ("http://localhost:5000/api/v1", "https://storage.example.com/f.csv", True),
    ],
)
async def test_one_download_policy(base_url: str, url: str, allowed: bool) -> None:
    handler, seen = sequence(httpx.Response(200, content=b"ok"))
    http = make_http(handler)
    http.base_url = base_url
    if allowed:
        assert await http.download(url) == b"ok"
    else:
        with pytest.raises(VendorProtocolError, match="not allowed"):
            await http.download(url)
        assert seen == []


async def test_a_redirect_from_https_to_http_is_refused_mid_download() -> None:
    handler, seen = sequence(httpx.Response(302, headers={"Location": "http://plain.example.com/f"}))
    with pytest.raises(VendorProtocolError, match="not allowed"):
        await make_http(handler).download("https://s.example.com/f")
    assert len(seen) == 1


async def test_the_key_goes_only_to_the_base_urls_own_origin_and_path() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    http = make_http(handler)
    for url in (
        "https://api.acme.test.evil.example/v1/x",  # a plain prefix test would match this
        "https://api.acme.test:8443/v1/x",
        "http://api.acme.test/v1/x",
        "https://api.acme.test/v2/x",
        "https://api.acme.test/v1x",
    ):
        await http.json("GET", url)
    await http.json("GET", "/x")
    assert ["authorization" in r.headers for r in seen] == [False, False, False, False, False, True]


async def test_an_echoed_key_is_redacted_from_every_decoded_answer() -> None:
    answer = {"note": f"your key {KEY} works", KEY: [KEY, {"deep": [f"x{KEY}y"]}], "n": 1, "none": None}
    handler, _ = sequence(httpx.Response(200, json=answer), httpx.Response(200, content=f"k,{KEY}\n".encode()))
    http = make_http(handler)
    decoded = await http.json("POST", "/find-email", spends=True)
    assert KEY not in json.dumps(decoded)
    assert decoded == {
        "note": "your key [redacted] works",
        "[redacted]": ["[redacted]", {"deep": ["x[redacted]y"]}],
        "n": 1,
        "none": None,
    }
    assert KEY.encode() not in await http.download("https://s.example.com/f.csv")


# -- path segments ----------------------------------------------------------------------------------------

INJECTIONS = [
    "../templates?x=",
    "x/../../v2/admin",
    "a\x00b",
    "%2e%2e",
    "%2E%2E/admin",
    "..",
    ".",
    " id",
    "id ",
    "a b",
    "a\tb",
    "a\nb",
    "a#b",
    "a?b=1",
    "a/b",
    "a\\b",
    "",
    "x" * 201,
    "ünïcode",
]


@pytest.mark.parametrize("value", INJECTIONS)
def test_segment_refuses_anything_that_could_change_the_route(value: str) -> None:
    with pytest.raises(InputError) as info:
        segment(value, name="pipeline_id")
    message = str(info.value)
    assert message.startswith("pipeline_id: must be") and len(message) < 300
    assert "\x00" not in message  # shown escaped, never raw
    with pytest.raises(InputError):
        segment(value, name="pipeline_id", pattern=UUID_PATTERN)


def test_segment_accepts_documented_ids_and_percent_encodes() -> None:
    uuid = "550e8400-e29b-41d4-a716-446655440000"
    assert segment(uuid, name="id", pattern=UUID_PATTERN) == uuid
    assert segment("rec123abc", name="lead_id") == "rec123abc"
    assert segment("task:42~a.b", name="task_id") == "task%3A42~a.b"
    with pytest.raises(InputError, match="must be a UUID"):
        segment("rec123abc", name="pipeline_id", pattern=UUID_PATTERN)


def test_a_bad_id_in_a_vendor_answer_is_a_protocol_error() -> None:
    with pytest.raises(VendorProtocolError, match="task_id"):
        segment("../../admin", name="task_id", vendor="acme")


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
