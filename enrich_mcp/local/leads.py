"""Lead cleaning: names, emails, phones, company domains and LinkedIn URLs normalised, duplicates flagged.

CPU only and offline (email syntax without DNS, tldextract's bundled suffix list). Every problem is reported on
its row; only a batch that is too large or not a list raises :class:`LocalInputError`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

import phonenumbers
from nameparser import HumanName
from pydantic import JsonValue

from enrich_mcp.local.columns import LeadField, lead_field
from enrich_mcp.local.domains import is_disposable, is_free_mail, registered_domain
from enrich_mcp.local.emails import BadEmail, ParsedEmail, parse_email
from enrich_mcp.local.errors import LocalInputError, check_batch, json_type
from enrich_mcp.local.models import CleanLead, LeadCleaningReport, LeadResult, LeadSummary

MAX_FIELD_LENGTH = 2_000
"""Longest value accepted in any field: longer ones are rejected before any parsing."""

_LINKEDIN_PROFILE = re.compile(r"(?:https?://)?(?:[\w-]+\.)?linkedin\.com/in/([^/?#\s]+)/?(?:[/?#]\S*)?", re.IGNORECASE)
_IDENTIFYING = ("full_name", "first_name", "last_name", "email", "phone", "company", "domain", "linkedin_url")
_JSON_TYPES = (str, int, float, list, dict, type(None))


def clean_leads(rows: Sequence[object], *, default_region: str = "US") -> LeadCleaningReport:
    """Clean up to 10,000 lead rows (mappings of column name → value); results keep the input order.

    Columns are matched case-insensitively with common aliases (``E-mail``, ``Job Title``, ``Website``, ...);
    unrecognised ones are kept in ``extra``. ``default_region`` (ISO 3166 alpha-2) is how phone numbers without a
    country code are read. Raises :class:`LocalInputError` for a batch that is too large or not a list, or an
    unknown region.
    """
    items = check_batch(rows, "rows")
    region = default_region.strip().upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise LocalInputError(
            f"default_region {default_region!r} is not a region phone numbers are known for.",
            hint="Use an ISO 3166 alpha-2 code such as US, GB or DE.",
        )
    cleaned = [_clean_row(index, row, region) for index, row in enumerate(items)]
    results = _mark_duplicates(cleaned)
    ok = sum(result.ok for result in results)
    return LeadCleaningReport(
        results=results,
        summary=LeadSummary(
            total=len(results),
            ok=ok,
            with_errors=len(results) - ok,
            duplicates=sum(result.duplicate_of is not None for result in results),
            emails_fixed=sum(row.email_fixed for row in cleaned),
            phones_normalised=sum(row.phone_normalised for row in cleaned),
            domains_derived=sum(row.domain_derived for row in cleaned),
        ),
    )


@dataclass(slots=True)
class _CleanedRow:
    index: int
    lead: CleanLead | None
    issues: list[str]
    email_fixed: bool = False
    phone_normalised: bool = False
    domain_derived: bool = False
    keys: list[tuple[str, ...]] = field(default_factory=list)
    """Identities another row would share if it were the same person: email, phone, (full name, domain)."""


def _clean_row(index: int, row: object, region: str) -> _CleanedRow:
    if not isinstance(row, Mapping):
        return _CleanedRow(index, None, [f"row: expected an object of column names to values, got {json_type(row)}"])
    if not row:
        return _CleanedRow(index, None, ["row: empty"])
    issues: list[str] = []
    values, extra = _sort_columns(row, issues)
    out = _CleanedRow(index, None, issues)

    first, last, full = _names(values.get("full_name"), values.get("first_name"), values.get("last_name"))
    email = phone = domain = linkedin_url = None
    parsed_email: ParsedEmail | None = None
    if (raw := values.get("email")) is not None:
        parsed_email = _clean_email(raw, issues)
        if parsed_email is not None:
            email = parsed_email.email
            out.email_fixed = email != raw
    if (raw := values.get("phone")) is not None:
        phone = _clean_phone(raw, region, issues)
        out.phone_normalised = phone is not None and phone != raw
    if (raw := values.get("domain")) is not None:
        domain = registered_domain(raw.strip())
        if domain is None:
            issues.append(f"domain: {_show(raw)} is not a website or domain name")
    if domain is None and parsed_email is not None:
        domain = _work_domain(parsed_email.domain)
        out.domain_derived = domain is not None
    if (raw := values.get("linkedin_url")) is not None:
        linkedin_url = _clean_linkedin(raw, issues)

    lead = CleanLead(
        first_name=first,
        last_name=last,
        full_name=full,
        email=email,
        phone=phone,
        company=_squash(values.get("company")),
        domain=domain,
        linkedin_url=linkedin_url,
        title=_squash(values.get("title")),
        extra=extra,
    )
    if not any(getattr(lead, name) for name in _IDENTIFYING):
        issues.append("row: no name, email, phone, company, domain or LinkedIn URL left after cleaning")
    out.lead = lead
    if email is not None:
        out.keys.append(("email", email.casefold()))
    if phone is not None:
        out.keys.append(("phone", phone))
    if full is not None and domain is not None:
        out.keys.append(("name", " ".join(full.casefold().split()), domain))
    return out


def _sort_columns(row: Mapping[object, object], issues: list[str]) -> tuple[dict[LeadField, str], dict[str, JsonValue]]:
    """Split a row into recognised fields (raw text, first non-empty column wins) and everything else."""
    values: dict[LeadField, str] = {}
    extra: dict[str, JsonValue] = {}
    for key, value in row.items():
        column = key if isinstance(key, str) else str(key)
        name = lead_field(column)
        if name is None or name in values:
            if isinstance(value, str) and len(value) > MAX_FIELD_LENGTH:
                issues.append(_too_long(column, value))
            else:
                extra[column] = value if isinstance(value, _JSON_TYPES) else str(value)
            continue
        text = _as_text(name, value, issues)
        if text is not None:
            values[name] = text
    return values, extra


def _as_text(name: str, value: object, issues: list[str]) -> str | None:
    """A field's value as unstripped text; None when missing, blank or unusable (with an issue for the latter)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):  # NaN: a blank cell from pandas
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        issues.append(f"{name}: expected text, got {json_type(value)}")
        return None
    text = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
    if len(text) > MAX_FIELD_LENGTH:
        issues.append(_too_long(name, text))
        return None
    return text if text.strip() else None


