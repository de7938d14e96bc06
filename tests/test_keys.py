"""Keys never leave their vendor: redirects to a second real listener, and a byte scan for an echoed key.

Two real HTTP listeners on 127.0.0.1: "the vendor" (the configured base URL) answers every call with a
302 or 307 to "elsewhere", which records every request and its headers. Nothing carrying a key may
arrive elsewhere, for the header styles of all vendors (``x-api-key``, ``X-Api-Key``, Bearer).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from enrich_mcp.http import BEARER, Auth, RetryPolicy, VendorHTTP
from enrich_mcp.server import build_server
from enrich_mcp.settings import Settings, VendorConfig
from tests.conftest import FAST, connect

KEYS = {
    "sixtyfour": "sf-KEY-7a1c9e3f5b2d4806",
    "audiencelab": "al-KEY-2f8e6d4c0b1a3957",
    "lance": "ln-KEY-9d7b5f3e1c0a2468",
}
UUID = "550e8400-e29b-41d4-a716-446655440000"


@dataclass
class Listener:
    """A tiny threaded HTTP server; ``answer`` decides each response, ``seen`` records every request."""

    answer: Callable[[str, str], tuple[int, dict[str, str], bytes]]
    seen: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> Listener:
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                listener.seen.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
                status, headers, body = listener.answer(self.command, self.path)
                self.send_response(status)
                for name, value in {**headers, "Content-Length": str(len(body))}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

            def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def elsewhere() -> Iterator[Listener]:
    listener = Listener(lambda method, path: (200, {"Content-Type": "application/json"}, b'{"ok": true}')).start()
    yield listener
    listener.stop()


@pytest.fixture
def redirect_status() -> list[int]:
    return [302]


@pytest.fixture
def vendor_site(elsewhere: Listener, redirect_status: list[int]) -> Iterator[Listener]:
    """The vendor: every request is redirected elsewhere, keeping the path and query."""
    listener = Listener(lambda method, path: (redirect_status[0], {"Location": f"{elsewhere.url}/landing{path}"}, b""))
    listener.start()
    yield listener
    listener.stop()


def key_headers(headers: dict[str, str]) -> dict[str, str]:
    return {
        k: v for k, v in headers.items() if k in {"x-api-key", "authorization"} or any(s in v for s in KEYS.values())
    }


CALLS = [
    ("sixtyfour", "sixtyfour_find_email", {"lead": {"name": "Ada Lovelace"}}, "x-api-key"),
    ("sixtyfour", "sixtyfour_list_workflows", {}, "x-api-key"),
    ("audiencelab", "audiencelab_enrich_contact", {"filter": {"email": "ada@example.com"}}, "x-api-key"),
    ("audiencelab", "audiencelab_list_enrichment_jobs", {}, "x-api-key"),
    ("lance", "lance_get_enrichment", {"person_id": UUID, "field": "emails"}, "authorization"),
    ("lance", "lance_enrich_person", {"person_id": UUID, "field": "emails", "wait_seconds": 2}, "authorization"),
]


@pytest.mark.parametrize("status", [302, 307])
@pytest.mark.parametrize(("vendor", "tool", "args", "header"), CALLS, ids=[c[1] for c in CALLS])
async def test_a_redirected_api_call_delivers_no_key_elsewhere(
    tmp_path: Path,
    vendor_site: Listener,
    elsewhere: Listener,
    redirect_status: list[int],
    status: int,
    vendor: str,
    tool: str,
    args: dict[str, Any],
    header: str,
) -> None:
    redirect_status[0] = status
    base = vendor_site.url + ("/api/v1" if vendor == "lance" else "")
    settings = Settings(
        home=tmp_path / "home",
        **FAST,
        toolsets=[vendor],
        vendors={vendor: VendorConfig(api_key=SecretStr(KEYS[vendor]), base_url=base)},
    )
    server = build_server(settings)
    try:
        async with connect(server) as client:
            result = await client.call_tool(tool, args)
    finally:
        server.runtime.close()
    text = result.content[0].text  # type: ignore[union-attr]
    assert f"HTTP {status}" in text and "redirect to 127.0.0.1" in text and KEYS[vendor] not in text
    assert result.is_error or '"status": "failed"' in text  # a job tool reports the failed submit in the job
    assert vendor_site.seen and KEYS[vendor] in vendor_site.seen[0][2][header]  # the vendor itself got the key
    assert [key_headers(h) for _, _, h in elsewhere.seen] == [{}] * len(elsewhere.seen)
    assert elsewhere.seen == []  # API calls do not follow redirects at all


@pytest.mark.parametrize("status", [302, 307])
@pytest.mark.parametrize(
    "auth", [Auth("x-api-key"), Auth("X-Api-Key"), BEARER], ids=["x-api-key", "X-Api-Key", "bearer"]
)
async def test_a_redirected_download_reaches_elsewhere_without_a_key(
    vendor_site: Listener, elsewhere: Listener, redirect_status: list[int], status: int, auth: Auth
) -> None:
    redirect_status[0] = status
    http = VendorHTTP(
        vendor="acme", base_url=vendor_site.url + "/v1", auth=auth, api_key=KEYS["sixtyfour"], retry=RetryPolicy(0)
    )
    try:
        assert await http.download(f"{vendor_site.url}/exports/file.csv?sig=abc") == b'{"ok": true}'
    finally:
        await http.aclose()
    [(method, path, headers)] = elsewhere.seen
    assert (method, path) == ("GET", "/landing/exports/file.csv?sig=abc")
    assert key_headers(headers) == {}
    assert key_headers(vendor_site.seen[0][2]) == {}  # signed URLs never get the key, even on the vendor's host


# -- an echoed key never reaches output, cache or ledger ---------------------------------------------------

ECHO_KEY = "sf-ECHO-3b9d1f7a5c2e8046"


def echoing_sixtyfour(request: httpx.Request) -> httpx.Response:
    """A Sixtyfour that echoes the caller's key in every answer (as a misconfigured proxy might)."""
    key = request.headers.get("x-api-key", "")
    path = request.url.path
    if path == "/find-email":
        email = [[f"ada+{key}@example.com", "OK", "COMPANY"]]
        return httpx.Response(200, json={"email": email, "debug": {"api_key": key, key: [f"k={key}"]}})
    if path == "/enrich-lead-async":
        return httpx.Response(200, json={"task_id": "task-1", "status": "pending", "echo": key})
    if path == "/job-status/task-1":
        result = {"notes": f"found with key {key}", "structured_data": {"key": key}, "references": {}}
        return httpx.Response(200, json={"status": "completed", "task_id": "task-1", "result": result})
    return httpx.Response(404, json={"detail": f"no route {path} for key {key}"})


