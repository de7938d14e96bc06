"""Cost: prices, the spend ledger, the hard cap and the approval threshold.

Every credit-spending vendor call goes through :meth:`Budget.charge`:

1. above ``ENRICH_MCP_CONFIRM_ABOVE_USD`` the caller's ``confirm`` callback
   asks the user (elicitation); without an answer the call is refused with
   :class:`ConfirmationRequired`, which says how to proceed;
2. the estimate (``units`` x the operation's price) is checked against
   ``ENRICH_MCP_BUDGET_USD`` *including* what in-flight calls have reserved,
   and reserved as a ``pending`` row — check and reservation in ONE transaction,
   so no amount of concurrency, in one process or several, passes the cap;
   refused with :class:`BudgetExceeded` before any vendor call;
3. every reservation ends ``settled`` (actual cost), ``void`` (the vendor never
   got the request, or refused it) or ``unknown`` (the request may have been
   processed: the estimate counts). Never left ``pending``: a reservation is
   held by its process through a lease renewed by a heartbeat, and a process
   sweeps the expired ones of dead processes — void when the request certainly
   never left (``sent`` is still 0), unknown otherwise.

``SpendLedger`` is the store seam (SQLite here, something shared for a team).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import anyio
import anyio.to_thread
from pydantic import BaseModel, Field

from enrich_mcp._sqlite import Database
from enrich_mcp.erasure import ERASED, ERASED_TEXT, Matcher
from enrich_mcp.errors import BudgetExceeded, ConfirmationRequired, VendorError, VendorResponseLost
from enrich_mcp.sendmark import on_send

ChargeStatus = Literal["pending", "settled", "void", "unknown"]
Confirm = Callable[[str], Awaitable[bool]]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spend (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    vendor TEXT NOT NULL,
    tool TEXT NOT NULL,
    operation TEXT NOT NULL,
    units REAL NOT NULL,
    estimated_usd REAL NOT NULL,
    actual_usd REAL,
    status TEXT NOT NULL,
    price_known INTEGER NOT NULL,
    subject TEXT,
    job_id TEXT
);
CREATE INDEX IF NOT EXISTS spend_status ON spend(status);
"""
SCHEMA_VERSION = 2


def _migrate(c: sqlite3.Connection) -> None:
    if c.execute("PRAGMA user_version").fetchone()[0] < 2:
        columns = {r[1] for r in c.execute("PRAGMA table_info(spend)")}
        for name, decl in (
            ("owner", "TEXT"),
            ("lease_until", "REAL NOT NULL DEFAULT 0"),
            ("sent", "INTEGER NOT NULL DEFAULT 0"),
        ):
            if name not in columns:
                c.execute(f"ALTER TABLE spend ADD COLUMN {name} {decl}")
        # Rows left pending by earlier versions had no owner: the first sweep resolves them.
        c.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


_COMMITTED = (
    "SELECT COALESCE(SUM(CASE WHEN status='pending' THEN estimated_usd "
    "WHEN status IN ('settled','unknown') THEN COALESCE(actual_usd, estimated_usd) ELSE 0 END), 0) FROM spend"
)


