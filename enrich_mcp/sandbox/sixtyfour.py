"""Fake Sixtyfour API (https://api.sixtyfour.ai), following vendor-docs/sixtyfour.md."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx

from enrich_mcp.sandbox import SandboxApp, route


def _slug(name: str) -> str:
    return ".".join(part for part in "".join(c if c.isalnum() else " " for c in name.lower()).split()) or "someone"


class Sandbox(SandboxApp):
    vendor = "sixtyfour"
    auth_header = "x-api-key"

    def error(self, status: int, message: str, **extra: Any) -> httpx.Response:
        return self.json(status, {"detail": message, **extra})

    @route("POST", "/find-email")
    def find_email(self, request: httpx.Request) -> httpx.Response:
        body = self.body(request)
        if not isinstance(body, dict) or not isinstance(body.get("lead"), dict):
            return self.error(400, "lead is required")
        mode = body.get("mode", "PROFESSIONAL")
        if mode not in ("PROFESSIONAL", "PERSONAL"):
            return self.error(400, f"mode must be PROFESSIONAL or PERSONAL, not {mode!r}")
        lead = body["lead"]
        name = str(lead.get("name") or "")
        if not name or name.lower().startswith("nobody"):
            return self.json(200, {"email": [], **({"personal_email": ""} if mode == "PERSONAL" else {})})
        local = _slug(name)
        company = _slug(str(lead.get("company") or "example")).replace(".", "")
        answer: dict[str, Any] = {"email": [[f"{local}@{company}.example.com", "OK", "COMPANY"]]}
        if mode == "PERSONAL":
            digest = hashlib.sha256(local.encode()).hexdigest()[:4]
            answer["personal_email"] = f"{local}.{digest}@personal.example.com"
        return self.json(200, answer)
