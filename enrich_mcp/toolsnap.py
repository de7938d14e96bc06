"""The tools snapshot (tests/__snapshots__/tools.json) and the README tool table, from one source.

``python -m enrich_mcp.toolsnap --write`` regenerates both after a deliberate schema change;
``tests/test_server.py`` fails when the live schemas drift from the snapshot.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from enrich_mcp.server import EnrichServer, build_server
from enrich_mcp.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOT = ROOT / "tests" / "__snapshots__" / "tools.json"
README = ROOT / "README.md"
BEGIN, END = "<!-- tools:begin -->", "<!-- tools:end -->"


def snapshot_tools(server: EnrichServer) -> list[dict[str, Any]]:
    tools = server._tool_manager.list_tools()  # pyright: ignore[reportPrivateUsage]
    out = []
    for tool in sorted(tools, key=lambda t: t.name):
        hints = tool.annotations
        out.append(
            {
                "name": tool.name,
                "title": tool.title,
                "description": tool.description,
                "annotations": {
                    "read_only": hints.read_only_hint if hints else None,
                    "destructive": hints.destructive_hint if hints else None,
                    "idempotent": hints.idempotent_hint if hints else None,
                    "open_world": hints.open_world_hint if hints else None,
                },
                "input_schema": tool.parameters,
            }
        )
    return json.loads(json.dumps(out))


def readme_table(snapshot: list[dict[str, Any]]) -> str:
    def toolset(name: str) -> str:
        prefix = name.split("_", 1)[0]
        return prefix if prefix in {"sixtyfour", "audiencelab", "lance", "enrichabl", "fourrunr"} else "core"

    lines = ["| toolset | tool | what it does | read-only |", "|---|---|---|---|"]
    for tool in sorted(snapshot, key=lambda t: (toolset(t["name"]) != "core", toolset(t["name"]), t["name"])):
        summary = (tool["description"] or "").strip().splitlines()[0].replace("|", "\\|")
        ro = "yes" if tool["annotations"]["read_only"] else "no"
        lines.append(f"| {toolset(tool['name'])} | `{tool['name']}` | {summary} | {ro} |")
    return "\n".join(lines)


def current_snapshot() -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as home:
        server = build_server(Settings(home=Path(home), sandbox=True))
        try:
            return snapshot_tools(server)
        finally:
            server.runtime.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="rewrite the snapshot and the README table")
    args = parser.parse_args()
    snap = current_snapshot()
    if not args.write:
        print(json.dumps(snap, indent=2))
        return
    SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
    SNAPSHOT.write_text(json.dumps(snap, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    text = README.read_text(encoding="utf-8")
    if BEGIN in text and END in text:
        head, _, rest = text.partition(BEGIN)
        _, _, tail = rest.partition(END)
        README.write_text(f"{head}{BEGIN}\n{readme_table(snap)}\n{END}{tail}", encoding="utf-8")
    print(f"wrote {SNAPSHOT.relative_to(ROOT)} ({len(snap)} tools)")


if __name__ == "__main__":
    main()
