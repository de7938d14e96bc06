"""Offline-safe email validation: syntax, MX, disposable, role and free-mail checks.

Only the MX check touches the network, once per distinct domain, through a :class:`MxResolver` that tests and
benchmarks replace with a stub. DNS trouble degrades a verdict to ``unknown``; it never fails the call.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

import anyio
import anyio.to_thread
import dns.asyncresolver
import dns.exception
import dns.name
import dns.resolver
from dns.rdtypes.ANY.MX import MX
from email_validator import EmailNotValidError, validate_email

from enrich_mcp.local.domains import is_disposable, is_free_mail
from enrich_mcp.local.errors import check_batch, json_type
from enrich_mcp.local.models import EmailReason, EmailResult, EmailSummary, EmailValidationReport, MxAnswer, Verdict

MAX_EMAIL_LENGTH = 320
"""Longest address considered (RFC 3696 errata): anything longer is rejected before parsing."""

MX_CONCURRENCY = 20

CANARY_DOMAIN = "gmail.com"
"""A domain certain to have MX records, asked to tell a lying resolver from a real negative answer."""

ROLE_ACCOUNTS: frozenset[str] = frozenset(
    {
        "abuse", "accounting", "accounts", "admin", "administrator", "all", "billing", "careers", "contact",
        "contactus", "customercare", "customerservice", "customersupport", "donotreply", "enquiries", "enquiry",
        "everyone", "feedback", "finance", "hello", "help", "helpdesk", "hostmaster", "hr", "info", "inquiries",
        "inquiry", "it", "jobs", "legal", "mail", "mailerdaemon", "marketing", "media", "newsletter", "noreply",
        "office", "orders", "partners", "postmaster", "press", "privacy", "recruiting", "recruitment", "root",
        "sales", "security", "service", "staff", "support", "team", "webmaster",
    }
)  # fmt: skip
"""Shared mailboxes, compared after lower-casing, dropping a +tag and removing '.', '-' and '_' (no-reply → noreply)."""

_ROLE_SEPARATORS = str.maketrans("", "", ".-_")


class MxResolver(Protocol):
    """Answers whether a domain can receive mail; implementations report DNS failures as ``unreachable``."""

    async def mx(self, domain: str) -> MxAnswer: ...


class DnsMxResolver:
    """:class:`MxResolver` over dnspython: MX records, else A/AAAA as the implicit MX of RFC 5321 §5.1.

    Sandboxes and filtering resolvers answer NXDOMAIN for every name, which would condemn every address. So a
    negative answer is cross-checked against :data:`CANARY_DOMAIN` (at most once per ``recheck_after`` seconds,
    as a long-lived server's network comes and goes); if DNS denies that too, it is reported as ``unreachable``.
    """

    def __init__(
        self,
        timeout: float = 2.0,
        resolver: dns.asyncresolver.Resolver | None = None,
        *,
        recheck_after: float = 300.0,
    ) -> None:
        self._timeout = timeout
        self._resolver = resolver
        self._recheck_after = recheck_after
        self._trusted = False
        self._checked_at: float | None = None
        self._canary_lock = anyio.Lock()

    async def mx(self, domain: str) -> MxAnswer:
        answer = await self._ask(domain)
        if answer.status == "no_mx" and not await self._negative_answers_trusted():
            return MxAnswer(
                status="unreachable",
                detail=f"DNS also denies mail for {CANARY_DOMAIN}: the resolver is offline or filtered",
            )
        return answer

    async def _negative_answers_trusted(self) -> bool:
        async with self._canary_lock:
            now = time.monotonic()
            if self._checked_at is None or now - self._checked_at >= self._recheck_after:
                self._trusted = (await self._ask(CANARY_DOMAIN)).status == "has_mx"
                self._checked_at = now
            return self._trusted

    async def _ask(self, domain: str) -> MxAnswer:
        try:
            if self._resolver is None:
                self._resolver = dns.asyncresolver.Resolver()
            return await self._lookup(self._resolver, domain)
        except dns.resolver.NXDOMAIN:
            return MxAnswer(status="no_mx", detail=f"the domain {domain} does not exist")
        except (dns.exception.DNSException, OSError) as exc:
            return MxAnswer(status="unreachable", detail=str(exc) or type(exc).__name__)

    async def _lookup(self, resolver: dns.asyncresolver.Resolver, domain: str) -> MxAnswer:
        try:
            answer = await resolver.resolve(domain, "MX", lifetime=self._timeout, search=False)
        except dns.resolver.NoAnswer:
            pass
        else:
            records = sorted((record for record in answer if isinstance(record, MX)), key=lambda mx: mx.preference)
            hosts = tuple(mx.exchange.to_text(omit_final_dot=True) for mx in records if mx.exchange != dns.name.root)
            if not hosts:
                return MxAnswer(status="no_mx", detail=f"{domain} publishes a null MX: it accepts no mail")
            return MxAnswer(status="has_mx", hosts=hosts)
        for rdtype in ("A", "AAAA"):
            try:
                await resolver.resolve(domain, rdtype, lifetime=self._timeout, search=False)
            except dns.resolver.NoAnswer:
                continue
            return MxAnswer(status="has_mx", hosts=(domain,), detail=f"no MX record; mail goes to {domain}'s {rdtype}")
        return MxAnswer(status="no_mx", detail=f"{domain} has no MX, A or AAAA record")


@dataclass(frozen=True, slots=True)
class ParsedEmail:
    email: str
    local_part: str
    domain: str
    ascii_domain: str


@dataclass(frozen=True, slots=True)
class BadEmail:
    message: str


@lru_cache(maxsize=16_384)
def parse_email(text: str) -> ParsedEmail | BadEmail:
    """Syntax check of one stripped address, without DNS; cached because batches repeat addresses and domains."""
    try:
        valid = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        return BadEmail(str(exc))
    return ParsedEmail(valid.normalized, valid.local_part, valid.domain, valid.ascii_domain)


def is_role_account(local_part: str) -> bool:
    return local_part.lower().partition("+")[0].translate(_ROLE_SEPARATORS) in ROLE_ACCOUNTS


async def validate_emails(
    addresses: Sequence[object],
    *,
    resolver: MxResolver | None = None,
    check_mx: bool = True,
    mx_timeout: float = 2.0,
) -> EmailValidationReport:
    """Validate up to 10,000 addresses; results keep the input order.

    Verdicts: ``invalid`` (bad syntax, not a string, empty, too long, or a domain that accepts no mail), ``unknown``
    (DNS unreachable, or ``check_mx=False``), ``risky`` (disposable domain or role account), ``valid`` otherwise —
    free-mail addresses are valid and flagged ``free_mail``. Raises :class:`LocalInputError` for a batch that is
    too large or not a list.
    """
    items = check_batch(addresses, "addresses")
    # Syntax checks are CPU-bound (~40 µs each): run them off the event loop so a large batch does not stall it.
    checked = await anyio.to_thread.run_sync(lambda: [_check_syntax(item) for item in items])
    domains = {parsed.ascii_domain for _, parsed in checked if isinstance(parsed, ParsedEmail)}
    answers: dict[str, MxAnswer] = {}
    if check_mx and domains:
        answers = await _lookup_all(domains, resolver or DnsMxResolver(timeout=mx_timeout), mx_timeout)
    results = [_result(shown, parsed, answers) for shown, parsed in checked]
    return EmailValidationReport(results=results, summary=_summary(results))


_Syntax = ParsedEmail | tuple[EmailReason, str | None]


def _check_syntax(item: object) -> tuple[str, _Syntax]:
    """(input as shown, parsed address or (reason, detail))."""
    if not isinstance(item, str):
        return repr(item)[:MAX_EMAIL_LENGTH], ("not_a_string", f"expected a string, got {json_type(item)}")
    shown = item[:MAX_EMAIL_LENGTH]
    text = item.strip()
    if not text:
        return shown, ("empty", None)
    if len(text) > MAX_EMAIL_LENGTH:
        return shown, ("too_long", f"{len(text):,} characters; an address has at most {MAX_EMAIL_LENGTH}")
    parsed = parse_email(text)
    if isinstance(parsed, BadEmail):
        return shown, ("syntax", parsed.message)
    return shown, parsed


async def _lookup_all(domains: Iterable[str], resolver: MxResolver, per_domain: float) -> dict[str, MxAnswer]:
    """One MX lookup per domain, at most :data:`MX_CONCURRENCY` at a time, each bounded by ``per_domain`` seconds."""
    answers: dict[str, MxAnswer] = {}
    limiter = anyio.CapacityLimiter(MX_CONCURRENCY)

    async def lookup(domain: str) -> None:
        async with limiter:
            with anyio.move_on_after(per_domain) as scope:
                answers[domain] = await resolver.mx(domain)
            if scope.cancelled_caught:
                answers[domain] = MxAnswer(status="unreachable", detail=f"no DNS answer within {per_domain:g} s")

    async with anyio.create_task_group() as tg:
        for domain in domains:
            tg.start_soon(lookup, domain)
    return answers


def _result(shown: str, parsed: _Syntax, answers: dict[str, MxAnswer]) -> EmailResult:
    if not isinstance(parsed, ParsedEmail):
        reason, detail = parsed
        return EmailResult(input=shown, email=None, domain=None, verdict="invalid", reasons=[reason], detail=detail)
    disposable = is_disposable(parsed.domain)
    role = is_role_account(parsed.local_part)
    free_mail = is_free_mail(parsed.domain)
    reasons: list[EmailReason] = []
    answer = answers.get(parsed.ascii_domain)
    mx: bool | None = None
    verdict: Verdict
    if answer is None:  # check_mx=False
        verdict = "unknown"
        reasons.append("mx_not_checked")
    elif answer.status == "no_mx":
        verdict, mx = "invalid", False
        reasons.append("no_mx")
    elif answer.status == "unreachable":
        verdict = "unknown"
        reasons.append("dns_unreachable")
    else:
        mx = True
        verdict = "risky" if disposable or role else "valid"
    if disposable:
        reasons.append("disposable")
    if role:
        reasons.append("role_account")
    if free_mail:
        reasons.append("free_mail")
    return EmailResult(
        input=shown,
        email=parsed.email,
        domain=parsed.domain,
        verdict=verdict,
        reasons=reasons,
        disposable=disposable,
        role=role,
        free_mail=free_mail,
        mx=mx,
        detail=answer.detail if answer is not None and answer.status != "has_mx" else None,
    )


def _summary(results: Sequence[EmailResult]) -> EmailSummary:
    verdicts = Counter(result.verdict for result in results)
    emails = [result.email.casefold() for result in results if result.email is not None]
    return EmailSummary(
        total=len(results),
        valid=verdicts["valid"],
        invalid=verdicts["invalid"],
        risky=verdicts["risky"],
        unknown=verdicts["unknown"],
        distinct_domains=len({result.domain for result in results if result.domain is not None}),
        duplicates=len(emails) - len(set(emails)),
    )
