"""Sandboxes are written from the vendors' documents, not from our clients: nothing in sandbox/ imports vendors/."""

from __future__ import annotations

import ast
from pathlib import Path

import enrich_mcp.sandbox

SANDBOX = Path(enrich_mcp.sandbox.__file__).parent


def imported_modules(path: Path) -> list[str]:
    """Every module a file imports, at any depth (inside functions and TYPE_CHECKING blocks too)."""
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolved against the sandbox package
                parts = ["enrich_mcp", "sandbox"][: 3 - node.level]
                names.append(".".join([*parts, *([node.module] if node.module else [])]))
            elif node.module:
                names.append(node.module)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
            "import_module",
            "__import__",
        ):
            names += [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
    return names


def test_no_sandbox_module_imports_from_vendors() -> None:
    files = sorted(SANDBOX.rglob("*.py"))
    assert len(files) >= 6  # __init__, store and one module per vendor at least
    offenders = {
        str(path.relative_to(SANDBOX)): name
        for path in files
        for name in imported_modules(path)
        if name == "enrich_mcp.vendors" or name.startswith("enrich_mcp.vendors.")
    }
    assert offenders == {}


def test_the_check_sees_every_import_form(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import enrich_mcp.vendors.sixtyfour\n"
        "from enrich_mcp.vendors.audiencelab.models import InputColumn\n"
        "def f():\n"
        "    from enrich_mcp.vendors import base\n"
        "    from ..vendors.enrichabl import models\n"
        "    importlib.import_module('enrich_mcp.vendors.lance')\n",
        encoding="utf-8",
    )
    assert imported_modules(sample) == [
        "enrich_mcp.vendors.sixtyfour",
        "enrich_mcp.vendors.audiencelab.models",
        "enrich_mcp.vendors",
        "enrich_mcp.vendors.enrichabl",
        "enrich_mcp.vendors.lance",
    ]
