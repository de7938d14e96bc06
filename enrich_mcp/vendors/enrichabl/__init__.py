"""Enrichabl: pipelines of leads, chunked uploads, AI / multi-AI / Firecrawl enrichment and email validation."""

from enrich_mcp.http import BEARER, Rate
from enrich_mcp.vendors.base import VendorSpec

# Enrichabl itself charges nothing per call: enrichment and validation bill provider usage on the user's own
# OpenAI/Gemini/Perplexity/Firecrawl/BounceBan/Mailveri keys. The prices are per lead and default to 0; set
# ENRICH_MCP_PRICES (e.g. {"enrichabl.enrichment.AI_COLUMN": 0.002}) to have the budget count that usage.
PRICES = {
    **{f"enrichment.{t}": 0.0 for t in ("AI_COLUMN", "MULTI_AI_COLUMN", "FIRECRAWL_EXTRACT")},
    **{f"validation.{s}": 0.0 for s in ("BOUNCEBAN", "MAILVERI", "HYBRID")},
}

SPEC = VendorSpec(
    name="enrichabl",
    title="Enrichabl",
    env_prefix="ENRICHABL",
    default_base_url="https://api.enrichabl.com/v1",
    auth=BEARER,
    rate=Rate(600, 60),
    tools="enrich_mcp.vendors.enrichabl.tools",
    # No waterfall provider: Enrichabl works on pipelines of leads, reached through its own tools.
    prices=PRICES,
    docs="https://api.enrichabl.com/v1",
)
