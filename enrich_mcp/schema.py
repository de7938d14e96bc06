"""Tool schemas, in one place: closed arguments, lean JSON schemas, short validation errors, bounded shapes.

No MCP import here (vendor models use these shapes, and load without MCP). The MCP SDK builds each tool's
argument model from the function's signature (``func_metadata``); ``tooling.prepare_tool``, called once
per tool by ``Toolset``, uses this module to

- closes that model (``extra="forbid"``): an unknown argument (``dryRun``, ``max_result``) is a tool
  error that names it and lists the valid ones, never silently dropped;
- refuses a call whose arguments exceed :data:`MAX_CALL_BYTES` before validating it;
- turns a pydantic ``ValidationError`` into a few short lines (``leads[3].email: required``);
- publishes lean schemas (:func:`lean_schema`): no ``title`` noise, every ``$ref`` inlined (strict-mode
  converters such as openai-agents refuse bare refs), ``oneOf`` as ``anyOf``, nullable scalars as type
  lists, no bounds that real values never meet, and outputs reduced to what clients validate;
- refuses, at registration, an input object that is not closed, so no tool can ship an open one.

Input models subclass :class:`Input` (closed, optionally capped in bytes as JSON); a lead-like record
is :class:`Sparse` (plain string fields, ``""`` when unknown, capped as a whole) or :class:`WithExtras`
(plus key/value :data:`Extras`). Other open-ended data gets a bounded, strict-mode-friendly shape too:
:data:`Record` (key/value pairs with scalar values) or :data:`JsonObjectText` (a JSON object as text).
"""

from __future__ import annotations

import difflib
import inspect
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar

import pydantic_core
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    model_validator,
)

from enrich_mcp.http import UUID_PATTERN

MAX_CALL_BYTES = 5_000_000
"""Largest tool call accepted (its arguments as JSON); bigger lists go through a CSV file or several calls."""
MAX_ERROR_LINES = 8
MAX_ERROR_CHARS = 1_800
"""A validation error stays well under 2 KB, whatever was sent."""


# -- bounded input shapes -----------------------------------------------------------------------------


class Input(BaseModel):
    """Base of every tool input model: closed, and capped at ``max_bytes`` of JSON when set."""

    model_config = ConfigDict(extra="forbid")
    max_bytes: ClassVar[int | None] = None

    @model_validator(mode="after")
    def _bounded(self) -> Input:
        limit = type(self).max_bytes
        if limit is not None and (size := len(pydantic_core.to_json(self, exclude_none=True))) > limit:
            raise ValueError(f"is {size:,} bytes as JSON; at most {limit:,}")
        return self


class Extra(Input):
    """One more field of a lead, as text; its size counts toward the lead's cap."""

    key: str
    value: str


Extras = Annotated[list[Extra], Field(max_length=20)]

Scalar = Annotated[
    str | int | float | bool | None,
    WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}, {"type": "null"}]}),
]


class Pair(Input):
    """One field of an open record; its size counts toward the record's cap."""

    key: str
    value: Scalar


def pairs(items: Iterable[Extra | Pair] | None, *, taken: Iterable[str] = (), where: str = "extra") -> dict[str, Any]:
    """Key/value pairs as a dict; an empty key, a key given twice or one clashing with a named field is refused."""
    out: dict[str, Any] = {}
    reserved = set(taken)
    for item in items or ():
        if not item.key.strip():
            raise ValueError(f"{where}: a key is empty")
        if item.key in out or item.key in reserved:
            raise ValueError(f"{where}: key {item.key!r} is given twice (or is also a named field)")
        out[item.key] = item.value
    return out


RECORD_BYTES = 16_000


def _record(items: list[Pair]) -> list[Pair]:
    pairs(items, where="record")
    if (size := len(pydantic_core.to_json(items))) > RECORD_BYTES:
        raise ValueError(f"is {size:,} bytes as JSON; at most {RECORD_BYTES:,}")
    return items


Record = Annotated[
    list[Pair],
    AfterValidator(_record),
    Field(min_length=1, max_length=50, description="<=16 KB"),
]
"""An open-ended record (a row, a record to evaluate) in a bounded, strict-mode-friendly shape."""


