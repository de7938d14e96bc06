"""Command line: ``enrich-mcp`` (stdio), ``enrich-mcp serve --http``, ``enrich-mcp demo``, ``enrich-mcp tools``."""

from __future__ import annotations

import argparse
import logging
import sys

from enrich_mcp import __version__
from enrich_mcp.errors import redact
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


def configure_logging(settings: Settings) -> None:
    """Logs go to stderr only: stdout is the MCP protocol."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(settings.secrets()))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    for noisy in ("httpx", "httpcore", "mcp"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="enrich-mcp", description="Lead-enrichment MCP server")
    parser.add_argument("--version", action="version", version=f"enrich-mcp {__version__}")
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="run the server (stdio unless --http)")
    serve.add_argument("--http", action="store_true", help="streamable HTTP on 127.0.0.1 with a bearer token")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765)
    sub.add_parser("demo", help="a short walk-through on the built-in sandbox (no keys needed)")
    sub.add_parser("tools", help="print the tools this configuration exposes")
    from enrich_mcp.stores import cli as db_cli

    db_cli.add_parser(sub)
    args = parser.parse_args(argv)

    if args.command == "demo":
        from enrich_mcp.demo import run_demo

        run_demo()
        return

    settings = Settings.from_env()
    configure_logging(settings)
    if args.command == "tools":
        from enrich_mcp.server import build_server

        server = build_server(settings)
        for tool in server._tool_manager.list_tools():  # pyright: ignore[reportPrivateUsage]
            print(tool.name)
        return
    if args.command == "db":
        db_cli.run(args, settings)
        return
    if args.command == "serve" and args.http:
        from enrich_mcp.http_transport import serve_http

        serve_http(settings, host=args.host, port=args.port)
        return

    from enrich_mcp.server import build_server

    build_server(settings).run("stdio")
