"""The validate_emails and clean_leads tools: inline or CSV input, per-row errors, batch errors as tool errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from enrich_mcp.local import MxAnswer
from enrich_mcp.server import EnrichServer
from tests.conftest import connect


class StubResolver:
    def __init__(self) -> None:
        self.asked: list[str] = []

    async def mx(self, domain: str) -> MxAnswer:
        self.asked.append(domain)
        if domain == "nomail.example":
            return MxAnswer(status="no_mx", detail="nomail.example has no MX, A or AAAA record")
        return MxAnswer(status="has_mx", hosts=("mx." + domain,))


@pytest.fixture
def resolver(server: EnrichServer) -> StubResolver:
    stub = StubResolver()
    server.runtime.mx_resolver = stub
    return stub


async def call(client: Client, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(tool, args)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


async def error(client: Client, tool: str, args: dict[str, Any]) -> str:
    result = await client.call_tool(tool, args)
    assert result.is_error
    return result.content[0].text  # type: ignore[union-attr]


async def test_validate_emails_inline(server: EnrichServer, resolver: StubResolver, era: str) -> None:
    emails = ["Ada@Analytical.example.org", "info@acme.example", "x@nomail.example", "not an email", ""]
    async with connect(server, mode=era) as client:
        out = await call(client, "validate_emails", {"emails": emails})
    assert [(r["email"], r["verdict"], r["reasons"]) for r in out["results"]] == [
        ("Ada@analytical.example.org", "valid", []),
        ("info@acme.example", "risky", ["role_account"]),
        ("x@nomail.example", "invalid", ["no_mx"]),
        (None, "invalid", ["syntax"]),
        (None, "invalid", ["empty"]),
    ]
    assert out["summary"] == {
        "total": 5,
        "valid": 1,
        "invalid": 3,
        "risky": 1,
        "unknown": 0,
        "distinct_domains": 3,
        "duplicates": 0,
    }
    assert (out["source"], out["mx_checked"]) == ("inline", True)
    assert sorted(resolver.asked) == ["acme.example", "analytical.example.org", "nomail.example"]
    assert all(s.requests == [] for s in server.runtime.sandboxes.values())


async def test_validate_emails_from_csv_without_mx(
    server: EnrichServer, resolver: StubResolver, tmp_path: Path
) -> None:
    path = tmp_path / "leads.csv"
    path.write_text("Name,E-mail\nAda,ada@analytical.example.org\nGrace,\n", encoding="utf-8")
    async with connect(server) as client:
        out = await call(client, "validate_emails", {"csv_path": str(path), "check_mx": False})
    assert [(r["email"], r["verdict"]) for r in out["results"]] == [("ada@analytical.example.org", "unknown")]
    assert out["source"] == "csv"
    assert resolver.asked == []


async def test_validate_emails_input_errors(server: EnrichServer, resolver: StubResolver, tmp_path: Path) -> None:
    async with connect(server) as client:
        both = await error(client, "validate_emails", {"emails": ["a@b.example"], "csv_path": "x.csv"})
        missing = await error(client, "validate_emails", {"csv_path": str(tmp_path / "nope.csv")})
        not_csv = await error(client, "validate_emails", {"csv_path": "/etc/passwd"})
        too_many = await error(client, "validate_emails", {"emails": ["a@b.example"] * 10_001})
        vendor = await error(client, "validate_emails", {"emails": ["a@b.example"], "verify_with_vendor": True})
    assert "Give either `emails` or `csv_path`" in both
    assert f"csv_path: no file '{tmp_path / 'nope.csv'}'" in missing
    assert "csv_path must name a .csv/.tsv/.txt file, not 'passwd'" in not_csv
    assert "emails: at most 10,000 items (got 10,001)" in too_many
    assert "mailbox verification runs as an Enrichabl pipeline job" in vendor
    assert "enrichabl_start_validation" in vendor
    assert resolver.asked == []


async def test_clean_leads_reports_garbage_per_row(server: EnrichServer, era: str) -> None:
    rows = [
        {"Name": "  ADA LOVELACE ", "E-mail": " Ada@Analytical.Example.org", "Phone": "(415) 555-2671"},
        {},
        {"email": "not-an-email", "extra": [{"key": "notes", "value": "1, 2"}]},
        {"name": "Ada Lovelace", "email": "ada@analytical.example.org"},
    ]
    async with connect(server, mode=era) as client:
        out = await call(client, "clean_leads", {"rows": rows, "default_region": "us"})
    first, empty, garbage, duplicate = out["results"]
    assert first["ok"] is True
    assert {k: first["lead"][k] for k in ("first_name", "last_name", "email", "phone", "domain")} == {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "ada@analytical.example.org",
        "phone": "+14155552671",
        "domain": "example.org",
    }
    assert (empty["ok"], empty["issues"]) == (False, ["row: empty"])
    assert garbage["ok"] is False
    assert garbage["issues"][0].startswith("email: 'not-an-email' is not a valid address")
    assert garbage["lead"]["extra"] == {"notes": "1, 2"}
    assert duplicate["duplicate_of"] == 0
    assert out["summary"]["total"] == 4 and out["summary"]["duplicates"] == 1
    assert out["default_region"] == "US"


async def test_clean_leads_errors(server: EnrichServer, tmp_path: Path) -> None:
    binary = tmp_path / "data.csv"
    binary.write_bytes(b"\x00\x01\x02")
    async with connect(server) as client:
        region = await error(client, "clean_leads", {"rows": [{"name": "Ada"}], "default_region": "ZZ"})
        unreadable = await error(client, "clean_leads", {"csv_path": str(binary)})
        neither = await error(client, "clean_leads", {})
    assert "default_region 'ZZ' is not a region" in region
    assert "is a binary file, not CSV text" in unreadable
    assert "Give either `rows` or `csv_path`" in neither
