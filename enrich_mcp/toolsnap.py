"""The tools snapshot (tests/__snapshots__/tools.json) and the README tool table, from one source.

``python -m enrich_mcp.toolsnap --write`` regenerates both after a deliberate schema change;
``tests/test_server.py`` fails when the live schemas drift from the snapshot. The README block also
states the measured size of ``tools/list`` (compact JSON, as a client receives it).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio
from mcp import Client

from enrich_mcp.server import CORE, EnrichServer, build_server
from enrich_mcp.settings import Settings
from enrich_mcp.vendors import discover_vendors

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOT = ROOT / "tests" / "__snapshots__" / "tools.json"
README = ROOT / "README.md"
BEGIN, END = "<!-- tools:begin -->", "<!-- tools:end -->"


async def snapshot_tools(server: EnrichServer) -> list[dict[str, Any]]:
    out = []
    for tool in sorted(await server.list_tools(), key=lambda t: t.name):
        hints = tool.annotations
        out.append(
            {
                "name": tool.name,
                "description": tool.description,
                "annotations": {
                    "read_only": hints.read_only_hint if hints else None,
                    "destructive": hints.destructive_hint if hints else None,
                    "idempotent": hints.idempotent_hint if hints else None,
                    "open_world": hints.open_world_hint if hints else None,
                },
                "input_schema": tool.input_schema,
                "output_schema": tool.output_schema,
            }
        )
    return json.loads(json.dumps(out))


async def listed_tools(server: EnrichServer) -> list[dict[str, Any]]:
    """``tools/list`` as a client receives it (an in-memory MCP client)."""
    async with Client(server) as client:
        listed = await client.list_tools()
    return [tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in listed.tools]


def compact_size(tools: Sequence[dict[str, Any]]) -> int:
    """Characters of the tools list as compact JSON: what it costs in a client's context."""
    return len(json.dumps(list(tools), separators=(",", ":")))


def vendor_toolsets() -> list[str]:
    """Every discovered vendor's toolset name (built-in vendors and installed plug-ins)."""
    return [spec.name for spec in discover_vendors()]


def tool_toolsets(server: EnrichServer) -> dict[str, str]:
    """Each vendor tool's toolset, as the server registered it (every other tool is core)."""
    return {tool: name for name, toolset in server.runtime.toolsets.items() for tool in toolset.registered}


def readme_table(snapshot: list[dict[str, Any]], toolsets: Mapping[str, str]) -> str:
    """The README tool table; ``toolsets`` maps vendor tools to their toolset (:func:`tool_toolsets`)."""

    def toolset(name: str) -> str:
        return toolsets.get(name, CORE)

    lines = ["| toolset | tool | what it does | read-only |", "|---|---|---|---|"]
    for tool in sorted(snapshot, key=lambda t: (toolset(t["name"]) != CORE, toolset(t["name"]), t["name"])):
        summary = (tool["description"] or "").strip().splitlines()[0].replace("|", "\\|")
        ro = "yes" if tool["annotations"]["read_only"] else "no"
        lines.append(f"| {toolset(tool['name'])} | `{tool['name']}` | {summary} | {ro} |")
    return "\n".join(lines)


def _sandbox(home: str, toolsets: list[str] | None = None) -> EnrichServer:
    return build_server(Settings(home=Path(home), sandbox=True, toolsets=toolsets))


def current_snapshot() -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The snapshot of a sandbox server with every toolset on, and each vendor tool's toolset."""
    with tempfile.TemporaryDirectory() as home:
        server = _sandbox(home)
        try:
            return anyio.run(snapshot_tools, server), tool_toolsets(server)
        finally:
            server.runtime.close()


def measured_sizes(vendors: Sequence[str]) -> dict[str, int]:
    """Compact tools/list size with every toolset on ("all") and for each vendor plus core."""

    async def measure() -> dict[str, int]:
        sizes: dict[str, int] = {}
        for name, toolsets in [("all", None), *((v, [v]) for v in vendors)]:
            with tempfile.TemporaryDirectory() as home:
                server = _sandbox(home, toolsets)
                try:
                    sizes[name] = compact_size(await listed_tools(server))
                finally:
                    server.runtime.close()
        return sizes

    return anyio.run(measure)


def size_line(sizes: dict[str, int]) -> str:
    each = ", ".join(f"{name} {size:,}" for name, size in sizes.items() if name != "all")
    return (
        f"Measured `tools/list` (compact JSON, as a client receives it): {sizes['all']:,} characters with every "
        f"toolset on; one vendor plus core: {each}."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="rewrite the snapshot and the README table")
    args = parser.parse_args()
    snap, toolsets = current_snapshot()
    if not args.write:
        print(json.dumps(snap, indent=2))
        return
    SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
    SNAPSHOT.write_text(json.dumps(snap, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    text = README.read_text(encoding="utf-8")
    if BEGIN in text and END in text:
        head, _, rest = text.partition(BEGIN)
        _, _, tail = rest.partition(END)
        block = f"{size_line(measured_sizes(vendor_toolsets()))}\n\n{readme_table(snap, toolsets)}"
        README.write_text(f"{head}{BEGIN}\n{block}\n{END}{tail}", encoding="utf-8")
    print(f"wrote {SNAPSHOT.relative_to(ROOT)} ({len(snap)} tools)")


if __name__ == "__main__":
    main()
