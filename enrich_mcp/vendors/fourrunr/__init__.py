"""4Runr: the operator's self-hosted AI lead system (leads, Airtable sync, cleaning, AI messages, campaigns)."""

from enrich_mcp.http import BEARER, Rate
from enrich_mcp.vendors.base import VendorSpec

SPEC = VendorSpec(
    name="fourrunr",
    title="4Runr",
    env_prefix="FOURRUNR",
    default_base_url=None,  # self-hosted: FOURRUNR_BASE_URL (ending in /api/v1) is required
    auth=BEARER,
    rate=Rate(1000, 3600),  # Standard plan; Premium/Enterprise set FOURRUNR_RATE_LIMIT
    tools="enrich_mcp.vendors.fourrunr.tools",
    # No waterfall provider: 4Runr holds the user's own leads, reached through its own tools.
    # 4Runr charges nothing itself; its AI calls bill the operator's own AI provider, at a price
    # only the operator knows. Zero by default so spend is recorded; set real ones in ENRICH_MCP_PRICES.
    prices={
        "clean_lead": 0.0,
        "generate_message": 0.0,
        "enrich_lead": 0.0,
    },
    sandbox_base_url="http://localhost:5000/api/v1",
    docs="vendor-docs/fourrunr.md",
)
