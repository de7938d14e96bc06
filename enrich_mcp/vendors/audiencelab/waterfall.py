"""AudienceLab as an ``enrich_person`` source: one real-time ``/enrich`` answers emails and phones."""

from __future__ import annotations

from typing import Any

from enrich_mcp.vendors.audiencelab.client import AudienceLabClient
from enrich_mcp.vendors.base import VendorServices
from enrich_mcp.waterfall import WANTS, Candidate, Person, Provider, Step, Want


class AudienceLabProvider(Provider):
    """Real-time ``/enrich`` by email, LinkedIn URL or name + company: emails and phones in one lookup."""

    FIELDS = ("b2b_email", "personal_email", "b2b_phone", "personal_phone")
    EMAILS: tuple[tuple[Want, str], ...] = (("work_email", "b2b_email"), ("personal_email", "personal_email"))

    def __init__(self, services: VendorServices) -> None:
        super().__init__(services)
        self.client = AudienceLabClient(services.http)

    def steps(self, person: Person) -> list[Step] | str:
        filter_: dict[str, str]
        if person.email:
            filter_ = {"email": person.email}
        elif person.linkedin:
            filter_ = {"linkedin_url": person.linkedin}
        elif person.first_name and person.last_name and (person.company or person.domain):
            # A name alone matches strangers; the company narrows it to the person.
            filter_ = {"first_name": person.first_name, "last_name": person.last_name}
            filter_.update(
                {"company_name": person.company} if person.company else {"company_domain": person.domain or ""}
            )
        else:
            return "needs an email, a LinkedIn URL, or first and last name with company or domain"
        # The same body audiencelab_enrich_contact caches under, so either tool reuses the other's answer.
        request = {"filter": filter_, "fields": list(self.FIELDS), "is_or_match": False}
        return [Step(self, "enrich", frozenset(WANTS), request)]

    async def call(self, step: Step) -> dict[str, Any]:
        return await self.client.enrich(dict(step.request))

    def candidates(self, step: Step, raw: dict[str, Any]) -> list[Candidate]:
        out: list[Candidate] = []
        for match in raw.get("result") or []:
            if not isinstance(match, dict):
                continue
            for want, key in self.EMAILS:
                if isinstance(v := match.get(key), str) and v.strip():
                    out.append(Candidate(want, v.strip()))
            for key in ("b2b_phone", "personal_phone"):
                if isinstance(v := match.get(key), str) and v.strip():
                    out.append(Candidate("phone", v.strip()))
        return out
