"""Real processes for the team-deployment tests: `enrich-mcp serve --http` replicas on one database,
the shared fake vendor, and MCP clients speaking streamable HTTP to a replica."""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import anyio
import httpx
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

T = TypeVar("T")
TOKEN = "team-token-for-tests"
VENDOR_KEY = "sk-test-team-key"
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until(check: Any, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.05)


class FakeVendorProcess:
    def __init__(self, log_dir: Path, *, rate: str | None = None) -> None:
        args = [sys.executable, "-m", "tests.stores.fake_vendor"] + (["--rate", rate] if rate else [])
        self.stderr = (log_dir / "vendor.log").open("wb")
        self.proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=self.stderr)
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline())
        self.url = f"http://127.0.0.1:{self.port}"

    def log(self) -> list[dict[str, Any]]:
        return httpx.get(f"{self.url}/_log", timeout=10).json()["requests"]

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(10)
        self.stderr.close()


class Replica:
    """One `enrich-mcp serve --http` process. Each has its own data directory: only the database is shared."""

    def __init__(self, name: str, tmp: Path, database_url: str, vendor_url: str, **env: str) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp / f"replica-{name}.log"
        self._log = self.log_path.open("wb")
        environment = {
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": str(ROOT),
            "ENRICH_MCP_HOME": str(tmp / f"home-{name}"),
            "ENRICH_MCP_DATABASE_URL": database_url,
            "ENRICH_MCP_HTTP_TOKEN": TOKEN,
            "ENRICH_MCP_TOOLSETS": "sixtyfour",
            "ENRICH_MCP_POLL_INTERVAL_SECONDS": "0.05",
            "ENRICH_MCP_LEASE_SECONDS": "1",
            "ENRICH_MCP_RETRY_MAX_DELAY_SECONDS": "0.2",
            "ENRICH_MCP_LOG_LEVEL": "INFO",
            "SIXTYFOUR_API_KEY": VENDOR_KEY,
            "SIXTYFOUR_BASE_URL": vendor_url,
            **env,
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "enrich_mcp", "serve", "--http", "--port", str(self.port)],
            cwd=ROOT,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self) -> None:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"replica {self.name} exited: {self.log()[-3000:]}")
            try:
                # Any answer from /mcp (401: no token) means started: uvicorn serves only after the lifespan
                # (the job poller) is up. Not /healthz: its vendor probe takes a slot of the shared rate window.
                return httpx.post(f"{self.url}/mcp", timeout=2).status_code == 401
            except httpx.HTTPError:
                return False

        _wait_until(ready, f"replica {self.name} did not become healthy: {self.log()[-3000:]}")

    def health(self) -> tuple[int, dict[str, Any]]:
        response = httpx.get(f"{self.url}/healthz", timeout=10)
        return response.status_code, response.json()

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    @asynccontextmanager
    async def client(self, **kwargs: Any) -> AsyncIterator[Client]:
        """A 2025-era MCP session on this replica (the SDK's streamable HTTP client)."""
        http = create_mcp_http_client(headers={"Authorization": f"Bearer {TOKEN}"})
        async with Client(streamable_http_client(f"{self.url}/mcp", http_client=http), mode="legacy", **kwargs) as c:
            yield c


def start_replicas(tmp: Path, database_url: str, vendor_url: str, envs: dict[str, dict[str, str]]) -> list[Replica]:
    """Start them together (a replica takes ~1-2 s to import), then wait for each to be healthy."""
    replicas = [Replica(name, tmp, database_url, vendor_url, **env) for name, env in envs.items()]
    for replica in replicas:
        replica.wait_ready()
    return replicas


async def eventually(check: Callable[[], Awaitable[T | None]], *, timeout: float, interval: float = 0.05) -> T:  # noqa: ASYNC109
    """Across processes there is no event to wait on: re-check until ``check()`` returns something truthy."""
    with anyio.fail_after(timeout):
        for _ in itertools.count():
            if value := await check():
                return value
            await anyio.sleep(interval)
    raise AssertionError("unreachable")


async def call(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


def text_of(result: Any) -> str:
    return " ".join(getattr(c, "text", "") for c in result.content)


def read_json(result: Any) -> Any:
    return json.loads(result.contents[0].text)
