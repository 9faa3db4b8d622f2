"""What is sensitive in a tool call's arguments (pure): the values to hide, found three ways, and the arguments
with those values replaced by what may be shown of them.

- **The tool's JSON schema**: a property with `writeOnly: true`, `format: "password"` or `x-sensitive: true`, at
  any depth (`properties`, `patternProperties`, `additionalProperties`, `items`, `prefixItems`, local `$ref`s to
  `#/$defs/...` or `#/definitions/...`; in `anyOf`/`oneOf`/`allOf`, any branch that marks it).
  (bot/core/schema_marks.py)
- **The operator**: `redact:` in policy.yaml, argument paths by tool name (`parse_redact`, `ArgPath`:
  bot/core/arg_paths.py).
- **Detectors** (`REDACT_DETECTORS`, bot/core/detectors.py): cards (and their security codes and expiry), IBANs,
  secret formats inside every string and every name at every depth (and inside a string that is itself JSON text),
  card numbers sent as JSON numbers, the values of arguments named like secrets, and a card's expiry beside it.

A path names a name (key) holding a hidden value by a placeholder, what is shown of it in angle brackets, never by
the value: `{"cards": {"4111111111111111": "primary"}}` hides the name at `cards.<card ending 1111>`.

A value hidden by the schema, the operator or its name is hidden whole (an object or a list too); a detector's find
inside a longer string hides that part only ("refund to card ending 1111, order 77").

    >>> rules = parse_redact({"refund": ["card.number"]})
    >>> hidden = find_hidden("refund", {"card": {"number": "4111111111111111"}}, rules=rules)
    >>> [(h.where, h.kind, h.display) for h in hidden]
    [('card.number', 'card', 'card ending 1111')]
    >>> redacted({"card": {"number": "4111111111111111"}}, hidden)
    {'card': {'number': 'card ending 1111'}}

Nothing here reads settings or talks to anyone: the surfaces that show arguments (cards, modals, logs, the report,
webhooks) are to call `find_hidden` and `redacted`."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from bot.core.arg_paths import (
    JSON_TEXT,
    ArgPath,
    PathMatcher,
    RedactError,
    Segment,
    States,
    compiled,
    parse_detectors,
    parse_path,
    parse_redact,
    paths_for,
    read_detectors,
)
from bot.core.detectors import DETECTORS, MIN_FOUND, Finding, card_number, scan, secret_name
from bot.core.schema_marks import Schema
from bot.core.spelling import number_digits

__all__ = [
    "JSON_TEXT", "MAX_DEPTH", "ArgPath", "Hidden", "PathMatcher", "RedactError", "Segment", "Source", "compiled",
    "find_hidden", "parse_detectors", "parse_path", "parse_redact", "path_text", "paths_for", "read_detectors",
    "redacted", "shown_name", "shown_text",
]

Source = Literal["schema", "policy", "name", "detector"]
MAX_DEPTH = 64  # deeper values are hidden whole ("too deep to examine"): never shown unexamined
MAX_JSON_TEXT = 100_000  # longer strings are not parsed as JSON (their text is still scanned)
_LEAVES = (str, int, float, bool, type(None))  # a JSON value's types that hold no other value
# names of a card's expiry (lower case, letters and digits only, a leading `card` left out): hidden beside a card
EXPIRY_NAMES = frozenset({"exp", "expiry", "expires", "expiration", "expdate", "expirydate", "expirationdate",
                          "expmonth", "expyear", "expirymonth", "expiryyear", "expirationmonth", "expirationyear",
                          "validthru", "validuntil"})


@dataclass(frozen=True, slots=True)
class Hidden:
    """One hidden value: where it is (`path`, from the arguments' root), its kind ("card", "password field"), what
    may be shown instead (`display`), why (`source`), and `span`: the part of a string hidden (None: all of it).
    `in_key`: the value is in the name (key) at the end of `path`: `display` is the name as shown (its value is
    examined on its own). `names`: the steps of `path` that are names holding a hidden value, each with what is
    shown of it (`where` writes that, never the name)."""

    path: tuple[Segment, ...]
    kind: str
    display: str
    source: Source
    span: tuple[int, int] | None = None
    in_key: bool = False
    names: tuple[tuple[int, str], ...] = ()

    @property
    def where(self) -> str:
        """The path as people read it: `items[0].card.number`; a name holding a hidden value as what is shown of it
        in angle brackets: `cards.<card ending 1111>`."""
        return path_text(self.path, dict(self.names))


def path_text(path: Sequence[Segment], shown: Mapping[int, str] | None = None) -> str:
    """`("items", 0, "pan")` read as `items[0].pan` (`$` for the root); the steps `shown` names (by index) written
    as `<what is shown>` instead."""
    text = ""
    for index, step in enumerate(path):
        if shown and index in shown:
            step = f"<{shown[index]}>"
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else step)
    return text or "$"

# finding -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Look:
    """What one search looks with: the operator's paths and the detectors on."""

    paths: PathMatcher
    detectors: frozenset[str]
    names: bool  # the `names` detector is on
    card: bool  # the `card` detector is on


def find_hidden(tool: str, arguments: Any, *, schema: Mapping[str, Any] | None = None,
                rules: Mapping[str, Sequence[ArgPath]] | None = None,
                detectors: Iterable[str] = DETECTORS) -> tuple[Hidden, ...]:
    """Every value of the arguments (any JSON) of a call of `tool` to hide, in document order: marked by the tool's
    `schema`, named by the operator's `rules` (`redact:` of policy.yaml, `parse_redact`: this tool's paths and
    those for every tool), or found by the `detectors` named (default: all). The arguments are not changed."""
    chosen = frozenset(detectors)
    look = _Look(compiled(paths_for(rules or {}, tool)), chosen, "names" in chosen, "card" in chosen)
    out: list[Hidden] = []
    _walk(arguments, (), Schema(schema, [schema]), look, None, 0, look.paths.start, out)
    if look.card and any(item.kind == "card" for item in out):
        out = _with_expiry(arguments, out)
    if any(item.in_key for item in out):
        out = _names_shown(out)
    return tuple(out)


def _names_shown(found: list[Hidden]) -> list[Hidden]:
    """`found`, each path step that is a name holding a hidden value noted with what is shown of it (`Hidden.where`
    writes that)."""
    keys = {item.path: item.display for item in found if item.in_key}
    return [replace(item, names=tuple((i, keys[item.path[:i + 1]]) for i in range(len(item.path))
                                      if item.path[:i + 1] in keys)) for item in found]


def _with_expiry(arguments: Any, found: list[Hidden]) -> list[Hidden]:
    """`found` with a card's expiry and security code beside it (`{"number": "4111...", "exp_month": 12, "cvc":
    123}`) hidden too (the `names` detector off as well), each after its card."""
    out, known = [], {item.path for item in found}
    for item in found:
        out.append(item)
        if item.kind != "card" or item.in_key or not item.path or JSON_TEXT in item.path:
            continue
        parent = _at(arguments, item.path[:-1])
        if not isinstance(parent, dict):
            continue
        for name, value in parent.items():
            path = (*item.path[:-1], name)
            kind = "card expiry" if _expiry_name(str(name)) else (
                "card security code" if secret_name(str(name)) == "card security code" else None)
            if kind and path not in known and isinstance(value, (str, int)):
                known.add(path)
                out.append(Hidden(path, kind, f"{kind} (hidden)", "detector"))
    return out


def _expiry_name(name: str) -> bool:
    compact = re.sub(r"[^a-z0-9]", "", name.lower())
    return compact in EXPIRY_NAMES or (compact.startswith("card") and compact[4:] in EXPIRY_NAMES)


def _at(value: Any, path: tuple[Segment, ...]) -> Any:
    for step in path:
        if isinstance(value, dict) and isinstance(step, str):
            value = value.get(step)
        elif isinstance(value, list) and isinstance(step, int) and 0 <= step < len(value):
            value = value[step]
        else:
            return None
    return value


def _walk(value: Any, path: tuple[Segment, ...], schema: Schema, look: _Look, named: str | None,
          depth: int, at: States, out: list[Hidden]) -> None:
    """What to hide in `value` at `path` added to `out` (`at`: where the operator's paths are, `PathMatcher`)."""
    whole = _whole(value, path, schema, look, named, depth, at) if (
        named or at.accepting or schema.nodes or depth > MAX_DEPTH) else None  # (else none: a call saved)
    step = look.paths.step
    if whole is not None:
        out.append(whole)
    elif isinstance(value, dict):
        for key, item in value.items():
            name = key if type(key) is str else str(key)
            if len(name) >= MIN_FOUND and look.detectors:
                in_key = _in_key(name, (*path, name), look)
                if in_key is not None:
                    out.append(in_key)
            secret = secret_name(name) if look.names else None
            inner, below = at.moves.get(name) or step(at, name), schema.child(name) if schema.nodes else schema
            kind = type(item)
            if kind in _LEAVES and not (named or secret or inner.accepting or below.nodes) and depth < MAX_DEPTH:
                if kind is str and (len(item) >= MIN_FOUND or item.lstrip()[:1] in ("{", "[")):
                    out += _in_text(item, (*path, name), look, depth + 1, inner)
                elif kind in (int, float) and look.card and 1e12 <= abs(item) < 1e19:
                    out += _card_as_number(item, (*path, name))
                continue  # (a value nothing hides whole, looked at here: no call for each one)
            _walk(item, (*path, name), below, look, named or secret, depth + 1, inner, out)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _walk(item, (*path, index), schema.child(index) if schema.nodes else schema, look, named, depth + 1,
                  step(at, index), out)
    elif isinstance(value, str):
        if len(value) >= MIN_FOUND or value.lstrip()[:1] in ("{", "["):  # (else nothing in it is found)
            out += _in_text(value, path, look, depth, at)
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and look.card:
        out += _card_as_number(value, path)


def _in_key(key: str, path: tuple[Segment, ...], look: _Look) -> Hidden | None:
    """A name (key) holding a detector's find (a card number as a key): the name shown with it replaced."""
    found = scan(key, look.detectors) if look.detectors else []
    if not found:
        return None
    shown = _spliced(key, [_part(path, finding) for finding in found])
    return Hidden(path, found[0].kind, shown, "detector", in_key=True)


def shown_name(name: str, detectors: Iterable[str] = DETECTORS) -> str:
    """A name (key) as a path or a message writes it: itself, or, when it holds a detector's find (a card number
    as a key), what is shown of it in angle brackets (`<card ending 1111>`), as `Hidden.where` does."""
    found = scan(name, frozenset(detectors)) if len(name) >= MIN_FOUND else []
    return f"<{_spliced(name, [_part((), finding) for finding in found])}>" if found else name


def _card_as_number(value: float, path: tuple[Segment, ...]) -> Iterator[Hidden]:
    """A card number sent as a JSON number (an integer, or a float: `4.111111111111111e15`), hidden whole."""
    if not 1e12 <= abs(value) < 1e19:  # (and str() of a huge number is never tried)
        return
    text = number_digits(repr(value)) if isinstance(value, float) else str(abs(value))
    if text and card_number(text):
        yield Hidden(path, "card", f"card ending {text[-4:]}", "detector")


def _whole(value: Any, path: tuple[Segment, ...], schema: Schema, look: _Look, named: str | None,
           depth: int, at: States) -> Hidden | None:
    """The value hidden whole, or None: marked by the schema, named by the operator, a secret's value by its name,
    or too deep to examine."""
    if depth > MAX_DEPTH:
        return Hidden(path, "value too deep to examine", "value too deep to examine (hidden)", "detector")
    marked = schema.marked()
    if marked:
        return _hidden_whole(value, path, marked, "schema", look)
    if at.accepting:
        return _hidden_whole(value, path, "sensitive value", "policy", look)
    if named and isinstance(value, (str, int, float)) and not isinstance(value, bool) and value != "":
        return _hidden_whole(value, path, named, "name", look)
    return None


def _hidden_whole(value: Any, path: tuple[Segment, ...], kind: str, source: Source, look: _Look) -> Hidden:
    """A value hidden whole: a string that is all one detector's find reads as that ("card ending 1111")."""
    if isinstance(value, str):
        found = scan(value.strip(), look.detectors)
        if len(found) == 1 and found[0].end - found[0].start == len(value.strip()):
            return Hidden(path, found[0].kind, found[0].display, source)
    return Hidden(path, kind, f"{kind} (hidden)", source)


def _in_text(text: str, path: tuple[Segment, ...], look: _Look, depth: int, at: States) -> Iterator[Hidden]:
    """What a string holds: itself JSON text with something to hide (looked at as JSON), else the detectors'
    finds in it."""
    inner = _json_text(text)
    if inner is not None:
        found: list[Hidden] = []
        _walk(inner, (*path, JSON_TEXT), Schema(None, []), look, None, depth + 1, at, found)
        if found:
            yield from found
            return
    for finding in scan(text, look.detectors) if look.detectors else ():
        yield _part(path, finding)


def _part(path: tuple[Segment, ...], finding: Finding) -> Hidden:
    return Hidden(path, finding.kind, finding.display, "detector", (finding.start, finding.end))


def _json_text(text: str) -> Any:
    """A string's JSON value when it is JSON text of an object or a list (cheap to tell: its first character),
    else None."""
    stripped = text.lstrip()
    if stripped[:1] not in ("{", "[") or len(text) > MAX_JSON_TEXT:
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, (dict, list)) else None


