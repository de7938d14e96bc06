"""``enrich-mcp serve --http``: streamable HTTP on loopback, behind a bearer token.

Two independent guards: every request must carry ``Authorization: Bearer
<ENRICH_MCP_HTTP_TOKEN>`` (compared in constant time), and the SDK's
DNS-rebinding protection only admits loopback ``Host`` and ``Origin`` values.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Receive, Scope, Send

from enrich_mcp.settings import Settings

if TYPE_CHECKING:
    from enrich_mcp.server import Runtime

logger = logging.getLogger(__name__)


class BearerTokenMiddleware:
    """Reject any HTTP request that lacks the server's bearer token."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            supplied = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(supplied, self._expected):
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")],
                    }
                )
                await send({"type": "http.response.body", "body": b'{"error":"missing or wrong bearer token"}'})
                return
        await self.app(scope, receive, send)


class RuntimeLifespan:
    """Run the job poller for the whole app, not per MCP session.

    Each HTTP client gets its own MCP session, and each session enters the server's lifespan;
    holding the runtime here, at the app's own lifespan, means no session's end stops the poller.
    """

    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        async with self.runtime.serving():
            await self.app(scope, receive, send)


def build_http_app(settings: Settings, *, host: str = "127.0.0.1", port: int = 8765) -> tuple[ASGIApp, str]:
    """The ASGI app and the token it accepts (generated when ENRICH_MCP_HTTP_TOKEN is unset)."""
    from mcp.server.transport_security import TransportSecuritySettings

    from enrich_mcp.server import build_server

    token = settings.http_token.get_secret_value() if settings.http_token else secrets.token_urlsafe(32)
    server = build_server(settings)
    loopback = ["127.0.0.1", "localhost", "[::1]"]
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[f"{h}:{port}" for h in loopback] + loopback,
        allowed_origins=[f"http://{h}:{port}" for h in loopback],
    )
    app = server.streamable_http_app(transport_security=security, host=host)
    return BearerTokenMiddleware(RuntimeLifespan(app, server.runtime), token), token


def serve_http(settings: Settings, *, host: str = "127.0.0.1", port: int = 8765) -> None:
    import uvicorn

    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("enrich-mcp serves HTTP on loopback only; put a reverse proxy in front for anything else.")
    app, token = build_http_app(settings, host=host, port=port)
    if settings.http_token is None:
        # Shown once, on stderr, so the operator can configure the client; never logged elsewhere.
        logger.warning("ENRICH_MCP_HTTP_TOKEN is not set; generated a token for this run: %s", token)
    logger.info("serving MCP over streamable HTTP at http://%s:%d/mcp", host, port)
    uvicorn.run(app, host=host, port=port, log_level="warning")
