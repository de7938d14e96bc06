"""In-process fake vendor APIs, served through ``httpx.MockTransport``.

One module per vendor (``enrich_mcp/sandbox/<vendor>.py``) defines a
``Sandbox`` subclass of :class:`SandboxApp` that follows the vendor's document:
paths, auth header, status codes, error bodies, job life cycles, limits. The
data is clearly synthetic (``example.com`` people).

Job life cycles advance per poll, not per wall-clock second, so tests and the
demo are fast and deterministic.

Tests reach a sandbox through ``SandboxApp.requests`` (every request it
received, in order) and ``fail_next`` (inject 429/5xx/error answers).
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import httpx

Handler = Callable[..., httpx.Response]


def route(method: str, pattern: str) -> Callable[[Handler], Handler]:
    """Mark a ``Sandbox`` method as the handler of ``METHOD /path/{param}`` (relative to the base path)."""

    def decorator(fn: Handler) -> Handler:
        fn.__sandbox_route__ = (method.upper(), pattern)  # type: ignore[attr-defined]
        return fn

    return decorator


@dataclass
class _Fault:
    status: int
    body: Any
    headers: dict[str, str]
    times: int
    method: str | None
    path: str | None
    exception: type[Exception] | None = None


class SandboxApp:
    """Routing, auth checking, request recording and fault injection for one fake vendor."""

    vendor: ClassVar[str]
    base_path: ClassVar[str] = ""
    """Path prefix of the vendor's base URL (e.g. ``/v1``); routes are relative to it."""
    auth_header: ClassVar[str]
    auth_prefix: ClassVar[str] = ""
    valid_keys: ClassVar[frozenset[str]] = frozenset()
    """Keys the sandbox accepts; empty means any non-empty key (the demo's keys)."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self._faults: list[_Fault] = []
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        for name in dir(type(self)):
            fn = getattr(self, name)
            spec = getattr(fn, "__sandbox_route__", None)
            if spec:
                method, pattern = spec
                regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern.rstrip("/") or "/")
                self._routes.append((method, re.compile(f"^{regex}/?$"), fn))

    # -- test hooks ------------------------------------------------------------------------------

    def fail_next(
        self,
        status: int,
        body: Any = None,
        *,
        times: int = 1,
        method: str | None = None,
        path: str | None = None,
        headers: dict[str, str] | None = None,
        exception: type[Exception] | None = None,
    ) -> None:
        """Answer the next ``times`` matching requests with ``status``/``body`` (or raise ``exception``)."""
        self._faults.append(_Fault(status, body, headers or {}, times, method, path, exception))

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def calls(self, method: str | None = None, path: str | None = None) -> list[httpx.Request]:
        """Recorded requests, filtered by method and path (relative to the base path)."""
        return [
            r
            for r in self.requests
            if (method is None or r.method == method) and (path is None or self.relative_path(r) == path)
        ]

    # -- plumbing --------------------------------------------------------------------------------

    def relative_path(self, request: httpx.Request) -> str:
        path = request.url.path
        if self.base_path and path.startswith(self.base_path):
            path = path[len(self.base_path) :]
        return path or "/"

    def handle(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        path = self.relative_path(request)
        for fault in self._faults:
            if fault.times > 0 and fault.method in (None, request.method) and fault.path in (None, path):
                fault.times -= 1
                if fault.exception is not None:
                    raise fault.exception("sandbox fault")
                return self.json(fault.status, fault.body, headers=fault.headers)
        if not self.is_public(request):
            denied = self.check_auth(request)
            if denied is not None:
                return denied
        for method, regex, fn in self._routes:
            match = regex.match(path)
            if match and method == request.method:
                return fn(request, **match.groupdict())
        if any(regex.match(path) for _, regex, _ in self._routes):
            return self.error(405, f"Method {request.method} not allowed")
        return self.error(404, f"No route for {request.method} {path}")

    def is_public(self, request: httpx.Request) -> bool:
        """Signed download URLs carry their own authorisation."""
        return False

    def check_auth(self, request: httpx.Request) -> httpx.Response | None:
        value = request.headers.get(self.auth_header, "")
        key = value[len(self.auth_prefix) :] if value.startswith(self.auth_prefix) else ""
        if not key or (self.valid_keys and key not in self.valid_keys):
            return self.error(401, "Invalid or missing API key")
        return None

    def error(self, status: int, message: str, **extra: Any) -> httpx.Response:
        """The vendor's error body; override per vendor to match its documented shape."""
        return self.json(status, {"error": message, **extra})

    @staticmethod
    def json(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
        if body is None:
            return httpx.Response(status, headers=headers)
        return httpx.Response(status, json=body, headers=headers)

    @staticmethod
    def body(request: httpx.Request) -> Any:
        try:
            return json.loads(request.content or b"null")
        except ValueError:
            return None


def load_sandbox(vendor: str) -> SandboxApp:
    """A fresh sandbox for ``vendor`` (``enrich_mcp.sandbox.<vendor>.Sandbox``)."""
    module = importlib.import_module(f"{__name__}.{vendor}")
    return module.Sandbox()
