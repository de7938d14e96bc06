"""What the Sixtyfour documents leave open, read every plausible way (the sandbox's variants)."""

from __future__ import annotations

import pytest

from enrich_mcp.errors import VendorBadRequest
from enrich_mcp.sandbox.sixtyfour import Sandbox
from enrich_mcp.server import EnrichServer
from enrich_mcp.vendors.sixtyfour.client import SixtyfourClient
from tests.conftest import connect, sandbox_of

STRUCT = [{"name": "role", "description": "Current job title"}]


def sixtyfour(server: EnrichServer) -> Sandbox:
    return sandbox_of(server, Sandbox)


@pytest.mark.parametrize("key", Sandbox.variants["task_error"])
async def test_a_failed_task_says_why_whatever_the_key(server: EnrichServer, key: str) -> None:
    sixtyfour(server).pin(task_error=key)
    async with connect(server) as client:
        result = await client.call_tool(
            "sixtyfour_enrich_lead", {"lead_info": {"name": "Failing Person"}, "struct": STRUCT}
        )
    out = result.structured_content
    assert out is not None, result.content
    assert out["job"]["status"] == "failed"
    assert out["job"]["error"] == (
        "Sixtyfour could not finish: Could not find enough public information about Failing Person"
    )


@pytest.mark.parametrize("status", Sandbox.variants["validation_status"])
async def test_a_missing_field_is_a_readable_bad_request(server: EnrichServer, status: str) -> None:
    sixtyfour(server).pin(validation_status=status)
    client = SixtyfourClient(server.runtime.vendors["sixtyfour"].http)
    with pytest.raises(VendorBadRequest) as caught:
        await client.find_email_bulk_async("not a list", "PROFESSIONAL")  # type: ignore[arg-type]
    assert caught.value.status == int(status)
    assert "leads" in caught.value.message and "Field required" in caught.value.message


@pytest.mark.parametrize("word", Sandbox.variants["cancelled_word"])
async def test_a_cancelled_run_reads_as_cancelled_in_either_spelling(server: EnrichServer, word: str) -> None:
    sandbox = sixtyfour(server)
    sandbox.pin(cancelled_word=word)
    client = SixtyfourClient(server.runtime.vendors["sixtyfour"].http)
    definition = {
        "blocks": [{"sequence_number": 1, "block_type": "source", "block_name": "webhook", "specs": {}}],
        "edges": [],
    }
    workflow = await client.create_workflow({"workflow_name": "W", "workflow_definition": definition})
    run_id = await client.run_workflow(workflow["id"], [{"name": "Ada"}])
    assert (await client.cancel_run(run_id))["status"] == "canceled"  # the snapshot's spelling
    live = await client.run_live_status(run_id)
    assert live["overall_status"] == word
    from enrich_mcp.vendors.sixtyfour.jobs import normalise

    assert normalise(live["overall_status"], "live_status") == "cancelled"


async def test_an_undocumented_status_word_ends_the_job(server: EnrichServer) -> None:
    """The sandbox's "Odd" people get a task that answers a word the document does not list."""
    from enrich_mcp.sandbox.sixtyfour import UNDOCUMENTED_WORD

    async with connect(server) as client:
        result = await client.call_tool("sixtyfour_enrich_lead", {"lead_info": {"name": "Odd One"}, "struct": STRUCT})
    out = result.structured_content
    assert out is not None, result.content
    assert out["job"]["status"] == "failed"
    assert repr(UNDOCUMENTED_WORD) in out["job"]["error"]
