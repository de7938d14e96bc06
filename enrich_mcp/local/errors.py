"""The local provider's input error and batch limit."""

from __future__ import annotations

from collections.abc import Sequence

from enrich_mcp.errors import InputError

MAX_ITEMS = 10_000
"""Most addresses or rows one call accepts: bounds memory and the time a single tool call can take."""


class LocalInputError(InputError, ValueError):
    """The batch itself cannot be processed (too large, wrong type, unreadable file).

    An ``InputError`` so the tool layer reports it like any other bad argument, and a ``ValueError`` so plain
    library callers can catch it without knowing enrich-mcp's exception tree. Problems with single addresses or
    rows are never raised: they are reported per item.
    """


def check_batch(items: object, what: str) -> Sequence[object]:
    """``items`` as a sequence, or :class:`LocalInputError` if it is not a list or holds more than :data:`MAX_ITEMS`.

    A lone string is a sequence too, but iterating it character by character is never what the caller meant.
    """
    if not isinstance(items, Sequence) or isinstance(items, str | bytes | bytearray):
        raise LocalInputError(f"{what} must be a list, got {json_type(items)}.")
    if len(items) > MAX_ITEMS:
        raise LocalInputError(
            f"Too many {what}: {len(items):,} given, at most {MAX_ITEMS:,} per call.",
            hint=f"Split the input into batches of {MAX_ITEMS:,}.",
        )
    return items


_JSON_TYPE_NAMES: dict[type, str] = {
    type(None): "null",
    bool: "boolean",
    int: "number",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
}


def json_type(value: object) -> str:
    """The JSON name of a value's type, for messages read by clients that sent JSON."""
    return _JSON_TYPE_NAMES.get(type(value), type(value).__name__)
