"""What only the PostgreSQL backend has: the versioned schema, change notifications across
replicas, and whole servers on one database (in-process, sharing the fake vendor or the sandbox)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import mcp_types as types
import psycopg
import pytest
from pydantic import SecretStr

from enrich_mcp.errors import SchemaError
from enrich_mcp.jobs import Job
from enrich_mcp.sandbox.audiencelab import GCS_HOST
from enrich_mcp.server import build_server
from enrich_mcp.settings import Settings
from enrich_mcp.stores.postgres import PgJobStore, PgSandboxStore, PostgresDatabase
from enrich_mcp.stores.postgres.schema import LATEST, MIGRATIONS, Migration, current_version, ensure_schema
from tests.conftest import connect
from tests.jobs_fakes import FakeVendor, fake_server

pytestmark = pytest.mark.filterwarnings("ignore:resources/subscribe is removed")  # still right for 2025 clients


async def _version(url: str) -> int:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        return await current_version(conn)


async def test_a_new_database_gets_the_whole_schema_on_first_use_once(pg_url: str) -> None:
    db = PostgresDatabase(pg_url)
    try:
        async with anyio.create_task_group() as tg:  # several first uses at once: one migration run
            for _ in range(5):
                tg.start_soon(db.fetchall, "SELECT 1")
        assert await _version(pg_url) == LATEST
        rows = await db.fetchall("SELECT version FROM enrich_schema_version ORDER BY version")
        assert [r[0] for r in rows] == [m.version for m in MIGRATIONS]
    finally:
        await db.aclose()


async def test_an_older_schema_is_upgraded_forward_and_keeps_its_rows(pg_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
        assert [m.version for m in await ensure_schema(conn, allow_offline=False, target=1)] == [1]
        await conn.execute(
            "INSERT INTO jobs (id, vendor, kind, status, created_at, data) "
            "VALUES ('old', 'fake', 'k', 'queued', 1, %s)",
            (Job(id="old", vendor="fake", kind="k", tool="t").model_dump_json(),),
        )
    db = PostgresDatabase(pg_url)  # a newer release starts: the online migrations run by themselves
    try:
        job = await PgJobStore(db).get("old")
        assert job is not None and job.id == "old"
        assert await _version(pg_url) == LATEST
    finally:
        await db.aclose()


async def test_a_schema_newer_than_this_release_stops_the_start(pg_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
        await ensure_schema(conn, allow_offline=False)
        await conn.execute("INSERT INTO enrich_schema_version (version, description) VALUES (%s, 'future')", (99,))
    db = PostgresDatabase(pg_url)
    with pytest.raises(SchemaError, match="newer than this enrich-mcp"):
        await db.fetchall("SELECT 1")
    await db.aclose()


async def test_the_sandbox_s_own_connections_check_the_schema_too(pg_url: str) -> None:
    fresh = PgSandboxStore(PostgresDatabase(pg_url), "lance")  # the first user of a new database migrates it
    fresh.set_meta("seeded", True)
    fresh.close()
    assert await _version(pg_url) == LATEST
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
        await conn.execute("INSERT INTO enrich_schema_version (version, description) VALUES (%s, 'future')", (99,))
    with pytest.raises(SchemaError, match="newer than this enrich-mcp"):
        PgSandboxStore(PostgresDatabase(pg_url), "lance").meta("seeded")


async def test_a_migration_that_is_not_online_waits_for_db_upgrade(pg_url: str) -> None:
    rewrite = Migration(LATEST + 1, "rewrite the cache", "UPDATE cache SET vendor = lower(vendor)", online=False)
    migrations = (*MIGRATIONS, rewrite)
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
        await ensure_schema(conn, allow_offline=False)
        with pytest.raises(SchemaError, match="enrich-mcp db upgrade"):
            await ensure_schema(conn, allow_offline=False, migrations=migrations)  # start-up: not safe
        assert await current_version(conn) == LATEST
        applied = await ensure_schema(conn, allow_offline=True, migrations=migrations)  # `db upgrade`
        assert [m.version for m in applied] == [LATEST + 1]


def test_db_upgrade_command_on_both_backends(
    pg_url: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from enrich_mcp.cli import main

    monkeypatch.setenv("ENRICH_MCP_HOME", str(tmp_path / "home"))
    main(["db", "upgrade"])
    out = capsys.readouterr().out
    assert "jobs.sqlite3: schema 2 (created)" in out and "ratelimit.sqlite3: schema 1 (created)" in out
    monkeypatch.setenv("ENRICH_MCP_DATABASE_URL", pg_url)
    main(["db", "upgrade"])
    out = capsys.readouterr().out
    assert f"schema {LATEST} (upgraded from 0)" in out and "applied 4: sandbox state shared by replicas" in out
    main(["db", "upgrade"])
    assert "up to date" in capsys.readouterr().out


async def test_a_client_on_one_replica_hears_of_what_another_replica_did(
    make_settings: Callable[..., Settings], pg_url: str, tmp_path: Any
) -> None:
    vendor = FakeVendor(poll_gate=anyio.Event())  # nothing moves until A's client has subscribed
    database = SecretStr(pg_url)
    a = fake_server(lambda: build_server(make_settings(toolsets=["core"], database_url=database)), vendor)
    b = fake_server(
        lambda: build_server(make_settings(toolsets=["core"], database_url=database, home=tmp_path / "b")), vendor
    )
    heard = anyio.Event()
    uri = ""

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ResourceUpdatedNotification) and str(message.params.uri) == uri:
            heard.set()

    try:
        async with connect(a, message_handler=on_message) as on_a, connect(b) as on_b:
            started = await on_b.call_tool("fake_search", {"query": "q", "wait_seconds": 0})
            assert started.structured_content is not None
            job_id = started.structured_content["job"]["job_id"]
            uri = f"enrich://jobs/{job_id}"
            with anyio.fail_after(5):
                await vendor.until(lambda: vendor.polls_started == 1)
            await on_a.subscribe_resource(uri)
            assert vendor.poll_gate is not None
            vendor.poll_gate.set()  # B polls; A's client must be told
            with anyio.fail_after(10):
                await heard.wait()
            # A answers for the job B drives (one ledger), and waits on it without polling the vendor itself.
            result = await on_a.call_tool("get_job_results", {"job_id": job_id})
            assert result.structured_content is not None
            with anyio.fail_after(10):
                done = await a.runtime.jobs.wait(job_id, 10)
            assert done.status == "completed"
            assert "fake.search" in a.runtime.jobs.handlers and job_id not in a.runtime.jobs._held  # pyright: ignore[reportPrivateUsage]
    finally:
        a.runtime.close()
        b.runtime.close()
    assert vendor.submits == 1


async def test_tools_run_on_postgres_as_on_sqlite(make_settings: Callable[..., Settings], pg_url: str) -> None:
    server = build_server(make_settings(toolsets=["sixtyfour"], database_url=SecretStr(pg_url), budget_usd=1.0))
    try:
        async with connect(server) as client:
            lead = {"name": "Ada Lovelace", "company": "Analytical"}
            first = await client.call_tool("sixtyfour_find_email", {"lead": lead})
            again = await client.call_tool("sixtyfour_find_email", {"lead": lead})
            assert not first.is_error and not again.is_error
            assert server.runtime.cache.stats.hits == 1  # the second came from the PostgreSQL cache
            report = await client.call_tool("spend_report", {})
            assert report.structured_content is not None and report.structured_content["spent_usd"] == 0.05
            forgot = await client.call_tool("forget_person", {"identifiers": ["Ada Lovelace"]})
            assert not forgot.is_error, forgot.content
            after = await client.call_tool("cache_stats", {})
            assert after.structured_content is not None and after.structured_content["entries"] == 0
    finally:
        server.runtime.close()
    async with await psycopg.AsyncConnection.connect(pg_url) as conn:
        cur = await conn.execute("SELECT count(*) FROM cache WHERE value ILIKE '%lovelace%'")
        assert await cur.fetchone() == (0,)


async def test_a_sandbox_job_started_through_one_replica_is_polled_to_the_end_by_another(
    make_settings: Callable[..., Settings], pg_url: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sandbox mode on a database: one sandbox for every replica, so B finds the job A started at it."""
    monkeypatch.setenv("ENRICH_MCP_SANDBOX_VARIANTS", "audiencelab.gcs_access=public,audiencelab.csv_header=upper")
    database = SecretStr(pg_url)
    common = {"toolsets": ["audiencelab"], "database_url": database, "lease_seconds": 0.3}
    a = build_server(make_settings(**common, poll_interval_seconds=60))  # A submits, then never polls
    b = build_server(make_settings(**common, home=tmp_path / "b"))  # its own data directory: only the database
    records = [{"email": "ada.lovelace@example.com"}, {"email": "grace.hopper@example.com"}]
    submitted = anyio.Event()

    async def on_change(job: Job) -> None:
        if job.vendor_job_id is not None:
            submitted.set()

    a.runtime.jobs.listeners.append(on_change)
    try:
        async with connect(b) as on_b:
            async with connect(a) as on_a:
                started = await on_a.call_tool(
                    "audiencelab_enrich_contacts_bulk", {"name": "team", "records": records, "wait_seconds": 0}
                )
                assert started.structured_content is not None, started.content
                job_id = started.structured_content["job"]["job_id"]
                with anyio.fail_after(10):
                    await submitted.wait()  # A's sandbox accepted the job
            # A's session ended: A stopped and released the job; B takes it over and polls its own sandbox.
            with anyio.fail_after(10):
                job = await b.runtime.jobs.wait(job_id, 10)
            rows = await on_b.call_tool("get_job_results", {"job_id": job_id})
    finally:
        a.runtime.close()
        b.runtime.close()
    assert job.status == "completed", job.error
    assert rows.structured_content is not None
    assert [r["FIRST_NAME"] for r in rows.structured_content["rows"]] == ["Ada", "Grace"]
    sandbox_a, sandbox_b = a.runtime.sandboxes["audiencelab"], b.runtime.sandboxes["audiencelab"]
    assert len(sandbox_a.calls("POST", "/enrichments")) == 1 and sandbox_a.calls("GET", "/enrichments") == []
    assert sandbox_b.calls("POST", "/enrichments") == [] and sandbox_b.calls("GET", "/enrichments")
    assert [r.url.host for r in sandbox_b.requests if r.url.host == GCS_HOST] == [GCS_HOST]  # B downloaded
    async with await psycopg.AsyncConnection.connect(pg_url) as conn:
        cur = await conn.execute(
            "SELECT data FROM sandbox_records WHERE vendor = 'audiencelab' AND id = %s", (job.vendor_job_id,)
        )
        stored = await cur.fetchone()
    assert stored is not None and '"status":"COMPLETED"' in stored[0]  # the one sandbox, in the database
