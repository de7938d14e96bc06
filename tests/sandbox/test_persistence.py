"""Issue 10.13: the sandbox keeps its state under the data directory, so a job outlives the process that started it."""

from __future__ import annotations

import json
import stat
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client, StdioServerParameters

from enrich_mcp.sandbox import load_sandbox
from enrich_mcp.sandbox.sixtyfour import Sandbox as Sixtyfour
from enrich_mcp.sandbox.store import SqliteSandboxStore
from enrich_mcp.server import build_server
from enrich_mcp.settings import Settings
from tests.conftest import connect

HEADERS = {"x-api-key": "k"}


async def _until(client: Client, job_id: str, done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """Read get_job until ``done`` says yes (bounded by the caller's fail_after)."""
    while True:
        result = await client.call_tool("get_job", {"job_id": job_id})
        assert result.structured_content is not None, result.content
        if done(result.structured_content):
            return result.structured_content
        await anyio.sleep(0.02)


async def test_a_job_started_by_one_server_is_finished_by_the_next_on_the_same_home(
    make_settings: Callable[..., Settings],
) -> None:
    first = build_server(make_settings(toolsets=["sixtyfour"], poll_interval_seconds=60))  # it never polls
    try:
        with anyio.fail_after(10):
            async with connect(first) as client:
                started = await client.call_tool(
                    "sixtyfour_deep_search", {"query": "CFOs in Lisbon", "max_results": 2, "wait_seconds": 0}
                )
                assert started.structured_content is not None, started.content
                job_id = started.structured_content["job"]["job_id"]
                job = await _until(client, job_id, lambda j: j["vendor_job_id"] is not None)
    finally:
        first.runtime.close()
    assert job["status"] != "completed"

    second = build_server(make_settings(toolsets=["sixtyfour"]))
    try:
        with anyio.fail_after(10):
            async with connect(second) as client:
                job = await _until(client, job_id, lambda j: j["status"] in ("completed", "failed", "unknown"))
                rows = await client.call_tool("get_job_results", {"job_id": job_id})
        sandbox = second.runtime.sandboxes["sixtyfour"]
        # The second process's sandbox knew the search the first one started (it used to answer 404).
        assert sandbox.calls("POST", "/search/start-deep-search") == []
        assert len(sandbox.calls("GET", f"/search/deep-search-status/{job['vendor_job_id']}")) >= 1
    finally:
        second.runtime.close()
    assert job["status"] == "completed", job
    assert rows.structured_content is not None
    assert [r["name"] for r in rows.structured_content["rows"]] == ["Sample Person 1", "Sample Person 2"]


def _stdio(home: Path) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "enrich_mcp"],
        env={
            "ENRICH_MCP_SANDBOX": "1",
            "ENRICH_MCP_HOME": str(home),
            "ENRICH_MCP_TOOLSETS": "enrichabl",
            "ENRICH_MCP_POLL_INTERVAL_SECONDS": "0.05",
            "PYTHONPATH": str(Path.cwd()),
        },
    )


async def test_a_job_started_over_stdio_is_read_by_a_second_stdio_process(home: Path) -> None:
    """The MCP Inspector CLI and demo-then-Claude-Desktop flow: one process starts, the next one reads."""
    pipeline_id = load_sandbox("enrichabl", home=home).seed_pipeline(  # type: ignore[attr-defined]
        "stdio", [{"email": "ok@acme.example.com"}, {"email": "invalid.x@acme.example.com"}]
    )
    with anyio.fail_after(60):
        async with Client(_stdio(home)) as client:
            started = await client.call_tool(
                "enrichabl_start_validation", {"pipeline_id": pipeline_id, "service": "MAILVERI", "wait_seconds": 0}
            )
            assert started.structured_content is not None, started.content
            job_id = started.structured_content["job"]["job_id"]
            await _until(client, job_id, lambda j: j["vendor_job_id"] is not None)
        async with Client(_stdio(home)) as client:
            job = await _until(client, job_id, lambda j: j["status"] in ("completed", "failed", "unknown"))
            rows = await client.call_tool("get_job_results", {"job_id": job_id})
    assert job["status"] == "completed", job
    assert rows.structured_content is not None
    statuses = {r["lead_email"]: r["pipeline_lead_email_validation_status"] for r in rows.structured_content["rows"]}
    assert statuses == {"ok@acme.example.com": "VALID", "invalid.x@acme.example.com": "INVALID"}


def test_state_file_is_private_and_shared_by_instances_on_one_home(home: Path) -> None:
    first = Sixtyfour(home=home)
    second = Sixtyfour(home=home)
    path = home / "sandbox" / "sixtyfour.sqlite3"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    started = first.handle(
        httpx.Request(
            "POST",
            "https://api.sixtyfour.ai/enrich-lead-async",
            json={"lead_info": {"name": "Ada"}, "struct": {"x": "y"}},
            headers=HEADERS,
        )
    )
    task_id = started.json()["task_id"]
    polls = [
        box.handle(httpx.Request("GET", f"https://api.sixtyfour.ai/job-status/{task_id}", headers=HEADERS)).json()[
            "status"
        ]
        for box in (second, first, second)
    ]
    assert polls == ["pending", "processing", "completed"]  # one life cycle, whichever instance answers
    assert first.shape == second.shape


def test_shapes_are_chosen_once_per_home(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = Sixtyfour(home=home, seed=1)
    monkeypatch.setenv("ENRICH_MCP_SANDBOX_SEED", "2")
    assert Sixtyfour(home=home).shape == first.shape  # the stored choice wins over a new seed
    monkeypatch.setenv("ENRICH_MCP_SANDBOX_VARIANTS", "sixtyfour.bulk_result=data,lance.x=y")
    pinned = Sixtyfour(home=home)
    assert pinned.shape == {**first.shape, "bulk_result": "data"}
    monkeypatch.delenv("ENRICH_MCP_SANDBOX_VARIANTS")
    assert Sixtyfour(home=home).shape["bulk_result"] == "data"  # and the pin is stored for the others


def test_a_seed_gives_the_same_shapes(tmp_path: Path) -> None:
    shapes = [Sixtyfour(home=tmp_path / str(i), seed=7).shape for i in range(2)]
    assert shapes[0] == shapes[1]
    assert shapes[0].keys() == Sixtyfour.variants.keys()


def test_an_unknown_pin_is_refused() -> None:
    with pytest.raises(ValueError, match="bulk_result=csv"):
        Sixtyfour(variants={"bulk_result": "csv"})


def test_several_writers_on_one_home_never_reuse_an_id(home: Path) -> None:
    boxes = [Sixtyfour(home=home) for _ in range(4)]
    ids: list[str] = []
    lock = threading.Lock()

    def start(box: Sixtyfour) -> None:
        for _ in range(25):
            request = httpx.Request(
                "POST", "https://api.sixtyfour.ai/search/start-deep-search", json={"query": "q"}, headers=HEADERS
            )
            task_id = box.handle(request).json()["task_id"]
            with lock:
                ids.append(task_id)

    threads = [threading.Thread(target=start, args=(box,)) for box in boxes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(ids) == len(set(ids)) == 100


def test_without_a_home_the_state_is_in_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    box = Sixtyfour()
    assert isinstance(box.store, SqliteSandboxStore) and box.store.path is None
    assert json.loads(json.dumps(box.shape)) == box.shape
    assert list(tmp_path.iterdir()) == []