# replacing ---------------------------------------------------------------------------------------------------


def redacted(arguments: Any, hidden: Iterable[Hidden]) -> Any:
    """A copy of `arguments` with each hidden value replaced by its display (a part of a string: that part); the
    original is not changed. JSON text inside a string is written back as JSON text."""
    by_path: dict[tuple[Segment, ...], list[Hidden]] = {}
    for item in hidden:
        by_path.setdefault(item.path, []).append(item)
    prefixes = {path[:i] for path in by_path for i in range(len(path) + 1)}
    return _copy(arguments, (), by_path, prefixes)


def shown_text(text: str, *, tool: str = "", rules: Mapping[str, Sequence[ArgPath]] | None = None,
               detectors: Iterable[str] = DETECTORS) -> str:
    """Free text as it may be shown: what the detectors find in it (and, in JSON text, values named like secrets or
    the `rules`' paths of `tool`) replaced by what may be shown of them, as on a card (the core of the one door of
    free text, bot/redaction/hiding.py `Hiding.text`, which first replaces an approval's known values)."""
    found = find_hidden(tool, text, rules=dict(rules or {}), detectors=tuple(detectors)) if text else ()
    return str(redacted(text, found)) if found else text


def _copy(value: Any, path: tuple[Segment, ...], by_path: Mapping[tuple[Segment, ...], list[Hidden]],
          prefixes: set[tuple[Segment, ...]]) -> Any:
    here = [item for item in by_path.get(path, []) if not item.in_key]
    whole = [item for item in here if item.span is None]
    if whole:
        return whole[0].display
    if path not in prefixes:
        return _plain_copy(value)
    if isinstance(value, dict):
        return _copy_object(value, path, by_path, prefixes)
    if isinstance(value, list):
        return [_copy(item, (*path, index), by_path, prefixes) for index, item in enumerate(value)]
    if isinstance(value, str) and (*path, JSON_TEXT) in prefixes:
        return json.dumps(_copy(json.loads(value), (*path, JSON_TEXT), by_path, prefixes), ensure_ascii=False)
    if isinstance(value, str):
        return _spliced(value, here)
    return value


