"""Tool schemas: closed, strict-mode ready, small, bounded; short errors; unknown arguments refused.

The strict-mode rules are the ones openai-agents' ``ensure_strict_json_schema`` applies when it
converts an MCP tool with ``convert_schemas_to_strict=True`` (``_reject_open_objects``), re-implemented
here so the suite does not depend on it (a CI harness runs the real one).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from enrich_mcp.schema import MAX_CALL_BYTES
from enrich_mcp.server import EnrichServer, build_server
from enrich_mcp.settings import Settings
from enrich_mcp.toolsnap import compact_size, listed_tools, vendor_toolsets
from tests.conftest import connect

ALL_TOOLS_MAX = 60_000
ONE_VENDOR_MAX = 25_000
# Sixtyfour is the widest vendor (15 tools, three of them with nested research/workflow shapes): with core it
# measures about 27.6k. Its own budget keeps it from growing until the graphs or structs get a leaner form.
ONE_VENDOR_BUDGET = {"sixtyfour": 28_500}

NON_CONSTRAINING = {"$comment", "default", "description", "examples", "title", "deprecated", "readOnly", "writeOnly"}


def strict_problems(schema: dict[str, Any]) -> list[str]:
    """Why openai-agents would fall back to a non-strict schema for this input schema (empty: it converts)."""
    problems: list[str] = []
    root = schema

    def resolve(ref: str) -> Any:
        node: Any = root
        for part in ref.removeprefix("#/").split("/"):
            node = node.get(part) if isinstance(node, dict) else None
        return node

    def walk(node: Any, path: str, depth: int) -> None:
        if depth > 100:
            problems.append(f"{path}: nested deeper than 100")
            return
        if not isinstance(node, dict):
            problems.append(f"{path}: not a schema object")
            return
        if "$ref" in node:
            target = resolve(node["$ref"])
            if not isinstance(target, dict) or not ("type" in target or "anyOf" in target or "enum" in target):
                problems.append(f"{path}: $ref to a target without a type")
            siblings = set(node) - {"$ref"} - NON_CONSTRAINING
            if siblings:
                problems.append(f"{path}: $ref with constraining siblings {sorted(siblings)}")
            elif len(node) == 1:
                problems.append(f"{path}: bare $ref (its target is not validated for strict mode)")
        for name, sub in (node.get("$defs") or {}).items():
            if not isinstance(sub, dict) or not ({"type", "anyOf", "enum", "const"} & set(sub)):
                problems.append(f"$defs.{name}: no type")
            walk(sub, f"$defs.{name}", depth + 1)
        kind = node.get("type")
        props = node.get("properties")
        is_object = kind == "object" or (isinstance(kind, list) and "object" in kind)
        if kind is None and props is None and node.get("additionalProperties", False) is not False:
            problems.append(f"{path}: additionalProperties on a schema with no type")
        if is_object and not props and node.get("additionalProperties") is not False:
            problems.append(f"{path}: an object with no declared properties that is not closed")
        if "additionalProperties" in node and node["additionalProperties"] is not False:
            problems.append(f"{path}: additionalProperties is {node['additionalProperties']!r}, not false")
        for name, sub in (props or {}).items():
            walk(sub, f"{path}.{name}", depth + 1)
        if isinstance(node.get("items"), dict):
            walk(node["items"], f"{path}[]", depth + 1)
        for key in ("anyOf", "oneOf", "allOf"):
            for i, sub in enumerate(node.get(key) or []):
                walk(sub, f"{path}|{key}{i}", depth + 1)

    if schema.get("type") != "object" or "anyOf" in schema:
        problems.append("root: not a plain object")
    walk(schema, "", 1)
    return problems


def keyword_titles(schema: Any) -> list[str]:
    """``title`` used as a schema keyword (a property may be *named* title)."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "title" in node:
                found.append(str(node["title"]))
            for key, value in node.items():
                if key == "properties":
                    for sub in value.values():
                        walk(sub)
                elif key not in ("enum", "const", "default", "examples"):
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(schema)
    return found


def every_object(schema: Any) -> Iterator[dict[str, Any]]:
    if isinstance(schema, dict):
        if schema.get("type") == "object" or "properties" in schema:
            yield schema
        for key, value in schema.items():
            if key == "properties":
                for sub in value.values():
                    yield from every_object(sub)
            elif key not in ("enum", "const", "default"):
                yield from every_object(value)
    elif isinstance(schema, list):
        for item in schema:
            yield from every_object(item)


