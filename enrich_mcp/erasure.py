"""Exact erasure of one person: whole identifiers, normalised, matched against every value of a record.

``forget_person`` gives identifiers (an email, a phone, a LinkedIn or profile URL, a full name, a vendor
id). Each is normalised the way :mod:`enrich_mcp.local` normalises leads (email lower-cased, phone to
E.164, LinkedIn URL canonical) and matched *whole* against the strings found in a record's JSON values.
A fragment (``com``, a domain, ``+1650``) is refused: substring matching erased every other person.

What happens to a record (:meth:`Matcher.scrub`):

- a string that *is* one of the identifiers makes the dict holding it the person's record: that dict goes
  (from its list, or from its parent dict);
- a string that merely *contains* one (free text, a ledger subject) has it replaced by ``[erased]``;
- everything else stays, so another person in the same job, list or export keeps every row.

:func:`harvest` finds the person's other identifiers (the name a vendor was asked with, their phone) in
the records that hold a given one, so erasing by email also erases the name stored where the email never
appears. It reads one person's record at a time: the elements of a list of people are separate records.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import phonenumbers

from enrich_mcp.errors import InputError
from enrich_mcp.local.domains import registered_domain
from enrich_mcp.local.emails import ParsedEmail, parse_email

Kind = Literal["email", "phone", "linkedin", "url", "name", "id"]
ERASED_TEXT = "[erased]"


class _Erased:
    """Scrub's answer for a value that is the person's own record: drop it."""

    def __repr__(self) -> str:
        return "ERASED"


ERASED: Any = _Erased()

_EMAIL_IN_TEXT = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+"
)
_LINKEDIN = re.compile(r"(?:https?://)?(?:[\w-]+\.)?linkedin\.com/in/([^/?#\s\"'<>]+)/?", re.IGNORECASE)
_LINKEDIN_WHOLE = re.compile(_LINKEDIN.pattern + r"(?:[/?#]\S*)?", re.IGNORECASE)
_URL_IN_TEXT = re.compile(r"(?:https?://|www\.)[^\s\"'<>]+", re.IGNORECASE)
_PHONE_LIKE = re.compile(r"(?:tel:)?\+?[\d\s().\-/]{7,}")
_PHONE_CHARS = re.compile(r"[+\s().\-/]")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{5,127}")
_DOMAIN_LIKE = re.compile(r"[\w-]+(?:\.[\w-]+)+\.?")
_NAME_WORD = re.compile(r"[^\W\d_][\w'’.-]*", re.UNICODE)

# Keys under which a record names its person; names elsewhere (company, title) are not a person's name.
NAME_KEYS = frozenset({"name", "full_name", "fullname", "person_name", "contact_name", "lead_name"})
_FIRST_KEYS = ("first_name", "firstname", "firstName", "first", "given_name")
_LAST_KEYS = ("last_name", "lastname", "lastName", "last", "surname", "family_name")
_EMAIL_KEYS = frozenset(
    {"email", "emails", "work_email", "personal_email", "b2b_email", "lead_email", "email_address", "address"}
)
_PHONE_KEYS = frozenset(
    {"phone", "phones", "phone_number", "mobile", "mobile_phone", "b2b_phone", "personal_phone", "number", "tel"}
)
_LINKEDIN_KEYS = frozenset({"linkedin", "linkedin_url", "linkedin_profile", "linkedin_profile_url"})
# Keys that make a dict one person's record (an emails list of {"address": ...} is one person's, not people).
_PERSON_ID_KEYS = (
    NAME_KEYS
    | _LINKEDIN_KEYS
    | {"email", "work_email", "personal_email", "b2b_email", "lead_email", "email_address", *_FIRST_KEYS}
)
_CONTACT_KEYS = _EMAIL_KEYS | _PHONE_KEYS | _LINKEDIN_KEYS | NAME_KEYS
# A dict with one of these besides a name is about a person (a lead), not a company called by a name.
_PERSON_CONTEXT = frozenset({"company", "title", "job_title", *_EMAIL_KEYS, *_PHONE_KEYS, *_LINKEDIN_KEYS})

_HINT = (
    "Give whole identifiers: a full email address (ada@example.com), a phone number with its country code, a "
    "LinkedIn profile URL, a full name (first and last), or a vendor id (6+ characters with a digit)."
)


@dataclass(frozen=True, order=True)
class Identifier:
    kind: Kind
    value: str
    """Canonical form: what records are compared with."""


@lru_cache(maxsize=16_384)
def phone_e164(text: str, region: str = "US") -> str | None:
    """E.164 for a complete (possible) phone number, else None. Fictional 555 numbers count: they are data too."""
    raw = text.strip().removeprefix("tel:")
    if sum(c.isdigit() for c in raw) < 7:
        return None
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def canonical_linkedin(text: str) -> str | None:
    match = _LINKEDIN_WHOLE.fullmatch(text.strip())
    return None if match is None else f"https://www.linkedin.com/in/{match.group(1).lower()}"


def canonical_url(text: str) -> str | None:
    """``host/path`` without scheme, ``www.``, query, fragment or trailing slash; None without a path."""
    raw = text.strip()
    if not raw.lower().startswith(("http://", "https://", "www.")):
        return None
    rest = re.sub(r"^https?://", "", raw, flags=re.IGNORECASE)
    rest = re.split(r"[?#]", rest, maxsplit=1)[0]
    host, _, path = rest.partition("/")
    host = host.lower().removeprefix("www.").split(":")[0]
    path = path.rstrip("/")
    if not host or not path:
        return None
    return f"{host}/{path}"


def canonical_name(text: str) -> str | None:
    words = text.split()
    if not all(_NAME_WORD.fullmatch(w) for w in words) or sum(len(w.strip(".")) >= 2 for w in words) < 2:
        return None  # "Grace H" is a fragment: two words of two letters or more
    name = " ".join(words).casefold()
    return name if len(name) >= 5 else None


def _email(text: str) -> str | None:
    raw = text.strip()
    if raw[:7].lower() == "mailto:":
        raw = raw[7:]
    return raw.lower() if "@" in raw and not any(c.isspace() for c in raw) else None


def parse_identifier(text: str, region: str = "US") -> Identifier:
    """The canonical identifier ``text`` names, or :class:`InputError` for a fragment or a company."""
    raw = text.strip()
    shown = raw if len(raw) <= 80 else raw[:77] + "..."
    if "@" in raw:
        email = _email(raw)
        if email is None or not isinstance(parse_email(email), ParsedEmail):
            raise InputError(f"{shown!r} is not a whole email address.", hint=_HINT)
        return Identifier("email", email)
    if "linkedin.com" in raw.lower():
        if (linkedin := canonical_linkedin(raw)) is None:
            raise InputError(f"{shown!r} is not a LinkedIn profile URL (https://www.linkedin.com/in/<name>).")
        return Identifier("linkedin", linkedin)
    if _PHONE_LIKE.fullmatch(raw):
        phone = phone_e164(raw, region)
        if phone is not None:
            return Identifier("phone", phone)
        if not raw.isdigit():  # bare digits that make no phone may still be a vendor's numeric id
            raise InputError(f"{shown!r} is not a complete phone number.", hint=_HINT)
    if raw.lower().startswith(("http://", "https://", "www.")):
        if (url := canonical_url(raw)) is None:
            raise InputError(f"{shown!r} is a web site, not a person's profile URL.", hint=_HINT)
        return Identifier("url", url)
    if _DOMAIN_LIKE.fullmatch(raw) and not raw.replace(".", "").isdigit() and registered_domain(raw):
        raise InputError(f"{shown!r} is a domain: it names a company, not a person.", hint=_HINT)
    if any(c.isspace() for c in raw):
        if (name := canonical_name(raw)) is None:
            raise InputError(f"{shown!r} is not a full name.", hint=_HINT)
        return Identifier("name", name)
    if _ID.fullmatch(raw) and any(c.isdigit() for c in raw):
        return Identifier("id", raw)
    raise InputError(f"{shown!r} is too short or too general to name one person.", hint=_HINT)


@dataclass
class Matcher:
    """Whole-identifier matching and scrubbing for one person."""

    identifiers: set[Identifier] = field(default_factory=set)
    region: str = "US"

    def __post_init__(self) -> None:
        self._compile()

    def add(self, found: Iterable[Identifier]) -> bool:
        before = len(self.identifiers)
        self.identifiers.update(found)
        if len(self.identifiers) != before:
            self._compile()
            return True
        return False

    def _of(self, kind: Kind) -> set[str]:
        return {i.value for i in self.identifiers if i.kind == kind}

    def _compile(self) -> None:
        self.emails, self.phones = self._of("email"), self._of("phone")
        self.linkedins, self.urls = self._of("linkedin"), self._of("url")
        self.names, self.ids = self._of("name"), self._of("id")
        # Cheap prefilter: a string holding none of these cannot hold an identifier.
        self._needles = sorted(
            {e for e in self.emails}
            | {lk.rsplit("/", 1)[-1] for lk in self.linkedins}
            | {u.rsplit("/", 1)[-1].lower() for u in self.urls}
            | {n.split()[-1] for n in self.names}
            | {i.lower() for i in self.ids}
        )
        self._phone_digits = sorted({p[-7:] for p in self.phones})
        names = sorted(self.names, key=len, reverse=True)
        self._name_re = (
            re.compile(
                r"(?<!\w)(?:" + "|".join(r"\s+".join(map(re.escape, n.split())) for n in names) + r")(?!\w)",
                re.IGNORECASE,
            )
            if names
            else None
        )
        ids = sorted(self.ids, key=len, reverse=True)
        self._id_re = re.compile(r"(?<![\w-])(?:" + "|".join(map(re.escape, ids)) + r")(?![\w-])") if ids else None

    def __bool__(self) -> bool:
        return bool(self.identifiers)

    # -- strings ---------------------------------------------------------------------------------

    def may_hold(self, text: str) -> bool:
        """False when ``text`` certainly holds no identifier (a substring prefilter; precise checks follow)."""
        lowered = text.casefold()
        if any(n in lowered for n in self._needles):
            return True
        if self._phone_digits:
            digits = re.sub(r"\D", "", text)
            return any(d in digits for d in self._phone_digits)
        return False

    def is_identifier(self, text: str, key: str | None = None) -> bool:
        """``text`` is, as a whole, one of the person's identifiers (names only as a name, not a company)."""
        if not self.may_hold(text):
            return False
        if (email := _email(text)) is not None and email in self.emails:
            return True
        if self.phones and _PHONE_LIKE.fullmatch(text.strip()) and phone_e164(text, self.region) in self.phones:
            return True
        if self.linkedins and canonical_linkedin(text) in self.linkedins:
            return True
        if self.urls and canonical_url(text) in self.urls:
            return True
        if self.names and (key is None or key.lower() in NAME_KEYS) and canonical_name(text) in self.names:
            return True
        return text.strip() in self.ids

    def redact_text(self, text: str) -> str:
        """``text`` with every identifier inside it replaced by ``[erased]``."""
        if not self.may_hold(text):
            return text
        if self.emails:
            text = _EMAIL_IN_TEXT.sub(lambda m: ERASED_TEXT if m.group(0).lower() in self.emails else m.group(0), text)
        if self.linkedins:
            text = _LINKEDIN.sub(
                lambda m: ERASED_TEXT if canonical_linkedin(m.group(0)) in self.linkedins else m.group(0), text
            )
        if self.urls:
            text = _URL_IN_TEXT.sub(
                lambda m: ERASED_TEXT if canonical_url(m.group(0)) in self.urls else m.group(0), text
            )
        if self.phones and any(d in re.sub(r"\D", "", text) for d in self._phone_digits):
            spans = [
                (m.start, m.end)
                for m in phonenumbers.PhoneNumberMatcher(text, self.region, leniency=phonenumbers.Leniency.POSSIBLE)
                if phonenumbers.format_number(m.number, phonenumbers.PhoneNumberFormat.E164) in self.phones
            ]
            for start, end in reversed(spans):
                text = text[:start] + ERASED_TEXT + text[end:]
        if self._name_re is not None:
            text = self._name_re.sub(ERASED_TEXT, text)
        if self._id_re is not None:
            text = self._id_re.sub(ERASED_TEXT, text)
        return text

    # -- records ---------------------------------------------------------------------------------

    def _names_pair(self, value: Mapping[str, Any]) -> bool:
        if not self.names:
            return False
        first = next((value[k] for k in _FIRST_KEYS if isinstance(value.get(k), str)), None)
        last = next((value[k] for k in _LAST_KEYS if isinstance(value.get(k), str)), None)
        return first is not None and last is not None and canonical_name(f"{first} {last}") in self.names

    def mentions(self, value: Any, key: str | None = None) -> bool:
        """Whether ``value`` holds any identifier, whole or inside text."""
        if isinstance(value, str):
            return self.may_hold(value) and (self.is_identifier(value, key) or self.redact_text(value) != value)
        if isinstance(value, Mapping):
            return self._names_pair(value) or any(
                self.mentions(str(k)) or self.mentions(v, str(k)) for k, v in value.items()
            )
        if isinstance(value, list | tuple):
            return any(self.mentions(v, key) for v in value)
        return False

    def holds(self, value: Any, key: str | None = None) -> bool:
        """Whether ``value`` holds one of the identifiers as its own: a whole value in it or its nested dicts, or in
        a list under a contact key (``emails: [{address: ...}]``). Text, and lists such as ``peers``, only
        mention the person."""
        if isinstance(value, str):
            return self.may_hold(value) and self.is_identifier(value, key)
        if isinstance(value, Mapping):
            return self._names_pair(value) or any(
                (isinstance(k, str) and self.is_identifier(k)) or self.holds(v, str(k)) for k, v in value.items()
            )
        if isinstance(value, list | tuple):
            return (key is None or key.lower() in _CONTACT_KEYS) and any(self.holds(v, key) for v in value)
        return False

    def scrub_record(self, record: Any) -> Any:
        """A whole record (a result row, an export row, a job request) without the person.

        :data:`ERASED` when the record is the person's: it holds one of their identifiers outside a list of
        people (a row whose ``emails`` are theirs is their row). Otherwise :meth:`scrub` takes them out of
        lists of people and text, and the record stays for everyone else.
        """
        main, _ = _split_people(record)
        if self.holds(main):
            return ERASED
        return self.scrub(record)

    def scrub(self, value: Any, key: str | None = None, *, keep: bool = False) -> Any:
        """``value`` without the person. A dict holding one of their identifiers is their record and comes back
        :data:`ERASED` (unless ``keep``); inside lists and dicts it is replaced by ``{"erased": true}`` (a string
        by ``[erased]``) so positions and shapes stay, which indexes into a request rely on."""
        if isinstance(value, str):
            if self.is_identifier(value, key):
                return ERASED
            return self.redact_text(value)
        if isinstance(value, Mapping):
            if not keep and self._names_pair(value):
                return ERASED
            out: dict[str, Any] = {}
            for k, v in value.items():
                if isinstance(k, str) and self.is_identifier(k):
                    continue  # a mapping keyed by the person: their entry goes
                if not keep and isinstance(v, str) and self.is_identifier(v, str(k)):
                    return ERASED
                out[self.redact_text(k) if isinstance(k, str) else k] = _placeholder(self.scrub(v, str(k)), v)
            return out
        if isinstance(value, list | tuple):
            return [_placeholder(self.scrub(v, key), v) for v in value]
        return value


