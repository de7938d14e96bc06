"""In-process fake vendor APIs, served through ``httpx.MockTransport``.

One module per vendor (``enrich_mcp/sandbox/<vendor>.py``) defines a
``Sandbox`` subclass of :class:`SandboxApp`, written from the vendor's document
in ``vendor-docs/`` (never from our clients: nothing here imports
``enrich_mcp.vendors``): paths, auth header, status codes, error bodies, job
life cycles, documented rate limits. The data is clearly synthetic
(``example.com`` people).

**State** lives in a :class:`~enrich_mcp.sandbox.store.SandboxStore`: a file
per vendor under the data directory, or PostgreSQL's ``sandbox_*`` tables when
the server has ``ENRICH_MCP_DATABASE_URL`` (the server passes the store its
``Stores`` chose). So a sandbox job started by one process (or replica) can be
read by the next; each request is one transaction. Job life cycles advance per poll (the
poll count is stored), and anything time-based (rate windows, Lance's
``timeout``) compares stored timestamps with :attr:`SandboxApp.clock`.

**Shapes the documents leave open** are *variants*: each sandbox lists the
plausible shapes of every open point in :attr:`SandboxApp.variants`, and picks
one per point when its state is first created (a random seed, logged, unless
``ENRICH_MCP_SANDBOX_SEED`` pins it). ``ENRICH_MCP_SANDBOX_VARIANTS``
(``"sixtyfour.bulk_result=list,enrichabl.start_answer=id"``) or the
``variants=`` argument pins single points, so a test can choose the shape it
exercises. The choice is stored with the state, so every process on one data
directory (or database) sees the same shapes.

Tests reach a sandbox through ``SandboxApp.requests`` (every request it
received in this process, in order), ``fail_next`` (inject 429/5xx/error
answers) and each vendor's documented test hooks.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import logging
import os
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import httpx

from enrich_mcp.sandbox.store import SandboxStore, SqliteSandboxStore

logger = logging.getLogger(__name__)

Handler = Callable[..., httpx.Response]

SEED_ENV = "ENRICH_MCP_SANDBOX_SEED"
VARIANTS_ENV = "ENRICH_MCP_SANDBOX_VARIANTS"


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


@dataclass(frozen=True)
class RateWindow:
    """A documented request limit: ``requests`` per ``seconds``, counted per token in fixed windows."""

    requests: int
    seconds: float


def parse_variant_pins(text: str | None) -> dict[str, dict[str, str]]:
    """``"vendor.point=choice,..."`` as ``{vendor: {point: choice}}``."""
    pins: dict[str, dict[str, str]] = {}
    for part in (text or "").split(","):
        name, _, choice = part.strip().partition("=")
        vendor, _, point = name.strip().partition(".")
        if vendor and point and choice.strip():
            pins.setdefault(vendor, {})[point] = choice.strip()
    return pins


class SandboxApp:
    """Routing, auth, rate limits, state, variants, request recording and fault injection for one fake vendor."""

    vendor: ClassVar[str]
    base_path: ClassVar[str] = ""
    """Path prefix of the vendor's base URL (e.g. ``/v1``); routes are relative to it."""
    auth_header: ClassVar[str]
    auth_prefix: ClassVar[str] = ""
    rate: RateWindow | None = None
    """The documented rate limit; beyond it the sandbox answers 429 (tests may set a smaller one)."""
    variants: ClassVar[Mapping[str, tuple[str, ...]]] = {}
    """Open points of the document and their plausible shapes (see the module docstring)."""

    def __init__(
        self,
        *,
        home: Path | None = None,
        store: SandboxStore | None = None,
        seed: int | None = None,
        variants: Mapping[str, str] | None = None,
    ) -> None:
        """State in ``store``; without one, in ``home``'s ``sandbox/<vendor>.sqlite3`` (or in memory)."""
        self.requests: list[httpx.Request] = []
        self.valid_keys: frozenset[str] = frozenset()
        """Keys the sandbox accepts; empty means any non-empty key (the demo's keys)."""
        self.clock: Callable[[], float] = time.time
        """Wall-clock seconds; stored timestamps compare against it, so tests may move it."""
        self._faults: list[_Fault] = []
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        for name in dir(type(self)):
            spec = getattr(getattr(type(self), name), "__sandbox_route__", None)  # the class: no property runs
            if spec:
                fn = getattr(self, name)
                method, pattern = spec
                regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern.rstrip("/") or "/")
                self._routes.append((method, re.compile(f"^{regex}/?$"), fn))
        if store is None:
            store = SqliteSandboxStore(None if home is None else home / "sandbox" / f"{self.vendor}.sqlite3")
        self.store: SandboxStore = store
        with self.store.transaction():
            self.shape = self._choose_variants(seed, variants)
            if not self.store.meta("seeded"):
                self.seed_state()
                self.store.set_meta("seeded", True)

    # -- subclass hooks --------------------------------------------------------------------------

    def seed_state(self) -> None:
        """Create the vendor's starting state (runs once per store, inside a transaction)."""

    def error(self, status: int, message: str, **extra: Any) -> httpx.Response:
        """The vendor's error body; override per vendor to match its documented shape."""
        return self.json(status, {"error": message, **extra})

    def rate_limited(self, retry_after: float) -> httpx.Response:
        response = self.error(429, "Rate limit exceeded")
        response.headers["Retry-After"] = str(max(1, round(retry_after)))
        return response

    def rate_headers(self, limit: int, remaining: int, reset_at: float) -> dict[str, str]:
        """Headers sent with every answer while a rate window is open (none unless documented)."""
        return {}

    def is_public(self, request: httpx.Request) -> bool:
        """Signed download URLs carry their own authorisation."""
        return False

    # -- variants --------------------------------------------------------------------------------

    def _choose_variants(self, seed: int | None, pinned: Mapping[str, str] | None) -> dict[str, str]:
        env_pins = parse_variant_pins(os.environ.get(VARIANTS_ENV)).get(self.vendor, {})
        pins = {**env_pins, **(pinned or {})}
        for point, choice in pins.items():
            if choice not in self.variants.get(point, ()):
                raise ValueError(
                    f"sandbox {self.vendor}: no variant {point}={choice}; "
                    f"choose from {json.dumps({k: list(v) for k, v in self.variants.items()})}"
                )
        stored: dict[str, str] = self.store.meta("variants") or {}
        if seed is None and os.environ.get(SEED_ENV, "").strip():
            seed = int(os.environ[SEED_ENV])
        if seed is None:
            seed = random.SystemRandom().randrange(2**32)
        rng = random.Random(f"{seed}/{self.vendor}")
        chosen: dict[str, str] = {}
        for point, choices in self.variants.items():
            pick = rng.choice(choices)  # drawn for every point, so one seed always gives the same picks
            chosen[point] = pins.get(point) or (stored[point] if stored.get(point) in choices else pick)
        if chosen != stored:
            self.store.set_meta("variants", chosen)
            if self.variants:
                logger.info(
                    "sandbox %s shapes: %s (seed %d; pin with %s or %s)",
                    self.vendor,
                    ", ".join(f"{k}={v}" for k, v in chosen.items()),
                    seed,
                    SEED_ENV,
                    VARIANTS_ENV,
                )
        return chosen

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

    def pin(self, **choices: str) -> None:
        """Use these shapes from now on (and store them for the other processes on this data directory)."""
        for point, choice in choices.items():
            if choice not in self.variants.get(point, ()):
                raise ValueError(f"sandbox {self.vendor}: no variant {point}={choice}")
        with self.store.transaction():
            self.shape = {**self.shape, **choices}
            self.store.set_meta("variants", self.shape)

    def transport(self) -> httpx.AsyncBaseTransport:
        return httpx.MockTransport(self.handle)

    def calls(self, method: str | None = None, path: str | None = None) -> list[httpx.Request]:
        """Recorded requests, filtered by method and path (relative to the base path)."""
        return [
            r
            for r in self.requests
            if (method is None or r.method == method) and (path is None or self.relative_path(r) == path)
        ]

    def close(self) -> None:
        self.store.close()

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
        with self.store.transaction():
            public = self.is_public(request)
            headers: dict[str, str] = {}
            if not public and self.rate is not None:  # counted per token before auth, like a gateway
                limited, headers = self._count(request)
                if limited is not None:
                    return limited
            denied = None if public else self.check_auth(request)
            response = denied if denied is not None else self._route(request, path)
            for name, value in headers.items():
                response.headers.setdefault(name, value)
            return response

    def _route(self, request: httpx.Request, path: str) -> httpx.Response:
        for method, regex, fn in self._routes:
            match = regex.match(path)
            if match and method == request.method:
                return fn(request, **match.groupdict())
        if any(regex.match(path) for _, regex, _ in self._routes):
            return self.error(405, f"Method {request.method} not allowed")
        return self.error(404, f"No route for {request.method} {path}")

    def _count(self, request: httpx.Request) -> tuple[httpx.Response | None, dict[str, str]]:
        """One request against the token's fixed window (stored, so every process counts together)."""
        assert self.rate is not None
        now = self.clock()
        # A hash, never the token itself: the state file is on disk.
        key = "rate:" + hashlib.sha256(self.token(request).encode()).hexdigest()[:16]
        window = self.store.meta(key) or {"start": now, "count": 0}
        if now >= window["start"] + self.rate.seconds:
            window = {"start": now, "count": 0}
        reset_at = window["start"] + self.rate.seconds
        if window["count"] >= self.rate.requests:
            response = self.rate_limited(reset_at - now)
            for name, value in self.rate_headers(self.rate.requests, 0, reset_at).items():
                response.headers.setdefault(name, value)
            return response, {}
        window["count"] += 1
        self.store.set_meta(key, window)
        return None, self.rate_headers(self.rate.requests, self.rate.requests - window["count"], reset_at)

    def token(self, request: httpx.Request) -> str:
        value = request.headers.get(self.auth_header, "")
        return value[len(self.auth_prefix) :] if value.startswith(self.auth_prefix) else ""

    def check_auth(self, request: httpx.Request) -> httpx.Response | None:
        key = self.token(request)
        if not key or (self.valid_keys and key not in self.valid_keys):
            return self.error(401, "Invalid or missing API key")
        return None

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


def has_sandbox(vendor: str) -> bool:
    """Whether ``enrich_mcp/sandbox/<vendor>.py`` exists (a vendor installed as a plug-in has none)."""
    return importlib.util.find_spec(f"{__name__}.{vendor}") is not None


def load_sandbox(
    vendor: str,
    *,
    home: Path | None = None,
    store: SandboxStore | None = None,
    seed: int | None = None,
    variants: Mapping[str, str] | None = None,
) -> SandboxApp:
    """The sandbox for ``vendor`` (``enrich_mcp.sandbox.<vendor>.Sandbox``), its state in ``store`` or ``home``."""
    module = importlib.import_module(f"{__name__}.{vendor}")
    return module.Sandbox(home=home, store=store, seed=seed, variants=variants)
