"""Sixtyfour: people and company research agents, email and phone finding, deep search, workflows."""

from enrich_mcp.http import Auth, Rate
from enrich_mcp.vendors.base import VendorSpec
from enrich_mcp.vendors.sixtyfour.tools import register

SPEC = VendorSpec(
    name="sixtyfour",
    title="Sixtyfour",
    env_prefix="SIXTYFOUR",
    default_base_url="https://api.sixtyfour.ai",
    auth=Auth("x-api-key"),
    rate=Rate(500, 60),
    register=register,
    prices={
        "find_email.PROFESSIONAL": 0.05,
        "find_email.PERSONAL": 0.20,
    },
    docs="https://docs.sixtyfour.ai",
)
