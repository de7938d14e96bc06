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

``GET /healthz`` is the one path without the token, for load balancers: it says whether the
state store answers (HTTP 503 when not: take this replica out) and whether each vendor's API
host is reachable (``degraded`` when not; every replica shares that fate). It shows no secret
and no error text.

Replicas (``ENRICH_MCP_DATABASE_URL``): 2026-era clients are stateless by protocol, so any
replica answers any request. 2025-era clients open an MCP session that lives in one replica's
memory, so a load balancer must send a session's requests to the replica that opened it (``ENRICH_MCP_REPLICA_NAME``
puts the replica's name in the session ids for the proxy to route on), or
``ENRICH_MCP_HTTP_STATELESS=1`` serves them without sessions at the cost of resource
subscriptions and elicitation (see README, "Team deployment").
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio
import httpx
from starlette.types import ASGIApp, Receive, Scope, Send

from enrich_mcp import __version__
from enrich_mcp.settings import Settings

if TYPE_CHECKING:
    from enrich_mcp.http import VendorHTTP
    from enrich_mcp.runtime import Runtime
    from enrich_mcp.sdk import EnrichServer

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
        if scope.get("path") == HEALTH_PATH:  # load balancers carry no token; the answer holds no secret
            await self.app(scope, receive, send)
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


HEALTH_PATH = "/healthz"
VENDOR_PROBE_TTL_SECONDS = 30.0
"""Load balancers probe every few seconds; a vendor's host is asked at most this often per replica."""


class VendorProbe:
    """Whether each enabled vendor's API host answers HTTP at all (any status, no key sent)."""

    def __init__(self, runtime: Runtime, *, timeout: float = 3.0) -> None:
        self.runtime = runtime
        self.timeout = timeout
        self._cache: dict[str, tuple[float, dict[str, Any]]] = {}

    async def check(self, *, store_ok: bool = True) -> dict[str, dict[str, Any]]:
        """``store_ok=False``: the rate window cannot be read (database down), so probes skip the limiter."""
        results: dict[str, dict[str, Any]] = {}

        async def one(name: str) -> None:
            results[name] = await self._vendor(name, store_ok)

        async with anyio.create_task_group() as tg:
            for name in self.runtime.vendors:
                tg.start_soon(one, name)
        return dict(sorted(results.items()))

    async def _vendor(self, name: str, store_ok: bool) -> dict[str, Any]:
        now = time.monotonic()
        cached = self._cache.get(name)
        if cached is not None and now - cached[0] < VENDOR_PROBE_TTL_SECONDS:
            return cached[1]
        http = self.runtime.vendors[name].http
        log = http.log
        result: dict[str, Any] = {"last_ok_at": log.last_ok_at, "last_error_at": log.last_error_at}
        recent_ok = log.last_ok_at is not None and time.time() - log.last_ok_at < VENDOR_PROBE_TTL_SECONDS
        if isinstance(http.transport, httpx.MockTransport):
            result.update(reachable=True, via="sandbox")
        elif recent_ok and (log.last_error_at is None or log.last_error_at < (log.last_ok_at or 0)):
            result.update(reachable=True, via="traffic")  # it answered a moment ago: no need to ask
        else:
            result.update(await self._probe(http, store_ok))
        self._cache[name] = (now, result)
        return result

    async def _probe(self, http: VendorHTTP, store_ok: bool) -> dict[str, Any]:
        # The vendor counts every request against the account's rate, this one too; a window that
        # stays full means traffic, and traffic is reported above without a probe. With the database
        # down the window cannot be read, which must not hide whether the vendor is up: one HEAD more.
        if store_ok:
            with anyio.move_on_after(self.timeout) as waited:
                await http.limiter.acquire()
            if waited.cancelled_caught:
                return {"reachable": None, "via": "probe", "error": "rate window full"}
        started = time.perf_counter()
        try:
            # No key: a bare HEAD of the base URL. Any answer (401, 404 …) means the host is there.
            async with httpx.AsyncClient(transport=http.transport, timeout=self.timeout) as client:
                await client.head(http.base_url)
        except httpx.HTTPError as exc:
            return {"reachable": False, "via": "probe", "error": type(exc).__name__}
        return {"reachable": True, "via": "probe", "latency_ms": round((time.perf_counter() - started) * 1000, 1)}


