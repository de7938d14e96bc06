"""`serve --http`: the bearer token guard in front of the streamable HTTP app."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from pydantic import SecretStr
from starlette.types import Receive, Scope, Send

from enrich_mcp.http_transport import BearerTokenMiddleware, build_http_app
from enrich_mcp.settings import Settings


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
    app, token = build_http_app(make_settings(http_token=SecretStr("configured-token")))
    assert token == "configured-token"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://127.0.0.1:8765") as http:
        response = await http.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert response.status_code == 401
    assert "configured-token" not in response.text


def test_a_token_is_generated_when_none_is_configured(make_settings: Callable[..., Settings]) -> None:
    _, first = build_http_app(make_settings())
    _, second = build_http_app(make_settings())
    assert len(first) >= 32 and first != second
