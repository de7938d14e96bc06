"""The spend cap, spend accounting, and approval above ENRICH_MCP_CONFIRM_ABOVE_USD (elicitation or confirm)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import mcp_types as types
import pytest
from mcp import Client
from mcp.client.context import ClientRequestContext

from enrich_mcp.server import EnrichServer, build_server
from enrich_mcp.settings import Settings
from tests.conftest import connect

LEAD = {"lead": {"name": "Ada Lovelace", "company": "Analytical Engines"}}
PERSONAL = {**LEAD, "mode": "PERSONAL"}


@pytest.fixture
def build(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., EnrichServer]]:
    built: list[EnrichServer] = []

    def make(**settings: Any) -> EnrichServer:
        srv = build_server(make_settings(**settings))
        built.append(srv)
        return srv

    yield make
    for srv in built:
        srv.runtime.close()


def text(result: types.CallToolResult) -> str:
    """The tool error's own message, without the SDK's "Error executing tool <name>: " prefix."""
    return result.content[0].text.partition(": ")[2]  # type: ignore[union-attr]


def find_email_calls(srv: EnrichServer) -> int:
    return len(srv.runtime.sandboxes["sixtyfour"].calls("POST", "/find-email"))


async def test_cap_refuses_before_the_vendor_is_called(build: Callable[..., EnrichServer], era: str) -> None:
    srv = build(budget_usd=0.10)
    async with connect(srv, mode=era) as client:
        ok = await client.call_tool("sixtyfour_find_email", LEAD)
        refused = await client.call_tool("sixtyfour_find_email", PERSONAL)
    assert not ok.is_error
    assert refused.is_error
    assert text(refused) == (
        "Refused before calling sixtyfour: this call is estimated at $0.20 and only $0.05 of the $0.10 budget "
        "is left. Raise ENRICH_MCP_BUDGET_USD, or ask for fewer items."
    )
    assert find_email_calls(srv) == 1
    report = await srv.runtime.budget.report()
    assert (report["spent_usd"], report["remaining_usd"], report["calls"]) == (0.05, 0.05, 1)


async def test_spend_report_and_resource_agree(build: Callable[..., EnrichServer]) -> None:
    srv = build(budget_usd=5.0, prices={"sixtyfour.find_email.PERSONAL": 0.25})
    sandbox = srv.runtime.sandboxes["sixtyfour"]
    async with connect(srv) as client:
        await client.call_tool("sixtyfour_find_email", LEAD)
        await client.call_tool("sixtyfour_find_email", PERSONAL)
        await client.call_tool("sixtyfour_find_email", LEAD)  # cached: free, not in the ledger
        # 429 proves the vendor did nothing (a 5xx on a paid POST would leave the charge "unknown").
        sandbox.fail_next(429, {"detail": "slow down"}, times=10)
        failed = await client.call_tool("sixtyfour_find_email", {"lead": {"name": "Grace Hopper"}})
        report = await client.call_tool("spend_report", {})
        resource = await client.read_resource("enrich://spend")
    assert failed.is_error
    today = datetime.now(UTC).date().isoformat()
    expected = {
        "spent_usd": 0.30,
        "reserved_usd": 0.0,
        "budget_usd": 5.0,
        "remaining_usd": 4.70,
        "confirm_above_usd": None,
        "by_vendor": {"sixtyfour": 0.30},
        "by_tool": {"sixtyfour_find_email": 0.30},
        "by_day": {today: 0.30},
        "calls": 3,
        "calls_without_known_price": 0,
    }
    assert report.structured_content == expected
    assert json.loads(resource.contents[0].text) == expected  # type: ignore[union-attr]
    rows = await srv.runtime.budget.ledger.rows()
    assert [(r["operation"], r["estimated_usd"], r["actual_usd"], r["status"]) for r in rows] == [
        ("find_email.PROFESSIONAL", 0.05, 0.05, "settled"),
        ("find_email.PERSONAL", 0.25, 0.25, "settled"),
        ("find_email.PROFESSIONAL", 0.05, 0.0, "void"),
    ]


def answering(action: str, approve: bool | None = None) -> tuple[list[str], Any]:
    asked: list[str] = []

    async def callback(context: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        content = None if approve is None else {"approve": approve}
        return types.ElicitResult(action=action, content=content)  # type: ignore[arg-type]

    return asked, callback


@pytest.mark.parametrize(("action", "approve"), [("accept", True), ("accept", False), ("decline", None)])
async def test_elicitation_asks_the_user(build: Callable[..., EnrichServer], action: str, approve: bool | None) -> None:
    srv = build(confirm_above_usd=0.10)
    asked, callback = answering(action, approve)
    async with Client(srv, mode="legacy", elicitation_callback=callback) as client:
        cheap = await client.call_tool("sixtyfour_find_email", LEAD)
        result = await client.call_tool("sixtyfour_find_email", PERSONAL)
    assert not cheap.is_error
    assert asked == ["sixtyfour_find_email will spend about $0.20 at sixtyfour (1 x find_email.PERSONAL). Go ahead?"]
    spent = (await srv.runtime.budget.report())["spent_usd"]
    if approve:
        assert not result.is_error
        assert (find_email_calls(srv), spent) == (2, pytest.approx(0.25))
    else:
        assert result.is_error
        assert text(result) == "The user declined spending $0.20 on sixtyfour_find_email. Nothing was spent."
        assert (find_email_calls(srv), spent) == (1, 0.05)


async def test_client_without_elicitation_must_confirm(build: Callable[..., EnrichServer], era: str) -> None:
    """Legacy clients without the capability, and every 2026-07-28 client (no server-to-client requests)."""
    srv = build(confirm_above_usd=0.10)
    _, callback = answering("accept", True)
    # On the 2026 era even a client with a callback cannot be asked mid-call: the confirm path applies.
    extra = {"elicitation_callback": callback} if era == "2026-07-28" else {}
    async with connect(srv, mode=era, **extra) as client:
        refused = await client.call_tool("sixtyfour_find_email", PERSONAL)
        assert find_email_calls(srv) == 0
        confirmed = await client.call_tool("sixtyfour_find_email", {**PERSONAL, "confirm": True})
    assert refused.is_error
    assert text(refused) == (
        "This call is estimated at $0.20, above the $0.10 approval threshold, and this client cannot ask the user. "
        "Ask the user, then call again with confirm: true."
    )
    assert not confirmed.is_error
    assert find_email_calls(srv) == 1
    assert (await srv.runtime.budget.report())["spent_usd"] == 0.20


async def test_waterfall_refusal_needing_approval_is_reported(build: Callable[..., EnrichServer]) -> None:
    srv = build(confirm_above_usd=0.10)
    async with connect(srv) as client:
        out = await client.call_tool(
            "enrich_person",
            {
                "name": "Ada Lovelace",
                "company": "Analytical Engines",
                "want": ["personal_email"],
                "providers": ["sixtyfour"],
            },
        )
    assert out.structured_content is not None
    assert out.structured_content["stopped"].endswith("Ask the user, then call again with confirm: true.")
    assert srv.runtime.sandboxes["sixtyfour"].requests == []
