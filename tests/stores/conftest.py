"""The store contract's fixture: the same tests on the embedded default and on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest
from pydantic import SecretStr

from enrich_mcp.settings import Settings
from enrich_mcp.stores import Stores, open_stores


class Backend:
    """One backend's stores, as several processes would open them (one ``Stores`` per owner)."""

    def __init__(self, name: str, settings: Settings) -> None:
        self.name = name
        self.settings = settings
        self._opened: list[Stores] = []

    def open(self, owner: str = "p1", *, lease_seconds: float | None = None) -> Stores:
        settings = self.settings
        if lease_seconds is not None:
            settings = settings.model_copy(update={"lease_seconds": lease_seconds})
        stores = open_stores(settings, owner=owner)
        self._opened.append(stores)
        return stores

    def damage(self, job_id: str) -> None:
        """Overwrite a job's stored JSON with something unreadable, behind the store's back."""
        if self.settings.database_url is None:
            import sqlite3

            with sqlite3.connect(self.settings.home / "jobs.sqlite3") as conn:
                conn.execute("UPDATE jobs SET data='{\"id\": 1' WHERE id=?", (job_id,))
        else:
            with psycopg.connect(self.settings.database_url.get_secret_value(), autocommit=True) as conn:
                conn.execute("UPDATE jobs SET data = '{\"id\": 1' WHERE id = %s", (job_id,))

    async def aclose(self) -> None:
        for stores in self._opened:
            await stores.aclose()
            stores.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    settings = Settings(home=tmp_path / "home")
    if request.param == "postgresql":
        settings = settings.model_copy(update={"database_url": SecretStr(request.getfixturevalue("pg_url"))})
    harness = Backend(request.param, settings)
    yield harness
    await harness.aclose()
