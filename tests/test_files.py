"""csv_path reads only inside allowed folders: ENRICH_MCP_FILES_DIR and (not over HTTP) the client's MCP roots."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import mcp_types as types
import pytest
from mcp import Client

from enrich_mcp import files
from enrich_mcp.http_transport import build_http_app
from enrich_mcp.server import EnrichServer, build_server
from enrich_mcp.settings import Settings
from tests.conftest import connect

LEADS = "name,email\nAda Lovelace,ada@analytical.example.org\n"


def roots_of(*folders: Path) -> Any:
    async def list_roots(context: Any) -> types.ListRootsResult:
        return types.ListRootsResult(roots=[types.Root(uri=f.as_uri()) for f in folders])  # type: ignore[arg-type]

    return list_roots


def write(path: Path, text: str = LEADS) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


async def clean(client: Client, csv_path: str | Path) -> tuple[bool, str]:
    result = await client.call_tool("clean_leads", {"csv_path": str(csv_path)})
    text = result.content[0].text if result.content else ""  # type: ignore[union-attr]
    return result.is_error, text


@pytest.fixture
def build(make_settings: Callable[..., Settings]) -> Any:
    servers: list[EnrichServer] = []

    def make(**overrides: Any) -> EnrichServer:
        servers.append(build_server(make_settings(**overrides)))
        return servers[-1]

    yield make
    for server in servers:
        server.runtime.close()


async def test_without_an_allowed_folder_no_file_is_read(build: Any, tmp_path: Path) -> None:
    path = write(tmp_path / "leads.csv")
    async with connect(build(files_dir=None)) as client:
        refused, text = await clean(client, path)
    assert refused
    assert "no folder is allowed" in text and "ENRICH_MCP_FILES_DIR" in text


async def test_files_dir_allows_its_files_and_nothing_outside(build: Any, tmp_path: Path) -> None:
    allowed = tmp_path / "allowed"
    inside = write(allowed / "leads.csv")
    write(allowed / "sub" / "more.csv")
    outside = write(tmp_path / "elsewhere" / "leads.csv")
    (allowed / "escape.csv").symlink_to(outside)
    (allowed / "inner.csv").symlink_to(inside)
    async with connect(build(files_dir=allowed)) as client:
        assert not (await clean(client, inside))[0]
        assert not (await clean(client, "sub/more.csv"))[0]  # relative to the allowed folder
        assert not (await clean(client, allowed / "inner.csv"))[0]  # a link that stays inside is fine
        for path, why in (
            (outside, "outside the folders"),
            (allowed / "escape.csv", "outside the folders"),
            (allowed / ".." / "elsewhere" / "leads.csv", "outside the folders"),
            ("/etc/passwd", "must name a .csv/.tsv/.txt file"),
            (allowed / "missing.csv", "no file"),
        ):
            refused, text = await clean(client, path)
            assert refused and why in text, (path, text)


async def test_a_file_over_the_size_limit_is_refused(
    build: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(files, "MAX_FILE_BYTES", 40)
    path = write(tmp_path / "big.csv", LEADS * 2)
    async with connect(build()) as client:
        refused, text = await clean(client, path)
    assert refused and "the limit is" in text


async def test_client_roots_allow_their_files(build: Any, tmp_path: Path) -> None:
    root = tmp_path / "project"
    inside = write(root / "leads.csv")
    outside = write(tmp_path / "private" / "leads.csv")
    async with Client(build(files_dir=None), list_roots_callback=roots_of(root), mode="legacy") as client:
        assert not (await clean(client, inside))[0]
        refused, text = await clean(client, outside)
    assert refused and "outside the folders" in text and str(root) in text


async def test_over_http_only_files_dir_counts_never_the_clients_roots(build: Any, tmp_path: Path) -> None:
    root = tmp_path / "project"
    inside_root = write(root / "leads.csv")
    async with Client(
        build(files_dir=None, transport="http"), list_roots_callback=roots_of(root), mode="legacy"
    ) as client:
        refused, text = await clean(client, inside_root)
    assert refused and "Over HTTP only ENRICH_MCP_FILES_DIR" in text
    async with Client(
        build(files_dir=root, transport="http"), list_roots_callback=roots_of(tmp_path), mode="legacy"
    ) as client:
        assert not (await clean(client, inside_root))[0]
        refused, _ = await clean(client, write(tmp_path / "other.csv"))
    assert refused


def test_serve_http_marks_its_server_remote(make_settings: Callable[..., Settings]) -> None:
    app, _ = build_http_app(make_settings(), build_server)
    runtime = app.app.runtime  # type: ignore[attr-defined]
    assert runtime.settings.transport == "http"
    runtime.close()


async def test_enrichabl_upload_refuses_a_file_outside_and_sends_nothing(build: Any, tmp_path: Path) -> None:
    outside = write(tmp_path / "elsewhere" / "leads.csv")
    txt = write(tmp_path / "allowed" / "leads.txt")
    server = build(files_dir=tmp_path / "allowed")
    async with connect(server) as client:
        for path in (outside, txt):
            result = await client.call_tool(
                "enrichabl_upload_leads",
                {"pipeline_id": "8c0f6a9e-2b1d-4f8e-9a7c-3d5e6f708192", "csv_path": str(path)},
            )
            assert result.is_error, path
    assert server.runtime.sandboxes["enrichabl"].requests == []
