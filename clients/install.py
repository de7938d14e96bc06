"""Install the third-party MCP clients that CI drives enrich-mcp with, each in its own environment.

    python clients/install.py [ts] [py1] [agents]     (no name: all three)

Their pins conflict with ours (the Python SDK 1.x and openai-agents need ``mcp<2``; we run ``mcp`` 2.x),
so each gets its own place: ``clients/ts/node_modules`` (``npm ci`` from the lock file) and one venv per
Python client under ``.venv-clients/``. A stamp file holds the hash of what was installed from (the
requirements or lock file, plus the interpreter's version), so a second run with nothing changed costs
a few milliseconds. Standard library only: it runs before any venv exists. A failure exits non-zero.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

CLIENTS = Path(__file__).resolve().parent
ROOT = CLIENTS.parent
VENVS = ROOT / ".venv-clients"
NAMES = ("ts", "py1", "agents")


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()


def _run(cmd: list[str], **kwargs: object) -> None:
    print("+", " ".join(cmd), file=sys.stderr, flush=True)
    subprocess.run(cmd, check=True, **kwargs)  # type: ignore[call-overload]


def _fresh(stamp: Path, digest: str) -> bool:
    return stamp.is_file() and stamp.read_text().strip() == digest


def venv_python(name: str) -> Path:
    return VENVS / name / "bin" / "python"


def install_python(name: str) -> Path:
    """A venv at .venv-clients/<name> with clients/<name>/requirements.txt; returns its python."""
    requirements = CLIENTS / name / "requirements.txt"
    target = VENVS / name
    stamp = target / ".installed"
    digest = _digest(requirements.read_bytes(), sys.version.encode())
    if _fresh(stamp, digest) and venv_python(name).exists():
        return venv_python(name)
    if target.exists():
        shutil.rmtree(target)
    _run([sys.executable, "-m", "venv", str(target)])
    quiet = ["--quiet", "--disable-pip-version-check", "--no-input"]
    _run([str(venv_python(name)), "-m", "pip", "install", *quiet, "-r", str(requirements)])
    stamp.write_text(digest + "\n")
    return venv_python(name)


def node_binary() -> str:
    node = shutil.which("node")
    if node is None:
        raise SystemExit("clients/install.py: `node` (Node.js 20 or newer) is not on PATH")
    return node


def install_ts() -> Path:
    """clients/ts/node_modules from package-lock.json (npm ci)."""
    folder = CLIENTS / "ts"
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("clients/install.py: `npm` is not on PATH (install Node.js 20 or newer)")
    version = subprocess.run([node_binary(), "--version"], check=True, capture_output=True, text=True).stdout
    stamp = folder / "node_modules" / ".installed"
    digest = _digest(
        (folder / "package.json").read_bytes(), (folder / "package-lock.json").read_bytes(), version.encode()
    )
    if _fresh(stamp, digest):
        return folder
    env = {**os.environ, "npm_config_update_notifier": "false", "npm_config_fund": "false"}
    _run([npm, "ci", "--no-audit", "--loglevel=error"], cwd=folder, env=env)
    stamp.write_text(digest + "\n")
    return folder


def install(names: list[str]) -> None:
    for name in names:
        if name == "ts":
            install_ts()
        elif name in NAMES:
            install_python(name)
        else:
            raise SystemExit(f"clients/install.py: unknown client {name!r} (choose from {', '.join(NAMES)})")


if __name__ == "__main__":
    install(sys.argv[1:] or list(NAMES))
