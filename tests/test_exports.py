"""export_job_results: files stay inside exports/, are never overwritten, and are safe in a spreadsheet."""

from __future__ import annotations

import csv
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from enrich_mcp.core import neutralise_cell, safe_file_name
from enrich_mcp.server import build_server
from enrich_mcp.settings import Settings
from tests.conftest import connect
from tests.jobs_fakes import FakeVendor, fake_server

PAYLOAD: list[dict[str, Any]] = [
    {
        "name": '=HYPERLINK("http://evil.example","click")',
        "phone": "+1 555 0100",
        "e164": "+16505551234",
        "amount": "-12.50",
        "delta": "-2+3",
        "handle": "@SUM(A1:A2)",
        "tabbed": "\t=1",
        "plain": "Ada Lovelace",
        "score": -5,
        "tags": ["a", "b"],
    },
    {"name": "Grace", "=cmd|' /C calc'!A0": "x"},
]


# File checks are sync helpers: blocking file I/O stays out of the async tests.
def _text(path: str) -> str:
    return Path(path).read_text(encoding="utf-8")


def _csv(path: str) -> list[list[str]]:
    with Path(path).open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def _private_size(path: str) -> int:
    facts = Path(path).stat()
    assert facts.st_mode & 0o077 == 0
    return facts.st_size


def _names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def _inside(path: str, directory: Path) -> bool:
    return Path(path).resolve().parent == directory.resolve() and Path(path).is_file()


@asynccontextmanager
async def _done_job(
    make_settings: Callable[..., Settings], vendor: FakeVendor, era: str = "legacy"
) -> AsyncIterator[tuple[Client, str, Path]]:
    server = fake_server(lambda: build_server(make_settings(toolsets=["core"])), vendor)
    try:
        async with connect(server, mode=era) as client:
            with anyio.fail_after(10):
                result = await client.call_tool("fake_search", {"query": "q", "wait_seconds": 30})
            assert result.structured_content is not None
            assert result.structured_content["job"]["status"] == "completed"
            yield client, result.structured_content["job"]["job_id"], server.runtime.home / "exports"
    finally:
        server.runtime.close()


async def _export(client: Client, job_id: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool("export_job_results", {"job_id": job_id, **arguments})
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


async def test_csv_export_neutralises_formula_cells(make_settings: Callable[..., Settings], era: str) -> None:
    async with _done_job(make_settings, FakeVendor(payload=PAYLOAD), era) as (client, job_id, exports):
        out = await _export(client, job_id, format="csv")
        assert _inside(out["path"], exports)
        assert out["rows"] == 2 and out["bytes"] == _private_size(out["path"])
        header, first, second = _csv(out["path"])
    row = dict(zip(header, first, strict=True))
    assert row["name"] == "'" + PAYLOAD[0]["name"]
    assert row["phone"] == "'+1 555 0100"
    assert row["e164"] == "+16505551234"  # a plain signed number is data: an E.164 phone stays as it is
    assert row["amount"] == "-12.50"
    assert row["delta"] == "'-2+3"
    assert row["handle"] == "'@SUM(A1:A2)"
    assert row["tabbed"] == "'\t=1"
    assert row["plain"] == "Ada Lovelace"
    assert row["score"] == "-5"  # a number is data, not a formula
    assert json.loads(row["tags"]) == ["a", "b"]
    assert "'=cmd|' /C calc'!A0" in header  # column names come from vendor data too
    plain = {"-5", "+16505551234", "-12.50"}
    assert not any(cell.startswith(("=", "+", "-", "@")) for cell in header + first + second if cell not in plain)


async def test_jsonl_export_keeps_rows_exactly(make_settings: Callable[..., Settings]) -> None:
    async with _done_job(make_settings, FakeVendor(payload=PAYLOAD)) as (client, job_id, _):
        out = await _export(client, job_id, format="jsonl", file_name="leads.jsonl")
    assert Path(out["path"]).name == "leads.jsonl"
    assert [json.loads(line) for line in _text(out["path"]).splitlines()] == PAYLOAD


async def test_export_fields_selection(make_settings: Callable[..., Settings]) -> None:
    async with _done_job(make_settings, FakeVendor(rows=3)) as (client, job_id, _):
        out = await _export(client, job_id, format="jsonl", fields=["email"])
    lines = _text(out["path"]).splitlines()
    assert [json.loads(line) for line in lines] == [{"email": f"p{i}@example.com"} for i in range(3)]


@pytest.mark.parametrize("name", ["../../x", "/etc/passwd", "..\\..\\x", "..", "exports/../../../x", "~/.bashrc"])
async def test_file_names_cannot_leave_the_exports_directory(make_settings: Callable[..., Settings], name: str) -> None:
    async with _done_job(make_settings, FakeVendor(rows=1)) as (client, job_id, exports):
        out = await _export(client, job_id, file_name=name)
        path = Path(out["path"])
        assert _inside(out["path"], exports)
        assert _names(exports) == [path.name]
    assert ".." not in path.name and "/" not in path.name and "\\" not in path.name


async def test_a_second_export_never_overwrites_the_first(make_settings: Callable[..., Settings]) -> None:
    async with _done_job(make_settings, FakeVendor(rows=2)) as (client, job_id, exports):
        first = await _export(client, job_id, file_name="report")
        before = _text(first["path"])
        second = await _export(client, job_id, file_name="report", fields=["email"])
        third = await _export(client, job_id, file_name="report.csv")
    paths = [Path(o["path"]) for o in (first, second, third)]
    assert [p.name for p in paths] == ["report.csv", "report-1.csv", "report-2.csv"]
    assert _text(first["path"]) == before
    assert _names(exports) == ["report-1.csv", "report-2.csv", "report.csv"]


async def test_exporting_a_job_without_rows_is_a_tool_error(make_settings: Callable[..., Settings]) -> None:
    async with _done_job(make_settings, FakeVendor(rows=0)) as (client, job_id, exports):
        result = await client.call_tool("export_job_results", {"job_id": job_id})
        missing = await client.call_tool("export_job_results", {"job_id": "nope"})
    assert result.is_error
    assert "no result rows" in str(result.content)
    assert missing.is_error
    assert _names(exports) == []


def test_safe_file_name_and_neutralise_cell_units() -> None:
    assert safe_file_name("../../x") == "x"
    assert safe_file_name("/etc/passwd") == "passwd"
    assert safe_file_name("..\\..\\x") == "x"
    assert safe_file_name("..") == "export"
    assert len(safe_file_name("a" * 500)) == 80
    assert neutralise_cell("=1+1") == "'=1+1"
    assert neutralise_cell("\r=1") == "'\r=1"
    assert neutralise_cell("ok") == "ok"
    assert neutralise_cell(-3) == -3
    assert neutralise_cell("+16505551234") == "+16505551234"
    assert neutralise_cell("-1.5e3") == "-1.5e3"
    assert neutralise_cell("+1 (650) 555-1234") == "'+1 (650) 555-1234"
    assert neutralise_cell("-2+3") == "'-2+3"
    assert neutralise_cell("+") == "'+"


async def test_an_exports_folder_that_is_a_link_is_refused_and_its_target_untouched(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir()
    target.chmod(0o755)
    async with _done_job(make_settings, FakeVendor(rows=1)) as (client, job_id, exports):
        exports.rmdir()
        exports.symlink_to(target)
        result = await client.call_tool("export_job_results", {"job_id": job_id})
    assert result.is_error and "symbolic link" in str(result.content)
    assert _names(target) == []
    assert target.stat().st_mode & 0o777 == 0o755
