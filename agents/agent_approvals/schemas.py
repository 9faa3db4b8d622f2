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
from collections.abc import Callable, Iterator, Mapping
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
_PROBLEM_LIMIT = 300
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


def problem(arguments: Any, schema: Mapping[str, Any], *, within: float = CHECK_SECONDS) -> str | None:
    """Why `arguments` fail `schema` (the most relevant error, with where, at most 300 characters), or None.
    Raises `SchemaRefused` when the schema may not be used or the check takes longer than `within` seconds."""
    validator = _checked(_canonical(schema))
    token = _deadline.set(time.monotonic() + within)
    try:
        error = best_match(validator.iter_errors(arguments))
    except _TooSlow:
        raise SchemaRefused(f"checking the arguments against the schema took longer than {within:g} s") from None
    except RecursionError:
        raise SchemaRefused("the arguments are nested too deeply to check") from None
    finally:
        _deadline.reset(token)
    if error is None:
        return None
    where = "/".join(str(part) for part in error.absolute_path)
    return (f"{where}: {error.message}" if where else error.message)[:_PROBLEM_LIMIT]


def schema_problem(arguments: Any, schema: Mapping[str, Any]) -> str | None:
    """As `problem`, for a caller that only needs to know whether to offer or run the call: a schema that may not
    be used (or a check that took too long) is a problem too, said as one."""
    try:
        return problem(arguments, schema)
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
