"""Job kinds are a stored format: every job row names its kind, and a restarted server resumes it by that name."""

from __future__ import annotations

from collections.abc import Callable

from enrich_mcp.server import build_server
from enrich_mcp.settings import Settings

# Renaming one strands the unfinished jobs of that kind in every existing data directory (nothing claims
# them, and their reservations stay open until swept as unknown). Add kinds here; never change one.
STORED_KINDS = {
    "audiencelab.enrichment",
    "enrichabl.enrichment",
    "enrichabl.list_leads",
    "enrichabl.validation",
    "lance.enrichment",
    "sixtyfour.deep_search",
    "sixtyfour.enrich_company",
    "sixtyfour.enrich_lead",
    "sixtyfour.find_emails_bulk",
    "sixtyfour.find_phones_bulk",
    "sixtyfour.qualify_lead",
    "sixtyfour.workflow_run",
}


def test_every_stored_job_kind_still_has_its_handler(make_settings: Callable[..., Settings]) -> None:
    srv = build_server(make_settings())
    try:
        assert set(srv.runtime.jobs.handlers) == STORED_KINDS
    finally:
        srv.runtime.close()