def _placeholder(cleaned: Any, original: Any) -> Any:
    if cleaned is not ERASED:
        return cleaned
    return ERASED_TEXT if isinstance(original, str) else {"erased": True}


# -- finding the person's other identifiers --------------------------------------------------------


def _is_person_dict(value: Any) -> bool:
    if not isinstance(value, Mapping):
        return False
    return any(str(k) in _PERSON_ID_KEYS for k in value)


def _split_people(value: Any) -> tuple[Any, list[Any]]:
    """(the value with lists of people taken out, those people): each person is a record of its own."""
    people: list[Any] = []

    def walk(v: Any) -> Any:
        if isinstance(v, Mapping):
            return {k: walk(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            if sum(1 for x in v if _is_person_dict(x)) >= 2:
                people.extend(v)
                return []
            return [walk(x) for x in v]
        return v

    return walk(value), people


def _own_identifiers(record: Any, region: str) -> list[Identifier]:
    """Identifiers under the person keys of one record's dicts (not free text, not company names)."""
    found: list[Identifier] = []

    def add(kind: Kind, value: str | None) -> None:
        if value:
            found.append(Identifier(kind, value))

    def strings(v: Any) -> Iterator[str]:
        if isinstance(v, str):
            yield v
        elif isinstance(v, list | tuple):
            for x in v:
                yield from strings(x)

    def walk(v: Any, key: str = "") -> None:
        if isinstance(v, Mapping):
            keys = {str(k).lower() for k in v}
            for k, x in v.items():
                k = str(k).lower()
                for text in strings(x):
                    if k in _EMAIL_KEYS and (e := _email(text)) and isinstance(parse_email(e), ParsedEmail):
                        add("email", e)
                    elif k in _PHONE_KEYS:
                        add("phone", phone_e164(text, region))
                    elif k in _LINKEDIN_KEYS:
                        add("linkedin", canonical_linkedin(text))
                    elif k in NAME_KEYS and keys & _PERSON_CONTEXT:
                        add("name", canonical_name(text))
                walk(x, k)
            first = next((v[k] for k in _FIRST_KEYS if isinstance(v.get(k), str)), None)
            last = next((v[k] for k in _LAST_KEYS if isinstance(v.get(k), str)), None)
            if first and last:
                add("name", canonical_name(f"{first} {last}"))
        elif isinstance(v, list | tuple):
            for x in v:
                walk(x, key)

    walk(record)
    return found


def harvest(record: Any, matcher: Matcher) -> set[Identifier]:
    """The person's identifiers in ``record`` besides those known, read from their own record only.

    A record naming two different people (a lead with a manager, say) gives nothing: the name cannot be
    told apart from the other person's.
    """
    out: set[Identifier] = set()
    main, people = _split_people(record)
    for person in people:
        if matcher.holds(person):
            out |= harvest(person, matcher)
    if matcher.holds(main):
        own = set(_own_identifiers(main, matcher.region))
        if len({i for i in own if i.kind == "name"}) <= 1:
            out |= own
    return out - matcher.identifiers


# -- export files ----------------------------------------------------------------------------------


@dataclass
class FileScrub:
    rows_removed: int = 0
    rows_changed: int = 0
    rewritten: bool = False
    removed: bool = False


def _cell_value(cell: str) -> Any:
    """A CSV cell as written by the export: JSON for nested values, a quote before formula starts."""
    text = cell[1:] if cell[:1] == "'" and cell[1:2] in ("=", "+", "-", "@", "\t", "\r") else cell
    if text[:1] in ("{", "[") and text[-1:] in ("}", "]"):
        with contextlib.suppress(ValueError):
            return json.loads(text)
    return text


def _scrub_csv(text: str, matcher: Matcher, neutralise: Callable[[Any], Any]) -> tuple[str | None, FileScrub]:
    stats = FileScrub()
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error:
        return None, stats
    if not rows:
        return None, stats
    header, body = rows[0], rows[1:]
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(header)
    for row in body:
        values = {h: _cell_value(c) for h, c in zip(header, row, strict=False)}
        if not matcher.mentions(values):
            writer.writerow(row)
            continue
        cleaned = matcher.scrub_record(values)
        if cleaned is ERASED:
            stats.rows_removed += 1
            continue
        stats.rows_changed += 1
        cells = []
        for h, c in zip(header, row, strict=False):
            if cleaned.get(h) == values[h]:
                cells.append(c)
            else:
                v = cleaned.get(h, "")
                cells.append(neutralise(json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else v))
        writer.writerow(cells)
    return out.getvalue(), stats


def _scrub_jsonl(text: str, matcher: Matcher) -> tuple[str | None, FileScrub]:
    stats = FileScrub()
    lines: list[str] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError:
            return None, stats
        if not matcher.mentions(value):
            lines.append(line)
            continue
        cleaned = matcher.scrub_record(value)
        if cleaned is ERASED:
            stats.rows_removed += 1
        else:
            stats.rows_changed += 1
            lines.append(json.dumps(cleaned, ensure_ascii=False, default=str))
    return "".join(line + "\n" for line in lines), stats


def _replace_file(path: Path, text: str) -> None:
    """Write ``text`` to a private temp file beside ``path`` and move it over ``path`` atomically."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def scrub_export(path: Path, matcher: Matcher, neutralise: Callable[[Any], Any], *, dry_run: bool) -> FileScrub:
    """Rewrite one export (CSV or JSONL) without the person's rows; a file we cannot parse goes whole."""
    text = path.read_bytes().decode("utf-8", errors="replace")
    if not matcher.may_hold(text):
        return FileScrub()
    suffix = path.suffix.lower()
    new, stats = (
        _scrub_csv(text, matcher, neutralise)
        if suffix == ".csv"
        else _scrub_jsonl(text, matcher)
        if suffix == ".jsonl"
        else (None, FileScrub())
    )
    if new is None:
        stats = FileScrub(removed=True)
        if not dry_run:
            path.unlink()
        return stats
    if new != text:
        stats.rewritten = True
        if not dry_run:
            _replace_file(path, new)
    return stats


@dataclass
class ExportsScrub:
    rows_removed: int = 0
    files_rewritten: int = 0
    files_removed: int = 0


def scrub_exports(
    directory: Path, matcher: Matcher, neutralise: Callable[[Any], Any], *, dry_run: bool
) -> ExportsScrub:
    """:func:`scrub_export` over every regular file of ``directory``; links are never followed."""
    total = ExportsScrub()
    if directory.is_symlink() or not directory.is_dir():
        return total
    for path in sorted(directory.iterdir()):
        if path.is_symlink() or not path.is_file():
            continue
        done = scrub_export(path, matcher, neutralise, dry_run=dry_run)
        total.rows_removed += done.rows_removed
        total.files_rewritten += int(done.rewritten)
        total.files_removed += int(done.removed)
    return total
