"""Chunked lead upload: ≤4,000 leads and <4 MB a request, at most 3 requests in flight.

At most 3 requests are in flight per account across every call of the server:
the client holds the account's slots. Each lead is sent exactly once. A 429
(the concurrent-upload cap) or 5xx means
the vendor stored nothing, so the shared HTTP layer resends that chunk; a chunk
that got a 2xx is never resent. A 402 (quota) stops chunks not yet started, and
the summary says which index ranges landed.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from enrich_mcp.errors import InputError, VendorCreditsError, VendorError, VendorResponseLost
from enrich_mcp.vendors.enrichabl.client import EnrichablClient, pipeline_segment, upload_counts
from enrich_mcp.vendors.enrichabl.models import LEAD_FIELDS, QuotaInfo, UploadChunk, UploadSummary

MAX_LEADS_PER_REQUEST = 4_000  # the document's advice (~700 KB of typical leads)
MAX_BODY_BYTES = 4_000_000  # strictly under the 4 MB cap, whichever way "MB" is counted


def encode(item: Any) -> bytes:
    return json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass
class Chunk:
    index: int
    start: int
    end: int
    body: bytes


def make_chunks(leads: list[dict[str, Any]]) -> list[Chunk]:
    """Greedy split by count and by the exact serialised size of the body that will be sent."""
    chunks: list[Chunk] = []
    parts: list[bytes] = []
    size = 2  # the array's brackets
    start = 0

    def close(end: int) -> None:
        chunks.append(Chunk(len(chunks), start, end, b"[" + b",".join(parts) + b"]"))

    for i, lead in enumerate(leads):
        part = encode(lead)
        if len(part) + 2 >= MAX_BODY_BYTES:
            raise InputError(
                f"Lead {i} ({lead.get('email')}) alone is {len(part):,} bytes as JSON, over Enrichabl's 4 MB "
                "request cap; shorten its custom_fields."
            )
        if parts and (len(parts) >= MAX_LEADS_PER_REQUEST or size + 1 + len(part) >= MAX_BODY_BYTES):
            close(i)
            parts, size, start = [], 2, i
        size += len(part) + (1 if parts else 0)
        parts.append(part)
    if parts:
        close(len(leads))
    return chunks


def read_csv(path: str) -> list[dict[str, Any]]:
    """Leads from a CSV with a header row (utf-8, BOM allowed). Unknown columns go to custom_fields."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise InputError(f"No CSV file at {path}.")
    try:
        with file.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            headers = reader.fieldnames or []
            known = {h: h.strip().lower() for h in headers if h and h.strip().lower() in LEAD_FIELDS}
            if "email" not in known.values():
                raise InputError(f"{path} has no email column; the header row must name one.")
            leads: list[dict[str, Any]] = []
            missing: list[int] = []
            for line, row in enumerate(reader, start=2):
                lead: dict[str, Any] = {}
                custom: dict[str, Any] = {}
                for header, value in row.items():
                    if header is None or value is None or not str(value).strip():
                        continue
                    if header in known:
                        lead[known[header]] = str(value).strip()
                    else:
                        custom[header.strip()] = value
                if not lead.get("email"):
                    missing.append(line)
                    continue
                if custom:
                    lead["custom_fields"] = custom
                leads.append(lead)
    except UnicodeDecodeError:
        raise InputError(f"{path} is not UTF-8 text; save it as UTF-8 CSV.") from None
    if missing:
        shown = ", ".join(str(n) for n in missing[:10])
        raise InputError(f"{len(missing)} row(s) of {path} have no email (lines {shown}); email is required.")
    return leads


def _ranges(chunks: list[UploadChunk], landed: bool) -> list[list[int]]:
    """Merge adjacent chunks into [start, end) ranges."""
    out: list[list[int]] = []
    for c in chunks:
        if (c.status in ("landed", "truncated")) != landed:
            continue
        if out and out[-1][1] == c.start:
            out[-1][1] = c.end
        else:
            out.append([c.start, c.end])
    return out


async def upload(client: EnrichablClient, pipeline_id: str, leads: list[dict[str, Any]]) -> UploadSummary:
    # Checked here, not only per chunk: an InputError inside the task group would surface as an ExceptionGroup.
    pipeline_segment(pipeline_id)
    chunks = make_chunks(leads)
    results = [
        UploadChunk(
            index=c.index, start=c.start, end=c.end, leads=c.end - c.start, bytes=len(c.body), status="not_sent"
        )
        for c in chunks
    ]
    quota: list[QuotaInfo] = []
    errors: list[VendorError] = []

    async def send(chunk: Chunk) -> None:
        result = results[chunk.index]
        try:
            # Once a 402 says the quota is full, chunks still waiting for a slot are not sent.
            answer = await client.upload_leads(pipeline_id, chunk.body, still_wanted=lambda: not quota)
        except VendorCreditsError as exc:
            errors.append(exc)
            details = exc.details if isinstance(exc.details, dict) else {}
            quota.append(
                QuotaInfo(
                    message=exc.message,
                    current_count=_int(details.get("current_count")),
                    quota_limit=_int(details.get("quota_limit")),
                )
            )
            result.status, result.error = "quota_exceeded", exc.message
            return
        except VendorResponseLost as exc:
            errors.append(exc)
            result.status, result.error = "unknown", exc.message
            return
        except VendorError as exc:
            errors.append(exc)
            result.status, result.error = "failed", exc.message
            return
        if answer is None:
            return  # not sent: the quota filled up meanwhile
        counts = upload_counts(answer)
        for name, value in counts.items():
            setattr(result, name, value or 0)
        truncated = answer.get("truncated") is True or bool(counts["dropped"])
        result.status = "truncated" if truncated else "landed"

    async with anyio.create_task_group() as tg:
        for chunk in chunks:
            tg.start_soon(send, chunk)

    if errors and not any(r.status in ("landed", "truncated") for r in results):
        # Nothing at all was accepted: a plain error is the honest answer.
        if quota:
            raise VendorCreditsError(
                "enrichabl",
                f"lead quota exceeded ({quota[0].current_count} of {quota[0].quota_limit} leads used); "
                f"none of the {len(leads)} leads was uploaded",
                status=402,
                details=quota[0].model_dump(),
            )
        raise errors[0]
    summary = UploadSummary(
        pipeline_id=pipeline_id,
        leads=len(leads),
        created=sum(r.created for r in results),
        skipped=sum(r.skipped for r in results),
        failed=sum(r.failed for r in results),
        dropped=sum(r.dropped for r in results),
        complete=all(r.status == "landed" for r in results),
        landed_ranges=_ranges(results, True),
        not_landed_ranges=_ranges(results, False),
        quota=quota[0] if quota else None,
        chunks=results,
        next_step="",
    )
    summary.next_step = _next_step(summary)
    return summary


def _next_step(s: UploadSummary) -> str:
    if s.complete:
        return f"All {s.leads} leads were accepted ({s.created} new, {s.skipped} already in the account)."
    notes = []
    if s.quota is not None:
        notes.append(
            f"The plan's lead quota is full ({s.quota.current_count} of {s.quota.quota_limit}); "
            "raise the plan, then upload the not_landed_ranges again."
        )
    if s.dropped:
        notes.append(f"{s.dropped} lead(s) were dropped by quota truncation.")
    if any(c.status == "unknown" for c in s.chunks):
        notes.append("Some chunks were sent but their answer was lost; re-uploading them is safe (dedup by email).")
    if any(c.status == "failed" for c in s.chunks):
        notes.append("Some chunks were refused; see chunks[].error, fix and upload those ranges again.")
    return " ".join(notes) or "Some leads did not land; see chunks."


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
