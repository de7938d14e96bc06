"""validate_emails with DNS stubbed: every verdict and reason, batch limits, and DnsMxResolver's mapping."""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

import anyio
import dns.asyncresolver
import dns.exception
import dns.rdata
import dns.resolver
import pytest

from enrich_mcp.errors import InputError
from enrich_mcp.local import DnsMxResolver, EmailResult, LocalInputError, MxAnswer, validate_emails
from enrich_mcp.local.emails import MX_CONCURRENCY, ROLE_ACCOUNTS

pytestmark = pytest.mark.anyio

HAS_MX = MxAnswer(status="has_mx", hosts=("mx.example.net",))


class FakeResolver:
    """Answers from a table (has_mx by default) and records every domain it was asked about."""

    def __init__(self, answers: Mapping[str, MxAnswer] | None = None) -> None:
        self.answers = dict(answers or {})
        self.calls: list[str] = []

    async def mx(self, domain: str) -> MxAnswer:
        self.calls.append(domain)
        return self.answers.get(domain, HAS_MX)


async def check(address: object, answers: Mapping[str, MxAnswer] | None = None) -> EmailResult:
    return (await validate_emails([address], resolver=FakeResolver(answers))).results[0]


async def test_valid_address_is_normalised() -> None:
    result = await check("  Jane.Doe@Acme.COM ")
    assert result.verdict == "valid"
    assert result.email == "Jane.Doe@acme.com"
    assert result.domain == "acme.com"
    assert result.input == "  Jane.Doe@Acme.COM "
    assert (result.reasons, result.mx) == ([], True)
    assert not result.disposable
    assert not result.role
    assert not result.free_mail


@pytest.mark.parametrize("address", ["jane@gmail.com", "jane@yahoo.co.uk", "jane@gmx.de", "jane@proton.me"])
async def test_free_mail_is_valid_but_flagged(address: str) -> None:
    result = await check(address)
    assert result.verdict == "valid"
    assert result.free_mail
    assert result.reasons == ["free_mail"]


async def test_free_mail_brand_needs_a_public_suffix_right_after_it() -> None:
    assert not (await check("jane@yahoo.acme.com")).free_mail


@pytest.mark.parametrize("address", ["info@acme.com", "no-reply@acme.com", "Support+eu@acme.com", "post.master@a.com"])
async def test_role_account_is_risky(address: str) -> None:
    result = await check(address)
    assert result.verdict == "risky"
    assert result.role
    assert result.reasons == ["role_account"]


def test_role_list_covers_the_usual_mailboxes() -> None:
    assert {"admin", "sales", "noreply", "abuse", "billing", "hr", "webmaster", "careers"} <= ROLE_ACCOUNTS


@pytest.mark.parametrize("address", ["temp@mailinator.com", "temp@inbox.mailinator.com"])
async def test_disposable_domain_is_risky(address: str) -> None:
    result = await check(address)
    assert result.verdict == "risky"
    assert result.disposable
    assert result.reasons == ["disposable"]


async def test_domain_without_mail_is_invalid() -> None:
    no_mx = MxAnswer(status="no_mx", detail="the domain nomail.com does not exist")
    result = await check("jane@nomail.com", {"nomail.com": no_mx})
    assert result.verdict == "invalid"
    assert result.mx is False
    assert result.reasons == ["no_mx"]
    assert result.detail == "the domain nomail.com does not exist"


async def test_no_mx_outranks_risky_flags() -> None:
    result = await check("info@nomail.com", {"nomail.com": MxAnswer(status="no_mx")})
    assert (result.verdict, result.reasons) == ("invalid", ["no_mx", "role_account"])


async def test_dns_unreachable_is_unknown() -> None:
    result = await check("jane@acme.com", {"acme.com": MxAnswer(status="unreachable", detail="timed out")})
    assert result.verdict == "unknown"
    assert result.mx is None
    assert result.reasons == ["dns_unreachable"]


async def test_resolver_that_never_answers_is_cut_at_mx_timeout() -> None:
    class Silent:
        async def mx(self, domain: str) -> MxAnswer:
            await anyio.sleep_forever()
            raise AssertionError("unreachable")

    report = await validate_emails(["jane@acme.com"], resolver=Silent(), mx_timeout=0)
    assert report.results[0].verdict == "unknown"
    assert report.results[0].reasons == ["dns_unreachable"]