class Sparse(Input):
    """A record of known fields where each unknown one is ``""`` (or left out, or null).

    Its fields are plain strings defaulting to ``""``: a strict-mode client, which must fill every field,
    sends ``""`` for what it does not know. The whole object is capped by ``max_bytes`` (declare it in
    the field's description), so its fields need no length each.
    """

    max_bytes = 8_000

    @model_validator(mode="before")
    @classmethod
    def _nulls_are_blank(cls, data: Any) -> Any:
        return {k: v for k, v in data.items() if v is not None} if isinstance(data, dict) else data

    def named(self) -> dict[str, Any]:
        """The fields that were given (not blank)."""
        return {
            k: v for k, v in self.model_dump(exclude={getattr(self, "extra_name", "")}).items() if v not in ("", None)
        }


class WithExtras(Sparse):
    """A :class:`Sparse` record plus key/value pairs (the field named ``extra_name``, declared last)."""

    extra_name: ClassVar[str] = "extra"

    def flat(self) -> dict[str, Any]:
        """Named fields and the pairs in one dict (what vendors take as an open object)."""
        named = self.named()
        return {**named, **pairs(getattr(self, self.extra_name), taken=named, where=self.extra_name)}

    @model_validator(mode="after")
    def _pairs_unique(self) -> WithExtras:
        self.flat()
        return self


def _json_object(value: Any) -> Any:
    if isinstance(value, str):
        if len(value) > JSON_TEXT_MAX:
            raise ValueError(f"is {len(value):,} characters; at most {JSON_TEXT_MAX:,}")
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError('must be a JSON object written as text, e.g. \'{"key": "value"}\'') from None
    if not isinstance(value, dict):
        raise ValueError("must be a JSON object")
    if len(pydantic_core.to_json(value)) > JSON_TEXT_MAX:
        raise ValueError(f"is larger than {JSON_TEXT_MAX:,} characters as JSON")
    return value


JSON_TEXT_MAX = 20_000
JsonObjectText = Annotated[
    dict[str, Any],
    BeforeValidator(_json_object),
    WithJsonSchema({"type": "string", "maxLength": JSON_TEXT_MAX, "description": "JSON object as text"}),
]
"""A nested, open-ended object (e.g. a workflow block's specs) as JSON text: bounded, and strict-mode safe."""

TYPED = "x-enrich-typed"
"""Marks a nested output model whose (compact) schema is published typed; see :func:`published`."""


def published(*names: str, nested: bool = False) -> Callable[[dict[str, Any]], None]:
    """``json_schema_extra`` for an output model: publish only these fields typed (the rest pass through).

    ``nested`` keeps it typed where it is nested in another output (the job handle); other nested
    objects are published as plain objects.
    """

    def extra(schema: dict[str, Any]) -> None:
        schema["properties"] = {k: v for k, v in schema.get("properties", {}).items() if k in names}
        schema["required"] = [k for k in schema.get("required", []) if k in names]
        if nested:
            schema[TYPED] = True

    return extra


# -- lean schemas ---------------------------------------------------------------------------------------

_SCHEMA_MAPS = ("properties", "$defs", "definitions", "patternProperties")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMA_ONE = ("items", "additionalProperties", "not", "contains")
_SCALARS = {"string", "integer", "number", "boolean", "array"}


