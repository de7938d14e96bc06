from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from enrich_mcp.errors import VendorAuthError, VendorBadRequest, VendorConflict, VendorNotFound, VendorRateLimited
from enrich_mcp.http import RateLimiter
from enrich_mcp.sandbox import RateWindow
from enrich_mcp.sandbox.fourrunr import Sandbox
from enrich_mcp.server import EnrichServer, build_server
from enrich_mcp.settings import Settings, VendorConfig
from enrich_mcp.vendors.fourrunr.client import FourRunrClient
from tests.conftest import FAST, connect
from tests.vendors.fourrunr.conftest import BASE

ADA = "recf2c317c69"
VALIDATION = {
    "success": False,
    "error": {
        "code": "VALIDATION_ERROR",
        "message": "Invalid email format",
        "details": {"field": "email", "value": "invalid-email"},
    },
}


def text(result: object) -> str:
    return result.content[0].text  # type: ignore[attr-defined]


@pytest.mark.parametrize("status", [400, 200])
async def test_error_envelope_becomes_a_tool_error_with_code_and_message(
    server: EnrichServer, sandbox: Sandbox, era: str, status: int
) -> None:
    sandbox.fail_next(status, VALIDATION, method="POST", path="/leads")
    async with connect(server, mode=era) as client:
        result = await client.call_tool("fourrunr_create_lead", {"name": "Jane Smith"})
    assert result.is_error
    assert "(VALIDATION_ERROR): Invalid email format" in text(result)
    assert "Check the arguments" in text(result)  # VendorBadRequest's hint
    assert len(sandbox.calls("POST", "/leads")) == 1  # a rejected request is not retried


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("VALIDATION_ERROR", VendorBadRequest),
        ("UNAUTHORIZED", VendorAuthError),
        ("NOT_FOUND", VendorNotFound),
        ("INVALID_STATE", VendorConflict),
        ("RATE_LIMIT_EXCEEDED", VendorRateLimited),
    ],
)
async def test_error_envelope_with_http_200_maps_its_code(
    server: EnrichServer, sandbox: Sandbox, code: str, error: type[Exception]
) -> None:
    sandbox.fail_next(200, {"success": False, "error": {"code": code, "message": "nope", "details": {"x": 1}}})
    client = FourRunrClient(server.runtime.vendors["fourrunr"].http)
    with pytest.raises(error) as caught:
        await client.health()
    assert (caught.value.code, caught.value.details) == (code, {"x": 1})  # type: ignore[attr-defined]
    assert str(caught.value).startswith(f"fourrunr ({code}): nope")


async def test_wrong_key_is_a_401_envelope_without_the_key(
    server: EnrichServer, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sandbox, "valid_keys", frozenset({"the-real-key"}))
    async with connect(server) as client:
        result = await client.call_tool("fourrunr_get_health", {})
    assert result.is_error
    assert "HTTP 401 (UNAUTHORIZED): Invalid or missing API key" in text(result)
    assert "check the key" in text(result)
    assert "sandbox-key-not-secret" not in text(result)


async def test_vendor_message_echoing_the_key_is_redacted(server: EnrichServer, sandbox: Sandbox) -> None:
    sandbox.fail_next(200, {"success": False, "error": {"code": "FORBIDDEN", "message": "sandbox-key-not-secret"}})
    async with connect(server) as client:
        result = await client.call_tool("fourrunr_get_health", {})
    assert result.is_error and "sandbox-key-not-secret" not in text(result) and "[redacted]" in text(result)


async def test_sandbox_validates_like_the_document() -> None:
    box = Sandbox(variants={"reset_format": "epoch"})
    async with httpx.AsyncClient(transport=box.transport(), headers={"Authorization": "Bearer k"}) as http:
        bad_email = await http.post(f"{BASE}/leads", json={"name": "X", "email": "invalid-email"})
        no_name = await http.post(f"{BASE}/leads", json={"email": "x@example.com"})
        no_key = await http.get(f"{BASE}/health", headers={"Authorization": ""})
        missing = await http.get(f"{BASE}/leads/recnothere00")
        big = await http.get(f"{BASE}/leads", params={"limit": 1001})
    assert (bad_email.status_code, bad_email.json()) == (400, VALIDATION)
    assert no_name.status_code == 400 and no_name.json()["error"]["details"]["field"] == "name"
    assert no_key.status_code == 401 and no_key.json()["error"]["code"] == "UNAUTHORIZED"
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "NOT_FOUND"
    assert big.status_code == 400 and big.json()["error"]["details"]["field"] == "limit"
    assert all(r.headers["X-RateLimit-Limit"] == "1000" for r in (bad_email, no_key, missing))
    # Counted per API key ("Rate limits are enforced per API key"): the keyless request has its own count.
    assert [int(r.headers["X-RateLimit-Remaining"]) for r in (bad_email, no_name, missing)] == [999, 998, 997]
    assert no_key.headers["X-RateLimit-Remaining"] == "999"