async def test_check_mx_false_never_asks_dns() -> None:
    resolver = FakeResolver()
    report = await validate_emails(["jane@acme.com", "sales@mailinator.com"], resolver=resolver, check_mx=False)
    assert resolver.calls == []
    assert [r.verdict for r in report.results] == ["unknown", "unknown"]
    assert report.results[1].reasons == ["mx_not_checked", "disposable", "role_account"]


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        (None, "not_a_string"),
        (42, "not_a_string"),
        ({"email": "jane@acme.com"}, "not_a_string"),
        ("", "empty"),
        ("   ", "empty"),
        ("x" * 1_000_000, "too_long"),
        ("jane@", "syntax"),
        ("jane.acme.com", "syntax"),
        ("jane@@acme.com", "syntax"),
        ("jane@localhost", "syntax"),
    ],
)
async def test_bad_input_is_invalid_per_address(address: object, reason: str) -> None:
    resolver = FakeResolver()
    report = await validate_emails([address, "jane@acme.com"], resolver=resolver)
    bad, good = report.results
    assert (bad.verdict, bad.reasons, bad.email, bad.domain, bad.mx) == ("invalid", [reason], None, None, None)
    assert len(bad.input) <= 320
    assert good.verdict == "valid"
    assert resolver.calls == ["acme.com"]


async def test_syntax_error_explains_itself() -> None:
    result = await check("jane@")
    assert result.detail == "There must be something after the @-sign."


async def test_results_keep_order_and_summary_counts() -> None:
    resolver = FakeResolver({"nomail.com": MxAnswer(status="no_mx"), "down.com": MxAnswer(status="unreachable")})
    addresses = [
        "ann@acme.com",
        "bob@nomail.com",
        "info@acme.com",
        "cat@down.com",
        None,
        "ANN@ACME.COM",
        "dan@gmail.com",
    ]
    report = await validate_emails(addresses, resolver=resolver)
    assert [r.verdict for r in report.results] == ["valid", "invalid", "risky", "unknown", "invalid", "valid", "valid"]
    assert report.summary.model_dump() == {
        "total": 7,
        "valid": 3,
        "invalid": 2,
        "risky": 1,
        "unknown": 1,
        "distinct_domains": 4,
        "duplicates": 1,
    }


async def test_one_lookup_per_distinct_domain() -> None:
    resolver = FakeResolver()
    await validate_emails([f"user{i}@{'acme' if i % 2 else 'Widgets'}.com" for i in range(100)], resolver=resolver)
    assert sorted(resolver.calls) == ["acme.com", "widgets.com"]


async def test_international_domain_is_looked_up_in_ascii() -> None:
    resolver = FakeResolver()
    result = (await validate_emails(["jürgen@münchen.de"], resolver=resolver)).results[0]
    assert result.domain == "münchen.de"
    assert resolver.calls == ["xn--mnchen-3ya.de"]


async def test_lookups_run_concurrently_within_the_bound() -> None:
    active = peak = 0

    class Counting:
        async def mx(self, domain: str) -> MxAnswer:
            nonlocal active, peak
            active += 1
            peak = max(peak, active)
            for _ in range(5):
                await anyio.lowlevel.checkpoint()
            active -= 1
            return HAS_MX

    await validate_emails([f"a@d{i}.com" for i in range(3 * MX_CONCURRENCY)], resolver=Counting())
    assert peak == MX_CONCURRENCY


async def test_empty_batch() -> None:
    report = await validate_emails([], resolver=FakeResolver())
    assert report.results == []
    assert report.summary.total == 0


async def test_more_than_10000_addresses_is_refused() -> None:
    with pytest.raises(LocalInputError, match="10,001 given, at most 10,000"):
        await validate_emails(["a@b.com"] * 10_001, resolver=FakeResolver())


async def test_a_single_string_is_refused() -> None:
    with pytest.raises(LocalInputError, match="must be a list, got string"):
        await validate_emails("jane@acme.com", resolver=FakeResolver())


def test_local_input_error_is_a_value_error_and_an_input_error() -> None:
    assert issubclass(LocalInputError, ValueError)
    assert issubclass(LocalInputError, InputError)