class HealthEndpoint:
    """``GET /healthz`` (the bearer token middleware lets it through without a token)."""

    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime
        self.probe = VendorProbe(runtime)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") != HEALTH_PATH:
            await self.app(scope, receive, send)
            return
        body = await self.report()
        status = 200 if body["database"]["ok"] else 503
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), (b"cache-control", b"no-store")],
            }
        )
        await send({"type": "http.response.body", "body": json.dumps(body).encode()})

    async def report(self) -> dict[str, Any]:
        database = await self.runtime.stores.health()
        vendors = await self.probe.check(store_ok=database["ok"])
        reachable = all(v["reachable"] is True for v in vendors.values())
        return {
            "status": "down" if not database["ok"] else "ok" if reachable else "degraded",
            "version": __version__,
            "database": database,
            "vendors": vendors,
        }


SESSION_HEADER = b"mcp-session-id"


class SessionTag:
    """Put this replica's name in front of the MCP session ids it issues, and take it off again.

    A 2025-era session lives in one replica's memory. A proxy cannot learn which replica issued an
    id (it is made by the replica, after the first request was routed), but it can read a prefix:
    ``r1.3f2a…`` goes to replica ``r1`` (see README, "Team deployment").
    """

    def __init__(self, app: ASGIApp, name: str) -> None:
        self.app = app
        self.prefix = f"{name}.".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = [
            (k, v.removeprefix(self.prefix)) if k == SESSION_HEADER else (k, v) for k, v in scope.get("headers", [])
        ]

        async def tagged(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = {
                    **message,
                    "headers": [
                        (k, self.prefix + v) if k.lower() == SESSION_HEADER else (k, v)
                        for k, v in message.get("headers", [])
                    ],
                }
            await send(message)

        await self.app({**scope, "headers": headers}, receive, tagged)


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


def build_http_app(
    settings: Settings, build: Callable[[Settings], EnrichServer], *, host: str = "127.0.0.1", port: int = 8765
) -> tuple[ASGIApp, str]:
    """The ASGI app and the token it accepts (generated when ENRICH_MCP_HTTP_TOKEN is unset).

    ``build`` is ``server.build_server``, handed down by the CLI: the transport sits below the assembly.
    """
    return http_app(http_server(settings, build), settings, host=host, port=port)


def http_server(settings: Settings, build: Callable[[Settings], EnrichServer]) -> EnrichServer:
    """The server as HTTP serves it: remote callers' csv_path may read only ENRICH_MCP_FILES_DIR, never
    the client's (remote) roots."""
    return build(settings.model_copy(update={"transport": "http"}))


def http_app(server: EnrichServer, settings: Settings, *, host: str, port: int) -> tuple[ASGIApp, str]:
    """The ASGI app around a built server, and the token it accepts."""
    from mcp.server.transport_security import TransportSecuritySettings

    token = settings.http_token.get_secret_value() if settings.http_token else secrets.token_urlsafe(32)
    loopback = ["127.0.0.1", "localhost", "[::1]"]
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[f"{h}:{port}" for h in loopback] + loopback,
        allowed_origins=[f"http://{h}:{port}" for h in loopback],
    )
    app = server.streamable_http_app(transport_security=security, host=host, stateless_http=settings.http_stateless)
    inner: ASGIApp = RuntimeLifespan(app, server.runtime)
    if settings.replica_name:
        inner = SessionTag(inner, settings.replica_name)
    return BearerTokenMiddleware(HealthEndpoint(inner, server.runtime), token), token


async def _check_stores(runtime: Runtime) -> None:
    await runtime.stores.jobs.list(limit=1)
    await runtime.stores.aclose()  # the pool belongs to this loop; uvicorn's reopens it


def serve_http(
    settings: Settings, build: Callable[[Settings], EnrichServer], *, host: str = "127.0.0.1", port: int = 8765
) -> None:
    import uvicorn

    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("enrich-mcp serves HTTP on loopback only; put a reverse proxy in front for anything else.")
    server = http_server(settings, build)
    # Open the stores before serving: an unreachable database or a schema too new is one paragraph and
    # exit 2 (cli.main), not a traceback from inside the ASGI lifespan.
    anyio.run(_check_stores, server.runtime)
    app, token = http_app(server, settings, host=host, port=port)
    if settings.http_token is None:
        # Shown once, on stderr, so the operator can configure the client; never logged elsewhere.
        logger.warning("ENRICH_MCP_HTTP_TOKEN is not set; generated a token for this run: %s", token)
    logger.info("serving MCP over streamable HTTP at http://%s:%d/mcp", host, port)
    # lifespan="on": a start-up failure (database unreachable, schema too new) stops the process; "auto"
    # would log it at info level and serve without a job poller.
    uvicorn.run(app, host=host, port=port, log_level="warning", lifespan="on")
