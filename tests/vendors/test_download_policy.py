"""One download policy for every vendor's signed result URLs: https, or http only for an http base URL.

Before, AudienceLab refused an http ``csv_url`` in its job code while Sixtyfour fetched any URL; both now
go through ``VendorHTTP.check_download_url``.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from enrich_mcp.errors import VendorProtocolError
from enrich_mcp.http import Auth, VendorHTTP
from enrich_mcp.sandbox.audiencelab import BUCKET, GCS_HOST
from enrich_mcp.sandbox.audiencelab import Sandbox as AudienceLabSandbox
from enrich_mcp.server import build_server
from enrich_mcp.settings import Settings, VendorConfig
from enrich_mcp.vendors.audiencelab.client import AudienceLabClient
from enrich_mcp.vendors.sixtyfour.client import SixtyfourClient
from tests.conftest import connect

CSV = b"name,email\nAda,ada@example.com\n"


def recorder(body: bytes) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=body)

    return httpx.MockTransport(handler), seen


@pytest.mark.parametrize(
    ("base_url", "url", "allowed"),
    [
        ("https://api.sixtyfour.ai", "https://storage.example.com/signed/f.csv?token=1", True),
        ("https://api.sixtyfour.ai", "http://storage.example.com/signed/f.csv?token=1", False),  # fetched before
        ("http://127.0.0.1:8080", "http://127.0.0.1:8081/signed/f.csv", True),
    ],
)
async def test_sixtyfour_downloads_follow_the_policy(base_url: str, url: str, allowed: bool) -> None:
    transport, seen = recorder(CSV)
    client = SixtyfourClient(VendorHTTP("sixtyfour", base_url, Auth("x-api-key"), "k-0123456789", transport))
    if allowed:
        assert await client.download_csv(url) == [{"name": "Ada", "email": "ada@example.com"}]
        assert "x-api-key" not in seen[0].headers
    else:
        with pytest.raises(VendorProtocolError, match=r"http://storage\.example\.com is not allowed"):
            await client.download_csv(url)
        assert seen == []


@pytest.mark.parametrize(
    ("base_url", "url", "allowed"),
    [
        ("https://api.audiencelab.io", "https://exports.example.com/f.csv.gz?sig=1", True),
        ("https://api.audiencelab.io", "http://exports.example.com/f.csv.gz?sig=1", False),
        ("http://localhost:9000", "http://localhost:9001/f.csv.gz", True),  # refused before
    ],
)
async def test_audiencelab_downloads_follow_the_same_policy(base_url: str, url: str, allowed: bool) -> None:
    transport, seen = recorder(gzip.compress(CSV))
    client = AudienceLabClient(VendorHTTP("audiencelab", base_url, Auth("X-Api-Key"), "k-0123456789", transport))
    if allowed:
        assert await client.download_results(url) == [{"name": "Ada", "email": "ada@example.com"}]
    else:
        with pytest.raises(VendorProtocolError, match="not allowed"):
            await client.download_results(url)
        assert seen == []


def http_exports(sandbox: AudienceLabSandbox) -> Callable[[httpx.Request], httpx.Response]:
    """The sandbox, but its COMPLETED jobs point at an http:// address of their (public) export file."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == GCS_HOST:
            request = httpx.Request("GET", request.url.copy_with(scheme="https"), headers=request.headers)
        response = sandbox.handle(request)
        if request.method == "GET" and request.url.path == "/enrichments":
            body = response.content.replace(f"gs://{BUCKET}/".encode(), f"http://{GCS_HOST}/{BUCKET}/".encode())
            return httpx.Response(response.status_code, content=body, headers={"Content-Type": "application/json"})
        return response

    return handler


@pytest.mark.parametrize(("base_url", "finished"), [(None, False), ("http://localhost:9000", True)])
async def test_an_audiencelab_job_with_an_http_csv_url_fails_unless_the_api_is_http(
    make_settings: Callable[..., Settings], base_url: str | None, finished: bool
) -> None:
    sandbox = AudienceLabSandbox(variants={"gcs_access": "public", "csv_header": "upper"})
    settings = make_settings(toolsets=["audiencelab"], vendors={"audiencelab": VendorConfig(base_url=base_url)})
    server = build_server(settings, transports={"audiencelab": httpx.MockTransport(http_exports(sandbox))})
    try:
        async with connect(server) as client:
            result = await client.call_tool(
                "audiencelab_enrich_contacts_bulk",
                {"name": "Q3", "records": [{"email": "ada.lovelace@example.com"}], "columns": ["EMAIL"]},
            )
    finally:
        server.runtime.close()
    out: dict[str, Any] = result.structured_content or {}
    downloads = [r for r in sandbox.requests if r.url.host == GCS_HOST]
    if finished:
        assert out["job"]["status"] == "completed" and out["job"]["result_count"] == 1
        assert len(downloads) == 1 and "x-api-key" not in downloads[0].headers
    else:
        assert out["job"]["status"] == "failed", out
        assert f"http://{GCS_HOST} is not allowed" in out["job"]["error"]
        assert downloads == []
