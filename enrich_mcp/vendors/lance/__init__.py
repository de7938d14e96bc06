"""Lance: trigger and poll per-person email or phone enrichment."""

from enrich_mcp.http import BEARER, Rate
from enrich_mcp.vendors.base import VendorSpec

SPEC = VendorSpec(
    name="lance",
    title="Lance",
    env_prefix="LANCE",
    default_base_url="https://app.lance.so/api/v1",
    auth=BEARER,
    # Lance documents no rate limit; 120/min is a conservative default (override with LANCE_RATE_LIMIT).
    rate=Rate(120, 60),
    tools="enrich_mcp.vendors.lance.tools",
    # No waterfall provider: Lance stores what it finds in Lance and answers only whether data was found.
    # Lance bills in credits ("enrichment_email" / "enrichment_phone") without a published USD price:
    # these are estimates so the budget cap works. Override with ENRICH_MCP_PRICES.
    prices={
        "enrich.emails": 0.10,
        "enrich.phones": 0.30,
    },
    docs="https://docs.lance.so",
)
