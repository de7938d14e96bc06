from __future__ import annotations

import json
from typing import Any

import anyio
import httpx
import pytest

from enrich_mcp.jobs import Job
from enrich_mcp.sandbox.sixtyfour import Sandbox
from enrich_mcp.server import EnrichServer
from tests.conftest import connect

KEY = "sandbox-key-not-secret"
WF1 = "00000000-0000-4000-8000-000000000001"
DEFINITION: dict[str, Any] = {
    "blocks": [
        {"sequence_number": 1, "block_type": "source", "block_name": "webhook", "specs": {}, "block_id": "b1"},
        {"sequence_number": 2, "block_type": "enrich", "block_name": "find_email", "specs": {}, "block_id": "b2"},
    ],
    "edges": [{"from_block_id": "b1", "to_block_id": "b2"}],
}


async def _create(client: Any, name: str = "Find emails") -> dict[str, Any]:
    result = await client.call_tool(
        "sixtyfour_create_workflow", {"workflow_name": name, "workflow_definition": DEFINITION}
    )
    assert not result.is_error, result.content
    return result.structured_content


async def test_workflow_crud_on_the_documented_routes(server: EnrichServer, era: str) -> None:
    sandbox = server.runtime.sandboxes["sixtyfour"]
    async with connect(server, mode=era) as client:
        created = await _create(client)
        listed = await client.call_tool("sixtyfour_list_workflows", {})
        got = await client.call_tool("sixtyfour_get_workflow", {"workflow_id": WF1})
        updated = await client.call_tool("sixtyfour_update_workflow", {"workflow_id": WF1, "workflow_name": "Renamed"})
        deleted = await client.call_tool("sixtyfour_delete_workflow", {"workflow_id": WF1})
        missing = await client.call_tool("sixtyfour_get_workflow", {"workflow_id": WF1})
    [create] = sandbox.calls("POST", "/workflows")
    assert str(create.url) == "https://api.sixtyfour.ai/workflows"
    assert create.headers["x-api-key"] == KEY
    assert json.loads(create.content) == {"workflow_name": "Find emails", "workflow_definition": DEFINITION}
    assert created["id"] == WF1 and created["name"] == "Find emails" and created["status"] == "ready"
    assert created["workflow_definition"] == DEFINITION
    assert listed.structured_content is not None and listed.structured_content["count"] == 1
    assert listed.structured_content["workflows"][0]["workflow_definition"] is None
    assert got.structured_content is not None and got.structured_content["workflow_definition"] == DEFINITION
    [patch] = sandbox.calls("PATCH", f"/workflows/{WF1}")
    assert json.loads(patch.content) == {"workflow_name": "Renamed"}
    assert updated.structured_content is not None and updated.structured_content["name"] == "Renamed"
    [delete] = sandbox.calls("DELETE", f"/workflows/{WF1}")
    assert delete.headers["x-api-key"] == KEY
    assert deleted.structured_content == {"workflow_id": WF1, "deleted": True}
    assert missing.is_error and "HTTP 404" in missing.content[0].text  # type: ignore[union-attr]
    assert sandbox.calls(path="/workflows/create_workflow") == []
    assert server.runtime.vendors["sixtyfour"].http.log.requests == 6


async def test_404_falls_back_to_the_snapshot_routes_and_is_remembered(server: EnrichServer) -> None:
    sandbox = server.runtime.sandboxes["sixtyfour"]
    sandbox.fail_next(404, {"detail": "Not Found"}, method="POST", path="/workflows")
    async with connect(server) as client:
        created = await _create(client)
        updated = await client.call_tool(
            "sixtyfour_update_workflow", {"workflow_id": WF1, "workflow_description": "New words"}
        )
        deleted = await client.call_tool("sixtyfour_delete_workflow", {"workflow_id": WF1})
    assert created["id"] == WF1
    [snapshot_create] = sandbox.calls("POST", "/workflows/create_workflow")
    assert json.loads(snapshot_create.content) == {
        "workflow_description": "",
        "workflow_name": "Find emails",
        "workflow_definition": DEFINITION,
    }
    # Remembered: update and delete go straight to the snapshot's routes.
    assert sandbox.calls("PATCH") == [] and sandbox.calls("DELETE") == []
    [update] = sandbox.calls("POST", "/workflows/update_workflow")
    assert str(update.url) == f"https://api.sixtyfour.ai/workflows/update_workflow?workflow_id={WF1}"
    assert json.loads(update.content) == {"workflow_description": "New words"}
    assert updated.structured_content is not None and updated.structured_content["description"] == "New words"
    [delete] = sandbox.calls("POST", "/workflows/delete_workflow")
    assert str(delete.url) == f"https://api.sixtyfour.ai/workflows/delete_workflow?workflow_id={WF1}"
    assert deleted.structured_content == {"workflow_id": WF1, "deleted": True}


