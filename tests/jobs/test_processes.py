"""Issue 10 with real processes: stdin closed mid-call, two servers on one data directory, SIGKILL.

The servers are real `python -m enrich_mcp` stdio processes on the sandbox, spoken to in raw JSON-RPC
lines so a test can close stdin or kill a process at an exact point.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

FAST = {
    "ENRICH_MCP_SANDBOX": "1",
    "ENRICH_MCP_POLL_INTERVAL_SECONDS": "0.05",
    "ENRICH_MCP_LEASE_SECONDS": "1",
    "ENRICH_MCP_SUBMIT_GRACE_SECONDS": "5",
    "ENRICH_MCP_LOG_LEVEL": "INFO",
}


class Server:
    """One stdio server process and a line-oriented JSON-RPC conversation with it."""

    def __init__(self, home: Path, **env: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "enrich_mcp"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={
                "PATH": os.environ.get("PATH", ""),
                "PYTHONPATH": str(Path.cwd()),
                "ENRICH_MCP_HOME": str(home),
                **FAST,
                **env,
            },
        )
        self.next_id = 0
        self.request(
            "initialize",
            {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "test", "version": "0"},
            },
        )
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(message) + "\n").encode())
        self.proc.stdin.flush()

    def start(self, method: str, params: dict[str, Any]) -> int:
        self.next_id += 1
        self.send({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
        return self.next_id

    def answer(self, request_id: int) -> dict[str, Any]:
        assert self.proc.stdout is not None
        while True:
            line = self.proc.stdout.readline()
            assert line, f"server exited: {self.stderr()}"
            message = json.loads(line)
            if message.get("id") == request_id:
                return message

    def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        return self.answer(self.start(method, params))

    def tool(self, name: str, **arguments: Any) -> dict[str, Any]:
        result = self.request("tools/call", {"name": name, "arguments": arguments})["result"]
        assert not result.get("isError"), result
        return result["structuredContent"]

    def close(self, timeout: float = 30) -> int:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        return self.proc.wait(timeout)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stderr(self) -> str:
        assert self.proc.stderr is not None
        if self.proc.poll() is None:
            return ""
        return self.proc.stderr.read().decode(errors="replace")


def spend_rows(home: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(home / "spend.sqlite3") as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM spend ORDER BY id")]


def job_rows(home: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(home / "jobs.sqlite3") as conn:
        return [json.loads(r[0]) for r in conn.execute("SELECT data FROM jobs")]


@pytest.fixture
def servers() -> Any:
    started: list[Server] = []
    yield started
    for server in started:
        if server.proc.poll() is None:
            server.kill()


def test_stdin_closed_mid_call_ends_every_reservation(home: Path, servers: list[Server]) -> None:
    server = Server(home)
    servers.append(server)
    for i in range(20):  # a burst of paid calls, so some are at the vendor when the client goes away
        lead = {"name": f"Person {i}", "company": "AE"}
        server.start("tools/call", {"name": "sixtyfour_find_email", "arguments": {"lead": lead}})
    server.request("ping", {})
    assert server.close() == 0  # the client went away with calls in flight
    rows = spend_rows(home)
    assert rows, "no paid call had started"
    assert {r["status"] for r in rows} <= {"settled", "void"}  # never left pending
    assert "Traceback" not in server.stderr()


def test_two_servers_on_one_home_drive_each_job_once(home: Path, servers: list[Server]) -> None:
    a = Server(home)
    b = Server(home)  # a second MCP client's server on the same data directory
    servers += [a, b]
    leads = [{"name": f"Person {i}", "company": f"Company {i}"} for i in range(250)]
    handle = a.tool("sixtyfour_find_emails_bulk", leads=leads, wait_seconds=0)
    job_id = handle["job"]["job_id"]
    deadline = time.monotonic() + 60
    while (job := a.tool("get_job", job_id=job_id))["status"] not in ("completed", "failed", "unknown"):
        assert time.monotonic() < deadline, job
        b.tool("list_jobs")  # B is alive and heartbeating meanwhile
    assert job["status"] == "completed" and job["result_count"] == 250
    a.close()
    b.close()
    [stored] = job_rows(home)
    steps = stored["state"]["steps"]
    assert sorted(steps) == ["chunk-0", "chunk-1", "chunk-2"]
    assert all(step["status"] == "done" for step in steps.values())
    [row] = spend_rows(home)
    assert row["status"] == "settled" and row["job_id"] == job_id
    assert f"driving job {job_id}" not in b.stderr()


def vendor_records(home: Path, vendor: str, kind: str) -> int:
    """How many records of ``kind`` the (persistent) sandbox vendor created: what it really received."""
    with sqlite3.connect(home / "sandbox" / f"{vendor}.sqlite3") as conn:
        return int(conn.execute("SELECT count(*) FROM records WHERE kind=?", (kind,)).fetchone()[0])


def finish_on(server: Server, job_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while (job := server.tool("get_job", job_id=job_id))["status"] not in ("completed", "failed", "unknown"):
        assert time.monotonic() < deadline, job
        time.sleep(0.05)  # a real process on the other side: nothing to wait on but its answers
    return job


def test_sigkill_right_after_the_handle_the_next_server_finishes_the_job(home: Path, servers: list[Server]) -> None:
    a = Server(home, ENRICH_MCP_POLL_INTERVAL_SECONDS="30")  # A would poll late: B must take over
    servers.append(a)
    handle = a.tool("sixtyfour_deep_search", query="CTOs in Lisbon", max_results=5, wait_seconds=0)
    job_id = handle["job"]["job_id"]
    assert handle["job"]["vendor_job_id"]  # accepted before the handle came back
    a.kill()
    b = Server(home)
    servers.append(b)
    job = finish_on(b, job_id)
    b.close()
    assert job["status"] == "completed" and job["result_count"] > 0
    assert vendor_records(home, "sixtyfour", "search") == 1  # started once, never resent
    [row] = spend_rows(home)
    assert row["status"] == "settled"


def test_sigkill_mid_bulk_submit_and_poll_every_chunk_sent_once_every_row_stored_once(
    home: Path, servers: list[Server]
) -> None:
    a = Server(home)
    servers.append(a)
    leads = [{"name": f"Person {i}", "company": f"Company {i}"} for i in range(250)]
    handle = a.tool("sixtyfour_find_emails_bulk", leads=leads, wait_seconds=0)
    job_id = handle["job"]["job_id"]
    a.kill()  # chunks 2 and 3 are being submitted (or polled) in the background right now
    b = Server(home)
    servers.append(b)
    job = finish_on(b, job_id)
    b.close()
    [stored] = job_rows(home)
    chunks = stored["state"]["steps"]
    done = [name for name, step in chunks.items() if step["status"] == "done"]
    maybe = [name for name, step in chunks.items() if step["status"] == "unknown"]  # killed mid-send: not resent
    assert sorted(done + maybe) == ["chunk-0", "chunk-1", "chunk-2"]
    assert len(done) <= vendor_records(home, "sixtyfour", "task") <= len(done) + len(maybe)
    assert job["result_count"] == 250  # one row per lead: nothing stored twice, nothing dropped
    with sqlite3.connect(home / "jobs.sqlite3") as conn:
        indexes = [
            json.loads(r[0])["index"] for r in conn.execute("SELECT data FROM results WHERE job_id=?", (job_id,))
        ]
    assert sorted(indexes) == list(range(250))
    [row] = spend_rows(home)
    assert row["status"] in ("settled", "unknown")
