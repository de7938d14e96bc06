"""``enrich_person``: a verifying waterfall across the configured vendors, cheapest first.

1. What is known is cleaned locally (names, email, phone, domain, LinkedIn URL); bad input is refused.
2. The person index (cache vendor ``people``) answers fields found earlier for the same identity.
3. Each enabled vendor's :class:`Provider` (named by its ``VendorSpec.waterfall``, in
   ``vendors/<vendor>/waterfall.py``) offers :class:`Step` s: one vendor call answering some wanted fields.
   Steps run cheapest first by the budget's price list, ties in ``VendorSpec.waterfall_priority`` order;
   every call goes through the vendor's own cache key, so a vendor tool that already looked the person up
   answers for free, and through ``cached_paid_call``, so the cap and the approval threshold apply (a refusal
   stops the waterfall and is reported).
4. A found email counts as verified only when the local check (syntax + MX) says valid; a phone when it
   parses as a valid number. The waterfall stops once every wanted field has a verified answer.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

from mcp.server.mcpserver import Context
from pydantic import BaseModel, Field

from enrich_mcp import local
from enrich_mcp.errors import BudgetError, InputError, VendorError
from enrich_mcp.local.domains import is_free_mail
from enrich_mcp.tooling import Confirm, Toolset, cached_paid_call, require
from enrich_mcp.vendors import VendorServices, VendorSpec, discover_vendors

if TYPE_CHECKING:
    from enrich_mcp.runtime import Runtime

Want = Literal["work_email", "personal_email", "phone"]
WANTS: tuple[Want, ...] = ("work_email", "personal_email", "phone")
Confidence = Literal["high", "medium", "low"]
Outcome = Literal["verified", "unverified", "not_found", "error", "refused", "over_max_cost"]

INDEX_VENDOR = "people"
INDEX_OPERATION = "person"
INDEX_ACCOUNT = "local"
"""The person index holds facts about people, not vendor answers, so it is shared across accounts."""
TOOL = "enrich_person"

Text = Annotated[str | None, Field(default=None, min_length=1, max_length=200)]
Domain = Annotated[str | None, Field(default=None, max_length=253, description="Company website or domain")]
Email = Annotated[str | None, Field(default=None, max_length=320)]
LinkedIn = Annotated[str | None, Field(default=None, max_length=500, description="LinkedIn profile URL")]
LanceId = Annotated[str | None, Field(default=None, max_length=100)]
Phone = Annotated[str | None, Field(default=None, max_length=50)]


# -- the person ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    """What is known about one person, cleaned."""

    full_name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    domain: str | None = None
    email: str | None = None
    linkedin: str | None = None
    phone: str | None = None
    lance_person_id: str | None = None

    def lead(self) -> dict[str, str]:
        """The lead object vendors take (Sixtyfour's field names); only what is known."""
        lead = {
            "name": self.full_name,
            "company": self.company,
            "domain": self.domain,
            "linkedin": self.linkedin,
            "email": self.email,
            "phone": self.phone,
        }
        return {k: v for k, v in lead.items() if v}

    def identity(self) -> dict[str, str]:
        return {k: v for k, v in {**self.lead(), "lance_person_id": self.lance_person_id}.items() if v}

    def index_keys(self) -> list[dict[str, str]]:
        """Person-index keys, most specific first; each one alone identifies the person."""
        keys: list[dict[str, str]] = []
        if self.linkedin:
            keys.append({"linkedin": self.linkedin})
        if self.email:
            keys.append({"email": self.email.casefold()})
        if self.lance_person_id:
            keys.append({"lance_person_id": self.lance_person_id})
        if self.full_name:
            name = " ".join(self.full_name.casefold().split())
            if self.domain:
                keys.append({"name": name, "domain": self.domain})
            if self.company:
                keys.append({"name": name, "company": " ".join(self.company.casefold().split())})
        return keys

    def label(self) -> str:
        """Who this is, for the spend ledger (erased with the person by forget_person)."""
        return self.full_name or self.linkedin or self.email or self.phone or self.lance_person_id or "?"


def clean_person(raw: dict[str, str | None], region: str) -> Person:
    """Normalise the known fields with the local library; anything unusable is a tool error."""
    row = {
        "name": raw.get("name"),
        "first_name": raw.get("first_name"),
        "last_name": raw.get("last_name"),
        "email": raw.get("email"),
        "phone": raw.get("phone"),
        "company": raw.get("company"),
        "domain": raw.get("domain"),
        "linkedin": raw.get("linkedin"),
    }
    report = local.clean_leads([{k: v for k, v in row.items() if v is not None}], default_region=region)
    [result] = report.results
    lead = result.lead
    issues = [i for i in result.issues if not i.startswith("row:")]
    if issues:
        raise InputError("Cannot use what was given: " + "; ".join(issues) + ".")
    person = Person(
        full_name=lead.full_name if lead else None,
        first_name=lead.first_name if lead else None,
        last_name=lead.last_name if lead else None,
        company=lead.company if lead else None,
        domain=lead.domain if lead else None,
        email=lead.email if lead else None,
        linkedin=lead.linkedin_url if lead else None,
        phone=lead.phone if lead else None,
        lance_person_id=(raw.get("lance_person_id") or "").strip() or None,
    )
    require(
        bool(person.full_name or person.linkedin or person.email or person.lance_person_id),
        "Give at least a name (best with company or domain), a LinkedIn URL, an email or a lance_person_id.",
    )
    return person


# -- answers and providers -------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    want: Want
    value: str
    vendor_status: str | None = None
    """The vendor's own confidence word (Sixtyfour: OK or UNKNOWN), when it gives one."""


@dataclass
class Lookup:
    candidates: list[Candidate]
    cached: bool
    cost_usd: float


@dataclass(frozen=True)
class Spending:
    """How a provider may spend on this call."""

    ctx: Context[Any, Any] | None
    confirm: bool
    fresh: bool
    subject: str


@dataclass(frozen=True)
class Step:
    """One vendor call that can answer some of the wanted fields."""

    provider: Provider
    operation: str
    """The price key (``<vendor>.<operation>``) and the cache entry: the vendor's own tool uses the same one."""
    wants: frozenset[Want]
    request: Any
    """Same request as the vendor's own tool caches under, so the two share answers."""

    @property
    def vendor(self) -> str:
        return self.provider.vendor


class Provider(ABC):
    """A vendor as a waterfall source. Implementations call the vendor's client, never its tools."""

    def __init__(self, services: VendorServices) -> None:
        self.services = services

    @property
    def vendor(self) -> str:
        return self.services.name

    @abstractmethod
    def steps(self, person: Person) -> list[Step] | str:
        """The calls this provider can make for ``person``, or why it cannot help."""

    @abstractmethod
    async def call(self, step: Step) -> dict[str, Any]:
        """The vendor call itself (spends credits)."""

    @abstractmethod
    def candidates(self, step: Step, raw: dict[str, Any]) -> list[Candidate]:
        """What the vendor's answer says about the wanted fields."""

    async def lookup(self, step: Step, spending: Spending) -> Lookup:
        answer = await cached_paid_call(
            self.services,
            spending.ctx,
            lambda: self.call(step),
            tool=TOOL,
            operation=step.operation,
            request=step.request,
            subject=spending.subject,
            confirm=spending.confirm,
            fresh=spending.fresh,
        )
        found = [c for c in self.candidates(step, answer.value) if c.want in step.wants]
        return Lookup(found, answer.hit, answer.cost_usd)

    async def peek(self, step: Step) -> bool:
        """Whether the step would be answered from the cache (no spend)."""
        cache = self.services.cache
        key = cache.key(self.vendor, step.operation, step.request, self.services.account)
        # Straight to the store: a look ahead is not a lookup, so it must not count in the hit rate.
        return await cache.store.get(key) is not None


# The tool takes a lance_person_id (a fixed argument), so the engine says what it does with one.
LANCE_NOTE = (
    "Lance enrichment stores what it finds in Lance and answers only whether data was found, "
    "so it cannot give a value here; use lance_enrich_person for this person"
)


# -- the tool's answer -----------------------------------------------------------------------------


class FieldAnswer(BaseModel):
    want: Want
    value: str | None
    verified: bool = Field(description="Email: syntax and MX checked; phone: a valid number")
    confidence: Confidence | None = Field(description="high: verified, vendor sure; medium: verified; low: not")
    source: str | None = Field(description="Vendor, or input")
    cached: bool
    checks: list[str] = Field(default_factory=list)


class PlanStep(BaseModel):
    provider: str
    operation: str
    wants: list[Want]
    estimated_usd: float
    price_known: bool
    cached: bool


class TrailStep(BaseModel):
    provider: str
    operation: str
    wants: list[Want]
    outcome: Outcome | Literal["cache", "input"]
    cost_usd: float
    cached: bool
    detail: str | None = None


class EnrichPersonResult(BaseModel):
    person: dict[str, str] = Field(description="What was known, cleaned")
    dry_run: bool
    complete: bool = Field(description="Every wanted field has a verified answer")
    answers: list[FieldAnswer]
    plan: list[PlanStep] = Field(description="Steps for the open fields, cheapest first")
    estimated_total_usd: float = Field(description="If every planned step ran")
    cost_usd: float = Field(description="Spent by this call")
    trail: list[TrailStep] = Field(description="What was tried")
    stopped: str | None = Field(default=None, description="Why it stopped early")
    providers_skipped: dict[str, str] = Field(default_factory=dict, description="Vendor: why not used")


# -- the waterfall ---------------------------------------------------------------------------------


def provider_specs() -> list[VendorSpec]:
    """The vendors that offer a waterfall provider, in waterfall order (priority, then name)."""
    return sorted((s for s in discover_vendors() if s.waterfall), key=lambda s: (s.waterfall_priority, s.name))


class Waterfall:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        specs = provider_specs()
        self.names = [spec.name for spec in specs]
        """Every vendor that offers a provider, in waterfall order."""
        self.factories: dict[str, Callable[[VendorServices], Provider]] = {}
        """The enabled ones' providers, in the same order (imported now, so a wrong name fails at start)."""
        for spec in specs:
            if spec.name in runtime.vendors and (factory := spec.provider()) is not None:
                self.factories[spec.name] = factory

    def providers(self, order: Sequence[str] | None) -> tuple[list[Provider], dict[str, str]]:
        available = self.factories
        skipped = {
            name: self.runtime.status[name].reason if name in self.runtime.status else "not installed"
            for name in self.names
            if name not in available
        }
        if order is not None:
            unknown = [n for n in order if n not in available]
            require(
                not unknown,
                f"Unknown or unconfigured provider(s) {', '.join(map(repr, unknown))}; "
                f"configured: {', '.join(available) or 'none'}.",
            )
            chosen = list(dict.fromkeys(order))
            skipped.update({n: "not in `providers`" for n in available if n not in chosen})
        else:
            chosen = list(available)
        return [available[name](self.runtime.vendors[name]) for name in chosen], skipped

    async def plan(
        self,
        providers: list[Provider],
        person: Person,
        wants: list[Want],
        open_: set[Want],
        fresh: bool,
        *,
        ordered: bool,
    ) -> tuple[list[tuple[Step, PlanStep]], dict[str, str]]:
        """Steps for the open fields: the given vendor order, else cheapest first (cached = free)."""
        budget = self.runtime.budget
        planned: list[tuple[Step, PlanStep]] = []
        skipped: dict[str, str] = {}
        for provider in providers:
            offered = provider.steps(person)
            if isinstance(offered, str):
                skipped[provider.vendor] = offered
                continue
            for step in offered:
                if not step.wants & open_:
                    continue
                est = budget.estimate(step.vendor, step.operation)
                cached = not fresh and await provider.peek(step)
                planned.append(
                    (
                        step,
                        PlanStep(
                            provider=step.vendor,
                            operation=step.operation,
                            wants=sorted(step.wants & set(wants)),
                            estimated_usd=0.0 if cached else est.estimated_usd,
                            price_known=est.unit_price_usd is not None,
                            cached=cached,
                        ),
                    )
                )

        def cost(item: tuple[Step, PlanStep]) -> tuple[bool, float]:
            # Unpriced operations go last: "unknown" must not pass for "free".
            return (not item[1].cached and not item[1].price_known, item[1].estimated_usd)

        if ordered:
            rank = {p.vendor: i for i, p in enumerate(providers)}
            planned.sort(key=lambda item: (rank[item[0].vendor], *cost(item)))
        else:
            planned.sort(key=cost)
        return planned, skipped

    async def run(
        self,
        person: Person,
        wants: list[Want],
        *,
        order: Sequence[str] | None,
        max_cost_usd: float | None,
        dry_run: bool,
        fresh: bool,
        confirm: bool,
        ctx: Context[Any, Any] | None,
    ) -> EnrichPersonResult:
        best: dict[Want, FieldAnswer] = {}
        trail: list[TrailStep] = []

        def open_wants() -> set[Want]:
            return {w for w in wants if not (w in best and best[w].verified)}

        if not fresh:
            for want, answer in (await self._index_read(person)).items():
                if want in wants:
                    best[want] = answer
            if best:
                trail.append(
                    TrailStep(
                        provider="cache",
                        operation="person_index",
                        wants=sorted(best),
                        outcome="cache",
                        cost_usd=0.0,
                        cached=True,
                        detail="found earlier for this person",
                    )
                )
        await self._from_input(person, wants, best, trail)

        providers, skipped = self.providers(order)
        if person.lance_person_id and "lance" in self.runtime.vendors:
            skipped["lance"] = LANCE_NOTE
        planned, cannot = await self.plan(providers, person, wants, open_wants(), fresh, ordered=order is not None)
        skipped.update(cannot)
        plan = [p for _, p in planned]
        estimate = round(sum(p.estimated_usd for p in plan), 6)

        spent = 0.0
        stopped: str | None = None
        if not dry_run:
            spending = Spending(ctx, confirm, fresh, person.label())
            for step, planned_step in planned:
                open_ = open_wants()
                if not open_:
                    break
                if not step.wants & open_:
                    continue
                entry = TrailStep(
                    provider=step.vendor,
                    operation=step.operation,
                    wants=sorted(step.wants & open_),
                    outcome="not_found",
                    cost_usd=0.0,
                    cached=planned_step.cached,
                )
                trail.append(entry)
                if max_cost_usd is not None and spent + planned_step.estimated_usd > max_cost_usd + 1e-9:
                    entry.outcome = "over_max_cost"
                    entry.detail = f"${planned_step.estimated_usd:.2f} would pass max_cost_usd (${max_cost_usd:.2f})"
                    continue
                try:
                    found = await step.provider.lookup(step, spending)
                except BudgetError as exc:
                    entry.outcome, entry.detail, stopped = "refused", str(exc), str(exc)
                    break
                except VendorError as exc:
                    entry.outcome, entry.detail = "error", str(exc)
                    continue
                spent += found.cost_usd
                entry.cost_usd, entry.cached = found.cost_usd, found.cached
                entry.outcome, entry.detail = await self._judge(step.vendor, found, open_, best)

        complete = not open_wants()
        if not dry_run and best:
            await self._index_write(person, best)
        return EnrichPersonResult(
            person=person.identity(),
            dry_run=dry_run,
            complete=complete,
            answers=[
                best.get(w)
                or FieldAnswer(want=w, value=None, verified=False, confidence=None, source=None, cached=False)
                for w in wants
            ],
            plan=plan,
            estimated_total_usd=estimate,
            cost_usd=round(spent, 6),
            trail=trail,
            stopped=stopped,
            providers_skipped=skipped,
        )

    async def _judge(
        self, vendor: str, found: Lookup, open_: set[Want], best: dict[Want, FieldAnswer]
    ) -> tuple[Outcome, str | None]:
        """Check the candidates locally; keep the first verified one per field (else the first plausible)."""
        useful = [c for c in found.candidates if c.want in open_]
        if not useful:
            return "not_found", None
        checked = await self.check(useful)
        notes: list[str] = []
        for cand, (value, verified, checks) in zip(useful, checked, strict=True):
            if value is None:
                notes.append(f"{cand.value}: {', '.join(checks)}")
                continue
            if cand.want in best and (best[cand.want].verified or not verified):
                continue
            confidence: Confidence = ("high" if cand.vendor_status in (None, "OK") else "medium") if verified else "low"
            best[cand.want] = FieldAnswer(
                want=cand.want,
                value=value,
                verified=verified,
                confidence=confidence,
                source=vendor,
                cached=found.cached,
                checks=checks,
            )
            if not verified:
                notes.append(f"{value}: {', '.join(checks)}")
        verified_now = all(best[w].verified for w in {c.want for c in useful} if w in best)
        outcome: Outcome = "verified" if verified_now and any(c.want in best for c in useful) else "unverified"
        return outcome, "; ".join(notes) or None

    async def check(self, candidates: Sequence[Candidate]) -> list[tuple[str | None, bool, list[str]]]:
        """(normalised value or None when unusable, verified, checks) per candidate."""
        emails = [c.value for c in candidates if c.want != "phone"]
        report = await local.validate_emails(emails, resolver=self.runtime.mx_resolver) if emails else None
        email_results = iter(report.results if report else [])
        out: list[tuple[str | None, bool, list[str]]] = []
        for cand in candidates:
            if cand.want == "phone":
                lead = local.clean_leads([{"phone": cand.value}]).results[0].lead
                phone = lead.phone if lead else None
                out.append((phone, True, ["valid_number"]) if phone else (None, False, ["not a valid phone number"]))
                continue
            result = next(email_results)
            checks = [result.verdict, *result.reasons]
            out.append((None if result.verdict == "invalid" else result.email, result.verdict == "valid", checks))
        return out

    async def _from_input(
        self, person: Person, wants: list[Want], best: dict[Want, FieldAnswer], trail: list[TrailStep]
    ) -> None:
        """A given email answers the field it belongs to, once checked like any vendor's."""
        if not person.email:
            return
        want: Want = "personal_email" if is_free_mail(person.email.rpartition("@")[2]) else "work_email"
        if want not in wants or (want in best and best[want].verified):
            return
        [(value, verified, checks)] = await self.check([Candidate(want, person.email)])
        if value is None or not verified:
            return
        best[want] = FieldAnswer(
            want=want, value=value, verified=True, confidence="high", source="input", cached=False, checks=checks
        )
        trail.append(
            TrailStep(
                provider="input", operation="local_check", wants=[want], outcome="input", cost_usd=0.0, cached=False
            )
        )

    async def _index_read(self, person: Person) -> dict[Want, FieldAnswer]:
        cache = self.runtime.cache
        found: dict[Want, FieldAnswer] = {}
        for key in person.index_keys():
            hit = await cache.get(INDEX_VENDOR, INDEX_OPERATION, key, INDEX_ACCOUNT)
            if hit is None:
                continue
            for want, data in (hit.value.get("answers") or {}).items():
                answer = FieldAnswer.model_validate({**data, "cached": True})
                if want not in found and answer.verified:
                    found[want] = answer
            if set(found) == set(WANTS):
                break
        return found

    async def _index_write(self, person: Person, best: dict[Want, FieldAnswer]) -> None:
        verified = {w: a.model_dump(exclude={"cached"}) for w, a in best.items() if a.verified}
        if not verified:
            return
        cache = self.runtime.cache
        for key in person.index_keys():
            old = await cache.get(INDEX_VENDOR, INDEX_OPERATION, key, INDEX_ACCOUNT)
            answers = {**((old.value.get("answers") or {}) if old else {}), **verified}
            if old and answers == old.value.get("answers"):
                continue
            await cache.set(
                INDEX_VENDOR, INDEX_OPERATION, key, INDEX_ACCOUNT, {"person": person.identity(), "answers": answers}
            )


def register_waterfall(tools: Toolset, runtime: Runtime) -> None:
    waterfall = Waterfall(runtime)

    @tools.tool(read_only=False, idempotent=True)
    async def enrich_person(
        ctx: Context,
        want: Annotated[
            list[Want],
            Field(min_length=1, max_length=3),
        ],
        name: Text = None,
        first_name: Text = None,
        last_name: Text = None,
        company: Text = None,
        domain: Domain = None,
        email: Email = None,
        linkedin: LinkedIn = None,
        lance_person_id: LanceId = None,
        phone: Phone = None,
        providers: Annotated[
            list[Annotated[str, Field(max_length=40)]] | None,
            Field(default=None, min_length=1, max_length=10, description="Vendors to try, in this order"),
        ] = None,
        max_cost_usd: Annotated[
            float | None, Field(default=None, ge=0, le=100, description="Most this call may spend")
        ] = None,
        dry_run: Annotated[bool, Field(description="Only return the plan and its cost")] = False,
        fresh: Annotated[bool, Field(description="Skip every cache (spends again)")] = False,
        confirm: Confirm = False,
    ) -> EnrichPersonResult:
        """Find a person's work email, personal email or phone: cache first, then vendors cheapest first ($0.01-$0.20 a
        step) until verified. Prefer it to vendors' find tools."""
        require(len(set(want)) == len(want), "List each wanted field once.")
        given = {
            "name": name,
            "first_name": first_name,
            "last_name": last_name,
            "company": company,
            "domain": domain,
            "email": email,
            "linkedin": linkedin,
            "phone": phone,
            "lance_person_id": lance_person_id,
        }
        person = clean_person(given, region="US")
        return await waterfall.run(
            person,
            list(want),
            order=providers,
            max_cost_usd=max_cost_usd,
            dry_run=dry_run,
            fresh=fresh,
            confirm=confirm,
            ctx=ctx,
        )
