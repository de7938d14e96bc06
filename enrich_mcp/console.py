"""Terminal rendering for the CLI and the demo: tools by toolset, tool answers, jobs and spend, with rich.

Pure functions from the data a tool returns (plain dicts, as an MCP client sees them) to rich
renderables; nothing here talks to the server.
"""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from enrich_mcp.vendors import discover_vendors

CORE = "core"
STATUS_STYLE = {
    "queued": "yellow",
    "running": "cyan",
    "completed": "green",
    "failed": "red",
    "cancelled": "magenta",
}
ENDED = frozenset({"completed", "failed", "cancelled"})

# Which budget prices ("<vendor>.<operation>", see each vendor's SPEC.prices) a tool's calls are charged at,
# and per what. An entry matches the key itself and every "<entry>.<variant>" (e.g. find_email's modes).
# tests/test_console.py checks that every priced operation belongs to some tool and every tool here exists.
TOOL_PRICES: dict[str, tuple[tuple[str, ...], str]] = {
    "enrich_person": (
        ("sixtyfour.find_email", "sixtyfour.find_phone", "audiencelab.enrich", "lance.enrich"),
        "step",
    ),
    "sixtyfour_find_email": (("sixtyfour.find_email",), "lead"),
    "sixtyfour_find_emails_bulk": (("sixtyfour.find_email",), "lead"),
    "sixtyfour_find_phone": (("sixtyfour.find_phone",), "lead"),
    "sixtyfour_find_phones_bulk": (("sixtyfour.find_phone",), "lead"),
    "sixtyfour_enrich_lead": (("sixtyfour.enrich_lead",), "lead"),
    "sixtyfour_enrich_company": (("sixtyfour.enrich_company",), "company"),
    "sixtyfour_qualify_lead": (("sixtyfour.qa_agent",), "evaluation"),
    "sixtyfour_deep_search": (("sixtyfour.deep_search",), "result"),
    "sixtyfour_run_workflow": (("sixtyfour.workflow_run",), "row"),
    "audiencelab_enrich_contact": (("audiencelab.enrich",), "lookup"),
    "audiencelab_enrich_contacts_bulk": (("audiencelab.enrichment_record",), "record"),
    "lance_enrich_person": (("lance.enrich",), "person"),
    "enrichabl_start_enrichment": (("enrichabl.enrichment",), "lead"),
    "enrichabl_start_validation": (("enrichabl.validation",), "lead"),
    "fourrunr_clean_lead": (("fourrunr.clean_lead",), "lead"),
    "fourrunr_clean_leads_bulk": (("fourrunr.clean_lead",), "lead"),
    "fourrunr_generate_message": (("fourrunr.generate_message",), "message"),
    "fourrunr_enrich_lead": (("fourrunr.enrich_lead",), "lead"),
}


def make_console(*, stderr: bool = False) -> Console:
    """A console on stdout (or stderr); wide when piped, so tables are not folded to 80 columns."""
    console = Console(stderr=stderr)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(stderr=stderr, width=160)
    return console


def toolset_of(tool_name: str) -> str:
    prefix = tool_name.split("_", 1)[0]
    return prefix if prefix in {spec.name for spec in discover_vendors()} else CORE


def matching_prices(entries: Iterable[str], prices: Mapping[str, float]) -> dict[str, float]:
    return {
        key: usd for key, usd in prices.items() if any(key == entry or key.startswith(entry + ".") for entry in entries)
    }


def usd(amount: float | None) -> str:
    if amount is None:
        return "—"
    return f"${amount:,.2f}" if amount == 0 or amount >= 0.01 else f"${amount:,.4f}"


def price_label(tool_name: str, prices: Mapping[str, float]) -> str:
    """``$0.05–$0.20/lead``, ``$0.30/lead``, ``free``, or ``unpriced`` when no price is configured."""
    entry = TOOL_PRICES.get(tool_name)
    if entry is None:
        return "free"
    found = matching_prices(entry[0], prices)
    if not found:
        return "unpriced"
    low, high = min(found.values()), max(found.values())
    amount = usd(low) if low == high else f"{usd(low)}–{usd(high)}"
    return f"{amount}/{entry[1]}"


def summary_of(description: str | None, width: int = 110) -> str:
    """A tool description's first sentence, on one line."""
    text = " ".join(textwrap.dedent(description or "").split())
    sentence, dot, _ = text.partition(". ")
    return textwrap.shorten(sentence + ("." if dot else ""), width=width, placeholder="…")


def tools_tables(tools: Sequence[Any], prices: Mapping[str, float]) -> list[Table]:
    """One table per toolset (core first), with the read-only mark and the price of each tool."""
    by_toolset: dict[str, list[Any]] = {}
    for tool in sorted(tools, key=lambda t: t.name):
        by_toolset.setdefault(toolset_of(tool.name), []).append(tool)
    order = sorted(by_toolset, key=lambda name: (name != CORE, name))
    tables = []
    for name in order:
        table = Table(
            title=f"{name} ({len(by_toolset[name])} tools)",
            title_justify="left",
            title_style="bold",
            box=box.SIMPLE_HEAD,
            expand=False,
        )
        table.add_column("tool", style="cyan", no_wrap=True)
        table.add_column("access", no_wrap=True)
        table.add_column("price", no_wrap=True)
        table.add_column("what it does", overflow="fold")
        for tool in by_toolset[name]:
            hints = tool.annotations
            read_only = bool(hints and hints.read_only_hint)
            destructive = bool(hints and hints.destructive_hint)
            if read_only:
                mark = Text("✓ read-only", style="green")
            else:
                mark = Text("⚠ destructive", style="red") if destructive else Text("writes", style="dim")
            price = price_label(tool.name, prices)
            price_text = Text(price, style="dim" if price == "free" else "yellow")
            table.add_row(tool.name, mark, price_text, summary_of(tool.description))
        tables.append(table)
    return tables