@pytest.fixture
async def all_tools(make_settings: Callable[..., Settings]) -> AsyncIterator[list[dict[str, Any]]]:
    """Every tool, the dynamic-toolset ones included, as a client lists them."""
    server = build_server(make_settings(dynamic_toolsets=True))
    for toolset in server.runtime.toolsets.values():
        toolset.activate()
    try:
        yield await listed_tools(server)
    finally:
        server.runtime.close()


async def test_every_input_schema_passes_the_strict_mode_rules(all_tools: list[dict[str, Any]]) -> None:
    failing = {t["name"]: strict_problems(t["inputSchema"]) for t in all_tools}
    assert {name: p for name, p in failing.items() if p} == {}
    snapshot = json.loads((Path(__file__).parent / "__snapshots__" / "tools.json").read_text(encoding="utf-8"))
    assert len(all_tools) == len(snapshot) + 2  # every tool, and list_toolsets / enable_toolset


async def test_every_input_object_is_closed_and_no_schema_has_titles(all_tools: list[dict[str, Any]]) -> None:
    for tool in all_tools:
        objects = list(every_object(tool["inputSchema"]))
        assert objects, tool["name"]
        assert all(o.get("additionalProperties") is False for o in objects), tool["name"]
        assert "$ref" not in json.dumps(tool["inputSchema"]), tool["name"]
        assert keyword_titles(tool["inputSchema"]) == [], tool["name"]
        assert keyword_titles(tool["outputSchema"]) == [], tool["name"]
        assert "title" not in tool  # the name is the label; titles cost ~2 KB


async def test_descriptions_are_dedented_and_short(all_tools: list[dict[str, Any]]) -> None:
    for tool in all_tools:
        text = tool["description"]
        assert text == text.strip() and "\n" not in text and "  " not in text, tool["name"]
        assert len(text) <= 170, tool["name"]
        assert len(re.findall(r"[.!?](?:\s+[A-Z(]|$)", text)) <= 2, tool["name"]  # one or two sentences
        for sub in every_object(tool["inputSchema"]):
            for prop in (sub.get("properties") or {}).values():
                assert "\n" not in prop.get("description", ""), tool["name"]


async def test_mode_dependent_arguments_are_discriminated_unions(all_tools: list[dict[str, Any]]) -> None:
    by_name = {t["name"]: t["inputSchema"]["properties"] for t in all_tools}

    def tags(union: dict[str, Any], field: str) -> list[Any]:
        values = []
        for branch in union["anyOf"]:
            prop = branch["properties"][field]
            values += [prop["const"]] if "const" in prop else prop["enum"]
        return values

    assert tags(by_name["enrichabl_add_column"]["column"], "type") == ["base", "ai", "multi_ai", "firecrawl"]
    assert tags(by_name["enrichabl_create_template"]["template"], "kind") == ["ai", "multi_ai", "firecrawl"]
    assert tags(by_name["enrichabl_start_enrichment"]["enrichment"], "enrichment_type") == [
        "AI_COLUMN",
        "MULTI_AI_COLUMN",
        "FIRECRAWL_EXTRACT",
    ]
    multi = by_name["enrichabl_create_template"]["template"]["anyOf"][1]
    assert "output_fields" in multi["required"]


async def test_job_handles_share_one_compact_shape(all_tools: list[dict[str, Any]]) -> None:
    handles = {
        t["name"]: json.dumps(t["outputSchema"], sort_keys=True)
        for t in all_tools
        if "job" in t["outputSchema"]["properties"] and "next_step" in t["outputSchema"]["properties"]
    }
    assert len(handles) >= 8
    shapes = {s for n, s in handles.items() if n not in ("lance_enrich_person", "enrichabl_list_leads")}
    assert len(shapes) == 1
    [shape] = [json.loads(s) for s in shapes]
    assert set(shape["properties"]) == {"job", "finished", "reused", "next_step"}
    assert set(shape["properties"]["job"]["properties"]) == {"job_id", "status", "resource_uri"}
    assert len(json.dumps(shape, separators=(",", ":"))) < 250


