"""The import drawing: no module imports server.py, sandboxes import no vendor code, clients load no MCP."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "enrich_mcp"
# The entry points: the console script (and `python -m enrich_mcp`) and the snapshot tool (`python -m`).
ASSEMBLERS = {"server.py", "cli.py", "__main__.py", "toolsnap.py"}


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_vendor_clients_and_models_load_without_mcp() -> None:
    code = (
        "import sys, importlib\n"
        "for v in ('sixtyfour', 'audiencelab', 'lance', 'enrichabl', 'fourrunr'):\n"
        "    importlib.import_module(f'enrich_mcp.vendors.{v}.client')\n"
        "    importlib.import_module(f'enrich_mcp.vendors.{v}.models')\n"
        "print(sorted(m for m in sys.modules if m == 'mcp' or m.startswith('mcp.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_nothing_below_the_assembly_imports_server_py() -> None:
    # server.py assembles everything; the CLI, the transports and the snapshot tool sit above it.
    importers = sorted(
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if path.name not in ASSEMBLERS and {"enrich_mcp.server", "enrich_mcp.server.build_server"} & imports_of(path)
    )
    assert importers == []


def test_only_a_vendors_own_folder_imports_it() -> None:
    # The engines (waterfall.py, core.py, the server) find vendors through their specs, so a sixth
    # vendor is one new folder and no edit elsewhere.
    vendors = sorted(p.name for p in (PACKAGE / "vendors").iterdir() if (p / "__init__.py").is_file())
    assert len(vendors) >= 5
    offenders = sorted(
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in PACKAGE.rglob("*.py")
        for name in imports_of(path)
        for vendor in vendors
        if (name == f"enrich_mcp.vendors.{vendor}" or name.startswith(f"enrich_mcp.vendors.{vendor}."))
        and not path.is_relative_to(PACKAGE / "vendors" / vendor)
    )
    assert offenders == []
