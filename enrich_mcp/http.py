"""The one vendor HTTP client: auth, timeouts, retries, rate limits, error mapping, redaction.

Every vendor client sends its requests through :class:`VendorHTTP`. The retry
policy lives here and nowhere else:

* 408, 429, 500, 502, 503, 504 and connection failures are retried with
  exponential backoff and full jitter, honouring ``Retry-After`` (capped).
  An HTTP error answer means the vendor did not do the work, so it is safe to
  send again.
* A request that spends credits (``spends=True``) and whose answer was lost
  after it was sent (read timeout, dropped connection) is *not* resent: the
  vendor may have done the work and charged for it. It raises
  :class:`~enrich_mcp.errors.VendorResponseLost` unless the caller marked the
  endpoint ``idempotent`` (the vendor deduplicates it).
* A client-side :class:`RateLimiter` keeps each vendor under its documented
  rate, and a vendor's ``X-RateLimit-Remaining: 0`` pauses the limiter until
  ``X-RateLimit-Reset``.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx

from enrich_mcp.errors import (
    VendorError,
    VendorProtocolError,
    VendorResponseLost,
    VendorUnavailable,
    error_class_for_status,
    redact,
)
from enrich_mcp.sendmark import mark_sending

logger = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_RATE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(s|sec|second|m|min|minute|h|hr|hour)s?\s*$", re.IGNORECASE)
_UNITS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hr": 3600, "hour": 3600}


@dataclass(frozen=True)
class Rate:
    """``requests`` per ``per_seconds``; parse ``"500/min"`` with :meth:`parse`."""

    requests: int
    per_seconds: float

    @classmethod
    def parse(cls, text: str) -> Rate:
        match = _RATE_RE.match(text)
        if not match:
            raise ValueError(f"rate limit {text!r} is not like '500/min' or '1000/hour'")
        return cls(int(float(match.group(1))), float(_UNITS[match.group(2).lower()]))

    def __str__(self) -> str:
        per = {1.0: "s", 60.0: "min", 3600.0: "hour"}.get(self.per_seconds, f"{self.per_seconds:g}s")
        return f"{self.requests}/{per}"


class RateLimiter:
    """Sliding-window limiter: at most ``rate.requests`` starts in any ``rate.per_seconds`` window.

    A sliding log (not a token bucket) because vendors count requests in a
    window; a burst allowed by a bucket can still trip their counter.
    """

    def __init__(self, rate: Rate | None, *, clock: Clock = time.monotonic, sleep: Sleep = anyio.sleep) -> None:
        self.rate = rate
        self._clock = clock
        self._sleep = sleep
        self._starts: deque[float] = deque()
        self._blocked_until = 0.0
        self._lock = anyio.Lock()

    def block_until(self, deadline: float) -> None:
        """Hold every request until ``deadline`` (clock time), e.g. the vendor's reset time."""
        self._blocked_until = max(self._blocked_until, deadline)

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = self._clock()
                wait = self._blocked_until - now
                if self.rate is not None:
                    while self._starts and self._starts[0] <= now - self.rate.per_seconds:
                        self._starts.popleft()
                    if len(self._starts) >= self.rate.requests:
                        wait = max(wait, self._starts[0] + self.rate.per_seconds - now)
                if wait <= 0:
                    if self.rate is not None:
                        self._starts.append(now)
                    return
                await self._sleep(wait)


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 4
    base_delay: float = 0.5
    max_delay: float = 20.0
    retry_after_cap: float = 60.0

    def backoff(self, attempt: int) -> float:
        """Full-jitter exponential backoff for retry number ``attempt`` (0-based)."""
        return random.uniform(0, min(self.max_delay, self.base_delay * (2**attempt)))

    def delay(self, attempt: int, response: httpx.Response | None) -> float:
        if response is not None and (after := parse_retry_after(response.headers.get("retry-after"))) is not None:
            return min(after, self.retry_after_cap)
        return self.backoff(attempt)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, parsed.timestamp() - (time.time() if now is None else now))


@dataclass(frozen=True)
class Auth:
    """How a vendor wants its key: header name and value template."""

    header: str
    template: str = "{key}"

    def headers(self, key: str) -> dict[str, str]:
        return {self.header: self.template.format(key=key)}


BEARER = Auth("Authorization", "Bearer {key}")


@dataclass(frozen=True)
class ErrorBody:
    message: str
    code: str | None = None
    details: Any = None


def parse_error_body(response: httpx.Response) -> ErrorBody:
    """Read the vendor's error from any of the documented shapes.

    ``{error: "..."}`` (Enrichabl, Sixtyfour), ``{error: {code, message, details}}``
    (Lance, 4Runr), ``{detail: ...}`` (FastAPI-style), ``{message: ...}``.
    """
    text = response.text
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        snippet = " ".join(text.split())[:300]
        return ErrorBody(snippet or response.reason_phrase or "no error message")
    if not isinstance(body, dict):
        return ErrorBody(str(body)[:300])
    details = {k: v for k, v in body.items() if k not in {"error", "detail", "message", "success"}} or None
    error = body.get("error")
    if isinstance(error, dict):
        return ErrorBody(
            str(error.get("message") or error.get("code") or "error"),
            str(error["code"]) if error.get("code") else None,
            error.get("details") or details,
        )
    if isinstance(error, str):
        return ErrorBody(error, None, details)
    detail = body.get("detail")
    if isinstance(detail, str):
        return ErrorBody(detail, None, details)
    if isinstance(detail, list):  # pydantic-style validation list
        parts = [
            f"{'.'.join(str(p) for p in d.get('loc', []))}: {d.get('msg')}" if isinstance(d, dict) else str(d)
            for d in detail
        ]
        return ErrorBody("; ".join(parts), None, details)
    if isinstance(body.get("message"), str):
        return ErrorBody(body["message"], None, details)
    return ErrorBody(" ".join(text.split())[:300] or response.reason_phrase)


