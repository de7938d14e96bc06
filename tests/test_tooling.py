"""tooling.paid_call: a paid call that reached the vendor is read to its end and recorded, even when cancelled.
tooling.cached_paid_call: a cached answer costs nothing; a miss pays once, however many ask at once."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest

from enrich_mcp.budget import Budget, SpendLedger
from enrich_mcp.cache import DiskCacheStore, ResultCache
from enrich_mcp.errors import VendorBadRequest, VendorResponseLost
from enrich_mcp.sendmark import mark_sending
from enrich_mcp.tooling import PaidAnswer, cached_paid_call, paid_call


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


# -- cached_paid_call ------------------------------------------------------------------------------------

LEDGER_COLUMNS = ("vendor", "tool", "operation", "units", "estimated_usd", "actual_usd", "status", "subject")
REQUEST = {"lead": {"name": "Ada Lovelace"}, "mode": "PROFESSIONAL"}


@dataclass
class Services:
    name: str
    account: str
    cache: ResultCache
    budget: Budget
    ledger: SpendLedger


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    ledger = SpendLedger(tmp_path / "spend.sqlite3", owner="me")
    cache = ResultCache(DiskCacheStore(tmp_path / "cache"))
    yield Services("v", "acct", cache, Budget(ledger, {"v.find.PROFESSIONAL": 0.05}), ledger)
    cache.close()
    ledger.close()


class Vendor:
    """A paid endpoint that counts its requests; ``gate`` holds answers back until set."""

    def __init__(self, gate: anyio.Event | None = None) -> None:
        self.requests = 0
        self.gate = gate
        self.arrived = anyio.Event()

    async def __call__(self) -> dict[str, Any]:
        await mark_sending()
        self.requests += 1
        self.arrived.set()
        if self.gate is not None:
            await self.gate.wait()
        return {"email": "ada@example.com", "request": self.requests}


async def ask(services: Services, vendor: Vendor, *, fresh: bool = False) -> PaidAnswer[dict[str, Any]]:
    return await cached_paid_call(
        services,
        None,
        vendor,
        tool="v_find",
        operation="find.PROFESSIONAL",
        request=REQUEST,
        subject="Ada Lovelace",
        fresh=fresh,
    )


async def ledger_rows(ledger: SpendLedger) -> list[tuple[Any, ...]]:
    return [tuple(r[c] for c in LEDGER_COLUMNS) for r in await ledger.rows()]


PAID_ONCE = [("v", "v_find", "find.PROFESSIONAL", 1.0, 0.05, 0.05, "settled", "Ada Lovelace")]


async def test_a_miss_pays_once_is_recorded_and_cached_under_the_operation(services: Services) -> None:
    vendor = Vendor()
    answer = await ask(services, vendor)
    assert answer == PaidAnswer(
        {"email": "ada@example.com", "request": 1}, False, 0.05, {"hit": False, "age_seconds": 0.0}
    )
    assert vendor.requests == 1
    assert await ledger_rows(services.ledger) == PAID_ONCE
    # The operation is both the price key and the cache entry: another caller of it reads the same answer.
    stored = await services.cache.get("v", "find.PROFESSIONAL", REQUEST, "acct")
    assert stored is not None and stored.value == answer.value


async def test_a_hit_costs_nothing_and_records_nothing(services: Services) -> None:
    vendor = Vendor()
    await ask(services, vendor)
    again = await ask(services, vendor)
    assert (again.value, again.hit, again.cost_usd, again.cache["hit"]) == (
        {"email": "ada@example.com", "request": 1},
        True,
        0.0,
        True,
    )
    assert vendor.requests == 1
    assert await ledger_rows(services.ledger) == PAID_ONCE


async def test_fresh_pays_again_and_replaces_the_entry(services: Services) -> None:
    vendor = Vendor()
    await ask(services, vendor)
    fresh = await ask(services, vendor, fresh=True)
    assert (fresh.value["request"], fresh.hit, fresh.cost_usd) == (2, False, 0.05)
    assert await ledger_rows(services.ledger) == PAID_ONCE * 2
    assert (await ask(services, vendor)).value["request"] == 2


async def test_identical_concurrent_calls_pay_once(services: Services) -> None:
    vendor = Vendor(gate=anyio.Event())
    answers: list[PaidAnswer[dict[str, Any]]] = []

    async def one() -> None:
        answers.append(await ask(services, vendor))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(one)
            await vendor.arrived.wait()
            await anyio.wait_all_tasks_blocked()  # the other four are waiting on the one in flight
            assert vendor.gate is not None
            vendor.gate.set()
    assert vendor.requests == 1
    assert sorted((a.hit, a.cost_usd, a.cache.get("shared_with_identical_call", False)) for a in answers) == [
        (False, 0.05, False),
        *[(True, 0.0, True)] * 4,
    ]
    assert all(a.value == {"email": "ada@example.com", "request": 1} for a in answers)
    assert await ledger_rows(services.ledger) == PAID_ONCE


async def test_a_refused_call_is_void_and_not_cached(services: Services) -> None:
    async def refused() -> dict[str, Any]:
        await mark_sending()
        raise VendorBadRequest("v", "bad lead", status=400)

    with pytest.raises(VendorBadRequest):
        await cached_paid_call(services, None, refused, tool="v_find", operation="find.PROFESSIONAL", request=REQUEST)
    assert await services.cache.get("v", "find.PROFESSIONAL", REQUEST, "acct") is None
    answer = await ask(services, Vendor())
    assert (answer.hit, answer.cost_usd) == (False, 0.05)
    assert [r[-2] for r in await ledger_rows(services.ledger)] == ["void", "settled"]
