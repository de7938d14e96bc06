"""Cost: prices, the spend ledger, the hard cap and the approval threshold.

Every credit-spending vendor call goes through :meth:`Budget.charge`:

1. the estimate (``units`` x the operation's price) is checked against
   ``ENRICH_MCP_BUDGET_USD`` *including* what in-flight calls have reserved,
   and refused with :class:`BudgetExceeded` before any vendor call;
2. above ``ENRICH_MCP_CONFIRM_ABOVE_USD`` the caller's ``confirm`` callback
   asks the user (elicitation); without an answer the call is refused with
   :class:`ConfirmationRequired`, which says how to proceed;
3. a pending ledger row reserves the estimate; on success it is settled at the
   actual cost, on a vendor error it is voided (errors spend nothing), and a
   lost response keeps the estimate as ``unknown`` (the vendor may have billed).

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

from pydantic import BaseModel, Field

from enrich_mcp._sqlite import Database
from enrich_mcp.errors import BudgetExceeded, ConfirmationRequired, VendorError, VendorResponseLost

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


class SpendLedger:
    def __init__(self, path: Path) -> None:
        self.db = Database(path, _SCHEMA)

    async def committed_usd(self) -> float:
        """Settled + unknown actuals, plus pending estimates (reserved)."""

        def q(c: sqlite3.Connection) -> float:
            row = c.execute(
                "SELECT COALESCE(SUM(CASE WHEN status='pending' THEN estimated_usd "
                "WHEN status IN ('settled','unknown') THEN COALESCE(actual_usd, estimated_usd) ELSE 0 END), 0) "
                "FROM spend"
            ).fetchone()
            return float(row[0])

        return await self.db.arun(q)

    async def insert(self, **row: Any) -> int:
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)

        def q(c: sqlite3.Connection) -> int:
            return int(c.execute(f"INSERT INTO spend ({cols}) VALUES ({marks})", tuple(row.values())).lastrowid or 0)

        return await self.db.arun(q)

    async def settle(self, charge_id: int, status: ChargeStatus, actual_usd: float | None) -> None:
        await self.db.arun(
            lambda c: c.execute("UPDATE spend SET status=?, actual_usd=? WHERE id=?", (status, actual_usd, charge_id))
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

    async def forget(self, needles: list[str]) -> int:
        """Blank the stored subject of every row that mentions a needle (amounts stay for accounting)."""
        lowered = [n.lower() for n in needles if n]

        def q(c: sqlite3.Connection) -> int:
            hits = [
                r["id"]
                for r in c.execute("SELECT id, subject FROM spend WHERE subject IS NOT NULL")
                if any(n in str(r["subject"]).lower() for n in lowered)
            ]
            c.executemany("UPDATE spend SET subject='[erased]' WHERE id=?", [(i,) for i in hits])
            return len(hits)

        count = await self.db.arun(q)
        if count:
            self.db.vacuum()
        return count

    def close(self) -> None:
        self.db.close()


@dataclass
class Charge:
    """A reservation in the ledger; settle it with the actual cost or void it."""

    ledger: SpendLedger
    id: int
    estimated_usd: float
    actual_usd: float | None = None
    done: bool = False

    async def settle(self, actual_usd: float | None = None) -> None:
        self.actual_usd = self.estimated_usd if actual_usd is None else actual_usd
        self.done = True
        await self.ledger.settle(self.id, "settled", self.actual_usd)

    async def void(self) -> None:
        self.actual_usd = 0.0
        self.done = True
        await self.ledger.settle(self.id, "void", 0.0)

    async def unknown(self) -> None:
        self.done = True
        await self.ledger.settle(self.id, "unknown", self.estimated_usd)


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
            committed = await self.ledger.committed_usd()
            if committed + est.estimated_usd > self.cap_usd + 1e-9:
                left = max(0.0, self.cap_usd - committed)
                raise BudgetExceeded(
                    f"Refused before calling {vendor}: this call is estimated at ${est.estimated_usd:.2f} "
                    f"and only ${left:.2f} of the ${self.cap_usd:.2f} budget is left.",
                    hint="Raise ENRICH_MCP_BUDGET_USD, or ask for fewer items.",
                )
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
        charge_id = await self.ledger.insert(
            at=time.time(),
            vendor=vendor,
            tool=tool,
            operation=operation,
            units=units,
            estimated_usd=est.estimated_usd,
            actual_usd=None,
            status="pending",
            price_known=int(est.unit_price_usd is not None),
            subject=subject,
            job_id=None,
        )
        return Charge(self.ledger, charge_id, est.estimated_usd)

    @asynccontextmanager
    async def spend(self, **kwargs: Any) -> AsyncIterator[Charge]:
        """``authorize`` and settle around a synchronous vendor call; errors void the charge."""
        charge = await self.authorize(**kwargs)
        try:
            yield charge
        except VendorResponseLost:
            await charge.unknown()
            raise
        except (VendorError, Exception):
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