@dataclass
class RequestLog:
    """Counters for enrich://vendors."""

    requests: int = 0
    retries: int = 0
    last_error: str | None = None
    last_error_at: float | None = None
    last_ok_at: float | None = None


@dataclass
class VendorHTTP:
    """One vendor's HTTP client. Knows nothing about MCP."""

    vendor: str
    base_url: str
    auth: Auth
    api_key: str
    transport: httpx.AsyncBaseTransport | None = None
    limiter: RateLimiter = field(default_factory=lambda: RateLimiter(None))
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout: float = 30.0
    sleep: Sleep = anyio.sleep
    clock: Clock = time.monotonic
    log: RequestLog = field(default_factory=RequestLog)
    _client: httpx.AsyncClient | None = field(default=None, init=False, repr=False)

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                transport=self.transport,
                timeout=httpx.Timeout(self.timeout, connect=min(10.0, self.timeout)),
                headers={"User-Agent": "enrich-mcp/0.1 (+https://github.com/enrich-mcp)"},
                follow_redirects=True,
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return self.base_url.rstrip("/") + "/" + path.lstrip("/")

    def redact(self, text: str) -> str:
        return redact(text, [self.api_key])

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        spends: bool = False,
        idempotent: bool = False,
        authenticated: bool = True,
        ok_statuses: frozenset[int] | None = None,
    ) -> httpx.Response:
        """Send one logical request, retrying per the policy; raise a :class:`VendorError` on failure.

        ``authenticated=False`` is for signed download URLs on other hosts: the
        vendor's key is never sent anywhere but the vendor's own base URL.
        ``ok_statuses`` lets a caller treat a documented non-2xx (e.g. a 404 it
        wants to handle) as an answer instead of an error.
        """
        url = self.url(path)
        send_headers = dict(headers or {})
        if authenticated and url.startswith(self.base_url.rstrip("/")):
            send_headers.update(self.auth.headers(self.api_key))
        safe_to_resend = not spends or idempotent
        attempt = 0
        while True:
            await self.limiter.acquire()
            self.log.requests += 1
            extensions = {"enrich_mcp_attempt": attempt}
            response: httpx.Response | None = None
            if not safe_to_resend:
                await mark_sending()  # the ledger notes "may have left" before any byte does
            try:
                response = await self.client.request(
                    method,
                    url,
                    params=params,
                    json=json_body,
                    content=content,
                    headers={**send_headers, "X-Enrich-Attempt": str(attempt)} if attempt else send_headers,
                    extensions=extensions,
                )
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                # Never reached the vendor: always safe to try again.
                failure: VendorError = VendorUnavailable(self.vendor, f"could not connect ({type(exc).__name__})")
            except httpx.TransportError as exc:
                # Sent, but the answer was lost: the vendor may have done (and billed) the work.
                if not safe_to_resend:
                    self._record_error(f"response lost ({type(exc).__name__})")
                    raise VendorResponseLost(
                        self.vendor, f"{method} {self._path_for_log(url)} was sent but no answer arrived"
                    ) from None
                failure = VendorUnavailable(self.vendor, f"request failed ({type(exc).__name__})")
            else:
                self._observe_rate_headers(response)
                if response.is_success or (ok_statuses and response.status_code in ok_statuses):
                    self.log.last_ok_at = time.time()
                    return response
                failure = self._error_from(response)
                if response.status_code not in RETRY_STATUSES:
                    self._record_error(str(failure))
                    raise failure
            if attempt >= self.retry.max_retries:
                self._record_error(str(failure))
                raise failure
            delay = self.retry.delay(attempt, response)
            logger.warning(
                "%s %s %s failed (%s); retry %d/%d in %.2fs",
                self.vendor,
                method,
                self._path_for_log(url),
                response.status_code if response is not None else "connection",
                attempt + 1,
                self.retry.max_retries,
                delay,
            )
            self.log.retries += 1
            attempt += 1
            await self.sleep(delay)

    async def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """:meth:`request` and decode a JSON body (``None`` for an empty 204)."""
        response = await self.request(method, path, **kwargs)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
            raise VendorProtocolError(
                self.vendor, f"expected JSON from {method} {self._path_for_log(response.request.url)}"
            ) from None

    async def download(self, url: str) -> bytes:
        """Fetch a signed result URL (no vendor key is sent to it)."""
        return (await self.request("GET", url, authenticated=False)).content

    def _error_from(self, response: httpx.Response) -> VendorError:
        body = parse_error_body(response)
        cls = error_class_for_status(response.status_code)
        return cls(
            self.vendor,
            self.redact(body.message),
            status=response.status_code,
            code=body.code,
            details=json.loads(self.redact(json.dumps(body.details, default=str))) if body.details else None,
        )

    def _observe_rate_headers(self, response: httpx.Response) -> None:
        remaining = response.headers.get("x-ratelimit-remaining")
        reset = response.headers.get("x-ratelimit-reset")
        if remaining is None or reset is None:
            return
        try:
            if int(float(remaining)) > 0:
                return
            reset_value = float(reset)
        except ValueError:
            return
        # A reset larger than a day is an epoch timestamp; otherwise seconds from now.
        wait = reset_value - time.time() if reset_value > 86_400 else reset_value
        self.limiter.block_until(self.clock() + min(max(wait, 0.0), self.retry.retry_after_cap))

    def _record_error(self, message: str) -> None:
        self.log.last_error = self.redact(message)
        self.log.last_error_at = time.time()

    def _path_for_log(self, url: httpx.URL | str) -> str:
        return self.redact(httpx.URL(str(url)).path)
