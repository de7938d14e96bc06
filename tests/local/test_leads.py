"""clean_leads: field normalisation, per-row issues, duplicates, limits, and no network use."""

from __future__ import annotations

import socket

import pytest

from enrich_mcp.local import CleanLead, LocalInputError, clean_leads
from enrich_mcp.local.domains import _extractor, registered_domain


def lead(row: dict[str, object], **kwargs: str) -> CleanLead:
    result = clean_leads([row], **kwargs).results[0]
    assert result.lead is not None, result.issues
    return result.lead


def issues(row: object, **kwargs: str) -> list[str]:
    return clean_leads([row], **kwargs).results[0].issues


def test_full_name_in_capitals_is_split_and_title_cased() -> None:
    cleaned = lead({"name": "  JOHN DOE  "})
    assert (cleaned.first_name, cleaned.last_name, cleaned.full_name) == ("John", "Doe", "John Doe")


def test_titles_and_suffixes_stay_in_the_full_name() -> None:
    cleaned = lead({"full_name": "Dr. JOHN A. DOE JR."})
    assert (cleaned.first_name, cleaned.last_name, cleaned.full_name) == ("John", "Doe", "Dr. John A. Doe Jr.")


def test_mixed_case_names_are_kept_as_written() -> None:
    cleaned = lead({"name": "Jean-Luc DeShawn"})
    assert (cleaned.first_name, cleaned.last_name, cleaned.full_name) == ("Jean-Luc", "DeShawn", "Jean-Luc DeShawn")


def test_given_first_and_last_names_win_over_the_split() -> None:
    cleaned = lead({"First Name": "mary ann", "LAST_NAME": "MCDONALD", "Name": "M. A. McDonald"})
    assert (cleaned.first_name, cleaned.last_name, cleaned.full_name) == ("Mary Ann", "McDonald", "M. A. McDonald")


def test_full_name_is_built_from_parts() -> None:
    cleaned = lead({"first_name": "Jane", "last_name": "van der Berg"})
    assert cleaned.full_name == "Jane van der Berg"


def test_email_is_trimmed_and_lower_cased() -> None:
    report = clean_leads([{"email": "  Jane.Doe@ACME.com "}, {"email": "mailto:bob@acme.com"}, {"email": "a@acme.com"}])
    assert [r.lead.email for r in report.results if r.lead] == ["jane.doe@acme.com", "bob@acme.com", "a@acme.com"]
    assert report.summary.emails_fixed == 2


def test_invalid_email_becomes_null_with_an_issue() -> None:
    result = clean_leads([{"name": "Jane Doe", "email": "jane@"}]).results[0]
    assert result.lead is not None
    assert result.lead.email is None
    assert not result.ok
    assert result.issues == ["email: 'jane@' is not a valid address: There must be something after the @-sign."]


