"""A damaged data directory, through a real stdio process: one paragraph and exit 2, or moved aside — never a
traceback, never a hang on initialize."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp import Client, StdioServerParameters

from enrich_mcp.jobs import Job, SqliteJobStore

PYTHON = sys.executable


def env(home: Path) -> dict[str, str]:
    return {
        "ENRICH_MCP_SANDBOX": "1",
        "ENRICH_MCP_HOME": str(home),
        "PYTHONPATH": str(Path.cwd()),
        "PATH": "/usr/bin:/bin",
    }


async def exits(home: Path, prefix: tuple[str, ...] = ()) -> tuple[int, str]:
    """Start the server with stdin held open (a client waiting on initialize) and wait for it to exit by itself."""
    started = time.monotonic()
    async with await anyio.open_process(
        [*prefix, PYTHON, "-m", "enrich_mcp"], env=env(home), stdin=subprocess.PIPE, stderr=subprocess.PIPE
    ) as process:
        assert process.stdin is not None and process.stderr is not None
        await process.stdin.send(
            json.dumps(
                {
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "initialize",
                    "params": {
                        "protocolVersion": "2025-06-18",
                        "capabilities": {},
                        "clientInfo": {"name": "t", "version": "1"},
                    },
                }
            ).encode()
            + b"\n"
        )
        with anyio.fail_after(30):
            code = await process.wait()
            err = b""
            async for chunk in process.stderr:
                err += chunk
    assert time.monotonic() - started < 30
    return code, err.decode()


def assert_one_paragraph(err: str, *needles: str) -> None:
    assert "Traceback" not in err, err
    paragraph = [line for line in err.splitlines() if "enrich-mcp cannot" in line]
    assert len(paragraph) == 1, err
    for needle in needles:
        assert needle in paragraph[0], (needle, err)


async def seed_jobs(home: Path, count: int = 200) -> Path:
    path = home / "jobs.sqlite3"
    store = SqliteJobStore(path)  # creates the folder

    for i in range(count):
        job = Job(id=f"j{i}", vendor="sixtyfour", kind="sixtyfour.deep_search", tool="t", status="completed")
        job.summary = {"padding": "x" * 400}
        await store.insert(job, owner="seed", lease_seconds=1)
    store.close()
    return path


def corrupt_a_page(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    page = len(raw) // 4096 // 2
    raw[page * 4096 : page * 4096 + 200] = b"\xff" * 200
    path.write_bytes(bytes(raw))
    check = sqlite3.connect(path)
    try:
        assert check.execute("PRAGMA quick_check").fetchone()[0] != "ok"
    except sqlite3.DatabaseError:
        pass
    finally:
        check.close()


# Layouts are made by sync helpers: blocking file I/O stays out of the async tests.
def put(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)


async def test_a_job_ledger_that_is_not_a_database_stops_the_server_with_one_paragraph(home: Path) -> None:
    put(home / "jobs.sqlite3", b"this is not a database" * 100)
    code, err = await exits(home)
    assert code == 2
    assert_one_paragraph(err, str(home / "jobs.sqlite3"), "job ledger", "damaged", ".recover", "mv ")


async def test_a_corrupted_page_in_the_job_ledger_exits_at_once_instead_of_hanging_initialize(home: Path) -> None:
    corrupt_a_page(await seed_jobs(home))
    code, err = await exits(home)
    assert code == 2
    assert_one_paragraph(err, str(home / "jobs.sqlite3"), "damaged")


async def test_a_damaged_spend_ledger_names_the_budget_consequence(home: Path) -> None:
    put(home / "spend.sqlite3", b"SQLite format 3\x00" + b"\x13" * 5000)
    code, err = await exits(home)
    assert code == 2
    assert_one_paragraph(err, str(home / "spend.sqlite3"), "ENRICH_MCP_BUDGET_USD")


@pytest.mark.parametrize(
    ("layout", "needles"),
    [
        ("home is a file", ("is a file, not a folder", "ENRICH_MCP_HOME")),
        ("cache is a file", ("cache", "is a file, not a folder")),
        ("exports is a link", ("symbolic link", "rm ")),
    ],
)
async def test_unusable_layouts_exit_2_with_one_paragraph(
    home: Path, tmp_path: Path, layout: str, needles: tuple[str, ...]
) -> None:
    make_layout(home, tmp_path / "elsewhere", layout)
    code, err = await exits(home)
    assert code == 2
    assert_one_paragraph(err, *needles)
    if layout == "exports is a link":
        assert mode(tmp_path / "elsewhere") == 0o755  # never chmod-ed through the link


def make_layout(home: Path, elsewhere: Path, layout: str) -> None:
    if layout == "home is a file":
        put(home, "not a folder")
    elif layout == "cache is a file":
        put(home / "cache", "not a folder")
    else:
        home.mkdir()
        elsewhere.mkdir()
        elsewhere.chmod(0o755)
        (home / "exports").symlink_to(elsewhere)


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def read_only_prefix(home: Path) -> tuple[str, ...]:
    """Run the server where ``home`` is read-only: a read-only bind mount when root (chmod binds nobody there)."""
    home.mkdir()
    if os.geteuid() != 0:
        home.chmod(0o555)
        return ()
    unshare = shutil.which("unshare")
    if unshare is None or subprocess.run([unshare, "-m", "true"], capture_output=True).returncode != 0:
        pytest.skip("running as root without mount namespaces: cannot make a read-only folder")
    return (unshare, "-m", "sh", "-c", f'mount --bind -o ro "{home}" "{home}" && exec "$0" "$@"')


async def test_a_read_only_home_exits_2_with_one_paragraph(home: Path) -> None:
    prefix = read_only_prefix(home)
    try:
        code, err = await exits(home, prefix)
    finally:
        home.chmod(0o700)  # noqa: ASYNC240 - cleanup, one syscall
    assert code == 2
    assert_one_paragraph(err, str(home), "ENRICH_MCP_HOME", "writ")


async def test_a_damaged_cache_is_moved_aside_and_the_server_serves(home: Path) -> None:
    put(home / "cache" / "cache.db", b"garbage" * 2000)
    params = StdioServerParameters(command=PYTHON, args=["-m", "enrich_mcp"], env=env(home))
    with anyio.fail_after(60):
        async with Client(params, mode="legacy") as client:
            body = json.loads(_text(await client.read_resource("enrich://vendors")))
    check_moved_aside(home, body)


def check_moved_aside(home: Path, body: dict[str, Any]) -> None:
    [aside] = [p for p in home.iterdir() if p.name.startswith("cache.corrupt-")]
    assert (aside / "cache.db").read_bytes().startswith(b"garbage")
    assert body["data_directory"]["moved_aside"] == [str(aside)]
    assert (home / "cache" / "cache.db").stat().st_size > 0


def _text(result: types.ReadResourceResult) -> str:
    content = result.contents[0]
    assert isinstance(content, types.TextResourceContents)
    return content.text


async def test_unreadable_job_rows_are_skipped_and_reported(home: Path) -> None:
    await seed_jobs(home, count=1)
    db = sqlite3.connect(home / "jobs.sqlite3")
    for job_id, status, data in (
        (
            "weird",
            "weird",
            json.dumps(
                {"id": "weird", "vendor": "sixtyfour", "kind": "sixtyfour.deep_search", "tool": "t", "status": "weird"}
            ),
        ),
        ("broken", "running", "{not json"),
        ("bytes", "running", b"\xff\xfe{"),
    ):
        db.execute(
            "INSERT INTO jobs (id, vendor, status, created_at, data) VALUES (?,?,?,?,?)",
            (job_id, "sixtyfour", status, time.time(), data),
        )
    db.commit()
    db.close()
    params = StdioServerParameters(command=PYTHON, args=["-m", "enrich_mcp"], env=env(home))
    with anyio.fail_after(60):
        async with Client(params, mode="legacy") as client:
            listed = await client.call_tool("list_jobs", {})
            one = await client.call_tool("get_job", {"job_id": "weird"})
            results = await client.call_tool("get_job_results", {"job_id": "broken"})
            body = json.loads(_text(await client.read_resource("enrich://vendors")))
            fine = await client.call_tool("get_job", {"job_id": "j0"})
    assert not listed.is_error and listed.structured_content is not None
    assert [j["job_id"] for j in listed.structured_content["jobs"]] == ["j0"]
    damaged = {d["job_id"]: d["problem"] for d in listed.structured_content["damaged"]}
    assert set(damaged) == {"weird", "broken", "bytes"}
    assert one.is_error and "damaged" in one.content[0].text  # type: ignore[union-attr]
    assert results.is_error and "damaged" in results.content[0].text  # type: ignore[union-attr]
    assert {d["job_id"] for d in body["data_directory"]["damaged_jobs"]} == {"weird", "broken", "bytes"}
    assert not fine.is_error


async def test_every_file_is_private(home: Path) -> None:
    fast = {**env(home), "ENRICH_MCP_POLL_INTERVAL_SECONDS": "0.02"}
    params = StdioServerParameters(command=PYTHON, args=["-m", "enrich_mcp"], env=fast)
    with anyio.fail_after(60):
        async with Client(params, mode="legacy") as client:
            found = await client.call_tool("sixtyfour_find_email", {"lead": {"name": "Ada Lovelace", "company": "X"}})
            assert not found.is_error
            bulk = await client.call_tool(
                "sixtyfour_find_emails_bulk", {"leads": [{"name": "Ada Lovelace", "company": "X"}], "wait_seconds": 30}
            )
            assert bulk.structured_content is not None
            exported = await client.call_tool(
                "export_job_results", {"job_id": bulk.structured_content["job"]["job_id"]}
            )
            assert not exported.is_error, exported.content
    check_private(home)


def check_private(home: Path) -> None:
    modes = {str(p.relative_to(home)): mode(p) for p in home.rglob("*")}
    assert {"cache", "cache/cache.db", "jobs.sqlite3", "spend.sqlite3", "exports"} <= set(modes)
    assert any(name.startswith("exports/") for name in modes)
    assert {name: oct(m) for name, m in modes.items() if m != (0o700 if (home / name).is_dir() else 0o600)} == {}
    assert mode(home) == 0o700
