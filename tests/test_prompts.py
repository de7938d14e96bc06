"""prompts/*.md: served with arguments, naming only real tools, asking before spending."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from mcp.shared.exceptions import MCPError

from enrich_mcp.server import EnrichServer, PromptFile, load_prompts
from tests.conftest import connect

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOT = {t["name"] for t in json.loads((ROOT / "tests" / "__snapshots__" / "tools.json").read_text())}
PROMPTS = load_prompts(ROOT / "prompts")
EXPECTED = {
    "build_lead_list",
    "clean_list",
    "enrichabl_pipeline",
    "find_contact",
    "fourrunr_outreach",
    "qualify_leads",
    "research_account",
    "spend_review",
}
BACKTICKED = re.compile(r"`([a-z][a-z0-9_]*)`")
VENDOR_PREFIXES = ("sixtyfour_", "audiencelab_", "lance_", "enrichabl_", "fourrunr_")
PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def by_name(name: str) -> PromptFile:
    return next(p for p in PROMPTS if p.name == name)


def test_the_prompt_files() -> None:
    assert {p.name for p in PROMPTS} == EXPECTED


@pytest.mark.parametrize("prompt", PROMPTS, ids=lambda p: p.name)
def test_each_prompt_names_real_tools_and_uses_its_arguments(prompt: PromptFile) -> None:
    assert prompt.tools, "list the tools the prompt uses in its front matter"
    assert set(prompt.tools) <= SNAPSHOT, set(prompt.tools) - SNAPSHOT
    mentioned = set(BACKTICKED.findall(prompt.body))
    assert set(prompt.tools) <= mentioned, f"declared but not used: {set(prompt.tools) - mentioned}"
    # A tool-looking word that is not declared is a typo (e.g. `validate_email`), unless it is a vendor prefix.
    for word in mentioned - set(prompt.tools):
        assert word not in SNAPSHOT, f"`{word}` is a tool: declare it in tools:"
        assert not any(
            word.startswith(v + "_") for v in ("sixtyfour", "audiencelab", "lance", "enrichabl", "fourrunr")
        ), f"`{word}` looks like a tool but is none"
    declared = {a.name for a in prompt.arguments}
    assert set(PLACEHOLDER.findall(prompt.body)) == declared
    assert any(a.required for a in prompt.arguments) or prompt.name == "spend_review"
    assert all(a.description for a in prompt.arguments)
    assert "ask the user" in prompt.body.lower()


async def test_backticked_words_are_tool_names_or_fields_of_their_schemas(server: EnrichServer) -> None:
    """Every backticked word is a declared tool or a word in its tools' schemas or descriptions."""
    async with connect(server) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    for prompt in PROMPTS:
        known = " ".join(
            json.dumps([tools[name].input_schema, tools[name].output_schema, tools[name].description])
            for name in prompt.tools
        )
        for word in set(BACKTICKED.findall(prompt.body)) - set(prompt.tools):
            assert re.search(rf"\b{word}\b", known), f"{prompt.name}: `{word}` is in no schema of its tools"


async def test_prompts_list_shows_titles_and_arguments(server: EnrichServer, era: str) -> None:
    async with connect(server, mode=era) as client:
        listed = {p.name: p for p in (await client.list_prompts()).prompts}
    assert set(listed) == EXPECTED
    research = listed["research_account"]
    assert research.title == "Research a target account and its buying committee"
    assert [(a.name, a.required) for a in research.arguments or []] == [
        ("company", True),
        ("roles", False),
        ("facts", False),
    ]
    outreach = listed["fourrunr_outreach"]
    assert [a.name for a in outreach.arguments or [] if a.required] == ["campaign_name"]


async def test_prompts_get_fills_arguments(server: EnrichServer, era: str) -> None:
    async with connect(server, mode=era) as client:
        got = await client.get_prompt("research_account", {"company": "Example Corp", "roles": "VP Sales"})
        lead_list = await client.get_prompt(
            "build_lead_list", {"audience": "CFOs of fintechs in Lisbon", "count": "40"}
        )
    text = got.messages[0].content.text  # type: ignore[union-attr]
    assert got.messages[0].role == "user"
    assert text.startswith("Research Example Corp for outbound sales. Roles to find: VP Sales")
    assert "Facts wanted: not given (if not given, industry, size and location)" in text
    assert "{" not in text.split("\n", 1)[0]
    body = lead_list.messages[0].content.text  # type: ignore[union-attr]
    assert "Build a lead list of: CFOs of fintechs in Lisbon.\nMost people to find: 40 (if not given, 25)." in body
    assert "Export format: not given (if not given, csv)" in body


async def test_outreach_prompt_keeps_4runr_placeholders_and_requires_confirmation(server: EnrichServer) -> None:
    async with connect(server) as client:
        got = await client.get_prompt(
            "fourrunr_outreach", {"campaign_name": "Spring", "message": "Hi {name}, about {company}"}
        )
    text = got.messages[0].content.text  # type: ignore[union-attr]
    assert 'campaign "Spring"' in text and "Message template: Hi {name}, about {company}" in text
    assert "Never call `fourrunr_start_campaign` until the user has seen the campaign" in text


@pytest.mark.parametrize(
    ("arguments", "message"),
    [({}, "company"), ({"company": "X", "colour": "red"}, "colour")],
)
async def test_prompts_get_rejects_missing_and_unknown_arguments(
    server: EnrichServer, arguments: dict[str, str], message: str
) -> None:
    async with connect(server) as client:
        with pytest.raises(MCPError, match=message):
            await client.get_prompt("research_account", arguments)


def test_front_matter_parsing() -> None:
    parsed = PromptFile.parse(
        "x",
        "---\ntools: a, b\narguments:\n- who (required): the person: full name\n- when: a date\n---\n"
        '# Title here\n\nFind {who} on {when}; keep {literal} and {"json": 1}.\n',
    )
    assert parsed.title == "Title here" and parsed.tools == ("a", "b")
    assert [(a.name, a.required, a.description) for a in parsed.arguments] == [
        ("who", True, "the person: full name"),
        ("when", False, "a date"),
    ]
    assert parsed.render({"who": "Ada"}) == 'Find Ada on not given; keep {literal} and {"json": 1}.'
    with pytest.raises(ValueError, match="unexpected front-matter line"):
        PromptFile.parse("y", "---\nnonsense\n---\n# T\nbody")
