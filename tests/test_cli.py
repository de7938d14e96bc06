"""The command line: tools, call, jobs (and --follow), spend, demo, --help (in process and as a real subprocess);
and the log filter: no configured secret reaches stderr, in messages, arguments, tracebacks or stack info."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from pydantic import SecretStr
from rich.console import Console

from enrich_mcp.cli import RedactingFilter, build_parser, configure_logging, main
from enrich_mcp.cli_commands import follow_job
from enrich_mcp.console import TOOL_PRICES, matching_prices, price_label
from enrich_mcp.server import EnrichServer
from enrich_mcp.settings import Settings, VendorConfig
from enrich_mcp.vendors import discover_vendors
from tests.conftest import connect

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOT = {t["name"]: t for t in json.loads((ROOT / "tests" / "__snapshots__" / "tools.json").read_text())}


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """main() points the root logger at the (captured) stderr; put pytest's handlers back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def sandbox_env(monkeypatch: pytest.MonkeyPatch, home: Path) -> Path:
    monkeypatch.setenv("ENRICH_MCP_SANDBOX", "1")
    monkeypatch.setenv("ENRICH_MCP_HOME", str(home))
    monkeypatch.setenv("ENRICH_MCP_POLL_INTERVAL_SECONDS", "0.01")
    return home


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def line_of(text: str, needle: str) -> str:
    return next(line for line in text.splitlines() if f" {needle} " in f" {line} ")


# -- tools ----------------------------------------------------------------------------------------


def test_tools_is_a_table_by_toolset_with_access_and_price(
    sandbox_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENRICH_MCP_PRICES", '{"sixtyfour.find_phone": 0.5}')
    code, out, _ = run(capsys, "tools")
    assert code == 0
    titles = [line.strip() for line in out.splitlines() if line.strip().endswith(" tools)")]
    assert titles == [
        "core (11 tools)",
        "audiencelab (3 tools)",
        "enrichabl (11 tools)",
        "fourrunr (20 tools)",
        "lance (2 tools)",
        "sixtyfour (15 tools)",
    ]
    assert "$0.05–$0.20/lead" in line_of(out, "sixtyfour_find_email")
    assert "$0.50/lead" in line_of(out, "sixtyfour_find_phone")  # ENRICH_MCP_PRICES wins over the SPEC
    assert "$0.01/result" in line_of(out, "sixtyfour_deep_search")
    assert "$0.01–$0.50/step" in line_of(out, "enrich_person")
    assert "✓ read-only" in line_of(out, "get_job") and "free" in line_of(out, "get_job")
    assert "⚠ destructive" in line_of(out, "fourrunr_delete_lead")
    assert "writes" in line_of(out, "enrichabl_create_pipeline")
    assert all(name in out for name in SNAPSHOT)


def test_tools_names_and_toolset_filter(sandbox_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "tools", "--names")
    assert code == 0 and out.split() == sorted(SNAPSHOT)
    code, out, _ = run(capsys, "tools", "--toolset", "lance")
    assert code == 0 and "lance (2 tools)" in out and "sixtyfour_find_email" not in out
    code, _, err = run(capsys, "tools", "--toolset", "nope")
    assert code == 1 and "No toolset 'nope'" in err


def test_tools_without_keys_says_why_vendors_are_hidden(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENRICH_MCP_HOME", str(home))
    code, out, _ = run(capsys, "tools")
    assert code == 0 and "core (11 tools)" in out and "sixtyfour_find_email" not in out
    assert "sixtyfour: hidden: set SIXTYFOUR_API_KEY to enable it" in out


def test_every_priced_operation_belongs_to_a_tool_and_every_priced_tool_exists() -> None:
    prices = {f"{spec.name}.{op}": usd for spec in discover_vendors() for op, usd in spec.prices.items()}
    covered = set().union(*(matching_prices(entries, prices) for entries, _ in TOOL_PRICES.values()))
    assert covered == set(prices)
    assert set(TOOL_PRICES) <= set(SNAPSHOT)
    for name in TOOL_PRICES:
        assert not SNAPSHOT[name]["annotations"]["read_only"], f"{name} is read-only but priced"
    assert price_label("lance_enrich_person", prices) == "$0.10–$0.30/person"
    assert price_label("lance_enrich_person", {}) == "unpriced"
    assert price_label("list_jobs", prices) == "free"


# -- call -----------------------------------------------------------------------------------------


def test_arg_values_parse_as_json_when_they_parse_else_as_strings() -> None:
    parser = build_parser()
    args = parser.parse_args(
        [
            "call",
            "t",
            "--json",
            '{"a": 1, "keep": "me"}',
            "--arg",
            "a=2",
            "--arg",
            "name=Grace Hopper",
            "--arg",
            'emails=["x@example.com"]',
            "--arg",
            "flag=true",
            "--arg",
            "nothing=null",
            "--arg",
            "zip=02134",
            "--arg",
            "eq=a=b",
        ]
    )
    from enrich_mcp.cli import _parse_call_arguments  # pyright: ignore[reportPrivateUsage]

    assert _parse_call_arguments(parser, args.json, args.arg) == {
        "a": 2,
        "keep": "me",
        "name": "Grace Hopper",
        "emails": ["x@example.com"],
        "flag": True,
        "nothing": None,
        "zip": "02134",
        "eq": "a=b",
    }


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--arg", "novalue"], "--arg takes key=value"),
        (["--json", "{not json"], "--json is not valid JSON"),
        (["--json", "[1]"], "--json must be a JSON object"),
    ],
)
def test_bad_call_arguments_are_usage_errors(
    sandbox_env: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["call", "validate_emails", *argv])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_call_pretty_prints_structured_content(sandbox_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys,
        "call",
        "validate_emails",
        "--arg",
        'emails=["ada@example.com","not-an-email"]',
        "--arg",
        "check_mx=false",
    )
    assert code == 0, err
    assert out.startswith("✓ validate_emails")
    assert "ada@example.com" in line_of(out, "ada@example.com")
    assert "invalid" in line_of(out, "not-an-email") and "syntax" in line_of(out, "not-an-email")
    assert "summary" in out and "{" not in out  # a table, not a JSON dump


