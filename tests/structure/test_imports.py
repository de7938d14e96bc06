"""The import drawing: no module imports server.py, sandboxes import no vendor code, clients load no MCP."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "enrich_mcp"
# The entry points (paths in the package): the console script, also behind `python -m enrich_mcp`, and the
# snapshot tool (`python -m enrich_mcp.toolsnap`).
ASSEMBLERS = {"server.py", "cli.py", "toolsnap.py"}


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
    # server.py assembles everything; only the entry points import it (the CLI hands build_server down).
    server = {"enrich_mcp.server", "enrich_mcp.server.build_server"}
    importers = sorted(
        name
        for path in PACKAGE.rglob("*.py")
        if (name := str(path.relative_to(PACKAGE))) not in ASSEMBLERS and server & imports_of(path)
    )
    assert importers == []


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}

# Imports made inside a function, where that is the point: the CLI keeps `--help` quick, and the
# PostgreSQL modules need an optional driver.
ON_DEMAND = {
    "enrich_mcp.cli": {"*"},
    "enrich_mcp.stores": {"enrich_mcp.stores.postgres", "enrich_mcp.stores.postgres.database"},
    "enrich_mcp.stores.cli": {"enrich_mcp.stores.postgres.database", "enrich_mcp.stores.postgres.schema"},
}


def runtime_imports(path: Path) -> tuple[set[str], set[str]]:
    """The package modules ``path`` imports when it runs (not under TYPE_CHECKING): all, and those in functions."""
    found: set[str] = set()
    in_functions: set[str] = set()

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for stmt in child.orelse:
                    visit(stmt, in_function)
                continue
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            targets: list[str] = []
            if isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                for alias in child.names:
                    dotted = f"{child.module}.{alias.name}"
                    targets.append(dotted if dotted in MODULES else child.module)
            elif isinstance(child, ast.Import):
                targets += [alias.name for alias in child.names]
            for target in targets:
                if target in MODULES:
                    found.add(target)
                    if nested:
                        in_functions.add(target)
            visit(child, nested)

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return found, in_functions


def test_the_import_drawing_has_no_circles_and_hides_no_imports_in_functions() -> None:
    graph: dict[str, set[str]] = {}
    hidden: dict[str, list[str]] = {}
    for name, path in MODULES.items():
        graph[name], in_functions = runtime_imports(path)
        allowed = ON_DEMAND.get(name, set())
        if extra := sorted(m for m in in_functions if m not in allowed and "*" not in allowed):
            hidden[name] = extra
    assert hidden == {}

    # Strongly connected components (Tarjan): a component of two or more modules is a circle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def connect(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in graph[module]:
            if target not in index:
                connect(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while (member := stack.pop()) != module:
                component.append(member)
            if component:
                circles.append(sorted([module, *component]))

    for module in sorted(graph):
        if module not in index:
            connect(module)
    assert circles == []


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
