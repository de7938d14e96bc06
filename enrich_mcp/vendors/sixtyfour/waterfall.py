"""Sixtyfour as an ``enrich_person`` source: find-email PROFESSIONAL / PERSONAL and find-phone."""

from __future__ import annotations

from typing import Any

from enrich_mcp.vendors.base import VendorServices
from enrich_mcp.vendors.sixtyfour.client import SixtyfourClient
from enrich_mcp.vendors.sixtyfour.models import parse_emails, parse_phones
from enrich_mcp.waterfall import Candidate, Person, Provider, Step


class SixtyfourProvider(Provider):
    """find-email PROFESSIONAL (work email), PERSONAL (personal email), find-phone."""

    def __init__(self, services: VendorServices) -> None:
        super().__init__(services)
        self.client = SixtyfourClient(services.http)

    def steps(self, person: Person) -> list[Step] | str:
        lead = person.lead()
        if not (lead.get("name") or lead.get("linkedin") or lead.get("email")):
            return "needs a name, LinkedIn URL or email"
        return [
            Step(self, "find_email.PROFESSIONAL", frozenset({"work_email"}), {"lead": lead, "mode": "PROFESSIONAL"}),
            Step(self, "find_email.PERSONAL", frozenset({"personal_email"}), {"lead": lead, "mode": "PERSONAL"}),
            Step(self, "find_phone", frozenset({"phone"}), {"lead": lead}),
        ]

    async def call(self, step: Step) -> dict[str, Any]:
        if step.operation == "find_phone":
            return await self.client.find_phone(step.request["lead"])
        return await self.client.find_email(step.request["lead"], step.request["mode"])

    def candidates(self, step: Step, raw: dict[str, Any]) -> list[Candidate]:
        if step.operation == "find_phone":
            return [Candidate("phone", p.number) for p in parse_phones(raw)]
        found = parse_emails(raw)
        out = [Candidate("work_email", e.address, e.status) for e in found if e.type.upper() == "COMPANY"]
        out += [Candidate("personal_email", e.address, e.status) for e in found if e.type.upper() == "PERSONAL"]
        if isinstance(personal := raw.get("personal_email"), str) and personal.strip():
            out.append(Candidate("personal_email", personal.strip()))
        # Addresses the vendor is sure of are tried first.
        return sorted(out, key=lambda c: c.vendor_status != "OK")
