"""``enrich-mcp serve --http``: streamable HTTP on loopback, behind a bearer token.

Two independent guards: every request must carry ``Authorization: Bearer
<ENRICH_MCP_HTTP_TOKEN>`` (the scheme in any case, RFC 7235 §2.1; the token
compared in constant time), and the SDK's DNS-rebinding protection only admits
loopback ``Host`` and ``Origin`` values.

How a refusal is answered, and why:

- no credentials (or another scheme): ``401`` with ``WWW-Authenticate: Bearer
  realm="enrich-mcp"`` — RFC 9110 §15.5.2 requires the challenge on a 401, and
  RFC 6750 §3.1 says to send no error code when no token was given;
- a bearer token that is wrong: ``403`` without a challenge. RFC 9110 §15.5.4:
  credentials were provided and the server considers them insufficient; the
  client should not repeat them. A 401 here sent the MCP Inspector into an
  OAuth login: its connect path starts interactive OAuth on *any* 401, whatever
  the header says (``isUnauthorizedError`` in inspector ``core/auth/utils.ts``
  checks only the status), so only a status other than 401 stops it. This
  server has no OAuth: a person must fix the token, and the 403's body says so;
- ``/.well-known/*`` (OAuth discovery, RFC 8414/9728): ``404`` before any auth
  check, so a client probing for OAuth learns at once there is none.
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

_CHALLENGE = b'Bearer realm="enrich-mcp"'


async def _answer(send: Send, status: int, body: bytes, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + (extra or [])})
    await send({"type": "http.response.body", "body": body})


class BearerTokenMiddleware:
    """Reject any HTTP request that lacks the server's bearer token (see the module doc for the answers)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._expected = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if str(scope.get("path", "")).startswith("/.well-known/"):
            await _answer(send, 404, b'{"error":"not found: this server does not use OAuth"}')
            return
        supplied = dict(scope.get("headers") or []).get(b"authorization")
        scheme, _, credentials = (supplied or b"").strip().partition(b" ")
        if supplied is None or scheme.lower() != b"bearer":
            await _answer(
                send,
                401,
                b'{"error":"missing bearer token: send Authorization: Bearer <ENRICH_MCP_HTTP_TOKEN>"}',
                [(b"www-authenticate", _CHALLENGE)],
            )
            return
        if not hmac.compare_digest(credentials.strip(), self._expected):
            await _answer(
                send,
                403,
                b'{"error":"wrong bearer token: use the value of ENRICH_MCP_HTTP_TOKEN the server runs with"}',
            )
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
    # Remote callers: csv_path may read only ENRICH_MCP_FILES_DIR, never the client's (remote) roots.
    server = build_server(settings.model_copy(update={"transport": "http"}))
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
