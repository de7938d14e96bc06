"""The sandbox's DNS: synthetic domains answer like real ones, with no network.

``example.com`` and its subdomains (the sandbox's people) have mail exchangers;
``*.invalid`` (RFC 2606) has none; anything else is "unreachable", which is
what a machine without DNS would honestly report.
"""

from __future__ import annotations

from enrich_mcp.local.models import MxAnswer


class SandboxMxResolver:
    async def mx(self, domain: str) -> MxAnswer:
        domain = domain.lower().rstrip(".")
        if domain == "example.com" or domain.endswith((".example.com", ".example", ".test")):
            return MxAnswer(status="has_mx", hosts=(f"mx.{domain}",))
        if domain.endswith(".invalid"):
            return MxAnswer(status="no_mx", detail="sandbox: reserved .invalid domain")
        return MxAnswer(status="unreachable", detail="sandbox: no network DNS")