async def test_405_on_update_falls_back_once(server: EnrichServer) -> None:
    sandbox = server.runtime.sandboxes["sixtyfour"]
    assert isinstance(sandbox, Sandbox)
    async with connect(server) as client:
        sandbox.seed_workflow({"id": WF1, "name": "Seeded", "workflow_definition": DEFINITION})
        sandbox.fail_next(405, {"detail": "Method Not Allowed"}, method="PATCH", path=f"/workflows/{WF1}")
        updated = await client.call_tool("sixtyfour_update_workflow", {"workflow_id": WF1, "workflow_name": "X"})
    assert updated.structured_content is not None and updated.structured_content["name"] == "X"
    assert len(sandbox.calls("PATCH", f"/workflows/{WF1}")) == 1
    assert len(sandbox.calls("POST", "/workflows/update_workflow")) == 1


async def test_known_documented_routes_do_not_fall_back(server: EnrichServer) -> None:
    sandbox = server.runtime.sandboxes["sixtyfour"]
    async with connect(server) as client:
        await _create(client)
        missing = await client.call_tool(
            "sixtyfour_delete_workflow", {"workflow_id": "00000000-0000-4000-8000-00000000ffff"}
        )
    assert missing.is_error and "HTTP 404" in missing.content[0].text  # type: ignore[union-attr]
    assert sandbox.calls("POST", "/workflows/delete_workflow") == []


async def test_update_needs_a_change(server: EnrichServer) -> None:
    sandbox = server.runtime.sandboxes["sixtyfour"]
    async with connect(server) as client:
        result = await client.call_tool("sixtyfour_update_workflow", {"workflow_id": WF1})
        bad_id = await client.call_tool("sixtyfour_get_workflow", {"workflow_id": "../etc"})
    assert result.is_error and "Nothing to change" in result.content[0].text  # type: ignore[union-attr]
    assert bad_id.is_error
    assert sandbox.requests == []


@pytest.mark.parametrize("delivery", ["signed", "inline"])
async def test_run_workflow_returns_the_last_blocks_rows(server: EnrichServer, era: str, delivery: str) -> None:
    sandbox = server.runtime.sandboxes["sixtyfour"]
    sandbox.pin(run_results=delivery)  # the snapshot allows signed CSV links or inline rows
    payload = [{"name": "Ada Lovelace", "company_name": "Acme"}, {"name": "Alan Turing", "company_name": "Bletchley"}]
    async with connect(server, mode=era) as client:
        await _create(client)
        rows = [[{"key": k, "value": v} for k, v in row.items()] for row in payload]
        result = await client.call_tool("sixtyfour_run_workflow", {"workflow_id": WF1, "webhook_payload": rows})
    assert not result.is_error, result.content
    [run] = sandbox.calls("POST", "/workflows/run")
    assert str(run.url) == f"https://api.sixtyfour.ai/workflows/run?workflow_id={WF1}"
    assert run.headers["x-api-key"] == KEY
    assert json.loads(run.content) == {"webhook_payload": payload}
    run_id = "11111111-0000-4000-8000-000000000001"
    assert len(sandbox.calls("GET", f"/workflows/runs/{run_id}/live_status")) == 3
    assert len(sandbox.calls("GET", f"/workflows/runs/{run_id}/results/download-links")) == 1
    signed = sandbox.calls("GET", f"/workflow-results/{run_id}-block2.csv")
    assert len(signed) == (1 if delivery == "signed" else 0)
    assert all("x-api-key" not in s.headers for s in signed)
    assert sandbox.calls("GET", f"/workflow-results/{run_id}-block1.csv") == []
    out = result.structured_content
    assert out is not None
    assert out["job"]["status"] == "completed" and out["job"]["vendor_job_id"] == run_id
    assert out["rows"] == [
        {"name": "Ada Lovelace", "company_name": "Acme", "email": "ada.lovelace@example.com"},
        {"name": "Alan Turing", "company_name": "Bletchley", "email": "alan.turing@example.com"},
    ]
    assert out["job"]["summary"]["files"] == [
        {"filename": f"{run_id}-block1.csv", "block_number": 1, "row_count": 2},
        {"filename": f"{run_id}-block2.csv", "block_number": 2, "row_count": 2},
    ]
    assert (await server.runtime.budget.report())["spent_usd"] == pytest.approx(0.20)


