"""The one exception tree of enrich-mcp.

Every failure a person can act on is an :class:`EnrichError`. The tool layer
turns it into a tool error (``is_error``) whose text is ``str(exc)``: what went
wrong, then what to do. Anything else escaping a tool is a bug and is masked by
the MCP SDK.

    EnrichError
    ├── InputError                 bad arguments, caught before any vendor call
    ├── ConfigError                a vendor is not configured (missing key / base URL)
    ├── BudgetError
    │   ├── BudgetExceeded         the call would pass ENRICH_MCP_BUDGET_USD
    │   └── ConfirmationRequired   estimated above ENRICH_MCP_CONFIRM_ABOVE_USD, not confirmed
    ├── JobNotFound                no job with that id in the ledger
    ├── DataDirectoryError         the data directory (or a database in it) cannot be used; the CLI exits 2
    └── VendorError                the vendor answered with an error, or could not be reached
        ├── VendorBadRequest       400 / 422: the vendor rejected the request
        ├── VendorAuthError        401: key missing, wrong or revoked
        ├── VendorForbidden        403: plan, permission or subscription gate
        ├── VendorCreditsError     402: out of credits or over quota
        ├── VendorNotFound         404: the resource does not exist (for this account)
        ├── VendorConflict         409
        ├── VendorRateLimited      429 after retries
        ├── VendorUnavailable      5xx or connection failure after retries
        ├── VendorResponseLost     a request unsafe to resend (paid or creating) may have been processed,
        │   │                      but its answer was lost (408/5xx, read timeout, dropped connection)
        │   └── VendorResponseUnreadable   it was accepted (2xx) but the answer cannot be read
        └── VendorProtocolError    the vendor answered with something the document does not describe

Messages never contain API keys: :func:`redact` is applied to every vendor
message before it is stored on the exception.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class EnrichError(Exception):
    """Base of every error a person can act on."""

    hint: str = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if hint is not None:
            self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}".strip() if self.hint else self.message


class InputError(EnrichError):
    """The arguments cannot be valid; nothing was sent to a vendor."""


class ConfigError(EnrichError):
    """A vendor or feature is not configured."""


class BudgetError(EnrichError):
    """Spending rules stopped the call before any vendor was asked."""


class BudgetExceeded(BudgetError):
    pass


class ConfirmationRequired(BudgetError):
    pass


class JobNotFound(EnrichError):
    hint = "Call list_jobs to see the jobs this server knows."


class DataDirectoryError(EnrichError):
    """The data directory or one of its files cannot be used. The message is one paragraph: the file, what
    is wrong with it, and the fix."""


class VendorError(EnrichError):
    """The vendor answered with an error or could not be reached."""

    status: int | None
    code: str | None

    def __init__(
        self,
        vendor: str,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        details: Any = None,
        hint: str | None = None,
    ) -> None:
        self.vendor = vendor
        self.status = status
        self.code = code
        self.details = details
        prefix = f"{vendor}"
        if status is not None:
            prefix += f" returned HTTP {status}"
        if code:
            prefix += f" ({code})"
        super().__init__(f"{prefix}: {message}", hint=hint)


class VendorBadRequest(VendorError):
    hint = "Check the arguments against the tool's schema and the vendor's rules, then retry."


class VendorAuthError(VendorError):
    hint = "The API key was refused: check the key in the server's environment and restart the server."


class VendorForbidden(VendorError):
    hint = (
        "The account is not allowed to do this (plan, permission or missing provider key); "
        "fix it in the vendor's dashboard."
    )


class VendorCreditsError(VendorError):
    hint = "Nothing was spent. Top up credits or raise the plan's quota in the vendor's dashboard, then retry."


class VendorNotFound(VendorError):
    hint = "Check the id; list the resources first to find the right one."


class VendorConflict(VendorError):
    hint = "The resource is in a state that does not allow this; read it again and retry."


class VendorRateLimited(VendorError):
    hint = "The vendor is rate limiting this key; wait a minute and retry, or use the bulk tool."


class VendorUnavailable(VendorError):
    hint = "The vendor is failing or unreachable; nothing was charged. Retry in a few minutes."


class VendorResponseLost(VendorError):
    """The outcome is unknown: the vendor may have done (and billed) the work. Never resent blindly."""

    hint = (
        "The request may have been processed (and charged), so it was not resent. "
        "Check the job list (list_jobs) or the vendor's dashboard before retrying."
    )


class VendorResponseUnreadable(VendorResponseLost):
    """The vendor accepted the request (2xx), so it may have billed, but the answer cannot be read."""

    hint = (
        "The vendor accepted the request and may have charged for it, so it was not resent. "
        "Check the job list (list_jobs) or the vendor's dashboard before retrying; "
        "if this repeats, report it to the enrich-mcp maintainers."
    )


class VendorProtocolError(VendorError):
    hint = "The vendor's answer did not match its documentation; report this to the enrich-mcp maintainers."


_STATUS_ERRORS: dict[int, type[VendorError]] = {
    400: VendorBadRequest,
    401: VendorAuthError,
    402: VendorCreditsError,
    403: VendorForbidden,
    404: VendorNotFound,
    405: VendorNotFound,
    409: VendorConflict,
    410: VendorNotFound,
    413: VendorBadRequest,
    422: VendorBadRequest,
    429: VendorRateLimited,
}


def error_class_for_status(status: int) -> type[VendorError]:
    """The exception class a vendor's HTTP status maps to."""
    if status in _STATUS_ERRORS:
        return _STATUS_ERRORS[status]
    if status >= 500:
        return VendorUnavailable
    if 400 <= status < 500:
        return VendorBadRequest
    return VendorProtocolError


_REDACTED = "[redacted]"


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """Replace every occurrence of each secret (longest first) in ``text``."""
    for secret in sorted((s for s in secrets if s and len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, _REDACTED)
    return text


def redact_value(value: Any, secrets: Iterable[str | None]) -> Any:
    """``value`` (decoded JSON) with every secret replaced in every string, dict keys included."""
    keys = [s for s in secrets if s and len(s) >= 4]
    if not keys:
        return value

    def walk(item: Any) -> Any:
        if isinstance(item, str):
            return redact(item, keys) if any(k in item for k in keys) else item
        if isinstance(item, dict):
            return {walk(k): walk(v) for k, v in item.items()}
        if isinstance(item, list):
            return [walk(v) for v in item]
        return item

    return walk(value)