def lean_schema(schema: Mapping[str, Any], *, output: bool = False) -> dict[str, Any]:
    """The schema clients receive: same meaning, far fewer characters, no ``$ref`` left.

    Drops ``title`` keywords, ``additionalProperties: true`` (the default) and ``default: null``, inlines
    local ``$ref`` targets (a recursive one is kept), writes ``oneOf`` as ``anyOf`` (the branches of our
    unions are disjoint) and ``anyOf: [X, null]`` as ``type: [X, "null"]`` for non-object X. An input
    leaves out the bounds real values never meet (:func:`_unreached_bound`); the argument model still
    enforces them.

    An output is validated by clients, not read by models (they read the inputs and the tool's
    description), so it also loses defaults, descriptions, enums and ``required``; it publishes only the
    fields that always carry a value (a nullable one passes untyped), and its nested objects as plain
    objects, except models marked with :func:`published` (the job handle).
    """
    defs: Mapping[str, Any] = schema.get("$defs") or {}
    kept: dict[str, Any] = {}

    def walk(node: Any, stack: tuple[str, ...], depth: int) -> Any:
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            name = ref.removeprefix("#/$defs/")
            if name in stack:  # recursion: keep the reference and its definition
                kept[name] = defs[name]
                return {k: v for k, v in node.items() if k != "title"}
            # The target's own description is a model docstring, written for developers: the site's wins.
            target = {k: v for k, v in walk(defs[name], (*stack, name), depth).items() if k != "description"}
            siblings = walk({k: v for k, v in node.items() if k != "$ref"}, stack, depth)
            return {**target, **siblings}
        kind = node.get("type")
        if output and depth > 0 and "properties" in node and not node.get(TYPED):
            return {"type": kind or "object"}
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in ("title", "discriminator", "$defs", TYPED):
                continue
            if key == "default" and (output or value is None or value is False or value == "" or value == []):
                continue
            if key == "additionalProperties" and value is True:  # the default: say nothing
                continue
            if output and key in ("description", "required", "additionalProperties", "enum"):
                continue  # clients validate outputs; models read the inputs and the tool's description
            if key == "pattern" and value == UUID_PATTERN:  # the same rule, in 15 characters instead of 84
                out["format"] = "uuid"
                continue
            if not output and _unreached_bound(key, value, node):
                continue
            if key in _SCHEMA_MAPS and isinstance(value, dict):
                out[key] = {name: walk(sub, stack, depth + 1) for name, sub in value.items()}
                if output and key == "properties":  # publish what always carries a value; nulls pass untyped
                    out[key] = {name: sub for name, sub in out[key].items() if not _nullable(sub)}
                elif key == "properties":
                    out[key] = {name: _without_unreached_min_items(sub) for name, sub in out[key].items()}
            elif key in _SCHEMA_LISTS and isinstance(value, list):
                subs = [walk(sub, stack, depth) for sub in value]
                if key in ("anyOf", "oneOf"):  # a union inside a union is one union
                    subs = [b for sub in subs for b in (sub["anyOf"] if list(sub) == ["anyOf"] else [sub])]
                out["anyOf" if key == "oneOf" else key] = subs
            elif key in _SCHEMA_ONE:
                out[key] = walk(value, stack, depth + (key != "items"))
            else:
                out[key] = value
        if output and isinstance(out.get("items"), dict) and "properties" not in out["items"]:
            del out["items"]  # a list of scalars or open objects: "a list" says as much
        return _collapse_nullable(out)

    lean = walk(dict(schema), (), 0)
    if kept:
        lean["$defs"] = {name: walk(d, (name,), 0) for name, d in kept.items()}
    return lean


PUBLISHED_MAX_LENGTH = 5_000
"""A string's ``maxLength`` is published from this length up: free text a model may write at length."""
PUBLISHED_MAX_ITEMS = 1_000
"""A list's ``maxItems`` is published from this length up: bulk lists a model may fill."""


def _unreached_bound(key: str, value: Any, node: Mapping[str, Any]) -> bool:
    """A bound real values do not meet, or that says the obvious: enforced by the argument model, unpublished.

    A model reads every published character on every turn; a value past one of these bounds is refused
    with a one-line error that names it, and nothing is spent. So ``minLength: 1``; a ``maxLength`` below
    :data:`PUBLISHED_MAX_LENGTH` (names, emails, ids, short texts) unless it fixes the width (a country
    code); a ``maxItems`` below :data:`PUBLISHED_MAX_ITEMS`; ``minimum: 0`` (seconds, money, offsets,
    weights are not negative); and a default equal to the minimum (offset 0). A list argument that cannot
    be null loses ``minItems: 1`` too (:func:`_without_unreached_min_items`).
    """
    if key == "minLength":
        return value == 1
    if key == "maxLength":
        return isinstance(value, int) and value < PUBLISHED_MAX_LENGTH and value != node.get("minLength")
    if key == "maxItems":
        return isinstance(value, int) and value < PUBLISHED_MAX_ITEMS
    if key == "minimum":
        return value == 0 and not isinstance(value, bool)
    return key == "default" and "minimum" in node and value == node["minimum"] and not isinstance(value, bool)


def _without_unreached_min_items(node: dict[str, Any]) -> dict[str, Any]:
    """A list argument that cannot be null goes without ``minItems: 1``: a nullable one keeps it, so a
    strict-mode client (which must send every argument) sends null rather than ``[]``."""
    if node.get("type") == "array" and node.get("minItems") == 1:
        return {k: v for k, v in node.items() if k != "minItems"}
    return node