async def test_tools_list_is_small(make_settings: Callable[..., Settings], home: Path) -> None:
    sizes: dict[str, int] = {}
    vendors = vendor_toolsets()
    for name, toolsets in [("all", None), *((v, [v]) for v in vendors)]:
        server = build_server(Settings(home=home / name, sandbox=True, toolsets=toolsets))
        try:
            sizes[name] = compact_size(await listed_tools(server))
        finally:
            server.runtime.close()
    assert sizes["all"] <= ALL_TOOLS_MAX, sizes
    for vendor in vendors:
        assert sizes[vendor] <= ONE_VENDOR_BUDGET.get(vendor, ONE_VENDOR_MAX), (vendor, sizes)


# -- unknown arguments -------------------------------------------------------------------------------


def text(result: Any) -> str:
    return result.content[0].text


async def call(server: EnrichServer, tool: str, args: dict[str, Any]) -> Any:
    async with connect(server) as client:
        return await client.call_tool(tool, args)


def vendor_requests(server: EnrichServer) -> int:
    return sum(len(s.requests) for s in server.runtime.sandboxes.values())


async def test_an_unknown_argument_is_named_and_nothing_is_spent(server: EnrichServer) -> None:
    result = await call(
        server, "enrich_person", {"want": ["work_email"], "name": "Ada Lovelace", "company": "Acme", "dryRun": True}
    )
    assert result.is_error
    message = text(result)
    assert "unknown argument dryRun (did you mean dry_run?); valid arguments: want, name," in message
    assert "nothing was sent to a vendor" in message
    assert vendor_requests(server) == 0
    assert (await server.runtime.budget.report())["calls"] == 0


async def test_a_misspelt_limit_does_not_fall_back_to_the_default(server: EnrichServer) -> None:
    result = await call(server, "sixtyfour_deep_search", {"query": "CTOs in Berlin", "max_result": 3})
    assert result.is_error
    assert "unknown argument max_result (did you mean max_results?)" in text(result)
    assert await server.runtime.jobs.list() == []
    assert vendor_requests(server) == 0


async def test_a_lead_object_says_which_fields_to_give(server: EnrichServer) -> None:
    lead = {"name": "Ada Lovelace", "company": "Acme", "title": "CTO"}
    result = await call(server, "enrich_person", {"want": ["work_email"], "lead": lead})
    assert result.is_error
    assert "unknown argument lead (give name, company directly, not inside lead)" in text(result)
    assert vendor_requests(server) == 0


async def test_an_unknown_nested_field_names_its_path_and_the_valid_ones(server: EnrichServer) -> None:
    result = await call(server, "sixtyfour_find_email", {"lead": {"name": "Ada", "location": "London"}})
    assert result.is_error
    assert text(result).endswith(
        "lead: unknown field location; valid fields: name, company, title, phone, linkedin, domain, email"
    )
    assert vendor_requests(server) == 0


# -- short errors ------------------------------------------------------------------------------------

BOILERPLATE = (
    "type=",
    "input_value",
    "input_type",
    "errors.pydantic.dev",
    "For further information",
    "validation error",
)


async def test_a_validation_error_is_one_short_line_per_problem(server: EnrichServer) -> None:
    wrong_mode = await call(server, "sixtyfour_find_email", {"lead": {"name": "Ada"}, "mode": "WRONG"})
    leads = [{"email": f"p{i}@example.com"} for i in range(3)] + [{"first_name": "Ada"}]
    no_email = await call(server, "enrichabl_upload_leads", {"pipeline_id": "p", "leads": leads})
    assert text(wrong_mode) == (
        "Error executing tool sixtyfour_find_email: Invalid arguments; nothing was sent to a vendor.\n"
        'mode: must be PROFESSIONAL or PERSONAL (got "WRONG")'
    )
    assert text(no_email).endswith("\nleads[3].email: required")
    for result in (wrong_mode, no_email):
        assert not any(b in text(result) for b in BOILERPLATE), text(result)