async def test_an_echoed_key_never_reaches_output_cache_or_ledger(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    home = tmp_path / "home"
    settings = Settings(
        home=home,
        **FAST,
        toolsets=["sixtyfour"],
        vendors={"sixtyfour": VendorConfig(api_key=SecretStr(ECHO_KEY))},
    )
    server = build_server(settings, transports={"sixtyfour": httpx.MockTransport(echoing_sixtyfour)})
    outputs: list[str] = []
    try:
        async with connect(server) as client:
            for tool, args in [
                ("sixtyfour_find_email", {"lead": {"name": "Ada Lovelace"}}),
                ("sixtyfour_find_email", {"lead": {"name": "Ada Lovelace"}}),  # from the cache
                (
                    "sixtyfour_enrich_lead",
                    {"lead_info": {"name": "Ada Lovelace"}, "struct": [{"name": "key", "description": "anything"}]},
                ),
                ("list_jobs", {}),
            ]:
                result = await client.call_tool(tool, args)
                assert not result.is_error, result.content
                if tool == "sixtyfour_enrich_lead":
                    result_of_research = result.structured_content or {}
                outputs.append(
                    json.dumps(result.structured_content) + json.dumps([c.model_dump() for c in result.content])
                )
            job_id = result_of_research["job"]["job_id"]
            for tool, args in [("get_job", {"job_id": job_id}), ("get_job_results", {"job_id": job_id})]:
                result = await client.call_tool(tool, args)
                outputs.append(json.dumps(result.structured_content))
    finally:
        server.runtime.close()
    assert "[redacted]" in outputs[0] and "[redacted]" in outputs[2]  # the echo was there, and was replaced
    assert not [o for o in outputs if ECHO_KEY in o]
    assert ECHO_KEY not in caplog.text
    files = [p for p in home.rglob("*") if p.is_file()]
    assert len(files) > 2  # the cache and the ledger were written
    assert [p for p in files if ECHO_KEY.encode() in p.read_bytes()] == []
