"""Time the local provider on full 10,000-item batches; exits 1 when a target is missed.

DNS is stubbed, so the figures measure this package's own work: syntax checks, classification, lead cleaning.
Run from the repository root: ``python benchmarks/bench_local.py``.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from enrich_mcp.local import MAX_ITEMS, EmailSummary, LeadSummary, MxAnswer, clean_leads, validate_emails

EMAIL_TARGET_S = 2.0
LEADS_TARGET_S = 3.0
RUNS = 3

_SYLLABLES = [consonant + vowel for consonant in "bdfklmnrstvz" for vowel in "aeiou"]
_FREE = ["gmail.com", "yahoo.com", "outlook.com", "hotmail.co.uk", "icloud.com", "gmx.de", "proton.me", "aol.com"]
_DISPOSABLE = ["mailinator.com", "guerrillamail.com", "10minutemail.com", "yopmail.com", "trashmail.com"]
_TLDS = ["com", "co.uk", "io", "de", "com.au"]
_COMPANIES = [f"company{n}.{_TLDS[n % len(_TLDS)]}" for n in range(300 - len(_FREE) - len(_DISPOSABLE))]
_NO_MAIL = set(_COMPANIES[::50])
_BAD = ["not-an-email", "jane@", "@acme.com", "jane@@acme.com", "jane doe@acme.com", "jane@localhost", "", None, 42]
_ROLES = ["info", "sales", "support", "no-reply", "hr"]
_TITLES = ["CEO", "VP Sales", "Head of Marketing", "  account   executive ", "CTO", "Founder"]


class StubResolver:
    """Answers instantly: has_mx except for a few company domains."""

    async def mx(self, domain: str) -> MxAnswer:
        return MxAnswer(status="no_mx") if domain in _NO_MAIL else MxAnswer(status="has_mx", hosts=(f"mx.{domain}",))


def _word(rng: random.Random, syllables: int) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(syllables)).capitalize()


def synthetic_addresses(rng: random.Random, count: int) -> list[object]:
    """People at ~300 domains; about 5 % malformed, 5 % role, 3 % disposable, 15 % free-mail, 1 % repeated."""
    addresses: list[object] = []
    for i in range(count):
        roll = rng.random()
        if roll < 0.05:
            addresses.append(rng.choice(_BAD))
        elif roll < 0.06 and addresses:
            addresses.append(rng.choice(addresses))
        else:
            domain = rng.choice(_DISPOSABLE if roll < 0.09 else _FREE if roll < 0.24 else _COMPANIES)
            local = rng.choice(_ROLES) if roll > 0.95 else f"{_word(rng, 2)}.{_word(rng, 3)}{i % 7 or ''}"
            addresses.append(f"{local}@{domain}" if rng.random() < 0.9 else f"  {local.upper()}@{domain.upper()} ")
    return addresses


def synthetic_rows(rng: random.Random, count: int) -> list[object]:
    """Lead rows in the shapes CRMs export: mixed column names and case, a few bad values and duplicates."""
    rows: list[object] = []
    for _ in range(count):
        first, last = _word(rng, 2), _word(rng, 3)
        domain = rng.choice(_COMPANIES)
        row: dict[str, object] = {"Company": domain.split(".")[0].title(), "Job Title": rng.choice(_TITLES)}
        shape = rng.random()
        if shape < 0.4:
            row["Name"] = f"{first} {last}"
        elif shape < 0.6:
            row["name"] = f"  {first.upper()}  {last.upper()} "
        else:
            row["first_name"], row["last_name"] = (first, last) if shape < 0.9 else (first.lower(), last.upper())
        row["E-mail"] = f"{first}.{last}@{domain}" if rng.random() < 0.97 else f"{first}@"
        digits = f"{rng.choice([212, 312, 415, 617, 646, 206])}{rng.randint(200, 999)}{rng.randint(0, 9999):04d}"
        formats = [
            f"({digits[:3]}) {digits[3:6]}-{digits[6:]}",
            f"+1{digits}",
            f"{digits[:3]}.{digits[3:6]}.{digits[6:]}",
        ]
        row["phone"] = rng.choice(formats) if rng.random() < 0.95 else "555-0100"
        if rng.random() < 0.5:
            row["website"] = f"https://www.{domain}/about"
        if rng.random() < 0.3:
            row["LinkedIn"] = f"linkedin.com/in/{first.lower()}-{last.lower()}/"
        row["source"] = "benchmark"
        rows.append(row)
    for i in rng.sample(range(1, count), count // 50):  # 2 % copies of an earlier row
        rows[i] = rows[rng.randrange(i)]
    return rows


def report(label: str, seconds: list[float], target: float) -> bool:
    best = min(seconds)
    runs = ", ".join(f"{t:.2f}" for t in seconds)
    print(f"{label}: {best:.2f} s (target < {target:g} s) {'OK' if best < target else 'MISSED'}  [runs: {runs}]")
    return best < target


async def time_emails(addresses: list[object]) -> tuple[float, EmailSummary]:
    start = time.perf_counter()
    report = await validate_emails(addresses, resolver=StubResolver())
    return time.perf_counter() - start, report.summary


def time_leads(rows: list[object]) -> tuple[float, LeadSummary]:
    start = time.perf_counter()
    report = clean_leads(rows)
    return time.perf_counter() - start, report.summary


def main() -> int:
    # Best of a few runs, each on freshly generated data so no run is served from the caches of the one before;
    # the minimum is the run least disturbed by whatever else the machine is doing.
    seeds = range(20240601, 20240601 + RUNS)
    email_runs = [anyio.run(time_emails, synthetic_addresses(random.Random(seed), MAX_ITEMS)) for seed in seeds]
    lead_runs = [time_leads(synthetic_rows(random.Random(seed), MAX_ITEMS)) for seed in seeds]

    emails_ok = report(f"validate_emails {MAX_ITEMS} addrs", [seconds for seconds, _ in email_runs], EMAIL_TARGET_S)
    emails = email_runs[0][1]
    print(
        f"  {emails.valid} valid, {emails.invalid} invalid, {emails.risky} risky, {emails.unknown} unknown; "
        f"{emails.distinct_domains} domains, {emails.duplicates} duplicates"
    )
    leads_ok = report(f"clean_leads {MAX_ITEMS} rows", [seconds for seconds, _ in lead_runs], LEADS_TARGET_S)
    leads = lead_runs[0][1]
    print(
        f"  {leads.ok} ok, {leads.with_errors} with errors, {leads.duplicates} duplicates, "
        f"{leads.emails_fixed} emails fixed, {leads.phones_normalised} phones normalised, "
        f"{leads.domains_derived} domains derived"
    )
    return 0 if emails_ok and leads_ok else 1


if __name__ == "__main__":
    sys.exit(main())
