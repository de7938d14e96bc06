"""The lead columns clean_leads recognises, and the aliases a CSV may name them by."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Literal

LeadField = Literal[
    "full_name", "first_name", "last_name", "email", "phone", "company", "domain", "linkedin_url", "title"
]

FIELD_ALIASES: dict[LeadField, tuple[str, ...]] = {
    "full_name": ("name", "full_name", "fullname", "contact_name", "person_name"),
    "first_name": ("first_name", "firstname", "first", "given_name"),
    "last_name": ("last_name", "lastname", "last", "surname", "family_name"),
    "email": ("email", "e_mail", "email_address", "work_email"),
    "phone": ("phone", "phone_number", "mobile", "mobile_phone", "mobile_number", "telephone", "tel", "cell"),
    "company": ("company", "company_name", "organization", "organisation", "employer"),
    "domain": ("domain", "website", "company_website", "company_domain", "url", "company_url", "homepage"),
    "linkedin_url": ("linkedin", "linkedin_url", "linkedin_profile", "linkedin_profile_url"),
    "title": ("title", "job_title", "jobtitle", "position"),
}
_FIELD_BY_KEY: dict[str, LeadField] = {alias: name for name, aliases in FIELD_ALIASES.items() for alias in aliases}
_KEY_SEPARATORS = re.compile(r"[\s-]+")


@lru_cache(maxsize=1_024)
def lead_field(column: str) -> LeadField | None:
    """The lead field a column name stands for ("E-mail Address" → email), or None. Cached: every row repeats them."""
    return _FIELD_BY_KEY.get(_KEY_SEPARATORS.sub("_", column.strip().lower()))