def test_call_raw_prints_the_structured_answer_as_json(sandbox_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "call",
        "sixtyfour_find_email",
        "--json",
        '{"lead": {"name": "Grace Hopper", "company": "Navy"}}',
        "--raw",
    )
    assert code == 0
    assert json.loads(out)["emails"][0]["address"] == "grace.hopper@navy.example.com"


def test_call_tool_error_goes_to_stderr_and_exits_1(sandbox_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys,
        "call",
        "lance_get_enrichment",
        "--arg",
        "person_id=3f2b6c1e-8a4d-4f5e-9b7c-1d2e3f4a5b6c",
        "--arg",
        "field=emails",
    )
    assert code == 1
    assert out == ""
    assert err.startswith("lance returned HTTP 404")
    assert "start one with lance_enrich_person" in " ".join(err.split())


def test_call_unknown_tool_suggests_a_name(sandbox_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "call", "validate_email")
    assert code == 2 and out == ""
    assert "No tool 'validate_email'" in err and "Did you mean validate_emails?" in err


# -- jobs and spend -------------------------------------------------------------------------------


def test_jobs_table_and_following_a_finished_job(sandbox_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    leads = {"leads": [{"name": "Ada Lovelace", "company": "Analytical Engines"}], "wait_seconds": 20}
    code, out, err = run(capsys, "call", "sixtyfour_find_emails_bulk", "--json", json.dumps(leads), "--raw")
    assert code == 0, err
    job_id = json.loads(out)["job"]["job_id"]

    code, out, _ = run(capsys, "jobs")
    assert code == 0
    row = line_of(out, job_id)
    assert "sixtyfour_find_emails_bulk" in row and "completed" in row
    code, out, _ = run(capsys, "jobs", "--status", "running")
    assert code == 0 and job_id not in out and "0 jobs" in out

    code, out, _ = run(capsys, "jobs", "--follow", job_id, "--interval", "0.01")
    assert code == 0
    assert "completed 1 result rows" in out
    assert f"enrich-mcp call get_job_results --arg job_id={job_id}" in out


def test_call_that_returns_a_job_handle_says_how_to_follow_it(
    sandbox_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    search = {"query": "CTOs in Lisbon", "max_results": 5, "wait_seconds": 0}
    code, out, _ = run(capsys, "call", "sixtyfour_deep_search", "--json", json.dumps(search))
    assert code == 0
    job_id = re.search(r"watch it with: enrich-mcp jobs --follow (\w+)", out)
    assert job_id is not None and job_id.group(1) in line_of(out, "job_id")


def test_following_an_unknown_job_fails(sandbox_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "jobs", "--follow", "nosuchjob", "--interval", "0.01")
    assert code == 1 and "nosuchjob" in err


async def test_follow_shows_progress_until_a_running_job_ends(server: EnrichServer) -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, width=120, force_terminal=False)
    with anyio.fail_after(30):
        async with connect(server) as client:
            started = await client.call_tool(
                "sixtyfour_deep_search", {"query": "CTOs in Lisbon", "max_results": 5, "wait_seconds": 0}
            )
            assert started.structured_content is not None
            job = started.structured_content["job"]
            assert job["status"] in ("queued", "running")
            code = await follow_job(client, job["job_id"], interval=0.01, console=console)
    assert code == 0
    text = buffer.getvalue()
    assert f"sixtyfour_deep_search {job['job_id']}" in text
    assert "100%" in text and "completed 3 result rows" in text


def test_spend_tables_after_a_paid_call(sandbox_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = run(capsys, "call", "sixtyfour_find_email", "--json", '{"lead": {"name": "Ada", "company": "AE"}}')
    assert code == 0
    code, out, _ = run(capsys, "spend")
    assert code == 0
    assert "$0.05" in line_of(out, "spent")
    assert "$0.05" in line_of(out, "sixtyfour_find_email")
    assert "no cap (ENRICH_MCP_BUDGET_USD)" in out
    code, out, _ = run(capsys, "spend", "--raw")
    assert code == 0 and json.loads(out)["by_tool"] == {"sixtyfour_find_email": 0.05}


# -- help and demo --------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [[], ["serve"], ["demo"], ["tools"], ["call"], ["jobs"], ["spend"]])
def test_help_everywhere_with_examples(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "usage: enrich-mcp" in out
    assert "enrich-mcp " + (command[0] if command else "tools") in out.split("usage:", 1)[1].split("\n", 1)[1]


def test_demo_prints_tables_and_ends_with_the_config_snippet(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    code, out, _ = run(capsys, "demo")
    assert code == 0
    assert "valid 1 · risky 1 · invalid 1 · unknown 1. Cost: $0." in out
    assert "Plan only: estimated $0.06, nothing spent." in out
    assert "grace.hopper@example.com" in line_of(out, "work_email")
    assert "tool error:" in out and "PROFESSIONAL" in out
    assert '"rows": [' not in out  # summaries, not JSON dumps
    snippet = out[out.rindex('{\n  "mcpServers"') :]
    config: dict[str, Any] = json.JSONDecoder().raw_decode(snippet)[0]
    command = Path(config["mcpServers"]["enrich"]["command"])
    assert command.is_absolute() and command == Path(sys.executable).with_name("enrich-mcp").absolute()
    assert command.exists()


# -- a real process -------------------------------------------------------------------------------


def _cli_env(home: Path) -> dict[str, str]:
    return {
        "ENRICH_MCP_SANDBOX": "1",
        "ENRICH_MCP_HOME": str(home),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    }


def test_installed_command_calls_a_tool_in_a_subprocess(home: Path) -> None:
    exe = str(Path(sys.executable).with_name("enrich-mcp"))
    emails = {"emails": ["ada@example.com", "bob@mailinator.com", "not-an-email"]}
    ok = subprocess.run(
        [exe, "call", "validate_emails", "--json", json.dumps(emails)],
        env=_cli_env(home),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert "invalid" in line_of(ok.stdout, "not-an-email")
    assert "unknown" in line_of(ok.stdout, "bob@mailinator.com")
    assert " INFO " not in ok.stderr  # no start-up chatter for a person at a terminal

    failed = subprocess.run(
        [exe, "call", "sixtyfour_get_workflow", "--arg", "workflow_id=00000000-0000-4000-8000-00000000dead"],
        env=_cli_env(home),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert failed.returncode == 1 and failed.stdout == ""
    assert "404" in failed.stderr


# -- the log filter -------------------------------------------------------------------------------

KEY = "sk-LOGKEY-5e3a1c9b7d2f4068"
TOKEN = "http-token-0f9e8d7c6b5a"


@pytest.fixture
def stderr() -> Iterator[io.StringIO]:
    """configure_logging's handler, writing to a buffer; the root logger is restored afterwards."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    buffer = io.StringIO()
    real, sys.stderr = sys.stderr, buffer
    try:
        configure_logging(
            Settings(vendors={"sixtyfour": VendorConfig(api_key=SecretStr(KEY))}, http_token=SecretStr(TOKEN))
        )
    finally:
        sys.stderr = real
    yield buffer
    root.handlers[:], root.level = saved


def fail_with_key() -> None:
    try:
        raise ValueError(f"vendor echoed {KEY}")
    except ValueError as inner:
        raise RuntimeError(f"call failed with token {TOKEN}") from inner


def test_messages_and_arguments_are_redacted(stderr: io.StringIO) -> None:
    logging.getLogger("enrich_mcp.test").warning("key %s and token %s", KEY, TOKEN)
    out = stderr.getvalue()
    assert KEY not in out and TOKEN not in out
    assert out.count("[redacted]") == 2


def test_exception_tracebacks_are_redacted(stderr: io.StringIO) -> None:
    log = logging.getLogger("enrich_mcp.test")
    try:
        fail_with_key()
    except RuntimeError:
        log.exception("unexpected failure")
        log.error("again, as exc_info", exc_info=sys.exc_info())
    out = stderr.getvalue()
    assert "Traceback (most recent call last)" in out and "fail_with_key" in out  # the traceback is kept
    assert "ValueError: vendor echoed [redacted]" in out and "RuntimeError: call failed with token [redacted]" in out
    assert KEY not in out and TOKEN not in out


def test_stack_info_is_redacted() -> None:
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "here", None, None, sinfo=f"Stack: call({KEY!r})")
    assert RedactingFilter([KEY]).filter(record)
    assert record.stack_info == "Stack: call('[redacted]')"


def test_a_record_keeps_its_redacted_exception_text_for_every_handler() -> None:
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "boom %s", (KEY,), None)
    try:
        fail_with_key()
    except RuntimeError:
        record.exc_info = sys.exc_info()
    assert RedactingFilter([KEY, TOKEN]).filter(record)
    formatted = logging.Formatter().format(record)
    assert KEY not in formatted and TOKEN not in formatted and "[redacted]" in formatted
    assert record.exc_info is None  # no formatter can render the unredacted exception again


# -- start-up errors ------------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [["db", "upgrade"], ["serve", "--http", "--port", "8799"]])
def test_an_unreachable_database_is_one_paragraph_and_exit_2(
    sandbox_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    # No server listens on a socket in an empty folder; sandbox mode opens the database at start-up.
    url = f"postgresql://team:s3cret-pw@/enrich?host={sandbox_env / 'no-such-socket-dir'}"
    monkeypatch.setenv("ENRICH_MCP_DATABASE_URL", url)
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    [paragraph] = [line for line in err.splitlines() if "database" in line and "not reachable" in line]
    assert paragraph.endswith("is not reachable. Check ENRICH_MCP_DATABASE_URL and that PostgreSQL is running.")
    assert "Traceback" not in err
    assert "s3cret-pw" not in err
