"""Inputs and outputs of the local provider, as pydantic models the MCP tools return as structured content."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

Verdict = Literal["valid", "invalid", "risky", "unknown"]

EmailReason = Literal[
    "not_a_string",
    "empty",
    "too_long",
    "syntax",
    "no_mx",
    "dns_unreachable",
    "mx_not_checked",
    "disposable",
    "role_account",
    "free_mail",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MxAnswer(_Frozen):
    """What DNS says about a domain's ability to receive mail."""

    status: Literal["has_mx", "no_mx", "unreachable"] = Field(
        description="has_mx: MX records, or an A/AAAA record as implicit MX. "
        "no_mx: the domain does not exist, has a null MX, or has no MX, A or AAAA record. "
        "unreachable: DNS did not answer (timeout, no nameservers, SERVFAIL)."
    )
    hosts: tuple[str, ...] = Field(default=(), description="Mail exchangers, most preferred first.")
    detail: str | None = None


class EmailResult(_Frozen):
    input: str = Field(description="The address as given (non-strings as their repr), cut to 320 characters.")
    email: str | None = Field(description="Normalised address (domain lower-cased), or null when the syntax is bad.")
    domain: str | None
    verdict: Verdict
    reasons: list[EmailReason] = Field(description="Machine-readable codes behind the verdict, plus flags.")
    disposable: bool = False
    role: bool = Field(default=False, description="A shared mailbox such as info@ or support@, not a person.")
    free_mail: bool = Field(default=False, description="A consumer mailbox (gmail.com, yahoo.*, ...): valid, not B2B.")
    mx: bool | None = Field(default=None, description="Whether the domain accepts mail; null when not checked.")
    detail: str | None = Field(default=None, description="Why the syntax was rejected, or what DNS said.")


class EmailSummary(_Frozen):
    total: int
    valid: int
    invalid: int
    risky: int
    unknown: int
    distinct_domains: int
    duplicates: int = Field(description="Addresses repeating an earlier one in the batch, ignoring case.")


class EmailValidationReport(_Frozen):
    results: list[EmailResult] = Field(description="One result per input address, in input order.")
    summary: EmailSummary


class CleanLead(_Frozen):
    first_name: str | None = None
    last_name: str | None = None
    full_name: str | None = None
    email: str | None = None
    phone: str | None = Field(default=None, description="E.164, e.g. +14155550123.")
    company: str | None = None
    domain: str | None = Field(default=None, description="Registered company domain, e.g. acme.co.uk.")
    linkedin_url: str | None = Field(default=None, description="https://www.linkedin.com/in/<slug>")
    title: str | None = None
    extra: dict[str, JsonValue] = Field(default_factory=dict, description="Unrecognised columns, kept as given.")


class LeadResult(_Frozen):
    index: int = Field(description="Position of the row in the input, from 0.")
    ok: bool = Field(description="True when the row was cleaned without any issue.")
    lead: CleanLead | None = Field(description="Null only when the row is not an object or is empty.")
    issues: list[str] = Field(description="Human-readable problems, each prefixed by the field it concerns.")
    duplicate_of: int | None = Field(
        default=None,
        description="Index of the first row with the same email, the same phone, or the same full name and domain.",
    )


class LeadSummary(_Frozen):
    total: int
    ok: int
    with_errors: int
    duplicates: int
    emails_fixed: int = Field(description="Valid emails that had to be trimmed or lower-cased.")
    phones_normalised: int = Field(description="Valid phone numbers rewritten to E.164.")
    domains_derived: int = Field(description="Company domains taken from a work email because none was given.")


class LeadCleaningReport(_Frozen):
    results: list[LeadResult] = Field(description="One result per input row, in input order.")
    summary: LeadSummary