class SpendLedger:
    def __init__(self, path: Path, *, owner: str = "", lease_seconds: float = 30.0) -> None:
        self.db = Database(
            path,
            _SCHEMA,
            migrate=_migrate,
            what="spend ledger",
            consequence="the spend it recorded then no longer counts against ENRICH_MCP_BUDGET_USD.",
        )
        self.owner = owner
        self.lease_seconds = lease_seconds

    async def committed_usd(self) -> float:
        """Settled + unknown actuals, plus pending estimates (reserved)."""
        return await self.db.arun(lambda c: float(c.execute(_COMMITTED).fetchone()[0]))

    async def reserve(self, cap_usd: float | None, **row: Any) -> tuple[int | None, float]:
        """Insert a pending row unless it would pass ``cap_usd``; one transaction.

        Returns ``(id, committed_before)``; ``id`` is ``None`` when refused.
        """
        row = {**row, "status": "pending", "owner": self.owner, "lease_until": time.time() + self.lease_seconds}
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)

        def q(c: sqlite3.Connection) -> tuple[int | None, float]:
            committed = float(c.execute(_COMMITTED).fetchone()[0])
            if cap_usd is not None and committed + float(row["estimated_usd"]) > cap_usd + 1e-9:
                return None, committed
            cur = c.execute(f"INSERT INTO spend ({cols}) VALUES ({marks})", tuple(row.values()))
            return int(cur.lastrowid or 0), committed

        return await self.db.arun(q)

    async def insert(self, **row: Any) -> int:
        charge_id, _ = await self.reserve(None, **row)
        assert charge_id is not None
        return charge_id

    async def mark_sent(self, charge_id: int) -> None:
        """The request may now have reached the vendor: if this process dies, the sweep says unknown, not void."""
        await self.db.arun(lambda c: c.execute("UPDATE spend SET sent=1 WHERE id=?", (charge_id,)))

    async def heartbeat(self, owner: str, lease_seconds: float) -> None:
        await self.db.arun(
            lambda c: c.execute(
                "UPDATE spend SET lease_until=? WHERE owner=? AND status='pending'",
                (time.time() + lease_seconds, owner),
            )
        )

    async def release(self, owner: str) -> None:
        """At shutdown: our calls have ended, so anything still pending here is resolved now."""
        await self.sweep(owner, include_own=True)

    async def sweep(self, owner: str = "", *, include_own: bool = False) -> int:
        """Resolve pending reservations of calls whose process is gone (lease expired).

        A job's reservation is left to the job (its manager settles it when the job ends); a plain
        call's becomes ``void`` when its request certainly never left, else ``unknown``.
        """
        now = time.time()

        def q(c: sqlite3.Connection) -> int:
            where = "status='pending' AND job_id IS NULL AND (lease_until < ? OR owner IS NULL"
            args: list[Any] = [now]
            if include_own:
                where += " OR owner=?"
                args.append(owner)
            where += ")"
            void = c.execute(f"UPDATE spend SET status='void', actual_usd=0 WHERE {where} AND sent=0", args).rowcount
            unknown = c.execute(
                f"UPDATE spend SET status='unknown', actual_usd=estimated_usd WHERE {where} AND sent=1", args
            ).rowcount
            return void + unknown

        return await self.db.arun(q)

    async def pending_for_jobs(self) -> list[dict[str, Any]]:
        return await self.db.arun(
            lambda c: [dict(r) for r in c.execute("SELECT * FROM spend WHERE status='pending' AND job_id IS NOT NULL")]
        )

    async def settle(self, charge_id: int, status: ChargeStatus, actual_usd: float | None) -> bool:
        """End a reservation; ``False`` when it had already ended (the first end wins)."""
        return await self.db.arun(
            lambda c: (
                c.execute(
                    "UPDATE spend SET status=?, actual_usd=? WHERE id=? AND status='pending'",
                    (status, actual_usd, charge_id),
                ).rowcount
                == 1
            )
        )

    async def attach_job(self, charge_id: int, job_id: str) -> None:
        await self.db.arun(lambda c: c.execute("UPDATE spend SET job_id=? WHERE id=?", (job_id, charge_id)))

    async def get(self, charge_id: int) -> dict[str, Any] | None:
        def q(c: sqlite3.Connection) -> dict[str, Any] | None:
            row = c.execute("SELECT * FROM spend WHERE id=?", (charge_id,)).fetchone()
            return dict(row) if row else None

        return await self.db.arun(q)

    async def rows(self) -> list[dict[str, Any]]:
        return await self.db.arun(lambda c: [dict(r) for r in c.execute("SELECT * FROM spend ORDER BY id")])

    async def forget(self, matcher: Matcher, *, dry_run: bool = False) -> int:
        """Scrub the person out of stored subjects (amounts stay for accounting)."""

        def q(c: sqlite3.Connection) -> int:
            hits: list[tuple[str, int]] = []
            for r in c.execute("SELECT id, subject FROM spend WHERE subject IS NOT NULL"):
                subject = str(r["subject"])
                if matcher.may_hold(subject) and matcher.mentions(subject):
                    cleaned = matcher.scrub(subject)
                    hits.append((ERASED_TEXT if cleaned is ERASED else cleaned, r["id"]))
            if not dry_run:
                c.executemany("UPDATE spend SET subject=? WHERE id=?", hits)
            return len(hits)

        count = await self.db.arun(q)
        if count and not dry_run:
            await anyio.to_thread.run_sync(self.db.vacuum)
        return count

    def close(self) -> None:
        self.db.close()


@dataclass
class Charge:
    """A reservation in the ledger; settle it with the actual cost, void it, or mark it unknown.

    Ending writes are shielded from cancellation: a cancelled call still ends its reservation.
    """

    ledger: SpendLedger
    id: int
    estimated_usd: float
    actual_usd: float | None = None
    done: bool = False
    sent: bool = False

    async def _end(self, status: ChargeStatus, actual_usd: float) -> None:
        self.done = True
        self.actual_usd = actual_usd
        with anyio.CancelScope(shield=True):
            await self.ledger.settle(self.id, status, actual_usd)

    async def settle(self, actual_usd: float | None = None) -> None:
        await self._end("settled", self.estimated_usd if actual_usd is None else actual_usd)

    async def void(self) -> None:
        await self._end("void", 0.0)

    async def unknown(self) -> None:
        await self._end("unknown", self.estimated_usd)

    async def mark_sent(self) -> None:
        """Called right before the paid request leaves (see :mod:`enrich_mcp.sendmark`)."""
        if not self.sent:
            self.sent = True
            await self.ledger.mark_sent(self.id)


class Estimate(BaseModel):
    vendor: str
    operation: str
    units: float
    unit_price_usd: float | None = Field(description="None when no price is known for this operation")
    estimated_usd: float


