"""tooling.paid_call: a paid call that reached the vendor is read to its end and recorded, even when cancelled."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from enrich_mcp.budget import Budget, SpendLedger
from enrich_mcp.errors import VendorBadRequest, VendorResponseLost
from enrich_mcp.sendmark import mark_sending
from enrich_mcp.tooling import paid_call


async def _statuses(ledger: SpendLedger) -> list[tuple[str, float | None]]:
    return [(r["status"], r["actual_usd"]) for r in await ledger.rows()]


async def test_a_cancelled_paid_call_that_left_is_finished_and_settled(tmp_path: Path) -> None:
    ledger = SpendLedger(tmp_path / "spend.sqlite3", owner="me")
    budget = Budget(ledger, {"v.op": 0.05})
    at_vendor, answer = anyio.Event(), anyio.Event()
    finished: list[str] = []

    async def call() -> str:
        await mark_sending()
        at_vendor.set()
        await answer.wait()  # the vendor is working; our caller is cancelled meanwhile
        finished.append("read")
        return "ok"

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: paid_call(budget, None, call, vendor="v", tool="t", operation="op"))
            with anyio.fail_after(5):
                await at_vendor.wait()
            tg.cancel_scope.cancel()  # the client gave up / the server is stopping
            answer.set()
        assert finished == ["read"]
        assert await _statuses(ledger) == [("settled", 0.05)]
    finally:
        ledger.close()


async def test_a_call_stopped_past_its_grace_period_after_sending_is_unknown(tmp_path: Path) -> None:
    ledger = SpendLedger(tmp_path / "spend.sqlite3", owner="me")
    budget = Budget(ledger, {"v.op": 0.05})

    async def call() -> str:
        await mark_sending()
        await anyio.Event().wait()  # never answers
        return "never"

    try:
        with pytest.raises(VendorResponseLost, match="abandoned"):
            await paid_call(budget, None, call, vendor="v", tool="t", operation="op", grace_seconds=0.05)
        assert await _statuses(ledger) == [("unknown", 0.05)]
    finally:
        ledger.close()


async def test_a_vendor_refusal_voids_and_a_call_that_never_left_voids(tmp_path: Path) -> None:
    ledger = SpendLedger(tmp_path / "spend.sqlite3", owner="me")
    budget = Budget(ledger, {"v.op": 0.05})

    async def refused() -> str:
        await mark_sending()
        raise VendorBadRequest("v", "bad lead", status=400)

    async def crashed_before_sending() -> str:
        raise RuntimeError("bug before the request")

    try:
        for call in (refused, crashed_before_sending):
            with pytest.raises((VendorBadRequest, RuntimeError)):
                await paid_call(budget, None, call, vendor="v", tool="t", operation="op")
        assert await _statuses(ledger) == [("void", 0.0), ("void", 0.0)]
    finally:
        ledger.close()
