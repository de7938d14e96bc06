"""enrich-mcp driven by real third-party MCP clients, each in its own environment (see clients/).

(a) the official TypeScript SDK over stdio and streamable HTTP with the bearer token: every tool called
    once with clients/samples.json, structured output validated by the SDK against each outputSchema;
(b) the Python SDK 1.x on two handshake-era protocols: list, call, read a job resource, subscribe and
    receive notifications/resources/updated;
(c) openai-agents: every tool converted in strict mode, one called through the framework's wrapper.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.clients.conftest import ROOT

RUN_TIMEOUT = 240

SNAPSHOT = {t["name"] for t in json.loads((ROOT / "tests" / "__snapshots__" / "tools.json").read_text())}
SERVER = str(Path(sys.executable).with_name("enrich-mcp"))


def run_client(cmd: list[str], home: Path) -> dict[str, Any]:
    """Run one client to the end; its last stdout line is ``RESULT {json}``."""
    proc = subprocess.run(
        [*cmd, "--server", SERVER, "--home", str(home)],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        cwd=ROOT,
        check=False,
    )
    # Shown with -s or on failure: what the client printed is the evidence.
    print(proc.stdout)
    assert proc.returncode == 0, f"{cmd[:2]} exited {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("RESULT "), proc.stdout[-2000:]
    return json.loads(last.removeprefix("RESULT "))


def test_typescript_sdk_calls_every_tool_over_stdio_and_http(real_clients: Path, tmp_path: Path) -> None:
    node = shutil.which("node")
    assert node is not None, "Node.js 20+ is needed for the TypeScript SDK client"
    result = run_client([node, str(real_clients / "clients" / "ts" / "client.mjs")], tmp_path)
    runs = {run["transport"].split(",")[0]: run for run in result["runs"]}
    assert set(runs) == {"stdio", "streamable HTTP + bearer token"}
    assert runs["streamable HTTP + bearer token"]["refused_without_token"] is True
    for run in runs.values():
        assert run["failed"] == [] and run["not_sampled"] == []
        assert run["listed"] == len(SNAPSHOT) and run["with_output_schema"] == len(SNAPSHOT)
        assert sorted(run["called"]) == sorted(SNAPSHOT)
        assert sorted(run["validated"]) == sorted(SNAPSHOT)
        assert run["validator_rejects_wrong_shape"] is True


def test_python_sdk_1x_receives_job_resource_updates(real_clients: Path, tmp_path: Path) -> None:
    python = real_clients / ".venv-clients" / "py1" / "bin" / "python"
    result = run_client([str(python), str(real_clients / "clients" / "py1" / "client.py")], tmp_path)
    sessions = result["sessions"]
    assert [s["negotiated"] for s in sessions] == ["2025-11-25", "2025-06-18"]
    for session in sessions:
        assert session["tools"] == len(SNAPSHOT)
        assert session["updates"] >= 1, session
        assert session["job_status"] == "completed" and session["job_rows"] > 0


def test_openai_agents_converts_in_strict_mode_and_invokes_a_tool(real_clients: Path, tmp_path: Path) -> None:
    python = real_clients / ".venv-clients" / "agents" / "bin" / "python"
    result = run_client([str(python), str(real_clients / "clients" / "agents" / "client.py")], tmp_path)
    assert result["listed"] == len(SNAPSHOT)
    assert sorted(result["strict"] + result["fallback"]) == sorted(SNAPSHOT)
    assert result["fallback"] == [], f"only {len(result['strict'])} strict"  # every tool converts (issue 12)
    assert result["wrapped_verdicts"] == ["unknown", "invalid"]