@pytest.mark.parametrize(
    ("phone", "region", "e164"),
    [
        ("(415) 555-2671", "US", "+14155552671"),
        ("415.555.2671", "us", "+14155552671"),
        (4155552671, "US", "+14155552671"),
        (4155552671.0, "US", "+14155552671"),
        ("+44 20 7946 0958", "US", "+442079460958"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("+1 415 555 2671 ext. 9", "US", "+14155552671"),
    ],
)
def test_phone_to_e164(phone: object, region: str, e164: str) -> None:
    assert lead({"phone": phone}, default_region=region).phone == e164


def test_invalid_phone_becomes_null_with_an_issue() -> None:
    result = clean_leads([{"name": "Jane Doe", "phone": "123"}]).results[0]
    assert result.lead is not None
    assert result.lead.phone is None
    assert result.issues == ["phone: '123' is not a valid number for region US"]


def test_phone_counts_as_normalised_only_when_rewritten() -> None:
    report = clean_leads([{"phone": "+14155552671"}, {"mobile": "(415) 555-2672"}])
    assert report.summary.phones_normalised == 1


@pytest.mark.parametrize(
    ("website", "domain"),
    [
        ("https://www.Acme.co.uk/about", "acme.co.uk"),
        ("acme.com", "acme.com"),
        ("http://blog.acme.com:8080/post?id=1", "acme.com"),
        ("WWW.ACME.COM.", "acme.com"),
        ("acme.com.au", "acme.com.au"),
    ],
)
def test_company_domain_from_url(website: str, domain: str) -> None:
    assert lead({"website": website}).domain == domain


@pytest.mark.parametrize("website", ["localhost", "192.168.0.1", "https://", "not a website.com"])
def test_unusable_website_is_an_issue(website: str) -> None:
    result = clean_leads([{"company": "Acme", "website": website}]).results[0]
    assert result.lead is not None
    assert result.lead.domain is None
    assert result.issues[0].startswith("domain: ")


def test_domain_is_derived_from_a_work_email_only() -> None:
    report = clean_leads(
        [
            {"email": "jane@mail.acme.co.uk"},
            {"email": "jane@gmail.com"},
            {"email": "jane@mailinator.com"},
            {"email": "jane@acme.com", "domain": "widgets.com"},
        ]
    )
    assert [r.lead.domain for r in report.results if r.lead] == ["acme.co.uk", None, None, "widgets.com"]
    assert report.summary.domains_derived == 1


@pytest.mark.parametrize(
    "url",
    [
        "https://www.linkedin.com/in/jane-doe",
        "linkedin.com/in/Jane-Doe/",
        "http://uk.linkedin.com/in/jane-doe?trk=profile",
        "www.linkedin.com/in/jane-doe/details/experience/",
    ],
)
def test_linkedin_profile_url_is_normalised(url: str) -> None:
    assert lead({"linkedin": url}).linkedin_url == "https://www.linkedin.com/in/jane-doe"


@pytest.mark.parametrize("url", ["https://www.linkedin.com/company/acme", "https://example.com/in/jane", "jane-doe"])
def test_other_urls_are_not_linkedin_profiles(url: str) -> None:
    result = clean_leads([{"name": "Jane Doe", "linkedin_url": url}]).results[0]
    assert result.lead is not None
    assert result.lead.linkedin_url is None
    assert result.issues[0].startswith("linkedin_url: ")


def test_columns_are_matched_case_insensitively_with_aliases() -> None:
    cleaned = lead(
        {
            "Full Name": "Jane Doe",
            "E-mail": "jane@acme.com",
            "Mobile": "4155552671",
            "Company Name": "  Acme   Ltd ",
            "Company Website": "acme.com",
            "LinkedIn URL": "linkedin.com/in/jane",
            "Job Title": "VP  Sales",
            "Lead Source": "expo",
            "score": 7,
        }
    )
    assert cleaned.model_dump() == {
        "first_name": "Jane",
        "last_name": "Doe",
        "full_name": "Jane Doe",
        "email": "jane@acme.com",
        "phone": "+14155552671",
        "company": "Acme Ltd",
        "domain": "acme.com",
        "linkedin_url": "https://www.linkedin.com/in/jane",
        "title": "VP Sales",
        "extra": {"Lead Source": "expo", "score": 7},
    }


def test_a_second_column_for_the_same_field_is_kept_in_extra() -> None:
    cleaned = lead({"phone": "4155552671", "mobile": "4155552672"})
    assert cleaned.phone == "+14155552671"
    assert cleaned.extra == {"mobile": "4155552672"}


def test_blank_column_gives_way_to_an_alias() -> None:
    assert lead({"phone": " ", "mobile": "4155552672"}).phone == "+14155552672"


def test_overlong_values_are_rejected_before_parsing() -> None:
    huge = "x" * 1_000_000
    result = clean_leads([{"name": "Jane Doe", "email": huge, "notes": huge}]).results[0]
    assert result.lead is not None
    assert (result.lead.full_name, result.lead.email, result.lead.extra) == ("Jane Doe", None, {})
    assert result.issues == [
        "email: rejected, 1,000,000 characters is over the 2,000 limit",
        "notes: rejected, 1,000,000 characters is over the 2,000 limit",
    ]


def test_non_text_value_in_a_known_field_is_an_issue() -> None:
    assert issues({"name": "Jane Doe", "email": ["jane@acme.com"]}) == ["email: expected text, got array"]


def test_garbage_rows_get_per_row_errors() -> None:
    report = clean_leads([None, 42, {}, "x" * 1_000_000, {"name": "Jane Doe"}, {"notes": "hi"}])
    assert [(r.ok, r.lead is None) for r in report.results] == [
        (False, True),
        (False, True),
        (False, True),
        (False, True),
        (True, False),
        (False, False),
    ]
    assert report.results[0].issues == ["row: expected an object of column names to values, got null"]
    assert report.results[1].issues == ["row: expected an object of column names to values, got number"]
    assert report.results[2].issues == ["row: empty"]
    assert report.results[3].issues == ["row: expected an object of column names to values, got string"]
    assert report.results[5].issues[0].startswith("row: no name, email, phone, company, domain or LinkedIn URL")
    assert (report.summary.total, report.summary.ok, report.summary.with_errors) == (6, 1, 5)


def test_duplicates_point_at_the_first_occurrence() -> None:
    report = clean_leads(
        [
            {"name": "Jane Doe", "email": "jane@acme.com"},  # 0
            {"name": "Bob Roe", "email": "bob@widgets.com", "phone": "4155552671"},  # 1
            {"name": "JANE DOE", "email": "Jane@ACME.com"},  # 2: email of 0
            {"name": "jane doe", "website": "https://acme.com"},  # 3: name + domain of 0
            {"name": "Robert Roe", "phone": "+1 415 555 2671"},  # 4: phone of 1
            {"name": "Jane Doe", "website": "widgets.com"},  # 5: same name, other company
            {"email": "jane@acme.com", "phone": "(415) 555-2671"},  # 6: matches 0 and 1, first wins
        ]
    )
    assert [r.duplicate_of for r in report.results] == [None, None, 0, 0, 1, None, 0]
    assert report.summary.duplicates == 4


def test_duplicates_chain_to_the_first_row_of_the_group() -> None:
    report = clean_leads(
        [
            {"email": "jane@acme.com"},
            {"email": "jane@acme.com", "phone": "4155552671"},
            {"phone": "4155552671"},
        ]
    )
    assert [r.duplicate_of for r in report.results] == [None, 0, 0]


def test_summary() -> None:
    report = clean_leads(
        [
            {"name": "Jane Doe", "email": " JANE@ACME.COM", "phone": "4155552671"},
            {"name": "Bob Roe", "phone": "123"},
            {"email": "jane@acme.com"},
        ]
    )
    assert report.summary.model_dump() == {
        "total": 3,
        "ok": 2,
        "with_errors": 1,
        "duplicates": 1,
        "emails_fixed": 1,
        "phones_normalised": 1,
        "domains_derived": 2,
    }


def test_more_than_10000_rows_is_refused() -> None:
    with pytest.raises(LocalInputError, match="Too many rows: 10,001 given"):
        clean_leads([{"name": "Jane Doe"}] * 10_001)


@pytest.mark.parametrize("rows", [{"name": "Jane Doe"}, "Jane Doe", None])
def test_rows_must_be_a_list(rows: object) -> None:
    with pytest.raises(LocalInputError, match="rows must be a list"):
        clean_leads(rows)  # type: ignore[arg-type]


def test_unknown_default_region_is_refused() -> None:
    with pytest.raises(LocalInputError, match="default_region 'XX'"):
        clean_leads([], default_region="XX")


def test_tldextract_makes_no_network_call(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object) -> None:
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    _extractor.cache_clear()  # build a fresh extractor while sockets are blocked
    registered_domain.cache_clear()
    assert registered_domain("https://shop.example.co.uk/x") == "example.co.uk"
    assert lead({"website": "https://www.acme.com.br"}).domain == "acme.com.br"
