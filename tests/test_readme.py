"""The README's client setup snippets (and claude_desktop_config.example.json) parse and name only real things.

Every JSON block parses; every server entry runs ``enrich-mcp`` (stdio) or points at the loopback
``/mcp`` endpoint with a bearer header (HTTP); every environment variable is one DESIGN.md's
configuration table names and the settings read; every ``claude mcp add`` line parses with shlex into
a valid command; every ``enrich-mcp ...`` line parses with the CLI's own parser.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest

from enrich_mcp.cli import build_parser
from enrich_mcp.settings import Settings
from enrich_mcp.vendors import discover_vendors

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
SETUP_HEADINGS = [
    "Claude Desktop",
    "Claude Code",
    "Cursor",
    "VS Code",
    "Any other stdio client",
    "HTTP mode (with a token)",
]


def design_md() -> Path | None:
    """shared/DESIGN.md sits beside the clone (developers' worktrees and CI alike)."""
    for candidate in (ROOT.parent / "shared" / "DESIGN.md", ROOT / "shared" / "DESIGN.md"):
        if candidate.is_file():
            return candidate
    return None


def read_by_settings() -> set[str]:
    names = {f"ENRICH_MCP_{name.upper()}" for name in Settings.model_fields if name != "vendors"}
    for spec in discover_vendors():
        names |= {f"{spec.env_prefix}_{suffix}" for suffix in ("API_KEY", "BASE_URL", "RATE_LIMIT")}
    return names


def design_variables() -> set[str] | None:
    path = design_md()
    if path is None:
        return None
    text = path.read_text(encoding="utf-8")
    table = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"`([A-Z][A-Z0-9_]+)(?:=[^`]*)?`", table))


KNOWN = read_by_settings()
DESIGN = design_variables()


def check_env(names: Any, where: str) -> None:
    for name in names:
        assert name in KNOWN, f"{where}: {name} is not read by enrich-mcp"
        if DESIGN is not None:
            assert name in DESIGN, f"{where}: {name} is not in DESIGN.md's configuration table"


def sections() -> dict[str, str]:
    """The README's ### sections under "## Connect a client"."""
    connect = README.split("## Connect a client", 1)[1].split("\n## ", 1)[0]
    parts = re.split(r"^### (.+)$", connect, flags=re.MULTILINE)
    return {parts[i].strip(): parts[i + 1] for i in range(1, len(parts), 2)}


def blocks(text: str, language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(text) if lang == language]


def shell_lines(text: str) -> list[str]:
    """Bash blocks as logical lines (backslash continuations joined)."""
    lines: list[str] = []
    for body in blocks(text, "bash"):
        lines.extend(line.strip() for line in body.replace("\\\n", " ").splitlines() if line.strip())
    return lines


def check_server_entry(name: str, entry: dict[str, Any], where: str) -> str:
    """One mcpServers/servers entry; returns its transport."""
    if "url" in entry:
        assert entry.get("type", "http") == "http", where
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/mcp", entry["url"]), f"{where}: {entry['url']}"
        assert entry["headers"]["Authorization"].startswith("Bearer "), where
        assert set(entry) <= {"type", "url", "headers"}, where
        return "http"
    assert entry.get("type", "stdio") == "stdio", where
    assert Path(entry["command"]).name == "enrich-mcp" and Path(entry["command"]).is_absolute(), where
    assert entry.get("args", []) == [], f"{where}: {name} needs no args (keys go in env)"
    assert set(entry) <= {"type", "command", "args", "env"}, where
    check_env(entry.get("env", {}), f"{where} {name}")
    assert all(isinstance(v, str) for v in entry.get("env", {}).values()), f"{where}: env values are strings"
    return "stdio"


