"""The log filter: no configured secret reaches stderr, in messages, arguments, tracebacks or stack info."""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from enrich_mcp.cli import RedactingFilter, configure_logging
from enrich_mcp.settings import Settings, VendorConfig

KEY = "sk-LOGKEY-5e3a1c9b7d2f4068"
TOKEN = "http-token-0f9e8d7c6b5a"


@pytest.fixture
def stderr() -> Iterator[io.StringIO]:
    """configure_logging's handler, writing to a buffer; the root logger is restored afterwards."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    buffer = io.StringIO()
    real, sys.stderr = sys.stderr, buffer
    try:
        configure_logging(
            Settings(vendors={"sixtyfour": VendorConfig(api_key=SecretStr(KEY))}, http_token=SecretStr(TOKEN))
        )
    finally:
        sys.stderr = real
    yield buffer
    root.handlers[:], root.level = saved


def fail_with_key() -> None:
    try:
        raise ValueError(f"vendor echoed {KEY}")
    except ValueError as inner:
        raise RuntimeError(f"call failed with token {TOKEN}") from inner


def test_messages_and_arguments_are_redacted(stderr: io.StringIO) -> None:
    logging.getLogger("enrich_mcp.test").warning("key %s and token %s", KEY, TOKEN)
    out = stderr.getvalue()
    assert KEY not in out and TOKEN not in out
    assert out.count("[redacted]") == 2


def test_exception_tracebacks_are_redacted(stderr: io.StringIO) -> None:
    log = logging.getLogger("enrich_mcp.test")
    try:
        fail_with_key()
    except RuntimeError:
        log.exception("unexpected failure")
        log.error("again, as exc_info", exc_info=sys.exc_info())
    out = stderr.getvalue()
    assert "Traceback (most recent call last)" in out and "fail_with_key" in out  # the traceback is kept
    assert "ValueError: vendor echoed [redacted]" in out and "RuntimeError: call failed with token [redacted]" in out
    assert KEY not in out and TOKEN not in out


def test_stack_info_is_redacted() -> None:
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "here", None, None, sinfo=f"Stack: call({KEY!r})")
    assert RedactingFilter([KEY]).filter(record)
    assert record.stack_info == "Stack: call('[redacted]')"


def test_a_record_keeps_its_redacted_exception_text_for_every_handler() -> None:
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "boom %s", (KEY,), None)
    try:
        fail_with_key()
    except RuntimeError:
        record.exc_info = sys.exc_info()
    assert RedactingFilter([KEY, TOKEN]).filter(record)
    formatted = logging.Formatter().format(record)
    assert KEY not in formatted and TOKEN not in formatted and "[redacted]" in formatted
    assert record.exc_info is None  # no formatter can render the unredacted exception again
