"""Sixtyfour: people and company research agents, email and phone finding, deep search, workflows."""

from enrich_mcp.http import Auth, Rate
from enrich_mcp.vendors.base import VendorSpec

SPEC = VendorSpec(
    name="sixtyfour",
    title="Sixtyfour",
    env_prefix="SIXTYFOUR",
    default_base_url="https://api.sixtyfour.ai",
    auth=Auth("x-api-key"),
    rate=Rate(500, 60),
    tools="enrich_mcp.vendors.sixtyfour.tools",
    waterfall="enrich_mcp.vendors.sixtyfour.waterfall:SixtyfourProvider",
    waterfall_priority=20,
    prices={
        # Published prices.
        "find_email.PROFESSIONAL": 0.05,
        "find_email.PERSONAL": 0.20,
        # Estimates (the document gives no price): override with ENRICH_MCP_PRICES,
        # e.g. {"sixtyfour.find_phone": 0.25}. Per lead, company, evaluation, result or input row.
        "find_phone": 0.30,
        "enrich_lead": 0.10,
        "enrich_company": 0.10,
        "qa_agent": 0.05,
        "deep_search": 0.01,
        "workflow_run": 0.10,
    },
    docs="https://docs.sixtyfour.ai",
)
