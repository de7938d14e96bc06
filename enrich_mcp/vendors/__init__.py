"""Vendor toolsets. Each subpackage is one vendor and exports ``SPEC`` (a :class:`VendorSpec`).

Vendors are discovered, not listed: adding a sixth vendor is adding a folder. A vendor shipped as its own
distribution names its spec in the ``enrich_mcp.vendors`` entry-point group instead::

    [project.entry-points."enrich_mcp.vendors"]
    acme = "acme_enrich:SPEC"
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from functools import cache
from importlib.metadata import entry_points

from enrich_mcp.vendors.base import VendorServices, VendorSpec

__all__ = ["ENTRY_POINTS", "VendorServices", "VendorSpec", "discover_vendors"]

ENTRY_POINTS = "enrich_mcp.vendors"

logger = logging.getLogger(__name__)


@cache
def discover_vendors() -> tuple[VendorSpec, ...]:
    """The built-in vendors (by name), then the installed ones (by entry-point name).

    An installed vendor that fails to load, or whose name or env prefix is taken, is left out with a warning, so one
    broken plug-in does not stop the server.
    """
    specs: list[VendorSpec] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if not info.ispkg:
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        spec = getattr(module, "SPEC", None)
        if isinstance(spec, VendorSpec):
            specs.append(spec)
    for point in sorted(entry_points(group=ENTRY_POINTS), key=lambda p: p.name):
        try:
            spec = point.load()
        except Exception as exc:
            logger.warning("vendor plug-in %s (%s) failed to load: %s", point.name, point.value, exc)
            continue
        if not isinstance(spec, VendorSpec):
            logger.warning("vendor plug-in %s (%s) is not a VendorSpec; left out", point.name, point.value)
        elif taken := [s.title for s in specs if s.name == spec.name or s.env_prefix == spec.env_prefix]:
            # A shared prefix would hand the other vendor's API key to this one.
            logger.warning(
                "vendor plug-in %s: name %r or env prefix %r is %s's; left out",
                point.name,
                spec.name,
                spec.env_prefix,
                taken[0],
            )
        else:
            specs.append(spec)
    return tuple(specs)