def _too_long(name: str, text: str) -> str:
    return f"{name}: rejected, {len(text):,} characters is over the {MAX_FIELD_LENGTH:,} limit"


def _squash(text: str | None) -> str | None:
    """Runs of whitespace collapsed to one space; None for a missing or blank value."""
    if text is None:
        return None
    return " ".join(text.split()) or None


def _show(text: str) -> str:
    """A value quoted for an issue message, cut so a message stays one readable line."""
    text = text.strip()
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _names(full: str | None, first: str | None, last: str | None) -> tuple[str | None, str | None, str | None]:
    """(first, last, full): given parts are kept (tidied); missing ones come from splitting the full name."""
    first = _tidy_name_part(_squash(first), "first")
    last = _tidy_name_part(_squash(last), "last")
    if (full := _squash(full)) is None:
        return first, last, " ".join(part for part in (first, last) if part) or None
    parsed_first, parsed_last, full = _parse_full_name(full)
    return first or parsed_first or None, last or parsed_last or None, full or None


def _single_case(text: str) -> bool:
    """JOHN DOE or john doe: safe to re-capitalise, unlike McDonald or DeShawn which are kept as written."""
    return text.isupper() or text.islower()


@lru_cache(maxsize=16_384)
def _parse_full_name(text: str) -> tuple[str, str, str]:
    """(first, last, full) of a squashed full name; nameparser is slow (~0.2 ms), and names repeat.

    Case is judged on the given, middle and family names only, so "Dr. JOHN DOE" is re-capitalised too.
    """
    name = HumanName(text)
    if _single_case(" ".join((name.first, name.middle, name.last))):
        name.capitalize(force=True)
    return name.first, name.last, str(name)


@lru_cache(maxsize=16_384)
def _tidy_name_part(text: str | None, part: Literal["first", "last"]) -> str | None:
    if not text or not _single_case(text):
        return text
    name = HumanName(first=text) if part == "first" else HumanName(last=text)
    name.capitalize(force=True)
    return str(name) or text


def _clean_email(raw: str, issues: list[str]) -> ParsedEmail | None:
    text = raw.strip()
    if text[:7].lower() == "mailto:":
        text = text[7:].strip()
    parsed = parse_email(text.lower())
    if isinstance(parsed, BadEmail):
        issues.append(f"email: {_show(raw)} is not a valid address: {parsed.message}")
        return None
    return parsed


@lru_cache(maxsize=16_384)
def _e164(text: str, region: str) -> str | None:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _clean_phone(raw: str, region: str, issues: list[str]) -> str | None:
    phone = _e164(raw.strip(), region)
    if phone is None:
        issues.append(f"phone: {_show(raw)} is not a valid number for region {region}")
    return phone


def _work_domain(email_domain: str) -> str | None:
    """The company domain behind a work address; None for free-mail and disposable providers."""
    if is_free_mail(email_domain) or is_disposable(email_domain):
        return None
    return registered_domain(email_domain)


def _clean_linkedin(raw: str, issues: list[str]) -> str | None:
    match = _LINKEDIN_PROFILE.fullmatch(raw.strip())
    if match is None:
        issues.append(f"linkedin_url: {_show(raw)} is not a LinkedIn profile URL (https://www.linkedin.com/in/<name>)")
        return None
    return f"https://www.linkedin.com/in/{match.group(1).lower()}"


def _mark_duplicates(rows: Sequence[_CleanedRow]) -> list[LeadResult]:
    """Point each row sharing an identity with an earlier one at the first row of that group."""
    first_seen: dict[tuple[str, ...], int] = {}
    results: list[LeadResult] = []
    for row in rows:
        earlier = [first_seen[key] for key in row.keys if key in first_seen]
        duplicate_of = min(earlier) if earlier else None
        for key in row.keys:
            first_seen.setdefault(key, row.index if duplicate_of is None else duplicate_of)
        results.append(
            LeadResult(index=row.index, ok=not row.issues, lead=row.lead, issues=row.issues, duplicate_of=duplicate_of)
        )
    return results