@pytest.mark.parametrize(
    ("tool", "args", "line"),
    [
        (
            "audiencelab_enrich_contacts_bulk",
            {"name": "x", "records": [{"email": 1}] * 100_000},
            "records: at most 10,000 items (got 100,000)",
        ),
        (
            "enrichabl_upload_leads",
            {"pipeline_id": "p", "leads": [{"email": "not-an-address"}] * 40_000},
            'leads[0].email: must match ^[^@\\s]+@[^@\\s]+$ (got "not-an-address") (and 39,999 more like it)',
        ),
        (
            "enrichabl_start_validation",
            {"service": "HYBRID", "lead_ids": [7] * 100_000},
            "lead_ids[0]: must be a string (got 7) (and 99,999 more like it)",
        ),
        (
            "fourrunr_clean_leads_bulk",
            {"lead_ids": [{"id": i} for i in range(100_000)]},
            "lead_ids: at most 1,000 items (got 100,000)",
        ),
    ],
)
async def test_a_huge_invalid_list_gives_a_short_error(
    server: EnrichServer, tool: str, args: dict[str, Any], line: str
) -> None:
    result = await call(server, tool, args)
    assert result.is_error
    assert line in text(result)
    assert len(text(result).encode()) < 2048
    assert not any(b in text(result) for b in BOILERPLATE)
    assert vendor_requests(server) == 0


async def test_many_different_problems_are_capped_with_a_count(server: EnrichServer) -> None:
    leads = [{"email": f"bad{i}"} if i % 2 else {"nope": i} for i in range(20)]
    rows = [{"email": i} for i in range(20)]
    result = await call(server, "enrichabl_upload_leads", {"pipeline_id": 5, "leads": leads, "csv_path": rows})
    message = text(result)
    assert len(message.encode()) < 2048
    assert len(message.splitlines()) <= 10


# -- sizes ---------------------------------------------------------------------------------------------


async def test_a_5_mb_field_is_refused_not_sent(server: EnrichServer) -> None:
    blob = "x" * 5_000_000
    whole = await call(
        server,
        "sixtyfour_enrich_lead",
        {"lead_info": {"name": "Ada", "extra": [{"key": "notes", "value": blob}]}, "struct": [{"name": "a"}]},
    )
    in_a_lead = await call(
        server,
        "enrichabl_upload_leads",
        {
            "pipeline_id": "p",
            "leads": [{"email": "a@example.com", "custom_fields": [{"key": "n", "value": blob[:4_000_000]}]}],
        },
    )
    assert whole.is_error and f"a call takes at most {MAX_CALL_BYTES:,}" in text(whole)
    assert in_a_lead.is_error
    assert re.search(r"\nleads\[0\]: is 4,000,\d{3} bytes as JSON; at most 16,000$", text(in_a_lead))
    assert vendor_requests(server) == 0
    assert (await server.runtime.cache.summary())["entries"] == 0


async def test_lead_extras_are_bounded_per_lead(server: EnrichServer) -> None:
    extra = [{"key": f"k{i}", "value": "v" * 500} for i in range(20)]
    result = await call(server, "sixtyfour_find_emails_bulk", {"leads": [{"name": "Ada", "extra": extra}]})
    wide = await call(
        server,
        "sixtyfour_enrich_lead",
        {"lead_info": {"name": "Ada", "extra": extra}, "struct": [{"name": "a", "description": "b"}]},
    )
    assert result.is_error and "unknown field extra" in text(result)  # the find tools take the documented fields
    assert wide.is_error and "lead_info: is 10," in text(wide) and "at most 8,000" in text(wide)
    assert vendor_requests(server) == 0


async def test_block_specs_are_bounded_json_text(server: EnrichServer) -> None:
    block = {"sequence_number": 0, "block_type": "source", "block_name": "webhook", "specs": "{not json"}
    result = await call(
        server, "sixtyfour_create_workflow", {"workflow_name": "w", "workflow_definition": {"blocks": [block]}}
    )
    assert result.is_error
    assert "workflow_definition.blocks[0].specs: must be a JSON object written as text" in text(result)
    assert vendor_requests(server) == 0


async def test_both_protocol_eras_get_the_same_short_error(server: EnrichServer, era: str) -> None:
    async with connect(server, mode=era) as client:
        result = await client.call_tool("lance_get_enrichment", {"person_id": "x", "field": "emails", "extra": 1})
    assert result.is_error
    assert text(result).splitlines()[1:] == [
        "unknown argument extra; valid arguments: person_id, field",
        'person_id: must be a UUID (got "x")',
    ]
