"""The moment a paid request leaves: what tells "never sent" from "may have been sent".

A job step or a paid call registers a callback with :func:`on_send`; the HTTP client awaits
:func:`mark_sending` right before it puts a request that is unsafe to resend on the wire. The
callback records "sending" durably, so after a crash the ledger knows which requests certainly
never left (and may be sent) and which may have (and are reconciled or reported, never resent).
A callback may raise to stop the request before any byte leaves (the job was cancelled, or
another process took it over).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

Callback = Callable[[], Awaitable[None]]

_CALLBACK: ContextVar[Callback | None] = ContextVar("enrich_mcp_before_send", default=None)


@contextmanager
def on_send(callback: Callback) -> Iterator[None]:
    """Run ``callback`` before each unsafe request sent inside this block (it should be idempotent)."""
    token = _CALLBACK.set(callback)
    try:
        yield
    finally:
        _CALLBACK.reset(token)


async def mark_sending() -> None:
    """Called by the HTTP client just before an unsafe request goes out."""
    callback = _CALLBACK.get()
    if callback is not None:
        await callback()
