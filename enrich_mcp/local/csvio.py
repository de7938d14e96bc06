"""Rows from a CSV file on the server's disk, for tools that take a path instead of inline data."""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from enrich_mcp.local.columns import lead_field
from enrich_mcp.local.errors import MAX_ITEMS, LocalInputError

_HEAD_BYTES = 64 * 1024
_SNIFF_CHARS = 16 * 1024
_DELIMITERS = ",;\t|"
_RESAVE_HINT = "Export it from the spreadsheet as 'CSV UTF-8'."


def read_csv_rows(path: str | Path, *, max_rows: int = MAX_ITEMS) -> list[dict[str, str]]:
    """Data rows as dicts keyed by the stripped header names, blank lines skipped.

    Accepts UTF-8 with or without a BOM (and the UTF-16 of Excel's "Unicode text"); the delimiter (``,`` ``;``
    tab ``|``) is sniffed, comma when unsure. Empty header cells become ``column_<n>``, repeated ones get a ``_2``
    suffix, cells beyond the header are kept as ``column_<n>``. Raises :class:`LocalInputError` for a missing
    file, a directory, an empty or binary file, malformed CSV, or more than ``max_rows`` data rows.
    """
    file = Path(path).expanduser()
    if not file.exists():
        raise LocalInputError(f"CSV file not found: {file}", hint="Give a path on the server's machine.")
    if file.is_dir():
        raise LocalInputError(f"{file} is a directory, not a CSV file.")
    try:
        with file.open("rb") as stream:
            head = stream.read(_HEAD_BYTES)
    except OSError as exc:
        raise LocalInputError(f"Cannot read {file}: {exc.strerror or exc}.") from exc
    encoding, sample = _decode_head(file, head, complete=len(head) < _HEAD_BYTES)
    if not sample.strip():
        raise LocalInputError(f"{file} is empty.")
    with file.open(encoding=encoding, newline="") as stream:
        reader = csv.reader(stream, _sniff(sample))
        try:
            return _rows(file, reader, max_rows)
        except UnicodeDecodeError as exc:
            raise LocalInputError(f"{file} is not UTF-8 text past line {reader.line_num}.", hint=_RESAVE_HINT) from exc
        except csv.Error as exc:
            raise LocalInputError(f"{file} is not valid CSV at line {reader.line_num}: {exc}.") from exc


def emails_from_rows(rows: Sequence[Mapping[str, object]]) -> list[str]:
    """The non-blank values of the email column (email, e-mail, email_address, ...), or of the only column.

    A single column whose header holds an @ is taken as a headerless list of addresses, header included.
    """
    if not rows:
        return []
    columns = list(rows[0])
    column = next((name for name in columns if lead_field(name) == "email"), None)
    if column is None and len(columns) != 1:
        raise LocalInputError(
            f"No email column among {', '.join(map(repr, columns)) or 'no columns'}.",
            hint="Name the column 'email', or give a file with a single column of addresses.",
        )
    column = column or columns[0]
    values: list[object] = [column] if len(columns) == 1 and "@" in column else []
    values.extend(row.get(column) for row in rows)
    return [text for value in values if value is not None and (text := str(value).strip())]


def _decode_head(file: Path, head: bytes, *, complete: bool) -> tuple[str, str]:
    """(encoding, text of the head cut to whole lines), or :class:`LocalInputError` for binary content."""
    encoding = "utf-16" if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) else "utf-8-sig"
    if encoding == "utf-8-sig" and b"\x00" in head:
        raise LocalInputError(f"{file} is a binary file, not CSV text.", hint=_RESAVE_HINT)
    try:
        text = codecs.getincrementaldecoder(encoding)().decode(head, final=complete)
    except UnicodeDecodeError as exc:
        raise LocalInputError(f"{file} is not UTF-8 text.", hint=_RESAVE_HINT) from exc
    if not complete:
        text = text[: text.rfind("\n") + 1] or text
    return encoding, text


def _sniff(sample: str) -> type[csv.Dialect]:
    try:
        return csv.Sniffer().sniff(sample[:_SNIFF_CHARS], delimiters=_DELIMITERS)
    except csv.Error:  # one column, or no delimiter stands out
        return csv.excel


def _rows(file: Path, reader: Iterator[list[str]], max_rows: int) -> list[dict[str, str]]:
    header = next((record for record in reader if any(cell.strip() for cell in record)), None)
    if header is None:
        raise LocalInputError(f"{file} is empty.")
    names = _column_names(header)
    rows: list[dict[str, str]] = []
    for record in reader:
        if not any(cell.strip() for cell in record):
            continue
        if len(rows) == max_rows:
            raise LocalInputError(
                f"{file} has more than {max_rows:,} data rows.", hint=f"Split it into files of {max_rows:,} rows."
            )
        row = dict(zip(names, record, strict=False))
        row.update((f"column_{n}", cell) for n, cell in enumerate(record[len(names) :], len(names) + 1) if cell)
        row.update((name, "") for name in names[len(record) :])
        rows.append(row)
    return rows


def _column_names(header: Sequence[str]) -> list[str]:
    names: list[str] = []
    for n, cell in enumerate(header, 1):
        base = cell.strip() or f"column_{n}"
        name, suffix = base, 2
        while name in names:
            name, suffix = f"{base}_{suffix}", suffix + 1
        names.append(name)
    return names