@dataclass
class Budget:
    ledger: SpendLedger
    prices: dict[str, float] = field(default_factory=dict)
    cap_usd: float | None = None
    confirm_above_usd: float | None = None

    def unit_price(self, vendor: str, operation: str) -> float | None:
        return self.prices.get(f"{vendor}.{operation}")

    def estimate(self, vendor: str, operation: str, units: float = 1) -> Estimate:
        price = self.unit_price(vendor, operation)
        return Estimate(
            vendor=vendor,
            operation=operation,
            units=units,
            unit_price_usd=price,
            estimated_usd=round((price or 0.0) * units, 6),
        )

    async def authorize(
        self,
        *,
        vendor: str,
        tool: str,
        operation: str,
        units: float = 1,
        subject: str | None = None,
        confirmed: bool = False,
        confirm: Confirm | None = None,
    ) -> Charge:
        """Check the cap and the approval threshold, then reserve the estimate."""
        est = self.estimate(vendor, operation, units)
        if self.cap_usd is not None:
            # A first look, so the user is not asked to approve what the cap refuses anyway; the
            # binding check is the reservation's, below, in one transaction with the insert.
            committed = await self.ledger.committed_usd()
            if committed + est.estimated_usd > self.cap_usd + 1e-9:
                raise self._over_cap(vendor, est, self.cap_usd, committed)
        if self.confirm_above_usd is not None and est.estimated_usd > self.confirm_above_usd and not confirmed:
            question = (
                f"{tool} will spend about ${est.estimated_usd:.2f} at {vendor} ({units:g} x {operation}). Go ahead?"
            )
            approved = await confirm(question) if confirm is not None else None
            if approved is None:
                raise ConfirmationRequired(
                    f"This call is estimated at ${est.estimated_usd:.2f}, above the "
                    f"${self.confirm_above_usd:.2f} approval threshold, and this client cannot ask the user.",
                    hint="Ask the user, then call again with confirm: true.",
                )
            if not approved:
                raise ConfirmationRequired(
                    f"The user declined spending ${est.estimated_usd:.2f} on {tool}.", hint="Nothing was spent."
                )
        charge_id, committed = await self.ledger.reserve(
            self.cap_usd,
            at=time.time(),
            vendor=vendor,
            tool=tool,
            operation=operation,
            units=units,
            estimated_usd=est.estimated_usd,
            actual_usd=None,
            price_known=int(est.unit_price_usd is not None),
            subject=subject,
            job_id=None,
        )
        if charge_id is None:
            assert self.cap_usd is not None
            raise self._over_cap(vendor, est, self.cap_usd, committed)
        return Charge(self.ledger, charge_id, est.estimated_usd)

    @staticmethod
    def _over_cap(vendor: str, est: Estimate, cap: float, committed: float) -> BudgetExceeded:
        left = max(0.0, cap - committed)
        return BudgetExceeded(
            f"Refused before calling {vendor}: this call is estimated at ${est.estimated_usd:.2f} "
            f"and only ${left:.2f} of the ${cap:.2f} budget is left.",
            hint="Raise ENRICH_MCP_BUDGET_USD, or ask for fewer items.",
        )

    @asynccontextmanager
    async def spend(self, **kwargs: Any) -> AsyncIterator[Charge]:
        """``authorize`` around one synchronous paid call, and end the reservation however the call ends.

        Before the request left (or the vendor answered with an error): void. A lost answer, an answer we
        cannot read, a crash or a cancellation after it left: unknown, with the estimate counted — the
        vendor accepted the call and may have billed it. Success settles (the caller may give the actual).
        """
        charge = await self.authorize(**kwargs)
        try:
            with on_send(charge.mark_sent):
                yield charge
        except BaseException as exc:
            if charge.done:
                raise
            refused = (
                isinstance(exc, VendorError) and exc.status is not None and not isinstance(exc, VendorResponseLost)
            )
            if charge.sent and not refused:
                await charge.unknown()
            else:
                await charge.void()
            raise
        if not charge.done:
            await charge.settle()

    async def report(self) -> dict[str, Any]:
        rows = await self.ledger.rows()
        by_vendor: dict[str, float] = {}
        by_tool: dict[str, float] = {}
        by_day: dict[str, float] = {}
        spent = reserved = 0.0
        unpriced = 0
        for r in rows:
            if r["status"] == "pending":
                reserved += r["estimated_usd"]
                continue
            if r["status"] == "void":
                continue
            amount = r["actual_usd"] if r["actual_usd"] is not None else r["estimated_usd"]
            spent += amount
            unpriced += 0 if r["price_known"] else 1
            day = datetime.fromtimestamp(r["at"], UTC).date().isoformat()
            by_vendor[r["vendor"]] = round(by_vendor.get(r["vendor"], 0.0) + amount, 6)
            by_tool[r["tool"]] = round(by_tool.get(r["tool"], 0.0) + amount, 6)
            by_day[day] = round(by_day.get(day, 0.0) + amount, 6)
        return {
            "spent_usd": round(spent, 6),
            "reserved_usd": round(reserved, 6),
            "budget_usd": self.cap_usd,
            "remaining_usd": None if self.cap_usd is None else round(max(0.0, self.cap_usd - spent - reserved), 6),
            "confirm_above_usd": self.confirm_above_usd,
            "by_vendor": by_vendor,
            "by_tool": by_tool,
            "by_day": by_day,
            "calls": len(rows),
            "calls_without_known_price": unpriced,
        }