def _nullable(node: Mapping[str, Any]) -> bool:
    kind = node.get("type")
    return kind == "null" or (isinstance(kind, list) and "null" in kind) or {"type": "null"} in node.get("anyOf", [])


def _collapse_nullable(node: dict[str, Any]) -> dict[str, Any]:
    branches = node.get("anyOf")
    if not isinstance(branches, list) or len(branches) != 2 or {"type": "null"} not in branches:
        return node
    other = next(b for b in branches if b != {"type": "null"})
    kind = other.get("type")
    if not isinstance(kind, str) or kind not in _SCALARS or "anyOf" in other:
        return node
    if (set(other) - {"type", "description"}) & (set(node) - {"anyOf"}):
        return node  # a keyword on both levels: keep them apart
    merged = {**other, **{k: v for k, v in node.items() if k != "anyOf"}}  # the outer description wins
    merged["type"] = [kind, "null"]
    return merged


def describe_tool(doc: str) -> str:
    """A docstring as clients should see it: dedented, each paragraph on one line."""
    paragraphs = inspect.cleandoc(doc).split("\n\n")
    return "\n\n".join(" ".join(line.strip() for line in p.splitlines()) for p in paragraphs).strip()


def open_objects(schema: Mapping[str, Any], path: str = "") -> list[str]:
    """Paths of object schemas in an input schema that accept undeclared keys (must be none)."""
    found: list[str] = []

    def walk(node: Any, where: str) -> None:
        if not isinstance(node, dict):
            return
        kinds = node.get("type")
        is_object = kinds == "object" or (isinstance(kinds, list) and "object" in kinds) or "properties" in node
        if is_object and node.get("additionalProperties") is not False:
            found.append(where or "(arguments)")
        for name, sub in (node.get("properties") or {}).items():
            walk(sub, f"{where}.{name}" if where else name)
        if isinstance(node.get("items"), dict):
            walk(node["items"], f"{where}[]")
        if isinstance(node.get("additionalProperties"), dict):
            walk(node["additionalProperties"], f"{where}{{}}")
        for key in ("anyOf", "oneOf", "allOf"):
            for i, sub in enumerate(node.get(key) or []):
                walk(sub, f"{where}|{i}")
        for name, sub in (node.get("$defs") or {}).items():
            walk(sub, f"$defs.{name}")

    walk(schema, path)
    return found


# -- short validation errors ------------------------------------------------------------------------------


class InvalidArguments(ValidationError):
    """A ValidationError whose text is short and human; the SDK reports it as a tool error."""

    message: str

    def __str__(self) -> str:
        return self.message


def _short(value: Any) -> str:
    """A value as the error quotes it: never large."""
    if isinstance(value, str):
        text = value if len(value) <= 40 else value[:37] + "…"
        quoted = json.dumps(text, ensure_ascii=False)
        return quoted if len(value) <= 40 else f"{quoted} ({len(value):,} characters)"
    if value is None or isinstance(value, bool | int | float):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return f"a list of {len(value):,} items"
    if isinstance(value, dict):
        return f"an object with {len(value):,} key{'s' if len(value) != 1 else ''}"
    return type(value).__name__


def _kinds(node: Mapping[str, Any]) -> str:
    names = {"string": "a string", "integer": "an integer", "number": "a number", "boolean": "true or false"}
    names |= {"array": "a list", "object": "an object", "null": "null"}
    kinds: list[str] = []
    for branch in node.get("anyOf") or [node]:
        kind = branch.get("type")
        for k in kind if isinstance(kind, list) else [kind]:
            if isinstance(k, str) and (label := names.get(k, k)) not in kinds:
                kinds.append(label)
    return _or(kinds) if kinds else "a valid value"


