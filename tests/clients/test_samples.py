"""clients/samples.json (one valid sandbox call per tool, used by the real clients) checked in process.

This is the fast guard: a schema change that breaks a sample fails here, with the tool's error message,
before the slower real-client runs.
"""

from __future__ import annotations

import json
from typing import Any

import anyio

from enrich_mcp.server import EnrichServer
from tests.clients.conftest import ROOT
from tests.conftest import connect

SAMPLES: list[dict[str, Any]] = json.loads((ROOT / "clients" / "samples.json").read_text())["calls"]
SNAPSHOT = [t["name"] for t in json.loads((ROOT / "tests" / "__snapshots__" / "tools.json").read_text())]


def resolve(value: Any, saved: dict[str, Any]) -> Any:
    if isinstance(value, str) and value.startswith("$ref:"):
        return saved[value.removeprefix("$ref:")]
    if isinstance(value, list):
        return [resolve(v, saved) for v in value]
    if isinstance(value, dict):
        return {k: resolve(v, saved) for k, v in value.items()}
    return value


def dig(data: Any, path: str) -> Any:
    for part in path.split("."):
        data = data[int(part)] if isinstance(data, list) else data[part]
    return data


def test_every_tool_has_exactly_one_sample() -> None:
    tools = [s["tool"] for s in SAMPLES]
    assert sorted(tools) == sorted(SNAPSHOT)


async def test_every_sample_succeeds_in_process(server: EnrichServer) -> None:
    saved: dict[str, Any] = {}
    failures: dict[str, str] = {}
    with anyio.fail_after(60):
        async with connect(server) as client:
            for sample in SAMPLES:
                result = await client.call_tool(sample["tool"], resolve(sample["arguments"], saved))
                if result.is_error:
                    failures[sample["tool"]] = " ".join(getattr(c, "text", "") for c in result.content)
                    continue
                for name, path in sample.get("save", {}).items():
                    saved[name] = dig(result.structured_content, path)
    assert failures == {}
