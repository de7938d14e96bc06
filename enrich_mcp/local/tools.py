"""MCP tools over the local provider: ``validate_emails`` and ``clean_leads``. Free, no vendor involved."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

import anyio.to_thread
from mcp.server.mcpserver import Context
from pydantic import BaseModel, ConfigDict, Field

from enrich_mcp import local
from enrich_mcp.errors import InputError
from enrich_mcp.files import input_file
from enrich_mcp.local.models import EmailResult, EmailSummary, LeadResult, LeadRow, LeadSummary
from enrich_mcp.schema import published
from enrich_mcp.tooling import Toolset, require

if TYPE_CHECKING:
    from enrich_mcp.runtime import Runtime

CSV_SUFFIXES = (".csv", ".tsv", ".txt")

CsvPath = Annotated[
    str | None,
    Field(default=None, max_length=4096, description="Or a .csv/.tsv/.txt file in the client's roots"),
]


class EmailValidation(BaseModel):
    # Typed in the published schema: what a caller acts on; the echo of the call passes through.
    model_config = ConfigDict(json_schema_extra=published("mx_checked", "results", "summary"))

    source: Literal["inline", "csv"]
    mx_checked: bool
    results: list[EmailResult] = Field(description="In input order")
    summary: EmailSummary


class LeadCleaning(BaseModel):
    model_config = ConfigDict(json_schema_extra=published("results", "summary"))

    source: Literal["inline", "csv"]
    default_region: str
    results: list[LeadResult] = Field(description="In input order")
    summary: LeadSummary


async def _read_csv(runtime: Runtime, ctx: Context, csv_path: str) -> list[dict[str, str]]:
    # A tool that echoes file content back must not become a way to read arbitrary files.
    settings = runtime.settings
    path = await input_file(
        csv_path, settings=settings, ctx=ctx, remote=settings.transport == "http", suffixes=CSV_SUFFIXES
    )
    return await anyio.to_thread.run_sync(local.read_csv_rows, path)


def _one_source(inline: object | None, csv_path: str | None, what: str) -> None:
    require(
        (inline is None) != (csv_path is None),
        f"Give either `{what}` or `csv_path`, not both and not neither.",
    )


def register_local(tools: Toolset, runtime: Runtime) -> None:
    @tools.tool(read_only=True, idempotent=True, open_world=True)
    async def validate_emails(
        ctx: Context,
        emails: Annotated[
            list[Annotated[str, Field(max_length=2_000)]] | None, Field(max_length=local.MAX_ITEMS)
        ] = None,
        csv_path: CsvPath = None,
        check_mx: Annotated[bool, Field(description="Ask DNS whether each domain accepts mail")] = True,
        verify_with_vendor: Annotated[bool, Field(description="Not done here: see enrichabl_start_validation")] = False,
    ) -> EmailValidation:
        """Check emails free (syntax, MX, disposable, role, free-mail) before paying or sending; verdicts: valid,
        risky, invalid or unknown."""
        _one_source(emails, csv_path, "emails")
        if verify_with_vendor:
            # Mailbox-level verification is an Enrichabl pipeline job (upload, then validate), with its own
            # pipeline, cost and wait; doing it silently inside a free tool would hide all three.
            configured = "enrichabl" in runtime.vendors
            raise InputError(
                "verify_with_vendor is not done by validate_emails: mailbox verification runs as an Enrichabl "
                "pipeline job, which costs credits.",
                hint=(
                    "Call validate_emails without it first, then enrichabl_upload_leads and "
                    "enrichabl_start_validation (BOUNCEBAN|MAILVERI|HYBRID) on the addresses that matter."
                    if configured
                    else "Set ENRICHABL_API_KEY to enable the Enrichabl tools (enrichabl_upload_leads, "
                    "enrichabl_start_validation), or call again without verify_with_vendor."
                ),
            )
        if csv_path is not None:
            addresses: list[Any] = local.emails_from_rows(await _read_csv(runtime, ctx, csv_path))
        else:
            addresses = list(emails or [])
        report = await local.validate_emails(addresses, resolver=runtime.mx_resolver, check_mx=check_mx)
        return EmailValidation(
            source="inline" if csv_path is None else "csv",
            mx_checked=check_mx,
            results=report.results,
            summary=report.summary,
        )

    @tools.tool(read_only=True, idempotent=True, open_world=False)
    async def clean_leads(
        ctx: Context,
        rows: Annotated[
            list[LeadRow] | None, Field(max_length=local.MAX_ITEMS, description="Each <=16 KB; a call <=5 MB")
        ] = None,
        csv_path: CsvPath = None,
        default_region: Annotated[
            str, Field(min_length=2, max_length=2, description="Country code for phones without +code")
        ] = "US",
    ) -> LeadCleaning:
        """Normalise leads free (names, emails, E.164 phones, domains, LinkedIn) and flag duplicates; use before paid
        enrichment."""
        _one_source(rows, csv_path, "rows")
        rows_given = [row.flat() for row in rows or []]
        data: list[Any] = await _read_csv(runtime, ctx, csv_path) if csv_path is not None else rows_given
        report = await anyio.to_thread.run_sync(lambda: local.clean_leads(data, default_region=default_region))
        return LeadCleaning(
            source="inline" if csv_path is None else "csv",
            default_region=default_region.upper(),
            results=report.results,
            summary=report.summary,
        )
