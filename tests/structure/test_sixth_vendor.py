"""A sixth vendor, installed the way a third party would ship one, touches no existing file.

The ``zenith`` vendor below is a throwaway distribution written into a temporary folder: a package
exporting ``SPEC``, a tools module with one tool, a waterfall provider, and a ``.dist-info`` naming the spec
in the ``enrich_mcp.vendors`` entry-point group. Putting the folder on ``sys.path`` installs it.
"""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from enrich_mcp.server import EnrichServer, build_server
from enrich_mcp.settings import Settings
from enrich_mcp.toolsnap import readme_table, snapshot_tools, tool_toolsets
from enrich_mcp.vendors import discover_vendors
from tests.conftest import FAST, connect

PACKAGE = "zenith_enrich"
KEY = "zen-key-0123456789"
ADA = {"name": "Ada Lovelace", "company": "Analytical Engines"}
PHONE = "+14155552671"

FILES = {
    f"{PACKAGE}/__init__.py": """
        from enrich_mcp.http import BEARER
        from enrich_mcp.vendors import VendorSpec

        SPEC = VendorSpec(
            name="zenith",
            title="Zenith",
            env_prefix="ZENITH",
            default_base_url="https://api.zenith.example/v2",
            auth=BEARER,
            rate=None,
            tools="zenith_enrich.tools",
            prices={"find_phone": 0.01},
            waterfall="zenith_enrich.waterfall:ZenithProvider",
            waterfall_priority=5,
        )
    """,
    f"{PACKAGE}/tools.py": """
        from pydantic import BaseModel

        from enrich_mcp.tooling import Toolset
        from enrich_mcp.vendors import VendorServices


        class Credits(BaseModel):
            credits: int


        def register(tools: Toolset, services: VendorServices) -> None:
            @tools.tool(read_only=True, idempotent=True)
            async def zenith_get_credits() -> Credits:
                \"\"\"Zenith credits left on the account. Free.\"\"\"
                return Credits.model_validate(await services.http.json("GET", "/credits"))
    """,
    f"{PACKAGE}/waterfall.py": """
        from typing import Any

        from enrich_mcp.waterfall import Candidate, Person, Provider, Step


        class ZenithProvider(Provider):
            def steps(self, person: Person) -> list[Step] | str:
                if not person.full_name:
                    return "needs a name"
                request = {"name": person.full_name, "company": person.company}
                return [Step(self, "find_phone", frozenset({"phone"}), request)]

            async def call(self, step: Step) -> dict[str, Any]:
                return await self.services.http.json("POST", "/phones", json_body=dict(step.request), spends=True)

            def candidates(self, step: Step, raw: dict[str, Any]) -> list[Candidate]:
                phone = raw.get("phone")
                return [Candidate("phone", phone)] if isinstance(phone, str) else []
    """,
    f"{PACKAGE}-1.0.dist-info/METADATA": """
        Metadata-Version: 2.1
        Name: zenith-enrich
        Version: 1.0
    """,
    f"{PACKAGE}-1.0.dist-info/entry_points.txt": """
        [enrich_mcp.vendors]
        zenith = zenith_enrich:SPEC
    """,
}


def _forget_plugin() -> None:
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
        del sys.modules[name]
    discover_vendors.cache_clear()


@pytest.fixture
def zenith(tmp_path: Path) -> Iterator[Path]:
    """The zenith distribution installed on ``sys.path`` for one test; discovery forgets it afterwards."""
    site = tmp_path / "site"
    for name, text in FILES.items():
        path = site / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    sys.path.insert(0, str(site))
    _forget_plugin()
    try:
        yield site
    finally:
        sys.path.remove(str(site))
        _forget_plugin()