async def test_cancel_job_cancels_the_run_at_sixtyfour(server: EnrichServer) -> None:
    sandbox = server.runtime.sandboxes["sixtyfour"]
    run_id = "11111111-0000-4000-8000-000000000001"
    # Keep the run from finishing before the cancel: its status polls fail (transiently) meanwhile.
    sandbox.fail_next(503, {"detail": "busy"}, times=10_000, path=f"/workflows/runs/{run_id}/live_status")
    submitted = anyio.Event()

    async def on_change(job: Job) -> None:
        if job.vendor_job_id:
            submitted.set()

    server.runtime.jobs.listeners.append(on_change)
    async with connect(server) as client:
        await _create(client)
        started = await client.call_tool(
            "sixtyfour_run_workflow",
            {"workflow_id": WF1, "webhook_payload": [[{"key": "name", "value": "Ada"}]], "wait_seconds": 0},
        )
        assert started.structured_content is not None
        job_id = started.structured_content["job"]["job_id"]
        with anyio.fail_after(5):
            await submitted.wait()
        cancelled = await client.call_tool("cancel_job", {"job_id": job_id})
        runs = await client.call_tool("sixtyfour_list_workflow_runs", {"status": "cancelled", "workflow_id": WF1})
    assert not cancelled.is_error, cancelled.content
    [cancel] = sandbox.calls("POST", "/workflows/cancel")
    assert str(cancel.url) == f"https://api.sixtyfour.ai/workflows/cancel?job_id={run_id}"
    assert cancel.headers["x-api-key"] == KEY
    out = cancelled.structured_content
    assert out is not None and out["cancelled_at_vendor"] is True and out["job"]["status"] == "cancelled"
    [listing] = sandbox.calls("GET", "/workflows/runs")
    assert str(listing.url) == f"https://api.sixtyfour.ai/workflows/runs?limit=100&status=cancelled&workflow_id={WF1}"
    assert runs.structured_content is not None
    assert runs.structured_content["count"] == 1
    assert runs.structured_content["runs"][0]["job_id"] == run_id
    assert runs.structured_content["runs"][0]["status"] == "cancelled"
    # Sixtyfour accepted the run before it was cancelled: what it billed is unknown, so the estimate stays.
    [row] = await server.runtime.budget.ledger.rows()
    assert (row["status"], row["actual_usd"]) == ("unknown", 0.1)


async def test_list_workflow_runs_active(server: EnrichServer) -> None:
    sandbox = server.runtime.sandboxes["sixtyfour"]
    async with connect(server) as client:
        result = await client.call_tool("sixtyfour_list_workflow_runs", {"status": "active"})
        bad = await client.call_tool("sixtyfour_list_workflow_runs", {"status": "sleeping"})
    assert result.structured_content == {"runs": [], "count": 0}
    [listing] = sandbox.calls("GET", "/workflows/runs")
    assert str(listing.url) == "https://api.sixtyfour.ai/workflows/runs?limit=100&status=active"
    assert bad.is_error


async def test_a_lost_run_answer_is_resent_with_the_jobs_idempotency_key(server: EnrichServer) -> None:
    """workflows/run carries Idempotency-Key (the snapshot's already_started), so a lost answer is resent safely."""
    sandbox = server.runtime.sandboxes["sixtyfour"]
    async with connect(server) as client:
        await _create(client)
        sandbox.fail_next(0, exception=httpx.ReadTimeout, method="POST", path="/workflows/run")
        result = await client.call_tool(
            "sixtyfour_run_workflow",
            {"workflow_id": WF1, "webhook_payload": [[{"key": "name", "value": "Ada"}]], "wait_seconds": 0},
        )
    assert not result.is_error, result.content
    job_id = result.structured_content["job"]["job_id"]  # type: ignore[index]
    runs = sandbox.calls("POST", "/workflows/run")
    assert [r.headers["idempotency-key"] for r in runs] == [f"enrich-mcp-{job_id}-run"] * 2
