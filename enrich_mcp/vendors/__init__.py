"""Vendor toolsets. Each subpackage is one vendor and exports ``SPEC`` (a :class:`VendorSpec`).

Vendors are discovered, not listed: adding a sixth vendor is adding a folder.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from enrich_mcp.vendors.base import VendorServices, VendorSpec

__all__ = ["VendorServices", "VendorSpec", "discover_vendors"]


@cache
def discover_vendors() -> tuple[VendorSpec, ...]:
    specs: list[VendorSpec] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if not info.ispkg:
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        spec = getattr(module, "SPEC", None)
        if isinstance(spec, VendorSpec):
            specs.append(spec)
    return tuple(specs)
