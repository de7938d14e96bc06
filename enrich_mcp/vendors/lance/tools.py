"""Lance tools: start (or reuse) a person's email/phone enrichment and read its status."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from mcp.server.mcpserver import Context
from pydantic import Field, ValidationError

from enrich_mcp.errors import VendorNotFound, VendorProtocolError
from enrich_mcp.tooling import Toolset, start_job
from enrich_mcp.vendors.base import VendorServices
from enrich_mcp.vendors.lance.client import LanceClient
from enrich_mcp.vendors.lance.jobs import STATUS, EnrichmentJobHandler
from enrich_mcp.vendors.lance.models import EnrichField, Enrichment, EnrichmentStatus, EnrichPersonResult

PersonId = Annotated[UUID, Field(description="The Lance person's UUID, e.g. 550e8400-e29b-41d4-a716-446655440000")]
FieldArg = Annotated[EnrichField, Field(description="emails or phones")]


def enrichment(record: dict[str, Any]) -> Enrichment:
    try:
        return Enrichment.model_validate(record)
    except ValidationError as exc:
        raise VendorProtocolError(
            "lance", f"the enrichment record did not match the document ({exc.error_count()} problems)"
        ) from None


def register(tools: Toolset, services: VendorServices) -> None:
    client = LanceClient(services.http)
    vendor = services.name
    services.jobs.register(EnrichmentJobHandler(client))

    @tools.tool(title="Lance: enrich a person", read_only=False, idempotent=True)
    async def lance_enrich_person(
        person_id: PersonId,
        field: FieldArg,
        ctx: Context,
        wait_seconds: Annotated[
            float | None,
            Field(ge=0, le=600, description="Wait this long for Lance (0: return a handle at once; default 4)"),
        ] = None,
        confirm: Annotated[bool, Field(description="The user already approved this spend")] = False,
    ) -> EnrichPersonResult:
        """Have Lance find a person's emails or phones; the data is added to the person in Lance.

        Costs Lance credits (estimated $0.10 for emails, $0.30 for phones unless ENRICH_MCP_PRICES says
        otherwise) only when a new enrichment starts: a pending or finished one is returned free. Lance can
        take up to ~13 minutes; past `wait_seconds` you get a job handle and the server keeps polling.
        """
        operation = f"enrich.{field}"
        result = await start_job(
            services,
            ctx,
            kind=EnrichmentJobHandler.kind,
            tool="lance_enrich_person",
            request={"person_id": str(person_id), "field": field},
            wait_seconds=wait_seconds,
            operation=operation,
            subject=str(person_id),
            confirm=confirm,
        )
        info = result.job
        job = await services.jobs.get(info.job_id)
        record = job.state.get("record")
        charged = not result.reused and bool(job.state.get("charged", True)) and info.status != "failed"
        return EnrichPersonResult(
            job=info,
            finished=result.finished,
            status=info.status,
            vendor_status=info.vendor_status,
            enrichment=enrichment(record) if record else None,
            charged=charged,
            cost_usd=services.budget.estimate(vendor, operation).estimated_usd if charged else 0.0,
            next_step=result.next_step,
        )

    @tools.tool(title="Lance: get enrichment status", read_only=True, idempotent=True)
    async def lance_get_enrichment(person_id: PersonId, field: FieldArg) -> EnrichmentStatus:
        """Read the latest Lance enrichment of a person's emails or phones (status, whether data was found). Free."""
        try:
            record = await client.get(person_id, field)
        except VendorNotFound as exc:
            exc.hint = f"No {field} enrichment exists for this person yet; start one with lance_enrich_person."
            raise
        word = str(record["status"])
        return EnrichmentStatus(status=STATUS.get(word, "failed"), vendor_status=word, enrichment=enrichment(record))
