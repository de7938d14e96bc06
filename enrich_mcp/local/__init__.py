"""The free, offline-safe local provider: email validation, lead cleaning and CSV input, no vendor involved."""

from enrich_mcp.local.csvio import emails_from_rows, read_csv_rows
from enrich_mcp.local.emails import DnsMxResolver, MxResolver, validate_emails
from enrich_mcp.local.errors import MAX_ITEMS, LocalInputError
from enrich_mcp.local.leads import clean_leads
from enrich_mcp.local.models import (
    CleanLead,
    EmailReason,
    EmailResult,
    EmailSummary,
    EmailValidationReport,
    LeadCleaningReport,
    LeadResult,
    LeadSummary,
    MxAnswer,
    Verdict,
)

__all__ = [
    "MAX_ITEMS",
    "CleanLead",
    "DnsMxResolver",
    "EmailReason",
    "EmailResult",
    "EmailSummary",
    "EmailValidationReport",
    "LeadCleaningReport",
    "LeadResult",
    "LeadSummary",
    "LocalInputError",
    "MxAnswer",
    "MxResolver",
    "Verdict",
    "clean_leads",
    "emails_from_rows",
    "read_csv_rows",
    "validate_emails",
]
