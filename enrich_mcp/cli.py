"""Command line: ``enrich-mcp`` (stdio), ``serve --http``, ``demo``, ``tools``, ``call``, ``jobs``, ``spend``.

The interactive commands live in ``cli_commands.py`` (through an MCP client) and ``console.py`` (rendering).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from functools import partial
from pathlib import Path
from typing import Any

import anyio

from enrich_mcp import __version__
from enrich_mcp.errors import ConfigError, DataDirectoryError, SchemaError, StoreUnavailable, redact
from enrich_mcp.settings import Settings


class RedactingFilter(logging.Filter):
    """Last line of defence: no configured secret reaches a log line, tracebacks included."""

    _formatter = logging.Formatter()

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        record.msg = redact(record.getMessage(), self.secrets)
        record.args = None
        # An exception's text (its message, a vendor answer in its args, locals in a chained cause) is
        # formatted here and redacted; dropping exc_info keeps any formatter from rendering it again unredacted.
        if record.exc_info:
            record.exc_text = self._formatter.formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self.secrets)
        return True


def configure_logging(settings: Settings, *, quiet: bool = False) -> None:
    """Logs go to stderr only: stdout is the MCP protocol. ``quiet`` keeps warnings and errors only."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(settings.secrets()))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel("WARNING" if quiet else settings.log_level.upper())
    for noisy in ("httpx", "httpcore", "mcp"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


EPILOG = """\
commands:
  enrich-mcp                     run the MCP server on stdio (what an MCP client starts)
  enrich-mcp serve --http        streamable HTTP on 127.0.0.1 behind ENRICH_MCP_HTTP_TOKEN
  enrich-mcp tools               the tools this configuration exposes, by toolset, with prices
  enrich-mcp call TOOL ...       call one tool and show its answer
  enrich-mcp jobs [--follow ID]  background jobs; follow one with a live progress bar
  enrich-mcp spend               what was spent, by vendor, tool and day
  enrich-mcp db upgrade          bring the state store's schema (data directory or database) up to date
  enrich-mcp demo                a walk-through on the built-in sandbox (no keys, no network)

Configuration is read from the environment (ENRICH_MCP_*, <VENDOR>_API_KEY); see README.md.
Try anything without keys: ENRICH_MCP_SANDBOX=1 enrich-mcp tools
"""

CALL_EPILOG = """\
--arg values are parsed as JSON when they parse (numbers, true/false/null, lists, objects) and are
strings otherwise. --json gives the whole argument object (or @file.json, or - for stdin); --arg
entries are applied on top of it. A tool error prints its message on stderr and exits 1.

examples:
  enrich-mcp call validate_emails --arg 'emails=["ada@example.com","bob@mailinator.com"]'
  enrich-mcp call enrich_person --arg name="Grace Hopper" --arg company=Navy \\
      --arg 'want=["work_email"]' --arg dry_run=true
  enrich-mcp call sixtyfour_find_email --json '{"lead": {"name": "Alan Turing", "company": "Example Labs"}}'
  enrich-mcp call get_job_results --arg job_id=0123abcd --arg limit=5 --raw | jq .rows
"""

JOBS_EPILOG = """\
examples:
  enrich-mcp jobs                         the 50 newest jobs
  enrich-mcp jobs --status running        only running ones (queued|running|completed|failed|cancelled)
  enrich-mcp jobs --follow 0123abcd       a live progress bar until the job ends (exit 0 if it completed)

Following a job also keeps polling the vendor for it, as a server would.
"""


def _parse_call_arguments(parser: argparse.ArgumentParser, json_text: str | None, pairs: list[str]) -> dict[str, Any]:
    arguments: dict[str, Any] = {}
    if json_text is not None:
        text = json_text
        if text == "-":
            text = sys.stdin.read()
        elif text.startswith("@"):
            text = Path(text[1:]).read_text(encoding="utf-8")
        try:
            parsed = json.loads(text)
        except ValueError as exc:
            parser.error(f"--json is not valid JSON: {exc}")
        if not isinstance(parsed, dict):
            parser.error("--json must be a JSON object of arguments")
        arguments.update(parsed)
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            parser.error(f"--arg takes key=value, got {pair!r}")
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        arguments[key.strip()] = value
    return arguments


def build_parser() -> argparse.ArgumentParser:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="enrich-mcp",
        description="Lead-enrichment MCP server: typed, cached, budget-aware tools over B2B data vendors.",
        epilog=EPILOG,
        formatter_class=raw,
    )
    parser.add_argument("--version", action="version", version=f"enrich-mcp {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = sub.add_parser(
        "serve",
        help="run the server (stdio unless --http)",
        description="Run the MCP server: stdio by default, or streamable HTTP on loopback behind a bearer token.",
        epilog="examples:\n  enrich-mcp serve\n  ENRICH_MCP_HTTP_TOKEN=$(openssl rand -hex 24) enrich-mcp serve --http "
        "--port 8765\n\nWithout ENRICH_MCP_HTTP_TOKEN a token is generated and shown once on stderr.",
        formatter_class=raw,
    )
    serve.add_argument("--http", action="store_true", help="streamable HTTP on 127.0.0.1 with a bearer token")
    serve.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8765, help="port (default 8765); the endpoint is /mcp")

    sub.add_parser(
        "demo",
        help="a walk-through on the built-in sandbox (no keys needed)",
        description="Start enrich-mcp on the built-in sandbox over stdio, call tools as an assistant would and "
        "show the answers; ends with a Claude Desktop config entry for this install.",
        epilog="example:\n  enrich-mcp demo",
        formatter_class=raw,
    )

    tools = sub.add_parser(
        "tools",
        help="the tools this configuration exposes, by toolset, with read-only mark and price",
        description="List the tools a client would see with the current environment, grouped by toolset.",
        epilog="examples:\n  enrich-mcp tools\n  ENRICH_MCP_SANDBOX=1 enrich-mcp tools --toolset sixtyfour\n"
        "  enrich-mcp tools --names | wc -l",
        formatter_class=raw,
    )
    tools.add_argument("--toolset", help="only this toolset (core, sixtyfour, audiencelab, lance, enrichabl, fourrunr)")
    tools.add_argument("--names", action="store_true", help="bare tool names, one a line (for scripts)")

    call = sub.add_parser(
        "call",
        help="call one tool through an MCP client and show its answer",
        description="Call TOOL through a real MCP client session on an in-process server and pretty-print the answer.",
        epilog=CALL_EPILOG,
        formatter_class=raw,
    )
    call.add_argument("tool", metavar="TOOL", help="tool name (see enrich-mcp tools)")
    call.add_argument("--arg", "-a", action="append", default=[], metavar="KEY=VALUE", help="one argument")
    call.add_argument("--json", "-j", metavar="JSON", help="all arguments as a JSON object, @file.json, or -")
    call.add_argument("--raw", action="store_true", help="print the structured answer as JSON")

    jobs = sub.add_parser(
        "jobs",
        help="background jobs as a table, or follow one with a live progress bar",
        description="List background jobs (newest first), or follow one until it ends.",
        epilog=JOBS_EPILOG,
        formatter_class=raw,
    )
    jobs.add_argument("--follow", "-f", metavar="JOB_ID", help="show a live progress bar until this job ends")
    jobs.add_argument("--interval", type=float, default=1.0, help="seconds between polls when following (default 1)")
    jobs.add_argument("--status", choices=["queued", "running", "completed", "failed", "cancelled"])
    jobs.add_argument("--vendor", help="only this vendor's jobs")
    jobs.add_argument("--limit", type=int, default=50, help="how many (default 50, at most 500)")

    spend = sub.add_parser(
        "spend",
        help="the spend report as tables",
        description="Money spent at the vendors by vendor, tool and day, what is reserved, and the budget left.",
        epilog="examples:\n  enrich-mcp spend\n  enrich-mcp spend --raw | jq .spent_usd",
        formatter_class=raw,
    )
    spend.add_argument("--raw", action="store_true", help="print the report as JSON")
    from enrich_mcp.stores import cli as db_cli

    db_cli.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Everything the server writes (cache values, ledgers, exports) is the user's alone, whatever the
    # library that creates the file; folders are 0700 and files 0600 explicitly too.
    umask = os.umask(0o077)
    try:
        return _main(argv)
    except (DataDirectoryError, StoreUnavailable, SchemaError, ConfigError) as exc:
        # One paragraph that names the file or the database and the fix, not a traceback.
        print(str(exc), file=sys.stderr, flush=True)
        return 2
    finally:
        os.umask(umask)  # main() also runs in-process (tests, embedding): leave the process as it was


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)

    if args.command == "demo":
        from enrich_mcp.demo import run_demo

        run_demo()
        return 0

    settings = Settings.from_env()
    interactive = args.command in ("tools", "call", "jobs", "spend")
    # A person at a terminal wants answers, not start-up chatter; warnings (e.g. a missing key) still show.
    configure_logging(settings, quiet=interactive and "ENRICH_MCP_LOG_LEVEL" not in os.environ)
    if args.command == "db":
        from enrich_mcp.stores import cli as db_cli

        return db_cli.run(args, settings)
    # Imported when needed, not at the top: `--help`, `demo` and `db` stay quick without the server's imports.
    from enrich_mcp.server import build_server

    if interactive:
        from enrich_mcp import cli_commands as commands

        build = partial(build_server, settings)

        if args.command == "tools":
            return anyio.run(partial(commands.list_tools, build, toolset=args.toolset, names_only=args.names))
        if args.command == "call":
            arguments = _parse_call_arguments(parser, args.json, args.arg)
            return anyio.run(partial(commands.call_tool, build, args.tool, arguments, raw=args.raw))
        if args.command == "jobs":
            if args.follow:
                return anyio.run(partial(commands.follow, build, args.follow, interval=args.interval))
            return anyio.run(
                partial(commands.show_jobs, build, status=args.status, vendor=args.vendor, limit=args.limit)
            )
        return anyio.run(partial(commands.show_spend, build, raw=args.raw))

    if args.command == "serve" and args.http:
        from enrich_mcp.http_transport import serve_http

        serve_http(settings, build_server, host=args.host, port=args.port)
        return 0

    from enrich_mcp.stdio import serve_stdio

    anyio.run(serve_stdio, build_server(settings))
    return 0