def _or(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def _enum_text(values: Sequence[Any]) -> str:
    shown = [str(v) for v in values[:30]]
    return _or([*shown, f"… ({len(values) - 30} more)"] if len(values) > 30 else shown)


def _tag_branch(node: Mapping[str, Any], tag: Any) -> Mapping[str, Any] | None:
    """The branch of a union that pydantic's location part ``tag`` names (a discriminator value or a type)."""
    branches = [b for b in node.get("anyOf") or [] if b != {"type": "null"}]
    for branch in branches:
        for prop in (branch.get("properties") or {}).values():
            if prop.get("const") == tag or prop.get("enum") == [tag]:
                return branch
    types = {"str": "string", "int": "integer", "float": "number", "bool": "boolean", "list": "array"}
    wanted = types.get(str(tag).split("[", 1)[0])
    for branch in branches:
        kind = branch.get("type")
        if wanted and (kind == wanted or (isinstance(kind, list) and wanted in kind)):
            return branch
    return None


def _locate(schema: Mapping[str, Any], loc: Sequence[str | int]) -> tuple[str, Mapping[str, Any], Mapping[str, Any]]:
    """``leads[3].email`` for a pydantic location, with the schema there and at its parent.

    Union tags in the location (a discriminator value, ``str``, a model's name) choose a branch and are
    not shown.
    """
    node: Mapping[str, Any] = schema
    parent: Mapping[str, Any] = schema
    path = ""
    for part in loc:
        branches = [b for b in node.get("anyOf") or [] if b != {"type": "null"}]
        while len(branches) == 1:  # a nullable wrapper
            node = branches[0]
            branches = [b for b in node.get("anyOf") or [] if b != {"type": "null"}]
        if branches:
            if isinstance(part, str) and not any(part in (b.get("properties") or {}) for b in branches):
                node = _tag_branch(node, part) or next((b for b in branches if "properties" in b), branches[0])
                continue
            node = next((b for b in branches if part in (b.get("properties") or {})), branches[0])
        parent = node
        if isinstance(part, int):
            path += f"[{part}]"
            node = node.get("items") or {}
        else:
            path += f".{part}" if path else str(part)
            found = (node.get("properties") or {}).get(part, node.get("additionalProperties"))
            node = found if isinstance(found, dict) else {}
    return path, node, parent


def _message(error: Mapping[str, Any], node: Mapping[str, Any]) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    got = _short(error.get("input"))
    if kind == "missing":
        return "required"
    if kind in ("literal_error", "enum"):
        values = node.get("enum") or ([node["const"]] if "const" in node else None)
        expected = _enum_text(values) if values else str(ctx.get("expected", "")).replace("'", "")
        return f"must be {expected} (got {got})"
    if kind == "string_too_long":
        return f"at most {ctx.get('max_length'):,} characters (got {len(str(error.get('input'))):,})"
    if kind == "string_too_short":
        return f"at least {ctx.get('min_length')} character(s)"
    if kind == "too_long":
        actual = ctx.get("actual_length")
        return f"at most {ctx.get('max_length'):,} items" + (f" (got {actual:,})" if actual else "")
    if kind == "too_short":
        return f"at least {ctx.get('min_length'):,} item(s) (got {ctx.get('actual_length', 0):,})"
    if kind == "string_pattern_mismatch":
        return f"must match {ctx.get('pattern')} (got {got})"
    bounds = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}
    if kind in bounds:
        limit = next(iter(ctx.values()), "?")
        return f"must be {bounds[kind]} {limit} (got {got})"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        tags = _or([t.strip().strip("'") for t in str(ctx.get("expected_tags", "")).split(",")])
        field = str(ctx.get("discriminator", "")).strip("'")
        if kind == "union_tag_not_found":
            values = [
                v
                for branch in node.get("anyOf") or []
                for prop in [(branch.get("properties") or {}).get(field) or {}]
                for v in ([prop["const"]] if "const" in prop else prop.get("enum") or [])
            ]
            return f"needs `{field}`" + (f": {_or([str(v) for v in values])}" if values else "")
        return f"`{field}` must be {tags} (got {_short(ctx.get('tag'))})"
    if kind.startswith("uuid_"):
        return f"must be a UUID (got {got})"
    if kind.endswith(("_type", "_parsing")) or kind in ("model_attributes_type", "int_from_float"):
        return f"must be {_kinds(node)} (got {got})"
    if kind in ("value_error", "assertion_error"):
        text = str(error.get("msg", ""))
        return re.sub(r"^(Value error|Assertion failed), ", "", text)
    return str(error.get("msg", kind))