def _copy_object(value: dict[str, Any], path: tuple[Segment, ...],
                 by_path: Mapping[tuple[Segment, ...], list[Hidden]], prefixes: set[tuple[Segment, ...]]) -> Any:
    """An object's copy: each value copied, each name holding a hidden value shown as its display (numbered when two
    read alike)."""
    copied: dict[str, Any] = {}
    for key, item in value.items():
        step = (*path, str(key))
        shown = next((hidden.display for hidden in by_path.get(step, ()) if hidden.in_key), str(key))
        name, number = shown, 1
        while (shown != key and name in value) or name in copied:
            number += 1
            name = f"{shown} ({number})"
        copied[name] = _copy(item, step, by_path, prefixes)
    return copied


def _spliced(text: str, parts: list[Hidden]) -> str:
    """`text` with each hidden part replaced by its display."""
    for part in sorted(parts, key=lambda item: item.span or (0, 0), reverse=True):
        start, end = part.span or (0, len(text))
        text = text[:start] + part.display + text[end:]
    return text


def _plain_copy(value: Any) -> Any:
    """A copy of a JSON value (a scalar is its own copy: no call for each one)."""
    if isinstance(value, dict):
        return {key: _plain_copy(item) if isinstance(item, (dict, list)) else item for key, item in value.items()}
    if isinstance(value, list):
        return [_plain_copy(item) if isinstance(item, (dict, list)) else item for item in value]
    return value
