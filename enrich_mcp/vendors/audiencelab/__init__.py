"""AudienceLab: real-time contact lookup and bulk enrichment jobs delivered as gzipped CSV."""

from enrich_mcp.http import Auth, Rate
from enrich_mcp.vendors.base import VendorSpec

SPEC = VendorSpec(
    name="audiencelab",
    title="AudienceLab",
    env_prefix="AUDIENCELAB",
    default_base_url="https://api.audiencelab.io",
    auth=Auth("X-Api-Key"),
    # The document publishes no rate ("check the API documentation"); 120/min keeps well clear of a
    # stricter real-time limit. Raise it with AUDIENCELAB_RATE_LIMIT once the account's limit is known.
    rate=Rate(120, 60),
    tools="enrich_mcp.vendors.audiencelab.tools",
    # Ahead of Sixtyfour (20) when costs tie: one lookup answers every field.
    waterfall="enrich_mcp.vendors.audiencelab.waterfall:AudienceLabProvider",
    waterfall_priority=10,
    # AudienceLab publishes no per-call prices: these are estimates so the budget cap works.
    # Set the contract's prices with ENRICH_MCP_PRICES, e.g. {"audiencelab.enrich": 0.02}.
    prices={
        "enrich": 0.01,
        "enrichment_record": 0.01,
    },
    docs="https://audiencelab.mintlify.app/api-reference",
)
