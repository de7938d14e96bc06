"""Command line: ``enrich-mcp`` (stdio), ``enrich-mcp serve --http``, ``enrich-mcp demo``, ``enrich-mcp tools``."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from enrich_mcp import __version__
from enrich_mcp.errors import DataDirectoryError, redact
from enrich_mcp.settings import Settings


class RedactingFilter(logging.Filter):
    """Last line of defence: no configured secret reaches a log line."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            record.msg = redact(record.getMessage(), self.secrets)
            record.args = None
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
    # Everything the server writes (cache values, ledgers, exports) is the user's alone, whatever the
    # library that creates the file; folders are 0700 and files 0600 explicitly too.
    os.umask(0o077)
    try:
        _main(argv)
    except DataDirectoryError as exc:
        # One paragraph that names the file and the fix, not a traceback.
        print(str(exc), file=sys.stderr, flush=True)
        raise SystemExit(2) from None


def _main(argv: list[str] | None) -> None:
    parser = argparse.ArgumentParser(prog="enrich-mcp", description="Lead-enrichment MCP server")
    parser.add_argument("--version", action="version", version=f"enrich-mcp {__version__}")
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="run the server (stdio unless --http)")
    serve.add_argument("--http", action="store_true", help="streamable HTTP on 127.0.0.1 with a bearer token")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765)
    sub.add_parser("demo", help="a short walk-through on the built-in sandbox (no keys needed)")
    sub.add_parser("tools", help="print the tools this configuration exposes")
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
    if args.command == "serve" and args.http:
        from enrich_mcp.http_transport import serve_http

        serve_http(settings, host=args.host, port=args.port)
        return

    import anyio

    from enrich_mcp.server import build_server
    from enrich_mcp.stdio import serve_stdio

    server = build_server(settings)
    anyio.run(serve_stdio, server)
