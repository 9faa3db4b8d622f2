"""JSON schemas from programs nobody here wrote, checked within bounds: nothing fetched, nothing frozen.

A tool's schema (an Approvals API ask, an MCP upstream's `inputSchema`, a tool's own parameters) is untrusted
input. jsonschema alone would fetch a remote `$ref` with a blocking `urlopen`, read `file://` references,
run `pattern` with Python's backtracking `re` (`^(a+)+$` doubles its time per character), and expand local
`$ref`s without limit. Here a schema is used only when:

- it is a JSON object of at most `MAX_SCHEMA_CHARS` characters, nested at most `MAX_DEPTH` deep;
- every `$ref` points inside the document itself (`#` or `#/json/pointer`, an array index in ASCII digits as RFC
  6901 writes it: `²`, `١` or `01` point at nothing); `$dynamicRef`, `$recursiveRef`,
  anchors and `$id` below the top are refused, and so is a `$ref` that leads back to itself (recursion);
- with every `$ref` expanded it has at most `MAX_EXPANSION` subschemas (`anyOf` of `$ref`s of `anyOf`s...);
- it is a valid draft 2020-12 schema whose `pattern`s and `patternProperties` compile in RE2 (google-re2: linear
  time, no backreferences or lookaround); `unevaluatedProperties` beside `patternProperties` is refused.

It is then validated against an empty `referencing.Registry()` (no reference can be retrieved from anywhere),
with RE2 for every regular expression, and within `CHECK_SECONDS`: a check that takes longer is refused
(`SchemaRefused`), never left running. Callers on an event loop run `problem` in a thread
(`asyncio.to_thread`), so the loop keeps serving while a schema is checked.
"""

from __future__ import annotations

import contextvars
import json
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import unquote

import re2
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import SchemaError, ValidationError, best_match
from referencing import Registry

__all__ = [
    "CHECK_SECONDS",
    "MAX_DEPTH",
    "MAX_EXPANSION",
    "MAX_SCHEMA_CHARS",
    "SchemaRefused",
    "check_schema",
    "depth_of",
    "problem",
    "schema_problem",
]

MAX_SCHEMA_CHARS = 30_000  # the schema as compact JSON
MAX_DEPTH = 32  # objects and arrays within each other, in a schema (and in what it checks: see `depth_of`)
MAX_EXPANSION = 2_000  # subschemas, with every `$ref` expanded
CHECK_SECONDS = 0.5  # one validation of arguments against a schema
_PROBLEM_LIMIT = 500
_deadline: contextvars.ContextVar[float] = contextvars.ContextVar("schema_deadline", default=0.0)
# an array index in a JSON pointer (RFC 6901): ASCII digits, no leading zero (`str.isdigit` also takes "²", which
# `int` refuses, and "١" or "１", which `int` reads as numbers)
_INDEX = re.compile(r"0|[1-9][0-9]{0,8}", re.ASCII)


class SchemaRefused(ValueError):
    """A schema that is not used (see the module docstring), or a check that took too long; `str()` says why."""


def depth_of(value: Any) -> int:
    """How deeply objects and arrays nest in `value` (a scalar: 0), counted without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children)
    return deepest


def check_schema(schema: Any) -> None:
    """Raise `SchemaRefused` unless `schema` may be used (the limits of the module docstring)."""
    _checked(_canonical(schema))


def problem(
    arguments: Any, schema: Mapping[str, Any], *, within: float = CHECK_SECONDS, name: Callable[[str], str] = str
) -> str | None:
    """Why `arguments` fail `schema` (the most relevant error first, then the others, at most 500 characters), or
    None. Each says where (`$.card.number`, each name shown through `name`: a caller that hides some names passes
    what shows them) and the rule that fails, with what the schema asks (`$.age: is not of type 'integer'
    (type)`), never the value of the arguments: a value that fails a schema may be a secret (a `writeOnly` password
    too short). Raises `SchemaRefused` when the schema may not be used or the check takes longer than `within`
    seconds."""
    validator = _checked(_canonical(schema))
    token = _deadline.set(time.monotonic() + within)
    try:
        errors = list(validator.iter_errors(arguments))
        error = best_match(errors)
    except _TooSlow:
        raise SchemaRefused(f"checking the arguments against the schema took longer than {within:g} s") from None
    except RecursionError:
        raise SchemaRefused("the arguments are nested too deeply to check") from None
    finally:
        _deadline.reset(token)
    if error is None:
        return None
    said = [_said(error, name)]
    for other in errors:
        line = _said(other, name)
        if line not in said:
            said.append(line)
    text, shown = said[0][:_PROBLEM_LIMIT], 1
    while shown < len(said) and len(text) + len(said[shown]) + 20 <= _PROBLEM_LIMIT:
        text, shown = f"{text}; {said[shown]}", shown + 1
    return text + (f"; and {len(said) - shown} more" if shown < len(said) else "")


def _where(path: Iterable[Any], name: Callable[[str], str]) -> str:
    """A value's path from the root (`$`): `$.items[0].pan`."""
    return "$" + "".join(f"[{step}]" if isinstance(step, int) else f".{name(str(step))}" for step in path)