def check_config(config: dict[str, Any], where: str) -> set[str]:
    key = "servers" if "servers" in config else "mcpServers"
    assert set(config) <= {key, "inputs"}, f"{where}: {set(config)}"
    servers = config[key]
    assert servers, where
    inputs = {i["id"] for i in config.get("inputs", [])}
    for entry in servers.values():
        for ref in re.findall(r"\$\{input:([^}]+)\}", json.dumps(entry)):
            assert ref in inputs, f"{where}: ${{input:{ref}}} has no input"
    return {check_server_entry(name, entry, where) for name, entry in servers.items()}


def test_design_md_is_found_here() -> None:
    """In this workplace shared/ sits beside the clone; the check against it must not silently vanish."""
    if (ROOT.parent / "shared").is_dir():
        assert DESIGN is not None and "ENRICH_MCP_HTTP_TOKEN" in DESIGN and "SIXTYFOUR_API_KEY" in DESIGN


def test_every_client_has_a_setup_section_with_a_checked_snippet() -> None:
    found = sections()
    assert list(found) == SETUP_HEADINGS
    for heading, text in found.items():
        assert blocks(text, "json") or blocks(text, "bash"), heading


@pytest.mark.parametrize("heading", [h for h in SETUP_HEADINGS if h != "Claude Code"])
def test_json_snippets_parse_and_name_real_commands_and_variables(heading: str) -> None:
    text = sections()[heading]
    transports: set[str] = set()
    for body in blocks(text, "json"):
        transports |= check_config(json.loads(body), heading)
    if heading == "VS Code":
        assert '"servers"' in text and "stdio" in transports
    elif heading == "HTTP mode (with a token)":
        assert transports == {"http"}
    else:
        assert transports == {"stdio"}


def test_claude_code_lines_parse_with_shlex() -> None:
    lines = [line for line in shell_lines(README) if line.startswith("claude mcp add")]
    assert len(lines) == 3
    for line in lines:
        argv = shlex.split(line)
        options, _, command = argv[3:], None, []
        if "--" in argv:
            cut = argv.index("--")
            options, command = argv[3:cut], argv[cut + 1 :]
        env = [options[i + 1] for i, a in enumerate(options) if a in ("--env", "-e")]
        check_env([e.split("=", 1)[0] for e in env], line)
        transport = options[options.index("--transport") + 1]
        if transport == "stdio":
            assert len(command) == 1 and Path(command[0]).name == "enrich-mcp" and Path(command[0]).is_absolute()
            assert options[-1] in ("enrich", "enrich-sandbox")  # the server's name comes last, before --
        else:
            assert transport == "http"
            assert re.fullmatch(r"http://127\.0\.0\.1:\d+/mcp", options[-3]) and options[-2] == "--header"
            assert options[-1] == "Authorization: Bearer $ENRICH_MCP_HTTP_TOKEN"


def test_enrich_mcp_command_lines_parse_with_the_cli_parser() -> None:
    parser = build_parser()
    commands = 0
    for line in shell_lines(README):
        argv = shlex.split(line)
        while argv and re.fullmatch(r"[A-Z_]+=.*", argv[0]):  # leading VAR=value assignments
            check_env([argv[0].split("=", 1)[0]], line)
            argv = argv[1:]
        if argv and argv[0] == "enrich-mcp":
            parser.parse_args(argv[1:])
            commands += 1
    assert commands >= 6


def test_http_section_uses_the_token_variable() -> None:
    text = sections()["HTTP mode (with a token)"]
    assert "export ENRICH_MCP_HTTP_TOKEN=" in text
    assert "enrich-mcp serve --http --port 8765" in text


def test_claude_desktop_example_config_parses_and_names_real_variables() -> None:
    config = json.loads((ROOT / "claude_desktop_config.example.json").read_text(encoding="utf-8"))
    assert check_config(config, "claude_desktop_config.example.json") == {"stdio"}
    env = config["mcpServers"]["enrich"]["env"]
    assert {f"{spec.env_prefix}_API_KEY" for spec in discover_vendors()} <= set(env)