@pytest.mark.parametrize("reset", ["epoch", "delta"])
async def test_ratelimit_remaining_zero_pauses_the_next_request(
    make_settings: Callable[..., Settings], reset: str
) -> None:
    server = build_server(make_settings(toolsets=["fourrunr"], retry_after_cap_seconds=120.0))
    try:
        box = server.runtime.sandboxes["fourrunr"]
        assert isinstance(box, Sandbox)
        box.pin(reset_format=reset)  # "X-RateLimit-Reset: Time when limit resets": an epoch or seconds from now
        http = server.runtime.vendors["fourrunr"].http
        # http.py turns an epoch reset into a wait with the real time.time(); running the fake clock
        # 5 s ahead of it makes the pause (~35 s) outlast the sandbox's 30 s window.
        now = [time.time() + 5]
        sleeps: list[float] = []

        async def sleep(seconds: float) -> None:
            sleeps.append(seconds)
            now[0] += seconds

        def clock() -> float:
            return now[0]

        http.limiter = RateLimiter(http.limiter.rate, clock=clock, sleep=sleep)
        http.clock = box.clock = clock
        box.rate = RateWindow(1, 30.0)
        async with connect(server) as client:
            first = await client.call_tool("fourrunr_get_health", {})
            assert sleeps == []
            second = await client.call_tool("fourrunr_get_automation_status", {})
        assert not first.is_error and not second.is_error, second.content
        first_req, second_req = box.requests
        assert first_req.url.path.endswith("/health") and second_req.url.path.endswith("/automation/status")
        [pause] = sleeps
        assert 30 < pause <= 35 if reset == "epoch" else pause == 30
    finally:
        server.runtime.close()


async def test_without_base_url_the_toolset_is_hidden_and_says_why(home: Path) -> None:
    # Built directly: the shared make_settings fixture always passes sandbox=True.
    settings = Settings(home=home, sandbox=False, vendors={"fourrunr": VendorConfig(api_key=SecretStr("k"))}, **FAST)
    server = build_server(settings)
    try:
        status = server.runtime.status["fourrunr"]
        assert not status.enabled
        assert status.reason == "hidden: 4Runr is self-hosted; set FOURRUNR_BASE_URL (ending in /api/v1)"
        async with connect(server) as client:
            names = [tool.name for tool in (await client.list_tools()).tools]
        assert not any(name.startswith("fourrunr_") for name in names)
    finally:
        server.runtime.close()


async def test_configured_base_url_gets_the_documented_rate(make_settings: Callable[..., Settings]) -> None:
    config = VendorConfig(api_key=SecretStr("k-live"), base_url="https://leads.example.com/api/v1")
    server = build_server(make_settings(vendors={"fourrunr": config}, toolsets=["fourrunr"]))
    try:
        status = server.runtime.status["fourrunr"]
        assert (status.enabled, status.base_url, status.rate) == (True, "https://leads.example.com/api/v1", "1000/hour")
        assert len(status.tools) == 20
    finally:
        server.runtime.close()


async def test_every_tool_sets_all_four_hints(server: EnrichServer) -> None:
    async with connect(server) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools if t.name.startswith("fourrunr_")}
    assert len(tools) == 20
    declared = {t.name: t.annotations for t in server._tool_manager.list_tools()}  # pyright: ignore[reportPrivateUsage]
    for tool in tools.values():
        hints = declared[tool.name]  # as set; the wire leaves out a false readOnlyHint/idempotentHint
        assert hints is not None
        assert None not in (
            hints.read_only_hint,
            hints.destructive_hint,
            hints.idempotent_hint,
            hints.open_world_hint,
        ), tool.name
        assert tool.output_schema is not None, tool.name
    destructive = sorted(n for n, t in tools.items() if t.annotations and t.annotations.destructive_hint)
    assert destructive == ["fourrunr_delete_lead"]
    limit = tools["fourrunr_list_leads"].input_schema["properties"]["limit"]
    assert (limit["minimum"], limit["maximum"], limit["default"]) == (1, 1000, 50)