def _said(error: ValidationError, name: Callable[[str], str]) -> str:
    """One failing rule: where, what the schema asks and the keyword, never the instance's value."""
    keyword, rule, instance = error.validator, error.validator_value, error.instance
    where = _where(error.absolute_path, name)
    if not isinstance(keyword, str):  # a `false` schema
        return f"{where}: is not allowed by the schema (false)"
    asks = _ASKS.get(keyword)
    if keyword == "required" and isinstance(rule, list) and isinstance(instance, dict):
        missing = [str(key) for key in rule if key not in instance]
        detail = "lacks " + ", ".join(repr(name(key)) for key in missing[:5])
    elif keyword in ("additionalProperties", "unevaluatedProperties") and isinstance(instance, dict):
        extra = _extra_names(instance, error.schema)
        detail = "has names the schema does not allow" + (": " + ", ".join(repr(name(key)) for key in extra[:5])
                                                          if extra else "")
    elif keyword == "pattern":
        detail = f"does not match {rule!r}"
    elif asks is not None:
        detail = asks.format(rule=_short(rule))
    else:
        detail = "does not match the schema"
    return f"{where}: {detail} ({keyword})"


def _extra_names(instance: Mapping[str, Any], schema: Any) -> list[str]:
    if not isinstance(schema, Mapping):
        return []
    known, patterns = schema.get("properties", {}), list(schema.get("patternProperties", {}))
    return sorted(str(key) for key in instance if key not in known and not any(_re2(p).search(key) for p in patterns))


def _short(rule: Any) -> str:
    """What the schema asks, in a few characters (the schema's, never the arguments')."""
    text = json.dumps(rule, ensure_ascii=False) if not isinstance(rule, str) else repr(rule)
    return text if len(text) <= 60 else text[:59] + "…"


# what a keyword asks, said with the schema's value of it
_ASKS = {
    "type": "is not of type {rule}", "enum": "is not one of the values the schema allows",
    "const": "is not the value the schema requires", "format": "is not a valid {rule}",
    "minLength": "is shorter than {rule} characters", "maxLength": "is longer than {rule} characters",
    "minimum": "is less than {rule}", "maximum": "is greater than {rule}",
    "exclusiveMinimum": "is not greater than {rule}", "exclusiveMaximum": "is not less than {rule}",
    "multipleOf": "is not a multiple of {rule}", "minItems": "has fewer than {rule} items",
    "maxItems": "has more than {rule} items", "uniqueItems": "has items that are not unique",
    "minProperties": "has fewer than {rule} names", "maxProperties": "has more than {rule} names",
    "contains": "contains no item the schema asks for", "minContains": "contains fewer than {rule} such items",
    "maxContains": "contains more than {rule} such items", "anyOf": "matches none of the schemas it may match",
    "oneOf": "does not match exactly one of its schemas", "allOf": "does not match all of its schemas",
    "not": "matches a schema it must not match", "dependentRequired": "lacks names the schema requires beside others",
    "propertyNames": "has a name the schema does not allow", "items": "has an item the schema does not allow",
    "prefixItems": "has an item the schema does not allow", "unevaluatedItems": "has items the schema does not allow",
}


def schema_problem(arguments: Any, schema: Mapping[str, Any], *, name: Callable[[str], str] = str) -> str | None:
    """As `problem`, for a caller that only needs to know whether to offer or run the call: a schema that may not
    be used (or a check that took too long) is a problem too, said as one."""
    try:
        return problem(arguments, schema, name=name)
    except SchemaRefused as exc:
        return f"the tool's schema cannot be used: {exc}"[:_PROBLEM_LIMIT]


