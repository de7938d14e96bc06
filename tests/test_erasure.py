"""Exact erasure: whole identifiers, normalised, and only the person's own records."""

from __future__ import annotations

from pathlib import Path

import pytest

from enrich_mcp.core import neutralise_cell
from enrich_mcp.erasure import ERASED, Identifier, Matcher, harvest, parse_identifier, scrub_export
from enrich_mcp.errors import InputError

GRACE = "grace.hopper@navy.example.com"
ALAN = "alan.turing@navy.example.com"


@pytest.mark.parametrize(
    ("given", "kind", "value"),
    [
        ("Grace.Hopper@Navy.Example.com", "email", GRACE),
        ("mailto:grace.hopper@navy.example.com", "email", GRACE),
        ("+1 (650) 555-0101", "phone", "+16505550101"),
        ("650.555.0101", "phone", "+16505550101"),
        ("6505550101", "phone", "+16505550101"),
        ("linkedin.com/in/Grace-Hopper/", "linkedin", "https://www.linkedin.com/in/grace-hopper"),
        ("https://www.linkedin.com/in/grace-hopper?trk=x", "linkedin", "https://www.linkedin.com/in/grace-hopper"),
        ("https://GitHub.com/ghopper/", "url", "github.com/ghopper"),
        ("  Grace   Hopper ", "name", "grace hopper"),
        ("lead_8f3a21", "id", "lead_8f3a21"),
    ],
)
def test_identifiers_are_normalised(given: str, kind: str, value: str) -> None:
    assert parse_identifier(given) == Identifier(kind, value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fragment", "why"),
    [
        ("com", "too short"),
        ("navy.example.com", "domain"),
        ("example.com", "domain"),
        ("https://navy.example.com/", "web site"),
        ("grace@navy", "not a whole email"),
        ("hopper@", "not a whole email"),
        ("+1650", "too short"),
        ("650-555", "not a complete phone"),
        ("grace", "too short"),
        ("Grace H", "not a full name"),
        ("linkedin.com/company/navy", "not a LinkedIn profile"),
    ],
)
def test_fragments_are_refused(fragment: str, why: str) -> None:
    with pytest.raises(InputError, match=why):
        parse_identifier(fragment)


def matcher(*given: str) -> Matcher:
    return Matcher({parse_identifier(g) for g in given})


def test_whole_values_match_in_any_spelling_but_fragments_of_values_do_not() -> None:
    m = matcher(GRACE, "+16505550101", "Grace Hopper")
    assert m.is_identifier("GRACE.HOPPER@navy.example.com")
    assert m.is_identifier("(650) 555-0101")
    assert m.is_identifier("grace  hopper", "name")
    assert not m.is_identifier("Grace Hopper", "company")  # a company called so is not the person
    assert not m.is_identifier("xgrace.hopper@navy.example.com")
    assert not m.is_identifier(ALAN)
    assert not m.is_identifier("+16505550102")


def test_text_keeps_everything_but_the_person() -> None:
    m = matcher(GRACE, "+16505550101", "Grace Hopper")
    text = f"Grace Hopper <{GRACE}> (call 650-555-0101) met {ALAN} and Grace Hoppers"
    assert m.redact_text(text) == f"[erased] <[erased]> (call [erased]) met {ALAN} and Grace Hoppers"


def test_records_of_the_person_go_and_lists_of_people_keep_the_others() -> None:
    m = matcher(GRACE)
    assert m.scrub_record({"index": 0, "emails": [{"address": GRACE, "type": "work"}]}) is ERASED
    request = {"leads": [{"name": "Grace Hopper", "email": GRACE}, {"name": "Alan Turing", "email": ALAN}]}
    assert m.scrub_record(request) == {"leads": [{"erased": True}, {"name": "Alan Turing", "email": ALAN}]}
    assert m.scrub({"found": 2, "note": f"first: {GRACE}"}, keep=True) == {"found": 2, "note": "first: [erased]"}
    assert m.scrub_record({"name": "Alan Turing", "email": ALAN}) == {"name": "Alan Turing", "email": ALAN}


def test_harvest_reads_one_person_at_a_time() -> None:
    m = matcher(GRACE)
    entry = {
        "request": {"lead": {"name": "Grace Hopper", "company": "Navy"}},
        "value": {"emails": [{"address": GRACE}], "phone": "+1 650 555 0101"},
    }
    assert harvest(entry, m) == {Identifier("name", "grace hopper"), Identifier("phone", "+16505550101")}
    people = {"leads": [{"name": "Grace Hopper", "email": GRACE}, {"name": "Alan Turing", "email": ALAN}]}
    assert harvest(people, m) == {Identifier("name", "grace hopper")}
    # Two people in one record: neither name can be told apart, so none is taken.
    manager = {"name": "Grace Hopper", "email": GRACE, "manager": {"name": "Alan Turing", "title": "Boss"}}
    assert harvest(manager, m) == set()


def test_exports_are_rewritten_without_the_persons_rows(tmp_path: Path) -> None:
    csv_file = tmp_path / "x.csv"
    csv_file.write_text(
        "name,email,phone,notes\r\n"
        f"Grace Hopper,{GRACE},+16505550101,\r\n"
        f"Alan Turing,{ALAN},+16505550102,'=cmd met {GRACE}\r\n",
        encoding="utf-8",
    )
    jsonl = tmp_path / "x.jsonl"
    jsonl.write_text(f'{{"email": "{GRACE}"}}\n{{"email": "{ALAN}", "peers": ["{GRACE}"]}}\n', encoding="utf-8")
    m = matcher(GRACE)

    dry = scrub_export(csv_file, m, neutralise_cell, dry_run=True)
    assert (dry.rows_removed, dry.rows_changed, dry.rewritten) == (1, 1, True)
    assert GRACE in csv_file.read_text()

    scrub_export(csv_file, m, neutralise_cell, dry_run=False)
    scrub_export(jsonl, m, neutralise_cell, dry_run=False)
    assert (
        csv_file.read_bytes().decode()
        == f"name,email,phone,notes\r\nAlan Turing,{ALAN},+16505550102,'=cmd met [erased]\r\n"
    )
    assert jsonl.read_text() == f'{{"email": "{ALAN}", "peers": ["[erased]"]}}\n'
    assert oct(csv_file.stat().st_mode & 0o777) == "0o600"