class FakeZenith:
    """The vendor's API: records every request, answers a credit count and a phone."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.method == "GET" and request.url.path == "/v2/credits":
            return httpx.Response(200, json={"credits": 42})
        if request.method == "POST" and request.url.path == "/v2/phones":
            return httpx.Response(200, json={"phone": PHONE})
        return httpx.Response(404, json={"error": "not found"})


def settings(home: Path, **env: str) -> Settings:
    """Settings as the server reads them from the environment."""
    fast = {f"ENRICH_MCP_{k.upper()}": str(v) for k, v in FAST.items()}
    return Settings.from_env({"ENRICH_MCP_HOME": str(home), **fast, **env})


Build = Callable[..., EnrichServer]


@pytest.fixture
def build() -> Iterator[Build]:
    built: list[EnrichServer] = []

    def make(s: Settings, **kwargs: Any) -> EnrichServer:
        srv = build_server(s, **kwargs)
        built.append(srv)
        return srv

    yield make
    for srv in built:
        srv.runtime.close()


def test_an_installed_vendor_is_discovered_after_the_built_in_ones(zenith: Path) -> None:
    names = [spec.name for spec in discover_vendors()]
    assert names == ["audiencelab", "enrichabl", "fourrunr", "lance", "sixtyfour", "zenith"]


def test_its_key_and_base_url_come_from_its_own_variables(zenith: Path, home: Path) -> None:
    s = settings(home, ZENITH_API_KEY=KEY, ZENITH_BASE_URL="https://eu.zenith.example/v2", ZENITH_RATE_LIMIT="5/s")
    config = s.vendor("zenith")
    assert config.api_key is not None and config.api_key.get_secret_value() == KEY
    assert (config.base_url, config.rate_limit) == ("https://eu.zenith.example/v2", "5/s")
    assert KEY not in repr(s)


async def test_without_its_key_its_toolset_is_hidden_and_says_what_to_set(
    zenith: Path, home: Path, build: Build
) -> None:
    srv = build(settings(home))
    assert srv.runtime.status["zenith"].reason == "hidden: set ZENITH_API_KEY to enable it"
    assert "zenith" not in srv.runtime.vendors
    async with connect(srv) as client:
        assert "zenith_get_credits" not in {t.name for t in (await client.list_tools()).tools}


async def test_its_tool_is_served_and_listed_under_its_own_toolset(zenith: Path, home: Path, build: Build) -> None:
    fake = FakeZenith()
    srv = build(settings(home, ZENITH_API_KEY=KEY), transports={"zenith": httpx.MockTransport(fake)})
    async with connect(srv) as client:
        result = await client.call_tool("zenith_get_credits", {})
    assert not result.is_error, result.content
    assert result.structured_content == {"credits": 42}
    [request] = fake.requests
    assert (request.method, str(request.url)) == ("GET", "https://api.zenith.example/v2/credits")
    assert request.headers["authorization"] == f"Bearer {KEY}"

    table = readme_table(await snapshot_tools(srv), tool_toolsets(srv)).splitlines()
    assert "| zenith | `zenith_get_credits` | Zenith credits left on the account. Free. | yes |" in table
    assert "| core | `enrich_person` |" in "\n".join(table)


async def test_its_provider_answers_in_the_waterfall_and_its_spend_is_recorded(
    zenith: Path, home: Path, build: Build
) -> None:
    fake = FakeZenith()
    srv = build(settings(home, ZENITH_API_KEY=KEY), transports={"zenith": httpx.MockTransport(fake)})
    async with connect(srv) as client:
        result = await client.call_tool("enrich_person", {**ADA, "want": ["phone"]})
    assert not result.is_error, result.content
    out = result.structured_content
    assert out is not None
    [request] = fake.requests
    assert (request.method, str(request.url)) == ("POST", "https://api.zenith.example/v2/phones")
    assert json.loads(request.content) == ADA
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert out["answers"] == [
        {
            "want": "phone",
            "value": PHONE,
            "verified": True,
            "confidence": "high",
            "source": "zenith",
            "cached": False,
            "checks": ["valid_number"],
        }
    ]
    assert [(t["provider"], t["operation"], t["outcome"], t["cost_usd"]) for t in out["trail"]] == [
        ("zenith", "find_phone", "verified", 0.01)
    ]
    # The vendors without a key are named with the reason, in waterfall order.
    assert out["providers_skipped"] == {
        "audiencelab": "hidden: set AUDIENCELAB_API_KEY to enable it",
        "sixtyfour": "hidden: set SIXTYFOUR_API_KEY to enable it",
    }
    [row] = await srv.runtime.budget.ledger.rows()
    assert (row["vendor"], row["tool"], row["operation"], row["status"]) == (
        "zenith",
        "enrich_person",
        "find_phone",
        "settled",
    )
    assert row["estimated_usd"] == 0.01
    assert (await srv.runtime.budget.report())["by_vendor"] == {"zenith": 0.01}


async def test_its_priority_places_it_among_equal_costs(zenith: Path, home: Path, build: Build) -> None:
    # Priority 5 puts Zenith ($0.01) ahead of AudienceLab (10, $0.01), though it is discovered last and
    # its name sorts last: the plan follows the priority, not discovery order or names.
    s = Settings(home=home, sandbox=True, **FAST)
    srv = build(s, transports={"zenith": httpx.MockTransport(FakeZenith())})
    async with connect(srv) as client:
        result = await client.call_tool("enrich_person", {**ADA, "want": ["phone"], "dry_run": True})
    assert not result.is_error, result.content
    out = result.structured_content
    assert out is not None
    assert [(p["provider"], p["operation"], p["estimated_usd"]) for p in out["plan"]] == [
        ("zenith", "find_phone", 0.01),
        ("audiencelab", "enrich", 0.01),
        ("sixtyfour", "find_phone", 0.30),
    ]


def test_in_sandbox_mode_a_vendor_without_a_sandbox_is_hidden_not_fatal(zenith: Path, home: Path, build: Build) -> None:
    srv = build(Settings(home=home, sandbox=True))
    assert srv.runtime.status["zenith"].reason == "hidden: Zenith has no sandbox to serve it"
    assert set(srv.runtime.vendors) == {"audiencelab", "enrichabl", "fourrunr", "lance", "sixtyfour"}


def test_a_broken_plug_in_is_left_out_with_a_warning(zenith: Path, caplog: pytest.LogCaptureFixture) -> None:
    (zenith / f"{PACKAGE}-1.0.dist-info" / "entry_points.txt").write_text(
        "[enrich_mcp.vendors]\nzenith = zenith_enrich.missing:SPEC\n", encoding="utf-8"
    )
    with caplog.at_level("WARNING", logger="enrich_mcp.vendors"):
        names = [spec.name for spec in discover_vendors()]
    assert "zenith" not in names and len(names) == 5
    assert "vendor plug-in zenith (zenith_enrich.missing:SPEC) failed to load" in caplog.text


def test_a_plug_in_cannot_take_a_built_in_vendors_env_prefix(zenith: Path, caplog: pytest.LogCaptureFixture) -> None:
    # Sharing SIXTYFOUR_ would hand the Sixtyfour key to the plug-in's server.
    init = zenith / PACKAGE / "__init__.py"
    init.write_text(init.read_text(encoding="utf-8").replace('"ZENITH"', '"SIXTYFOUR"'), encoding="utf-8")
    with caplog.at_level("WARNING", logger="enrich_mcp.vendors"):
        names = [spec.name for spec in discover_vendors()]
    assert names == ["audiencelab", "enrichabl", "fourrunr", "lance", "sixtyfour"]
    assert "vendor plug-in zenith: name 'zenith' or env prefix 'SIXTYFOUR' is Sixtyfour's; left out" in caplog.text