# -- generic structured answers -------------------------------------------------------------------

MAX_ROWS = 50
MAX_COLUMNS = 10
CELL_WIDTH = 60


def _short(value: Any, width: int = CELL_WIDTH) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list) and not any(isinstance(item, dict | list) for item in value):
        text = ", ".join("" if item is None else str(item) for item in value)
    elif isinstance(value, dict | list):
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    else:
        text = str(value)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def rows_table(rows: Sequence[Mapping[str, Any]], *, title: str | None = None, max_rows: int = MAX_ROWS) -> Table:
    """List-of-objects as a table: the union of the keys as columns (the first few), one row each."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    shown_columns = columns[:MAX_COLUMNS]
    hidden = len(columns) - len(shown_columns)
    caption_parts = []
    if len(rows) > max_rows:
        caption_parts.append(f"{len(rows) - max_rows} more rows not shown")
    if hidden:
        caption_parts.append(f"{hidden} more columns: {', '.join(columns[MAX_COLUMNS:])}")
    table = Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        caption="; ".join(caption_parts) or None,
        caption_justify="left",
    )
    for column in shown_columns:
        table.add_column(column, overflow="fold")
    for row in rows[:max_rows]:
        table.add_row(*(_short(row.get(column)) for column in shown_columns))
    return table


def _is_rows(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(item, dict) for item in value)


def render(value: Any, *, depth: int = 0) -> RenderableType:
    """Any JSON value, readably: objects as key/value grids, lists of objects as tables."""
    if isinstance(value, dict):
        if not value:
            return Text("{}", style="dim")
        if depth >= 3:
            return Text(_short(value, 200))
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold cyan", no_wrap=True)
        grid.add_column(overflow="fold")
        tables: list[RenderableType] = []
        for key, item in value.items():
            if depth == 0 and _is_rows(item):
                # Top-level rows get the full width below the scalars instead of a squeezed nested table.
                tables.append(rows_table(item, title=str(key)))
            else:
                grid.add_row(str(key), render(item, depth=depth + 1))
        return Group(grid, *tables) if tables else grid
    if _is_rows(value):
        return rows_table(value)
    if isinstance(value, list):
        return Text(", ".join(_short(item, 80) for item in value)) if value else Text("[]", style="dim")
    if value is None:
        return Text("—", style="dim")
    if isinstance(value, bool):
        return Text("yes" if value else "no", style="green" if value else "red")
    if isinstance(value, int | float):
        return Text(str(value))
    return Text(str(value))


# -- jobs and spend -------------------------------------------------------------------------------


def status_text(status: str | None) -> Text:
    return Text(status or "?", style=STATUS_STYLE.get(status or "", ""))


def progress_label(job: Mapping[str, Any]) -> str:
    done, total = job.get("progress"), job.get("total")
    if done is None:
        return ""
    if total:
        return f"{done:g}/{total:g} ({100 * done / total:.0f}%)"
    return f"{done:g}"


def jobs_table(jobs: Sequence[Mapping[str, Any]]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, title=f"{len(jobs)} jobs", title_justify="left", title_style="bold")
    for column in ("job", "tool", "status", "progress", "rows", "updated", "note"):
        table.add_column(column, overflow="fold", no_wrap=column in ("job", "tool", "updated"))
    for job in jobs:
        note = job.get("error") or job.get("message") or ""
        table.add_row(
            str(job.get("job_id", "")),
            str(job.get("tool", "")),
            status_text(job.get("status")),
            progress_label(job),
            str(job.get("result_count", 0)),
            str(job.get("updated_at", "")),
            _short(note, 80),
        )
    return table


def _breakdown(title: str, amounts: Mapping[str, float], label: str) -> Table:
    table = Table(box=box.SIMPLE_HEAD, title=title, title_justify="left", title_style="bold")
    table.add_column(label)
    table.add_column("USD", justify="right")
    for key, amount in sorted(amounts.items(), key=lambda kv: (-kv[1], kv[0])):
        table.add_row(key, usd(amount))
    return table


def spend_view(report: Mapping[str, Any]) -> Group:
    """spend_report as a summary plus tables by vendor, tool and day."""
    summary = Table.grid(padding=(0, 2))
    summary.add_column(style="bold")
    summary.add_column(justify="right")
    budget = report.get("budget_usd")
    summary.add_row("spent", usd(report.get("spent_usd")))
    summary.add_row("reserved (in flight)", usd(report.get("reserved_usd")))
    summary.add_row("budget", usd(budget) if budget is not None else "no cap (ENRICH_MCP_BUDGET_USD)")
    if budget is not None:
        summary.add_row("remaining", usd(report.get("remaining_usd")))
    confirm = report.get("confirm_above_usd")
    summary.add_row("ask above", usd(confirm) if confirm is not None else "never (ENRICH_MCP_CONFIRM_ABOVE_USD)")
    summary.add_row("paid calls", str(report.get("calls", 0)))
    unpriced = report.get("calls_without_known_price", 0)
    if unpriced:
        summary.add_row("calls without a known price", Text(str(unpriced), style="yellow"))
    parts: list[RenderableType] = [summary]
    for key, title, label in (
        ("by_vendor", "By vendor", "vendor"),
        ("by_tool", "By tool", "tool"),
        ("by_day", "By day", "day"),
    ):
        amounts = report.get(key) or {}
        if amounts:
            parts.append(_breakdown(title, amounts, label))
    return Group(*parts)
