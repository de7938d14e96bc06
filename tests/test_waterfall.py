"""enrich_person: cheapest first, stop at a verified answer, caches shared with the vendor tools, budget."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
from mcp import Client

from enrich_mcp.local import MxAnswer
from enrich_mcp.server import EnrichServer, build_server
from enrich_mcp.settings import Settings
from enrich_mcp.waterfall import provider_specs
from tests.conftest import connect

ADA = {"name": "Ada Lovelace", "company": "Analytical Engines"}
AUDIENCELAB_BODY = {
    "filter": {"first_name": "Ada", "last_name": "Lovelace", "company_name": "Analytical Engines"},
    "fields": ["b2b_email", "personal_email", "b2b_phone", "personal_phone"],
    "is_or_match": False,
}
HAS_MX = MxAnswer(status="has_mx", hosts=("mx.example.net",))
NO_MX = MxAnswer(status="no_mx", detail="no MX, A or AAAA record")


class StubResolver:
    """DNS from a table (has_mx unless listed); records the domains asked."""

    def __init__(self, answers: Mapping[str, MxAnswer] | None = None) -> None:
        self.answers = dict(answers or {})
        self.asked: list[str] = []

    async def mx(self, domain: str) -> MxAnswer:
        self.asked.append(domain)
        return self.answers.get(domain, HAS_MX)


@pytest.fixture
def build(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., EnrichServer]]:
    built: list[EnrichServer] = []

    def make(answers: Mapping[str, MxAnswer] | None = None, **settings: Any) -> EnrichServer:
        srv = build_server(make_settings(**settings))
        srv.runtime.mx_resolver = StubResolver(answers)
        built.append(srv)
        return srv

    yield make
    for srv in built:
        srv.runtime.close()


async def enrich(client: Client, **args: Any) -> dict[str, Any]:
    result = await client.call_tool("enrich_person", args)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


def bodies(srv: EnrichServer, vendor: str, path: str) -> list[Any]:
    return [json.loads(r.content) for r in srv.runtime.sandboxes[vendor].calls("POST", path)]


async def test_cheapest_verified_answer_stops_the_waterfall(build: Callable[..., EnrichServer], era: str) -> None:
    srv = build()
    async with connect(srv, mode=era) as client:
        out = await enrich(client, **ADA, want=["work_email"])
    assert bodies(srv, "audiencelab", "/enrich") == [AUDIENCELAB_BODY]
    assert srv.runtime.sandboxes["sixtyfour"].requests == []
    assert out["complete"] is True
    assert out["answers"] == [
        {
            "want": "work_email",
            "value": "ada.lovelace@example.com",
            "verified": True,
            "confidence": "high",
            "source": "audiencelab",
            "cached": False,
            "checks": ["valid"],
        }
    ]
    assert [(p["provider"], p["operation"], p["estimated_usd"]) for p in out["plan"]] == [
        ("audiencelab", "enrich", 0.01),
        ("sixtyfour", "find_email.PROFESSIONAL", 0.05),
    ]
    assert [(t["provider"], t["outcome"], t["cost_usd"]) for t in out["trail"]] == [("audiencelab", "verified", 0.01)]
    assert out["cost_usd"] == 0.01
    assert (await srv.runtime.budget.report())["by_tool"] == {"enrich_person": 0.01}


async def test_unverified_email_moves_on_to_the_next_vendor(build: Callable[..., EnrichServer]) -> None:
    srv = build({"example.com": NO_MX})
    async with connect(srv) as client:
        out = await enrich(client, **ADA, want=["work_email"])
    assert bodies(srv, "audiencelab", "/enrich") == [AUDIENCELAB_BODY]
    assert bodies(srv, "sixtyfour", "/find-email") == [{"lead": ADA, "mode": "PROFESSIONAL"}]
    [answer] = out["answers"]
    assert (answer["value"], answer["source"], answer["verified"]) == (
        "ada.lovelace@analyticalengines.example.com",
        "sixtyfour",
        True,
    )
    assert [(t["provider"], t["outcome"]) for t in out["trail"]] == [
        ("audiencelab", "unverified"),
        ("sixtyfour", "verified"),
    ]
    assert "ada.lovelace@example.com: invalid, no_mx" in out["trail"][0]["detail"]
    assert out["cost_usd"] == pytest.approx(0.06)


async def test_dry_run_plans_without_calling_anyone(build: Callable[..., EnrichServer], era: str) -> None:
    srv = build()
    async with connect(srv, mode=era) as client:
        out = await enrich(client, **ADA, want=["work_email", "personal_email"], dry_run=True)
    assert all(s.requests == [] for s in srv.runtime.sandboxes.values())
    assert [(p["provider"], p["operation"], p["wants"], p["estimated_usd"]) for p in out["plan"]] == [
        ("audiencelab", "enrich", ["personal_email", "work_email"], 0.01),
        ("sixtyfour", "find_email.PROFESSIONAL", ["work_email"], 0.05),
        ("sixtyfour", "find_email.PERSONAL", ["personal_email"], 0.20),
    ]
    assert out["estimated_total_usd"] == pytest.approx(0.26)
    assert out["trail"] == [] and out["cost_usd"] == 0 and out["dry_run"] is True
    assert (await srv.runtime.budget.report())["calls"] == 0


async def test_answer_from_a_vendor_tool_is_reused_without_a_new_request(build: Callable[..., EnrichServer]) -> None:
    srv = build()
    async with connect(srv) as client:
        found = await client.call_tool("sixtyfour_find_email", {"lead": ADA})
        assert not found.is_error
        out = await enrich(client, **ADA, want=["work_email"])
    # Cached steps cost nothing, so they come first and AudienceLab is never asked.
    assert len(srv.runtime.sandboxes["sixtyfour"].calls("POST", "/find-email")) == 1
    assert srv.runtime.sandboxes["audiencelab"].requests == []
    assert out["plan"][0] == {
        "provider": "sixtyfour",
        "operation": "find_email.PROFESSIONAL",
        "wants": ["work_email"],
        "estimated_usd": 0.0,
        "price_known": True,
        "cached": True,
    }
    assert out["answers"][0]["value"] == "ada.lovelace@analyticalengines.example.com"
    assert out["answers"][0]["cached"] is True
    assert out["cost_usd"] == 0


async def test_vendor_tools_reuse_what_the_waterfall_bought(build: Callable[..., EnrichServer]) -> None:
    srv = build({"example.com": NO_MX})  # AudienceLab's address fails the check, so Sixtyfour is asked too
    async with connect(srv) as client:
        await enrich(client, **ADA, want=["work_email"])
        filter_ = AUDIENCELAB_BODY["filter"]
        contact = await client.call_tool(
            "audiencelab_enrich_contact", {"filter": filter_, "fields": AUDIENCELAB_BODY["fields"]}
        )
        email = await client.call_tool("sixtyfour_find_email", {"lead": ADA})
        other_mode = await client.call_tool("sixtyfour_find_email", {"lead": ADA, "mode": "PERSONAL"})
    assert bodies(srv, "audiencelab", "/enrich") == [AUDIENCELAB_BODY]
    assert bodies(srv, "sixtyfour", "/find-email") == [
        {"lead": ADA, "mode": "PROFESSIONAL"},
        {"lead": ADA, "mode": "PERSONAL"},  # another operation: its own entry and its own price
    ]
    for result, cost in ((contact, 0.0), (email, 0.0), (other_mode, 0.2)):
        assert result.structured_content is not None
        assert (result.structured_content["cost_usd"], result.structured_content["cache"]["hit"]) == (cost, cost == 0)
    rows = [(r["tool"], r["operation"], r["status"]) for r in await srv.runtime.budget.ledger.rows()]
    assert rows == [
        ("enrich_person", "enrich", "settled"),
        ("enrich_person", "find_email.PROFESSIONAL", "settled"),
        ("sixtyfour_find_email", "find_email.PERSONAL", "settled"),
    ]


async def test_person_index_answers_the_second_call(build: Callable[..., EnrichServer]) -> None:
    srv = build()
    async with connect(srv) as client:
        await enrich(client, **ADA, want=["work_email"])
        before = len(srv.runtime.sandboxes["audiencelab"].requests)
        again = await enrich(client, name="  ada   LOVELACE ", company="Analytical Engines", want=["work_email"])
    assert len(srv.runtime.sandboxes["audiencelab"].requests) == before == 1
    assert again["trail"] == [
        {
            "provider": "cache",
            "operation": "person_index",
            "wants": ["work_email"],
            "outcome": "cache",
            "cost_usd": 0.0,
            "cached": True,
            "detail": "found earlier for this person",
        }
    ]
    assert again["answers"][0]["value"] == "ada.lovelace@example.com"
    assert again["plan"] == [] and again["complete"] is True


async def test_budget_cap_stops_mid_waterfall(build: Callable[..., EnrichServer]) -> None:
    srv = build({"example.com": NO_MX}, budget_usd=0.03)
    async with connect(srv) as client:
        out = await enrich(client, **ADA, want=["work_email"])
    assert len(bodies(srv, "audiencelab", "/enrich")) == 1
    assert srv.runtime.sandboxes["sixtyfour"].requests == []
    assert [(t["provider"], t["outcome"]) for t in out["trail"]] == [
        ("audiencelab", "unverified"),
        ("sixtyfour", "refused"),
    ]
    assert out["stopped"].startswith("Refused before calling sixtyfour: this call is estimated at $0.05")
    assert out["complete"] is False
    assert out["answers"][0]["value"] is None
    assert (await srv.runtime.budget.report())["spent_usd"] == 0.01


async def test_provider_order_and_max_cost(build: Callable[..., EnrichServer]) -> None:
    srv = build()
    async with connect(srv) as client:
        out = await enrich(client, **ADA, want=["personal_email"], providers=["sixtyfour"], max_cost_usd=0.1)
    assert srv.runtime.sandboxes["sixtyfour"].requests == []
    assert srv.runtime.sandboxes["audiencelab"].requests == []
    assert [(t["provider"], t["operation"], t["outcome"]) for t in out["trail"]] == [
        ("sixtyfour", "find_email.PERSONAL", "over_max_cost")
    ]
    assert out["providers_skipped"]["audiencelab"] == "not in `providers`"


async def test_given_work_email_is_checked_not_bought(build: Callable[..., EnrichServer]) -> None:
    srv = build()
    async with connect(srv) as client:
        out = await enrich(client, name="Ada Lovelace", email=" Ada@Analytical.example.org ", want=["work_email"])
    assert all(s.requests == [] for s in srv.runtime.sandboxes.values())
    assert out["answers"][0]["value"] == "ada@analytical.example.org"
    assert out["answers"][0]["source"] == "input"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({**ADA, "want": ["fax"]}, 'want[0]: must be work_email, personal_email or phone (got "fax")'),
        ({"company": "Analytical Engines", "want": ["phone"]}, "Give at least a name"),
        ({**ADA, "email": "not-an-email", "want": ["phone"]}, "email: 'not-an-email' is not a valid address"),
        (
            {**ADA, "want": ["phone"], "providers": ["nosuchvendor"]},
            "Unknown or unconfigured provider(s) 'nosuchvendor'",
        ),
    ],
)
async def test_bad_input_is_a_tool_error_before_any_vendor_call(
    build: Callable[..., EnrichServer], args: dict[str, Any], message: str
) -> None:
    srv = build()
    async with connect(srv) as client:
        result = await client.call_tool("enrich_person", args)
    assert result.is_error
    assert message in result.content[0].text  # type: ignore[union-attr]
    assert all(s.requests == [] for s in srv.runtime.sandboxes.values())


def test_vendors_offer_their_providers_in_priority_order() -> None:
    # Equal costs go AudienceLab first: one lookup answers every field.
    assert [(s.name, s.waterfall_priority) for s in provider_specs()] == [("audiencelab", 10), ("sixtyfour", 20)]