def _unknown_line(path: str, names: list[str], values: list[Any], parent: Mapping[str, Any]) -> str:
    valid = list((parent.get("properties") or {}).keys())
    hints = []
    for name, value in zip(names[:5], values[:5], strict=False):
        shown = name if len(name) <= 40 else name[:37] + "…"
        close = difflib.get_close_matches(re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower(), valid, n=1, cutoff=0.75)
        if close:
            shown += f" (did you mean {close[0]}?)"
        elif isinstance(value, dict) and (usable := [k for k in value if k in valid]):
            # e.g. {"lead": {...}} to a tool that takes the person's fields directly
            shown += f" (give {', '.join(usable[:8])} directly, not inside {name})"
        hints.append(shown)
    more = f" and {len(names) - 5} more" if len(names) > 5 else ""
    what = "argument" if not path else "field"
    where = f"{path}: " if path else ""
    listed = ", ".join(valid) if valid else "none"
    pairs_field = next((k for k, v in (parent.get("properties") or {}).items() if _is_pairs(v)), None)
    if pairs_field:
        listed += f" (other data goes in {pairs_field}, as key/value pairs)"
    return f"{where}unknown {what}{'s' if len(names) > 1 else ''} {', '.join(hints)}{more}; valid {what}s: {listed}"


def _is_pairs(node: Mapping[str, Any]) -> bool:
    items = node.get("items") or {}
    return set(items.get("properties") or {}) == {"key", "value"}


@dataclass
class _Problem:
    path: str
    message: str
    more: int = 0
    whole_line: bool = False

    def line(self) -> str:
        if self.whole_line:
            return self.message
        also = f" (and {self.more:,} more like it)" if self.more else ""
        return f"{self.path or 'arguments'}: {self.message}{also}"


def describe(exc: ValidationError, schema: Mapping[str, Any]) -> str:
    """One short line per problem, the field's path first; at most MAX_ERROR_LINES lines, under 2 KB.

    The same problem at many places of a list (``leads[0].email``, ``leads[1].email`` ...) is one line
    that counts the others; several branches of a union failing at one place are one line too.
    """
    problems: list[_Problem] = []
    at_path: dict[str, _Problem] = {}
    alike: dict[tuple[str, str], _Problem] = {}
    unknown: dict[str, tuple[_Problem, list[str], list[Any], Mapping[str, Any]]] = {}
    for error in exc.errors(include_url=False):
        loc = tuple(error.get("loc") or ())
        if error["type"] == "extra_forbidden" and loc:
            path = _locate(schema, loc[:-1])[0]
            generic = re.sub(r"\[\d+\]", "[]", path)
            if generic not in unknown:
                unknown[generic] = (_Problem(path, "", whole_line=True), [], [], _locate(schema, loc)[2])
            problem, names, values, _ = unknown[generic]
            if problem.path != path:  # the same mistake in another item of a list
                problem.more += 1
            elif str(loc[-1]) not in names:
                names.append(str(loc[-1]))
                values.append(error.get("input"))
            continue
        path, node, _ = _locate(schema, loc)
        if path in at_path:  # another branch of a union failed here: say what the union takes
            union = _locate(schema, loc[:-1])[1] if loc else node
            at_path[path].message = f"must be {_kinds(union)} (got {_short(error.get('input'))})"
            continue
        key = (re.sub(r"\[\d+\]", "[]", path), error["type"])
        if key in alike:
            alike[key].more += 1
            continue
        problem = _Problem(path, _message(error, node))
        problems.append(problem)
        at_path[path] = alike[key] = problem
    for problem, names, values, parent in unknown.values():
        problem.message = _unknown_line(problem.path, names, values, parent)
        if problem.more:
            problem.message += f" (and in {problem.more:,} more items)"
    problems[:0] = [problem for problem, *_ in unknown.values()]
    lines = [p.line() for p in problems[:MAX_ERROR_LINES]]
    if len(problems) > MAX_ERROR_LINES:
        lines.append(f"… and {len(problems) - MAX_ERROR_LINES:,} more problem(s)")
    text = "Invalid arguments; nothing was sent to a vendor.\n" + "\n".join(lines)
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


def invalid(message: str, errors: Sequence[Any] = ()) -> InvalidArguments:
    try:
        exc = InvalidArguments.from_exception_data("arguments", list(errors))
    except Exception:  # an error detail pydantic cannot rebuild: keep only the message
        exc = InvalidArguments.from_exception_data("arguments", [])
    exc.message = message
    return exc
