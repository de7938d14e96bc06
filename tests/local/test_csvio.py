"""read_csv_rows and emails_from_rows on real files in tmp_path."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from enrich_mcp.local import LocalInputError, emails_from_rows, read_csv_rows


def write(tmp_path: Path, content: str | bytes, name: str = "leads.csv") -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8", newline="")
    else:
        path.write_bytes(content)
    return path


EXPECTED = [
    {"name": "Jane Doe", "email": "jane@acme.com", "company": "Acme, Inc."},
    {"name": "Bob Roe", "email": "bob@widgets.com", "company": "Widgets"},
]


def test_comma_with_utf8_bom_and_padded_headers(tmp_path: Path) -> None:
    content = (
        '\ufeff name , email ,company\r\nJane Doe,jane@acme.com,"Acme, Inc."\r\nBob Roe,bob@widgets.com,Widgets\r\n'
    )
    assert read_csv_rows(write(tmp_path, content)) == EXPECTED


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_delimiter_is_sniffed(tmp_path: Path, delimiter: str) -> None:
    lines = [
        ["name", "email", "company"],
        ["Jane Doe", "jane@acme.com", '"Acme, Inc."'],
        ["Bob Roe", "bob@widgets.com", "Widgets"],
    ]
    content = "".join(delimiter.join(line) + "\n" for line in lines)
    assert read_csv_rows(write(tmp_path, content)) == EXPECTED


def test_single_column_falls_back_to_comma(tmp_path: Path) -> None:
    assert read_csv_rows(write(tmp_path, "email\njane@acme.com\n")) == [{"email": "jane@acme.com"}]


def test_utf16_from_excel_unicode_text(tmp_path: Path) -> None:
    content = codecs.BOM_UTF16_LE + "name\temail\nJürgen\tj@münchen.de\n".encode("utf-16-le")
    assert read_csv_rows(write(tmp_path, content)) == [{"name": "Jürgen", "email": "j@münchen.de"}]


def test_blank_lines_ragged_rows_and_odd_headers(tmp_path: Path) -> None:
    content = "\nname,,name\n\nJane,x,Doe,extra\n , , \nBob\n"
    assert read_csv_rows(write(tmp_path, content)) == [
        {"name": "Jane", "column_2": "x", "name_2": "Doe", "column_4": "extra"},
        {"name": "Bob", "column_2": "", "name_2": ""},
    ]


def test_header_only_file_has_no_rows(tmp_path: Path) -> None:
    assert read_csv_rows(write(tmp_path, "name,email\n")) == []


def test_large_sample_cut_mid_file(tmp_path: Path) -> None:
    rows = [f"Person {i};p{i}@acme.com;Acme ü" for i in range(3_000)]  # > 64 KiB, non-ASCII across the cut
    rows_read = read_csv_rows(write(tmp_path, "name;email;company\n" + "\n".join(rows) + "\n"))
    assert len(rows_read) == 3_000
    assert rows_read[-1] == {"name": "Person 2999", "email": "p2999@acme.com", "company": "Acme ü"}


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(LocalInputError, match="CSV file not found"):
        read_csv_rows(tmp_path / "nope.csv")


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(LocalInputError, match="is a directory"):
        read_csv_rows(tmp_path)


@pytest.mark.parametrize("content", ["", "\ufeff", " \n\n\t\n", ",,,\n\n"])
def test_empty_file(tmp_path: Path, content: str) -> None:
    with pytest.raises(LocalInputError, match="is empty"):
        read_csv_rows(write(tmp_path, content))


def test_binary_file(tmp_path: Path) -> None:
    with pytest.raises(LocalInputError, match="binary file"):
        read_csv_rows(write(tmp_path, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))))


def test_non_utf8_text(tmp_path: Path) -> None:
    with pytest.raises(LocalInputError, match="not UTF-8 text") as caught:
        read_csv_rows(write(tmp_path, "name\nJos\xe9\n".encode("latin-1")))
    assert "CSV UTF-8" in str(caught.value)


def test_non_utf8_text_after_the_sample(tmp_path: Path) -> None:
    content = ("email\n" + "a@acme.com\n" * 10_000).encode() + "jos\xe9@acme.com\n".encode("latin-1")
    with pytest.raises(LocalInputError, match="not UTF-8 text past line"):
        read_csv_rows(write(tmp_path, content), max_rows=20_000)


def test_field_too_large_for_csv(tmp_path: Path) -> None:
    with pytest.raises(LocalInputError, match="not valid CSV at line 2"):
        read_csv_rows(write(tmp_path, 'email\n"' + "x" * 200_000 + '"\n'))


def test_more_than_10000_rows(tmp_path: Path) -> None:
    path = write(tmp_path, "email\n" + "a@acme.com\n" * 10_001)
    with pytest.raises(LocalInputError, match="more than 10,000 data rows"):
        read_csv_rows(path)
    assert len(read_csv_rows(write(tmp_path, "email\n" + "a@acme.com\n" * 10_000))) == 10_000


def test_max_rows_is_configurable(tmp_path: Path) -> None:
    with pytest.raises(LocalInputError, match="more than 2 data rows"):
        read_csv_rows(write(tmp_path, "email\na@x.com\nb@x.com\nc@x.com\n"), max_rows=2)


@pytest.mark.parametrize("header", ["email", "E-mail", " Email Address ", "EMAIL"])
def test_emails_from_the_email_column(header: str) -> None:
    rows = [
        {"name": "Jane", header: " jane@acme.com "},
        {"name": "Bob", header: ""},
        {"name": "Ann", header: "a@x.com"},
    ]
    assert emails_from_rows(rows) == ["jane@acme.com", "a@x.com"]


def test_emails_from_the_only_column() -> None:
    assert emails_from_rows([{"Contacts": "jane@acme.com"}, {"Contacts": "b@x.com"}]) == ["jane@acme.com", "b@x.com"]


def test_headerless_list_of_addresses(tmp_path: Path) -> None:
    rows = read_csv_rows(write(tmp_path, "jane@acme.com\nbob@x.com\n"))
    assert emails_from_rows(rows) == ["jane@acme.com", "bob@x.com"]


def test_no_email_column() -> None:
    with pytest.raises(LocalInputError, match="No email column among 'name', 'company'"):
        emails_from_rows([{"name": "Jane", "company": "Acme"}])


def test_no_rows() -> None:
    assert emails_from_rows([]) == []
