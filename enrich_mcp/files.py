"""Files the tools read on the server's machine (``csv_path``): only inside folders the user allowed.

A tool argument is written by a model, and a model can be steered by the data it reads; a path must not
become a way to send ``~/.ssh`` to a vendor. The allowed folders are:

- ``ENRICH_MCP_FILES_DIR``, set by whoever runs the server;
- over stdio, the MCP roots the client declares (``roots/list``), when it has the roots capability and a
  back-channel for the request (2025-era sessions; the 2026 protocol deprecates roots).

Over HTTP (``serve --http``) the caller may be anyone holding the token on another machine, and its roots
name folders on *its* machine, so only ``ENRICH_MCP_FILES_DIR`` counts: without it no server file is read.
The path is resolved (links followed) before the check, so a link inside an allowed folder that points
outside is refused; the suffix and the size are checked on the file itself.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

import anyio

from enrich_mcp.errors import InputError

if TYPE_CHECKING:
    from mcp.server.mcpserver import Context

    from enrich_mcp.settings import Settings

logger = logging.getLogger(__name__)

MAX_FILE_BYTES = 50 * 1024 * 1024
ROOTS_TIMEOUT_SECONDS = 5.0


def _root_path(uri: str) -> Path | None:
    parsed = urlparse(uri)
    if parsed.scheme != "file" or parsed.netloc not in ("", "localhost"):
        return None
    path = Path(unquote(parsed.path))
    return path if path.is_absolute() else None


async def client_roots(ctx: Context[Any] | None) -> list[Path]:
    """The folders the client declared as MCP roots; none when it cannot say (no capability, no back-channel)."""
    if ctx is None:
        return []
    try:
        capabilities = ctx.client_capabilities
    except Exception:  # outside a request (tests calling the function directly)
        return []
    if capabilities is None or capabilities.roots is None:
        return []
    try:
        with warnings.catch_warnings(), anyio.fail_after(ROOTS_TIMEOUT_SECONDS):
            warnings.simplefilter("ignore")  # roots are deprecated in the 2026 protocol; 2025 clients use them
            result = await ctx.session.list_roots()
    except Exception as exc:  # TimeoutError, no back-channel (stateless era), or the client refused
        logger.info("could not list the client's roots: %s", exc)
        return []
    return [p for root in result.roots if (p := _root_path(str(root.uri))) is not None]


async def allowed_folders(settings: Settings, ctx: Context[Any] | None, *, remote: bool) -> list[Path]:
    """ENRICH_MCP_FILES_DIR, then (not over HTTP) the client's roots; not yet resolved."""
    folders: list[Path] = []
    if settings.files_dir is not None:
        folders.append(settings.files_dir)
    if not remote:
        folders.extend(await client_roots(ctx))
    return folders


def _no_folder_hint(remote: bool) -> str:
    if remote:
        return (
            "Over HTTP only ENRICH_MCP_FILES_DIR is readable: the server's operator must set it to the folder "
            "holding the files. Or pass the rows inline instead of a path."
        )
    return (
        "Set ENRICH_MCP_FILES_DIR to the folder holding the file (in the MCP client's server configuration), "
        "or use a client that declares MCP roots, or pass the rows inline instead of a path."
    )


async def input_file(
    raw: str,
    *,
    settings: Settings,
    ctx: Context[Any] | None,
    remote: bool,
    suffixes: tuple[str, ...] = (".csv",),
    max_bytes: int | None = None,
    argument: str = "csv_path",
) -> Path:
    """The resolved path of a readable file inside an allowed folder, or an :class:`InputError` saying why not."""
    if "\x00" in raw:
        raise InputError(f"{argument} contains a NUL character.")
    folders = await allowed_folders(settings, ctx, remote=remote)
    if not folders:
        raise InputError(
            f"{argument}: this server may read no file: no folder is allowed.", hint=_no_folder_hint(remote)
        )
    limit = MAX_FILE_BYTES if max_bytes is None else max_bytes
    return await anyio.to_thread.run_sync(lambda: _check(raw, folders, suffixes, limit, argument))


def _check(raw: str, allowed: list[Path], suffixes: tuple[str, ...], max_bytes: int, argument: str) -> Path:
    given = Path(raw).expanduser()
    folders = [f.expanduser().resolve() for f in allowed]
    if given.suffix.lower() not in suffixes:
        raise InputError(f"{argument} must name a {'/'.join(suffixes)} file, not {given.name!r}.")
    candidates = [given] if given.is_absolute() else [folder / given for folder in folders]
    for candidate in candidates:
        try:
            resolved = candidate.resolve(strict=True)
        except (OSError, RuntimeError):  # missing, or a link loop
            continue
        break
    else:
        where = "" if given.is_absolute() else f" in {', '.join(map(str, folders))}"
        raise InputError(f"{argument}: no file {str(given)!r}{where}.", hint="Check the path and its spelling.")
    if not any(resolved.is_relative_to(folder) for folder in folders):
        raise InputError(
            f"{argument}: {str(given)!r} is outside the folders this server may read "
            f"({', '.join(map(str, folders))}); links are followed before this check.",
            hint="Copy the file into one of those folders.",
        )
    if resolved.suffix.lower() not in suffixes:
        raise InputError(f"{argument}: {str(given)!r} leads to {resolved.name!r}, not a {'/'.join(suffixes)} file.")
    if not resolved.is_file():
        raise InputError(f"{argument}: {str(given)!r} is not a regular file.")
    size = resolved.stat().st_size
    if size > max_bytes:
        raise InputError(
            f"{argument}: {str(given)!r} is {size / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.0f} MB.",
            hint="Split the file into smaller ones.",
        )
    return resolved