class FakeDns:
    """Stands in for dns.asyncresolver.Resolver: (domain, rdtype) → record texts, or an exception to raise."""

    def __init__(self, table: Mapping[tuple[str, str], list[str] | Exception], default: Exception) -> None:
        self.table = table
        self.default = default

    async def resolve(self, qname: str, rdtype: str, *, lifetime: float, search: bool) -> list[dns.rdata.Rdata]:
        entry = self.table.get((qname, rdtype), self.default)
        if isinstance(entry, Exception):
            raise entry
        return [dns.rdata.from_text("IN", rdtype, text) for text in entry]


def dns_resolver(table: Mapping[tuple[str, str], list[str] | Exception], default: Exception) -> DnsMxResolver:
    return DnsMxResolver(resolver=cast(dns.asyncresolver.Resolver, FakeDns(table, default)))


GMAIL_MX = {("gmail.com", "MX"): ["5 gmail-smtp-in.l.google.com."]}


async def test_dns_resolver_orders_mx_hosts_by_preference() -> None:
    resolver = dns_resolver({("acme.com", "MX"): ["20 mx2.acme.com.", "10 mx1.acme.com."]}, dns.resolver.NXDOMAIN())
    assert await resolver.mx("acme.com") == MxAnswer(status="has_mx", hosts=("mx1.acme.com", "mx2.acme.com"))


async def test_dns_resolver_falls_back_to_a_record() -> None:
    resolver = dns_resolver({("acme.com", "A"): ["192.0.2.1"]}, dns.resolver.NoAnswer())
    answer = await resolver.mx("acme.com")
    assert (answer.status, answer.hosts) == ("has_mx", ("acme.com",))


async def test_dns_resolver_no_records_at_all_is_no_mx() -> None:
    resolver = dns_resolver(GMAIL_MX, dns.resolver.NoAnswer())
    assert (await resolver.mx("acme.com")).status == "no_mx"


async def test_dns_resolver_null_mx_is_no_mx() -> None:
    resolver = dns_resolver({("acme.com", "MX"): ["0 ."], **GMAIL_MX}, dns.resolver.NoAnswer())
    answer = await resolver.mx("acme.com")
    assert answer.status == "no_mx"
    assert answer.detail is not None
    assert "null MX" in answer.detail


async def test_dns_resolver_nxdomain_is_no_mx_when_dns_is_trustworthy() -> None:
    resolver = dns_resolver(GMAIL_MX, dns.resolver.NXDOMAIN())
    assert await resolver.mx("nomail.com") == MxAnswer(status="no_mx", detail="the domain nomail.com does not exist")


async def test_dns_resolver_that_denies_everything_is_unreachable() -> None:
    resolver = dns_resolver({}, dns.resolver.NXDOMAIN())
    answer = await resolver.mx("acme.com")
    assert answer.status == "unreachable"
    assert answer.detail is not None
    assert "offline or filtered" in answer.detail


async def test_dns_resolver_cross_checks_once_then_again_after_recheck_after() -> None:
    table: dict[tuple[str, str], list[str] | Exception] = {}
    fake = FakeDns(table, dns.resolver.NXDOMAIN())
    cached = DnsMxResolver(resolver=cast(dns.asyncresolver.Resolver, fake))
    rechecking = DnsMxResolver(resolver=cast(dns.asyncresolver.Resolver, fake), recheck_after=0)
    assert (await cached.mx("nomail.com")).status == "unreachable"
    assert (await rechecking.mx("nomail.com")).status == "unreachable"
    table.update(GMAIL_MX)  # the network is back
    assert (await cached.mx("nomail.com")).status == "unreachable"
    assert (await rechecking.mx("nomail.com")).status == "no_mx"


@pytest.mark.parametrize(
    "error", [dns.resolver.LifetimeTimeout(timeout=2.0, errors={}), dns.resolver.NoNameservers(), OSError("down")]
)
async def test_dns_failures_are_unreachable(error: Exception) -> None:
    resolver = dns_resolver({}, error)
    assert (await resolver.mx("acme.com")).status == "unreachable"


async def test_dns_failure_never_fails_the_call() -> None:
    report = await validate_emails(["jane@acme.com"], resolver=dns_resolver({}, dns.exception.Timeout()))
    assert report.results[0].verdict == "unknown"
    assert report.results[0].reasons == ["dns_unreachable"]
