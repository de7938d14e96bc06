"""A throwaway PostgreSQL cluster for the tests: the machine's ``initdb``/``pg_ctl``, a temporary
directory, a unix socket only (no TCP port), durability off (fast, and lost with the directory).

PostgreSQL refuses to run as root, and CI runs as root: then the cluster runs as an unprivileged
account (``postgres`` when the server package created it, else ``nobody``) that owns the
temporary directory; root's client reaches the socket anyway.

A missing server is a failure, not a skip: ``.ci/run`` installs Debian's ``postgresql`` where
no ``initdb`` is found.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import psycopg
from psycopg import sql


def find_bin_dir() -> Path | None:
    """Where ``initdb``, ``pg_ctl`` and ``postgres`` are: on PATH, else Debian's newest versioned dir."""
    found = shutil.which("initdb")
    if found is not None:
        return Path(found).resolve().parent
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    return candidates[-1].parent if candidates else None


class Cluster:
    def __init__(self) -> None:
        bin_dir = find_bin_dir()
        if bin_dir is None:
            raise RuntimeError(
                "PostgreSQL's initdb/pg_ctl were not found (PATH, /usr/lib/postgresql/*/bin): "
                "install the server (Debian: apt-get install postgresql) — .ci/run does"
            )
        self.bin = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="enrich-pg-"))
        self.data = self.root / "data"
        self._user: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            for name in ("postgres", "nobody"):
                try:
                    self._user = pwd.getpwnam(name)
                    break
                except KeyError:
                    continue
            assert self._user is not None, "no unprivileged account to run PostgreSQL as"
            os.chown(self.root, self._user.pw_uid, self._user.pw_gid)
        self.root.chmod(0o700)
        self._run("initdb", "-D", str(self.data), "-U", "enrich", "--auth=trust", "-E", "UTF8", "--no-sync")
        options = (
            f"-k {self.root} -c listen_addresses='' -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off -c max_connections=300"
        )
        self._run("pg_ctl", "-D", str(self.data), "-w", "-l", str(self.root / "log"), "-o", options, "start")

    def _run(self, program: str, *args: str) -> None:
        env = {"PATH": f"{self.bin}:/usr/bin:/bin", "LC_ALL": "C.UTF-8", "HOME": str(self.root)}
        user = self._user
        done = subprocess.run(
            [str(self.bin / program), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            user=user.pw_uid if user else None,
            group=user.pw_gid if user else None,
            extra_groups=[] if user else None,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{program} failed ({done.returncode}): {done.stderr[-2000:]}")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://enrich@/{database}?host={self.root}"

    def create_database(self) -> str:
        """A fresh, empty database; returns its URL."""
        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
