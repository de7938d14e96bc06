"""The one vendor HTTP client: auth, timeouts, retries, rate limits, error mapping, redaction.

Every vendor client sends its requests through :class:`VendorHTTP`. The retry
rule lives here and nowhere else. A request is *safe to resend* when it is a
GET, HEAD, PUT or DELETE, or when the vendor client marks it ``idempotent=True``
because the vendor's document makes resending harmless (Lance's trigger reuses
a pending enrichment; a Sixtyfour workflow run carries an ``Idempotency-Key``).
POST and PATCH, and anything marked ``spends=True``, are *unsafe* by default, so
a forgotten flag fails safe.

* Safe requests are retried on 408, 429, 500, 502, 503, 504 and on every
  transport error, with exponential backoff and full jitter, honouring
  ``Retry-After`` (capped).
* Unsafe requests are resent only when the vendor certainly did not process
  them: 429, 503 with ``Retry-After``, or a connection that failed before the
  request was sent (connect error/timeout, pool timeout). Any other 5xx, 408,
  a read timeout or a connection dropped after sending means the outcome is
  unknown: :class:`~enrich_mcp.errors.VendorResponseLost`, never resent. A 2xx
  whose body cannot be read is :class:`~enrich_mcp.errors.VendorResponseUnreadable`
  (accepted, maybe billed). Right before an unsafe request goes out,
  :func:`~enrich_mcp.sendmark.mark_sending` lets the ledger note that it may have left.
* API calls never follow redirects (a 3xx is an error), so a key only ever goes
  to the vendor's own base URL. Signed result URLs are fetched by :meth:`VendorHTTP.download`
  without any key, under one policy for every vendor (:meth:`VendorHTTP.check_download_url`).
* Every id put into a URL path goes through :func:`segment`: checked against the
  vendor's documented shape and percent-encoded, so no input can change the route.
* The configured key is redacted from every decoded answer, error and log line.
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
from typing import Any, TypeVar, overload
from urllib.parse import quote

import anyio
import httpx

from enrich_mcp.errors import (
    InputError,
    VendorError,
    VendorProtocolError,
    VendorResponseLost,
    VendorResponseUnreadable,
    VendorUnavailable,
    error_class_for_status,
    redact,
    redact_value,
)
from enrich_mcp.sendmark import mark_sending

logger = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]
T = TypeVar("T")

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
"""Statuses after which a request that is safe to resend is sent again."""
UNSAFE_METHODS = frozenset({"POST", "PATCH"})
"""Methods unsafe to resend unless the vendor client marks the request ``idempotent=True``."""
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_DOWNLOAD_REDIRECTS = 5
# Failures that happen before a byte of the request left: the vendor cannot have processed it.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_SAFE_EXTENSION = "enrich_mcp_resend_safe"

UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
"""A UUID (any version), the id shape of Enrichabl, Lance and Sixtyfour workflows and runs."""
TOKEN_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._~:-]{0,199}$"
"""An opaque vendor id (task ids and the like): URL-unreserved characters, never ``.`` or ``..``."""
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


def segment(value: object, *, name: str, pattern: str = TOKEN_PATTERN, vendor: str | None = None) -> str:
    """``value`` checked against an id ``pattern`` and percent-encoded, ready to be one URL path segment.

    Raises :class:`InputError` naming the argument ``name`` (or, with ``vendor``, a
    :class:`VendorProtocolError`: the id came from the vendor's own answer) before
    any request is made, so no input (``../x``, ``a/b``, ``%2e%2e``, NUL, spaces)
    can change the route.
    """
    text = str(value)
    if not re.fullmatch(pattern, text) or text in {".", ".."}:
        shown = repr(text[:60] + ("…" if len(text) > 60 else ""))
        shape = "a UUID like 123e4567-e89b-42d3-a456-426614174000" if pattern == UUID_PATTERN else f"like {pattern}"
        message = f"{name}: must be {shape} (got {shown})"
        if vendor is not None:
            raise VendorProtocolError(vendor, f"the answer carried an unusable {message}")
        raise InputError(message, hint="Use an id exactly as the vendor or a list tool returned it.")
    return quote(text, safe="-._~")


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


def resend_safe(method: str, *, spends: bool = False, idempotent: bool | None = None) -> bool:
    """Whether sending ``method`` again after a lost answer cannot pay or create twice (see the module doc)."""
    if idempotent is not None:
        return idempotent
    return not spends and method.upper() not in UNSAFE_METHODS


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
                # A redirect would carry the key's header (x-api-key survives httpx's cross-origin strip) to
                # wherever the answer points: API calls treat a 3xx as an error, downloads follow by hand.
                follow_redirects=False,
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

    def _is_vendor_api(self, url: str) -> bool:
        """Same scheme, host and port as the base URL, under its path (a plain prefix test would accept
        ``https://api.vendor.com.evil.example``)."""
        base, target = httpx.URL(self.base_url), httpx.URL(url)
        base_path = base.path.rstrip("/") + "/"
        return (target.scheme, target.host, target.port) == (base.scheme, base.host, base.port) and (
            target.path + "/"
        ).startswith(base_path)

    def redact(self, text: str) -> str:
        return redact(text, [self.api_key])

    def redact_value(self, value: Any) -> Any:
        """Decoded JSON with the key replaced in every string: an echoed key is never stored or shown."""
        return redact_value(value, [self.api_key])

    def redact_bytes(self, data: bytes) -> bytes:
        if self.api_key and len(self.api_key) >= 4:
            return data.replace(self.api_key.encode(), b"[redacted]")
        return data

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
        idempotent: bool | None = None,
        authenticated: bool = True,
        ok_statuses: frozenset[int] | None = None,
    ) -> httpx.Response:
        """Send one logical request under the retry rule; raise a :class:`VendorError` on failure.

        ``spends`` marks a request that costs credits; ``idempotent=True`` declares that
        the vendor makes resending it harmless (see :func:`resend_safe`).
        ``authenticated=False`` is for signed download URLs: no key is sent, and
        a key is never sent anywhere but the vendor's own base URL.
        ``ok_statuses`` lets a caller treat a documented non-2xx (e.g. a 404 it
        wants to handle) as an answer instead of an error.
        """
        method = method.upper()
        url = self.url(path)
        send_headers = dict(headers or {})
        if authenticated and self._is_vendor_api(url):
            send_headers.update(self.auth.headers(self.api_key))
        safe = resend_safe(method, spends=spends, idempotent=idempotent)
        where = f"{method} {self._path_for_log(url)}"
        attempt = 0
        while True:
            await self.limiter.acquire()
            self.log.requests += 1
            extensions = {"enrich_mcp_attempt": attempt, _SAFE_EXTENSION: safe}
            response: httpx.Response | None = None
            if not safe:
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
            except _NOT_SENT as exc:
                # Never reached the vendor: always safe to try again.
                failure: VendorError = VendorUnavailable(self.vendor, f"could not connect ({type(exc).__name__})")
            except httpx.DecodingError as exc:
                # The vendor answered, but its body cannot be decoded.
                raise self._unreadable(where, safe, f"its body could not be decoded: {type(exc).__name__}") from None
            except httpx.TransportError as exc:
                # Sent, but the answer was lost: the vendor may have done (and billed) the work.
                if not safe:
                    raise self._lost(where, f"no answer arrived: {type(exc).__name__}") from None
                failure = VendorUnavailable(self.vendor, f"request failed ({type(exc).__name__})")
            else:
                self._observe_rate_headers(response)
                status = response.status_code
                if response.is_success or (ok_statuses and status in ok_statuses):
                    self.log.last_ok_at = time.time()
                    return response
                if 300 <= status < 400:
                    raise self._redirected(where, response, safe)
                failure = self._error_from(response)
                if not self._may_resend(response, safe):
                    if not safe and (status == 408 or status >= 500):
                        said = parse_error_body(response).message[:200]
                        raise self._lost(where, f"the vendor said {said!r}", status=status)
                    self._record_error(str(failure))
                    raise failure
            if attempt >= self.retry.max_retries:
                self._record_error(str(failure))
                raise failure
            delay = self.retry.delay(attempt, response)
            logger.warning(
                "%s %s failed (%s); retry %d/%d in %.2fs",
                self.vendor,
                where,
                response.status_code if response is not None else "connection",
                attempt + 1,
                self.retry.max_retries,
                delay,
            )
            self.log.retries += 1
            attempt += 1
            await self.sleep(delay)

    @staticmethod
    def _may_resend(response: httpx.Response, safe: bool) -> bool:
        status = response.status_code
        if safe:
            return status in RETRY_STATUSES
        # Only answers that prove nothing was done: rate limited, or "unavailable, come back at".
        return status == 429 or (status == 503 and parse_retry_after(response.headers.get("retry-after")) is not None)

    @overload
    async def json(self, method: str, path: str, *, parse: None = None, **kwargs: Any) -> Any: ...

    @overload
    async def json(self, method: str, path: str, *, parse: Callable[[Any], T], **kwargs: Any) -> T: ...

    async def json(self, method: str, path: str, *, parse: Callable[[Any], Any] | None = None, **kwargs: Any) -> Any:
        """:meth:`request`, then :meth:`decode` the answer (``None`` for an empty 204)."""
        return self.decode(await self.request(method, path, **kwargs), parse=parse)

    def decode(self, response: httpx.Response, *, parse: Callable[[Any], Any] | None = None) -> Any:
        """The answer's JSON with the key redacted, passed through ``parse`` (a shape check).

        A body that is not JSON, or that ``parse`` rejects with a :class:`VendorProtocolError`,
        is :class:`VendorResponseUnreadable` when the request was unsafe to resend (the vendor
        accepted it and may have billed), and a plain :class:`VendorProtocolError` otherwise.
        """
        request = response.request
        safe = bool(request.extensions.get(_SAFE_EXTENSION, True))
        where = f"{request.method} {self._path_for_log(request.url)}"
        body: Any = None
        if response.status_code != 204 and response.content:
            try:
                body = self.redact_value(response.json())
            except (json.JSONDecodeError, UnicodeDecodeError, ValueError, RecursionError):
                raise self._unreadable(where, safe, "its body is not JSON", status=response.status_code) from None
        if parse is None:
            return body
        try:
            return parse(body)
        except VendorProtocolError as exc:
            if safe:
                raise
            raise self._unreadable(where, safe, exc.message, status=response.status_code) from None

    def check_download_url(self, url: str) -> httpx.URL:
        """The one download policy: https, or http only when this vendor's own base URL is http (a local
        test double). Raises :class:`VendorProtocolError` naming only the scheme and host."""
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError, ValueError):
            raise VendorProtocolError(self.vendor, "a result URL could not be parsed") from None
        allowed = {"https"} | ({"http"} if httpx.URL(self.base_url).scheme == "http" else set())
        if parsed.scheme not in allowed or not parsed.host:
            shown = f"{parsed.scheme}://{parsed.host}" if parsed.scheme else "a relative URL"
            raise VendorProtocolError(
                self.vendor, f"a result URL on {shown} is not allowed: downloads are {' or '.join(sorted(allowed))}"
            )
        return parsed

    async def download(self, url: str) -> bytes:
        """Fetch a signed result URL, never with a key, following at most a few redirects by hand."""
        for _ in range(MAX_DOWNLOAD_REDIRECTS + 1):
            target = self.check_download_url(url)
            response = await self.request("GET", str(target), authenticated=False, ok_statuses=REDIRECT_STATUSES)
            if response.status_code not in REDIRECT_STATUSES:
                return self.redact_bytes(response.content)
            location = response.headers.get("location")
            if not location:
                raise VendorProtocolError(
                    self.vendor, f"a download answered HTTP {response.status_code} without a Location"
                )
            url = str(target.join(location))
        raise VendorProtocolError(self.vendor, f"a download was redirected more than {MAX_DOWNLOAD_REDIRECTS} times")

    def _lost(self, where: str, reason: str, *, status: int | None = None) -> VendorResponseLost:
        error = VendorResponseLost(self.vendor, self.redact(f"{where}: the answer was lost ({reason})."), status=status)
        self._record_error(str(error))
        return error

    def _unreadable(self, where: str, safe: bool, reason: str, *, status: int | None = None) -> VendorError:
        message = self.redact(f"{where}: the answer could not be read ({reason}).")
        error: VendorError = (
            VendorProtocolError(self.vendor, message, status=status)
            if safe
            else VendorResponseUnreadable(self.vendor, message, status=status)
        )
        self._record_error(str(error))
        return error

    def _redirected(self, where: str, response: httpx.Response, safe: bool) -> VendorError:
        location = response.headers.get("location") or ""
        try:
            host = response.request.url.join(location).host if location else ""
        except (httpx.InvalidURL, TypeError, ValueError):
            host = ""
        message = self.redact(
            f"{where} answered with a redirect to {host or 'an unknown location'}, which API calls never "
            "follow (no key was sent there)."
        )
        hint = f"Check the {self.vendor} base URL setting: the API may have moved."
        # 301/302/303 after a POST can mean "done, see there" (the work may be billed); 307/308 mean "send it
        # there instead", so nothing was done.
        if not safe and response.status_code not in {307, 308}:
            error: VendorError = VendorResponseUnreadable(
                self.vendor,
                message,
                status=response.status_code,
                hint="A redirect after this request can mean it was done (and charged), so it was not resent. "
                f"Check the job list (list_jobs) or the vendor's dashboard before retrying. {hint}",
            )
        else:
            error = VendorProtocolError(self.vendor, message, status=response.status_code, hint=hint)
        self._record_error(str(error))
        return error

    def _error_from(self, response: httpx.Response) -> VendorError:
        body = parse_error_body(response)
        cls = error_class_for_status(response.status_code)
        return cls(
            self.vendor,
            self.redact(body.message),
            status=response.status_code,
            code=body.code,
            details=self.redact_value(body.details) if body.details else None,
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
