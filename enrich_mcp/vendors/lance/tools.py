"""Lance tools: start (or reuse) a person's email/phone enrichment and read its status."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from mcp.server.mcpserver import Context
from pydantic import ValidationError

from enrich_mcp.errors import VendorNotFound, VendorProtocolError
from enrich_mcp.tooling import Confirm, Toolset, WaitSeconds, start_job
from enrich_mcp.vendors.base import VendorServices
from enrich_mcp.vendors.lance.client import LanceClient
from enrich_mcp.vendors.lance.jobs import STATUS, EnrichmentJobHandler
from enrich_mcp.vendors.lance.models import EnrichField, Enrichment, EnrichmentStatus, EnrichPersonResult

PersonId = UUID


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

    @tools.tool(read_only=False, idempotent=True)
    async def lance_enrich_person(
        person_id: PersonId,
        field: EnrichField,
        ctx: Context,
        wait_seconds: WaitSeconds = None,
        confirm: Confirm = False,
    ) -> EnrichPersonResult:
        """Have Lance find a person's emails ($0.10) or phones ($0.30); an existing enrichment is returned free. Up to
        ~13 min."""
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

    @tools.tool(read_only=True, idempotent=True)
    async def lance_get_enrichment(person_id: PersonId, field: EnrichField) -> EnrichmentStatus:
        """Read a person's latest Lance email or phone enrichment. Free."""
        try:
            record = await client.get(person_id, field)
        except VendorNotFound as exc:
            exc.hint = f"No {field} enrichment exists for this person yet; start one with lance_enrich_person."
            raise
        word = str(record["status"])
        return EnrichmentStatus(status=STATUS.get(word, "failed"), vendor_status=word, enrichment=enrichment(record))
