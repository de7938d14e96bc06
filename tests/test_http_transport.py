"""`serve --http`: the bearer token guard in front of the streamable HTTP app."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr
from starlette.types import Receive, Scope, Send

from enrich_mcp.http_transport import BearerTokenMiddleware, SessionTag, build_http_app
from enrich_mcp.server import build_server
from enrich_mcp.settings import Settings, VendorConfig


async def ok_app(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


async def test_bearer_token_is_required_and_compared_exactly() -> None:
    app = BearerTokenMiddleware(ok_app, "s3cret-token")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://127.0.0.1") as http:
        missing = await http.post("/mcp")
        basic = await http.post("/mcp", headers={"Authorization": "Basic czNjcmV0LXRva2Vu"})
        wrong = await http.post("/mcp", headers={"Authorization": "Bearer wrong"})
        prefix = await http.post("/mcp", headers={"Authorization": "Bearer s3cret-token-and-more"})
        for scheme in ("Bearer", "bearer", "BEARER", "bEaReR"):  # RFC 7235: the scheme is case-insensitive
            ok = await http.post("/mcp", headers={"Authorization": f"{scheme} s3cret-token"})
            assert ok.status_code == 200, scheme
    # No credentials: a 401 with the challenge RFC 9110 requires (RFC 6750: no error code without a token).
    for response in (missing, basic):
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == 'Bearer realm="enrich-mcp"'
    # A token that is wrong: 403 and no challenge, so an OAuth-capable client (the MCP Inspector starts OAuth on
    # any 401) reports the refusal instead of opening a login flow this server does not have.
    for response in (wrong, prefix):
        assert response.status_code == 403
        assert "www-authenticate" not in response.headers
        assert "ENRICH_MCP_HTTP_TOKEN" in response.json()["error"]


async def test_well_known_paths_are_404_with_or_without_a_token() -> None:
    app = BearerTokenMiddleware(ok_app, "s3cret-token")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://127.0.0.1") as http:
        for path in (
            "/.well-known/oauth-protected-resource",
            "/.well-known/oauth-protected-resource/mcp",
            "/.well-known/oauth-authorization-server",
            "/.well-known/openid-configuration",
        ):
            for headers in ({}, {"Authorization": "Bearer s3cret-token"}):
                response = await http.get(path, headers=headers)
                assert response.status_code == 404, (path, headers)
                assert "www-authenticate" not in response.headers


async def test_built_app_rejects_requests_without_the_configured_token(make_settings: Callable[..., Settings]) -> None:
    app, token = build_http_app(make_settings(http_token=SecretStr("configured-token")), build_server)
    assert token == "configured-token"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://127.0.0.1:8765") as http:
        response = await http.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert response.status_code == 401
    assert "configured-token" not in response.text


def test_a_token_is_generated_when_none_is_configured(make_settings: Callable[..., Settings]) -> None:
    _, first = build_http_app(make_settings(), build_server)
    _, second = build_http_app(make_settings(), build_server)
    assert len(first) >= 32 and first != second


async def test_healthz_needs_no_token_and_reports_the_store_and_the_vendors(
    make_settings: Callable[..., Settings],
) -> None:
    app, _ = build_http_app(
        make_settings(http_token=SecretStr("configured-token"), toolsets=["sixtyfour"]), build_server
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://127.0.0.1:8765") as http:
        response = await http.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True and body["database"]["backend"] == "sqlite"
    assert body["vendors"]["sixtyfour"]["reachable"] is True and body["vendors"]["sixtyfour"]["via"] == "sandbox"
    assert "configured-token" not in response.text


async def test_healthz_is_503_when_the_database_is_unreachable_and_degraded_when_a_vendor_is(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    class Refused(httpx.AsyncBaseTransport):  # a vendor host that is down (not the sandbox)
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("refused", request=request)

    nowhere = SecretStr(f"postgresql://enrich:hunter2@/db?host={tmp_path}/no-such-dir&connect_timeout=1")
    settings = make_settings(database_url=nowhere, toolsets=["sixtyfour"], sandbox=False)
    settings = settings.model_copy(update={"vendors": {"sixtyfour": VendorConfig(api_key=SecretStr("sk-x"))}})
    app, _ = build_http_app(settings, build_server)
    health: Any = app.app  # type: ignore[attr-defined]  # inside the token guard
    health.runtime.vendors["sixtyfour"].http.transport = Refused()
    health.probe.timeout = 1.0
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://127.0.0.1:8765") as http:
        response = await http.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "down"
    assert body["database"]["ok"] is False and body["database"]["backend"] == "postgresql"
    assert (
        body["vendors"]["sixtyfour"]["reachable"] is False and body["vendors"]["sixtyfour"]["error"] == "ConnectError"
    )
    assert "hunter2" not in response.text and "sk-x" not in response.text


async def test_a_named_replica_tags_the_session_ids_it_issues_and_reads_them_back() -> None:
    seen: list[bytes | None] = []

    async def sdk(scope: Scope, receive: Receive, send: Send) -> None:  # stands for the SDK's session manager
        seen.append(dict(scope["headers"]).get(b"mcp-session-id"))
        headers = [(b"mcp-session-id", b"3f2a9c"), (b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"{}"})

    app = SessionTag(sdk, "r2")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://127.0.0.1") as http:
        first = await http.post("/mcp")
        again = await http.post("/mcp", headers={"Mcp-Session-Id": first.headers["mcp-session-id"]})
    assert first.headers["mcp-session-id"] == "r2.3f2a9c"  # the proxy routes r2.* to this replica
    assert seen == [None, b"3f2a9c"]  # the SDK sees its own id
    assert again.status_code == 200
