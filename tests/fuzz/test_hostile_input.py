"""Property-based hostile input on every tool (issue 11), bounded to keep CI fast.

Arguments are drawn from each tool's own input schema, then broken: an unknown argument, a wrong type,
a huge string, a path-injection id. Every example must end as a tool error under 2 KB (or a correct
answer when the input stayed valid), with zero vendor requests for invalid input and no file written
outside the data directory.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from enrich_mcp.server import EnrichServer, build_server
from enrich_mcp.settings import Settings
from tests.conftest import FAST, connect

HOSTILE_STRINGS = st.sampled_from(
    [
        "../templates?x=",
        "x/../../v2/admin",
        "a\x00b",
        "%2e%2e%2f",
        "\ud800" if False else "\u202e\u0000",
        "=cmd|' /C calc'!A0",
        "x" * 200_000,
        "",
        " ",
    ]
)
BROKEN_VALUES = st.one_of(
    HOSTILE_STRINGS,
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.lists(st.integers(), max_size=3),
    st.none(),
    st.booleans(),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)


@pytest.fixture(scope="module")
def fuzz_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "home"


@pytest.fixture(scope="module")
def fuzz_server(fuzz_home: Path) -> Iterator[EnrichServer]:
    server = build_server(
        Settings(home=fuzz_home, sandbox=True, files_dir=fuzz_home.parent / "files", **FAST)  # type: ignore[arg-type]
    )
    yield server
    server.runtime.close()


def _tools(server: EnrichServer) -> list[dict[str, Any]]:
    async def listing() -> list[dict[str, Any]]:
        async with connect(server) as client:
            return [t.model_dump(by_alias=True) for t in (await client.list_tools()).tools]

    return anyio.run(listing)


def _vendor_requests(server: EnrichServer) -> int:
    return sum(len(sandbox.requests) for sandbox in server.runtime.sandboxes.values())


@st.composite
def broken_call(draw: st.DrawFn, tools: list[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    tool = draw(st.sampled_from(tools))
    properties: dict[str, Any] = tool["inputSchema"].get("properties", {})
    arguments: dict[str, Any] = {}
    how = draw(st.sampled_from(["unknown", "wrong", "both"] if properties else ["unknown"]))
    if how in ("unknown", "both"):
        arguments[draw(st.sampled_from(["dryRun", "max_result", "lead ", "__proto__", "x" * 300]))] = draw(
            BROKEN_VALUES
        )
    if how in ("wrong", "both"):
        name = draw(st.sampled_from(sorted(properties)))
        value = draw(BROKEN_VALUES)
        if _valid_for(properties[name], value):
            value = {"not": "valid"} if properties[name].get("type") != "object" else "not an object"
        arguments[name] = value
    return tool["name"], arguments


def _valid_for(schema: dict[str, Any], value: Any) -> bool:
    """Cheap check that a drawn value is certainly invalid; when unsure, the caller replaces it."""
    kind = schema.get("type")
    if kind == "string":
        return isinstance(value, str) and len(value) <= int(schema.get("maxLength", 10**9))
    return True


def test_hostile_arguments_end_in_a_short_tool_error_and_spend_nothing(
    fuzz_server: EnrichServer, fuzz_home: Path
) -> None:
    tools = _tools(fuzz_server)
    outside_before = set(fuzz_home.parent.parent.iterdir())

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
    @given(broken_call(tools))
    def check(call: tuple[str, dict[str, Any]]) -> None:
        name, arguments = call
        before = _vendor_requests(fuzz_server)

        async def run() -> Any:
            async with connect(fuzz_server) as client:
                return await client.call_tool(name, arguments)

        result = anyio.run(run)
        text = json.dumps([c.model_dump() for c in result.content])
        assert result.is_error, (name, arguments, text[:300])
        assert len(text) < 2048, (name, len(text))
        assert "pydantic.dev" not in text and "input_value=" not in text
        assert _vendor_requests(fuzz_server) == before, (name, arguments)

    check()
    assert set(fuzz_home.parent.parent.iterdir()) == outside_before  # nothing written beside the data dir