def _canonical(schema: Any) -> str:
    if not isinstance(schema, Mapping):
        raise SchemaRefused("a schema must be a JSON object")
    if depth_of(dict(schema)) > MAX_DEPTH:
        raise SchemaRefused(f"the schema nests deeper than {MAX_DEPTH} levels")
    try:
        text = json.dumps(schema, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise SchemaRefused(f"the schema is not JSON: {exc}") from None
    if len(text) > MAX_SCHEMA_CHARS:
        raise SchemaRefused(f"the schema is larger than {MAX_SCHEMA_CHARS} characters of JSON")
    return text


@lru_cache(maxsize=256)
def _checked(text: str) -> Any:
    """The validator of a schema (given as canonical JSON), once it passed every check; cached, as the same few
    tools' schemas come again and again."""
    schema = json.loads(text)
    _expansion(schema)
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise SchemaRefused(f"not a JSON schema: {exc.message}"[:_PROBLEM_LIMIT]) from None
    for pattern in _patterns(schema):
        try:
            _re2(pattern)
        except re2.error as exc:
            why = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
            raise SchemaRefused(f"the pattern {pattern[:80]!r} is not supported (RE2, linear time: no backreferences"
                                f" or lookaround): {why}"[:_PROBLEM_LIMIT]) from None
    return _Validator(schema, registry=Registry())


def _expansion(schema: Any) -> None:
    """Refuse references outside the document, recursion, and more than MAX_EXPANSION subschemas once expanded."""
    sizes: dict[str, int] = {}

    def size(node: Any, path: tuple[str, ...]) -> int:
        if isinstance(node, list):
            return 1 + sum(size(item, path) for item in node)
        if not isinstance(node, dict):
            return 0
        if node is not schema and "$id" in node and isinstance(node["$id"], str):
            raise SchemaRefused("$id is allowed only at the top of the schema")
        for word in ("$dynamicRef", "$recursiveRef"):
            if word in node:
                raise SchemaRefused(f"{word} is not supported: use $ref to #/...")
        total = 1
        ref = node.get("$ref")
        if isinstance(ref, str):
            total += _ref_size(ref, path, sizes, size, schema)
        for key, child in node.items():
            if key != "$ref" or not isinstance(child, str):
                total += size(child, path)
            if total > MAX_EXPANSION:
                raise SchemaRefused(f"the schema expands to more than {MAX_EXPANSION} subschemas ($ref included)")
        return total

    size(schema, ())


def _ref_size(
    ref: str, path: tuple[str, ...], sizes: dict[str, int], size: Callable[[Any, tuple[str, ...]], int], root: Any
) -> int:
    if ref != "#" and not ref.startswith("#/"):
        raise SchemaRefused(f"$ref {ref[:80]!r} points outside the schema: only references inside it (#/...) are used")
    if ref in path:
        raise SchemaRefused(f"$ref {ref[:80]!r} refers to itself (a recursive schema is not supported)")
    if ref not in sizes:
        sizes[ref] = size(_pointer(root, ref), (*path, ref))
    return sizes[ref]


def _pointer(root: Any, ref: str) -> Any:
    """The part of the `root` schema `ref` (#/a/b) points to."""
    node: Any = root
    for raw in ref[2:].split("/") if ref != "#" else []:
        part = unquote(raw).replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and _INDEX.fullmatch(part) and int(part) < len(node):
            node = node[int(part)]
        else:
            raise SchemaRefused(f"$ref {ref[:80]!r} points at nothing in the schema")
    return node


def _patterns(schema: Any) -> Iterator[str]:
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            if isinstance(node.get("pattern"), str):
                yield node["pattern"]
            if isinstance(node.get("patternProperties"), dict):
                if "unevaluatedProperties" in node:
                    raise SchemaRefused("unevaluatedProperties beside patternProperties is not supported")
                yield from node["patternProperties"]
            stack.extend(node.values())


_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # (a refused pattern is said once, in the refusal)


@lru_cache(maxsize=1024)
def _re2(pattern: str) -> Any:
    return re2.compile(pattern, _RE2_OPTIONS)


class _TooSlow(Exception):
    pass


def _timed(keyword: Callable[..., Iterator[ValidationError]]) -> Callable[..., Iterator[ValidationError]]:
    def checked(validator: Any, value: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
        if time.monotonic() > _deadline.get():
            raise _TooSlow
        return keyword(validator, value, instance, schema)

    return checked


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not _re2(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(
    validator: Any, patterns: dict[str, Any], instance: Any, schema: Any
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for name, value in instance.items():
            if _re2(pattern).search(name):
                yield from validator.descend(value, subschema, path=name, schema_path=pattern)


def _additional_properties(validator: Any, extra: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    known, patterns = schema.get("properties", {}), list(schema.get("patternProperties", {}))
    extras = sorted(
        (name for name in instance if name not in known and not any(_re2(p).search(name) for p in patterns)), key=str
    )
    if validator.is_type(extra, "object"):
        for name in extras:
            yield from validator.descend(instance[name], extra, path=name)
    elif not extra and extras:
        listed = ", ".join(repr(name) for name in extras)
        yield ValidationError(f"Additional properties are not allowed ({listed} {'was' if len(extras) == 1 else 'were'}"
                              " unexpected)")


_KEYWORDS = {
    **Draft202012Validator.VALIDATORS,
    "pattern": _pattern,
    "patternProperties": _pattern_properties,
    "additionalProperties": _additional_properties,
}
_Validator = validators.extend(  # type: ignore[no-untyped-call]
    Draft202012Validator, validators={name: _timed(keyword) for name, keyword in _KEYWORDS.items()}
)
