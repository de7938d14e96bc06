"""The data directory: private folders and files, no links followed, damage explained in one paragraph.

Everything enrich-mcp keeps (cache, job ledger, spend ledger, exports) lives under ``ENRICH_MCP_HOME``.
Folders are 0700 and files 0600. A symbolic link *inside* the directory is refused rather than followed,
so nothing can point the server's writes (or a ``chmod``) somewhere else; the home itself may be a link
the user chose. Whatever stops the server from using the directory becomes a :class:`DataDirectoryError`
whose message names the path and the fix: the CLI prints it and exits 2, never a traceback.
"""

from __future__ import annotations

import errno
import logging
import os
import time
from pathlib import Path

from enrich_mcp.errors import DataDirectoryError

logger = logging.getLogger(__name__)

CORRUPT_MARK = ".corrupt-"
_HOME_FIX = "Set ENRICH_MCP_HOME to a folder you can write to (it is created if missing)"


def _refuse_link(path: Path) -> None:
    if path.is_symlink():
        raise DataDirectoryError(
            f"enrich-mcp cannot use {path}: it is a symbolic link, and enrich-mcp does not follow links inside "
            f"its data directory (they could send its private files, or a permission change, elsewhere). "
            f"Remove the link (rm {path}); enrich-mcp recreates a private folder or file in its place."
        )


def _os_problem(path: Path, exc: OSError, what: str) -> DataDirectoryError:
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.EEXIST, errno.ENOTDIR) or (path.exists() and not path.is_dir()):
        culprit = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), path)
        return DataDirectoryError(
            f"enrich-mcp cannot use its {what} {path}: {culprit} is a file, not a folder. Move that file away "
            f"(enrich-mcp creates the folder), or set ENRICH_MCP_HOME to another folder."
        )
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return DataDirectoryError(
            f"enrich-mcp cannot write to its {what} {path} ({reason}). It keeps its cache, job ledger and spend "
            f"ledger there, so it needs a writable folder. {_HOME_FIX}, or make {path} writable for this user."
        )
    return DataDirectoryError(f"enrich-mcp cannot use its {what} {path} ({reason}). {_HOME_FIX}.")


def private_dir(path: Path, *, inside: bool = True, what: str = "data folder") -> Path:
    """Create ``path`` 0700 (parents too) and check it is a real, writable folder.

    ``inside``: the folder is inside the data directory, so a link there is refused, not followed.
    """
    if inside:
        _refuse_link(path)
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not path.is_dir():
            raise FileExistsError(errno.EEXIST, "File exists", str(path))
        os.chmod(path, 0o700)
        if not os.access(path, os.W_OK | os.X_OK):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
    except OSError as exc:
        raise _os_problem(path, exc, what) from None
    return path


def private_file(path: Path, *, what: str = "file") -> Path:
    """Make sure ``path`` (a database file) exists as a regular 0600 file before a library opens it.

    SQLite creates its ``-wal`` and ``-shm`` files with the database file's permissions, so they are 0600 too.
    """
    _refuse_link(path)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
        try:
            os.fchmod(fd, 0o600)
        finally:
            os.close(fd)
        for companion in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            _refuse_link(companion)
            if companion.exists():
                os.chmod(companion, 0o600)
    except OSError as exc:
        if exc.errno == errno.EISDIR:
            raise DataDirectoryError(
                f"enrich-mcp cannot open its {what} {path}: it is a folder, not a file. Move it away; "
                f"enrich-mcp creates a new {what} there."
            ) from None
        raise _os_problem(path, exc, what) from None
    return path


def private_files(directory: Path) -> None:
    """chmod 0600 every regular file directly in ``directory`` (files a library created under our umask)."""
    for path in directory.iterdir():
        if not path.is_symlink() and path.is_file():
            os.chmod(path, 0o600)


def move_aside(path: Path) -> Path:
    """Rename a damaged file or folder (and a database's -wal/-shm) to ``<name>.corrupt-<timestamp>``."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    target = path.with_name(f"{path.name}{CORRUPT_MARK}{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}{CORRUPT_MARK}{stamp}-{n}")
    os.replace(path, target)
    for suffix in ("-wal", "-shm"):
        companion = path.with_name(path.name + suffix)
        if companion.exists() and not companion.is_symlink():
            os.replace(companion, target.with_name(target.name + suffix))
    return target


def moved_aside(home: Path) -> list[Path]:
    """Damaged files moved aside in the data directory (erasure cannot read them; the user may delete them)."""
    if not home.is_dir():
        return []
    return sorted(p for p in home.iterdir() if CORRUPT_MARK in p.name)
