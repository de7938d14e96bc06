"""Sixtyfour's sandbox as a real HTTP server, shared by several enrich-mcp replicas in the tests.

The built-in sandbox lives inside each server process, so replicas could not share a vendor job.
This process serves one ``enrich_mcp.sandbox.sixtyfour.Sandbox`` over HTTP on loopback (replicas
point ``SIXTYFOUR_BASE_URL`` at it), records every request it received, and can enforce a rate
limit the way a vendor counts it (per account, sliding window, 429 with ``Retry-After``).

    python -m tests.stores.fake_vendor [--rate 50/6s]

prints its port on the first line of stdout. ``GET /_log`` answers what it saw.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time
from collections import deque
from typing import Any

import httpx
import uvicorn

from enrich_mcp.http import Rate
from enrich_mcp.sandbox.sixtyfour import Sandbox


class VendorApp:
    def __init__(self, rate: Rate | None) -> None:
        self.sandbox = Sandbox()
        self.rate = rate
        self.starts: deque[float] = deque()
        self.log: list[dict[str, Any]] = []

    def _limited(self, now: float) -> float | None:
        """Seconds until a slot frees when over the rate, else ``None`` (and the start is counted)."""
        if self.rate is None:
            return None
        while self.starts and self.starts[0] <= now - self.rate.per_seconds:
            self.starts.popleft()
        if len(self.starts) >= self.rate.requests:
            return self.starts[0] + self.rate.per_seconds - now
        self.starts.append(now)
        return None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path = scope["path"]
        if path == "/_log":
            await self._send(
                send, 200, json.dumps({"requests": self.log}).encode(), {"content-type": "application/json"}
            )
            return
        now = time.time()
        entry: dict[str, Any] = {"t": now, "method": scope["method"], "path": path}
        try:
            entry["body"] = json.loads(body) if body else None
        except ValueError:
            entry["body"] = None
        self.log.append(entry)
        wait = self._limited(now)
        if wait is not None:
            entry["status"] = 429
            headers = {"content-type": "application/json", "retry-after": f"{wait:.3f}"}
            await self._send(send, 429, b'{"error": "Rate limit exceeded"}', headers)
            return
        query = scope.get("query_string", b"").decode()
        request = httpx.Request(
            scope["method"],
            f"http://127.0.0.1{path}" + (f"?{query}" if query else ""),
            headers=[(k.decode(), v.decode()) for k, v in scope["headers"]],
            content=body,
        )
        response = self.sandbox.handle(request)
        entry["status"] = response.status_code
        await self._send(send, response.status_code, response.content, dict(response.headers))

    @staticmethod
    async def _send(send: Any, status: int, content: bytes, headers: dict[str, str]) -> None:
        skip = {"content-length", "transfer-encoding", "content-encoding"}
        raw = [(k.encode(), v.encode()) for k, v in headers.items() if k.lower() not in skip]
        raw.append((b"content-length", str(len(content)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": content})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", default=None)
    args = parser.parse_args()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    app = VendorApp(Rate.parse(args.rate) if args.rate else None)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    server.run(sockets=[sock])


if __name__ == "__main__":
    sys.exit(main())
