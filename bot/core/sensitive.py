"""What is sensitive in a tool call's arguments (pure), the one door of finding it: the arguments walked with the
tool's schema, the operator's paths and the detectors (`find_hidden`), each value to hide found one of three ways.

- **The tool's JSON schema**: a property with `writeOnly: true`, `format: "password"` or `x-sensitive: true`, at
  any depth (`properties`, `patternProperties`, `additionalProperties`, `items`, `prefixItems`, local `$ref`s to
  `#/$defs/...` or `#/definitions/...`; in `anyOf`/`oneOf`/`allOf`, any branch that marks it).
  (bot/core/schema_marks.py)
- **The operator**: `redact:` in policy.yaml, argument paths by tool name (`parse_redact`, `ArgPath`: the paths'
  syntax, bot/core/arg_paths.py).
- **Detectors** (`REDACT_DETECTORS`, bot/core/detectors.py): cards (and their security codes and expiry), IBANs,
  secret formats inside every string and every name at every depth (and inside a string that is itself JSON text),
  card numbers sent as JSON numbers, the values of arguments named like secrets, and a card's expiry beside it.

A path names a name (key) holding a hidden value by a placeholder, what is shown of it in angle brackets, never by
the value: `{"cards": {"4111111111111111": "primary"}}` hides the name at `cards.<card ending 1111>`.

A value hidden by the schema, the operator or its name is hidden whole (an object or a list too); a detector's find
inside a longer string hides that part only ("refund to card ending 1111, order 77").

    >>> from bot.core.arg_paths import parse_redact
    >>> rules = parse_redact({"refund": ["card.number"]})
    >>> hidden = find_hidden("refund", {"card": {"number": "4111111111111111"}}, rules=rules)
    >>> [(h.where, h.kind, h.display) for h in hidden]
    [('card.number', 'card', 'card ending 1111')]

What is found is replaced by bot/core/redaction.py (`redacted`, `shown_text`). Nothing here reads settings or talks
to anyone."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from bot.core.arg_paths import JSON_TEXT, ArgPath, PathMatcher, Segment, States, compiled, path_text, paths_for
from bot.core.detectors import DETECTORS, MIN_FOUND, Finding, card_number, scan, secret_name
from bot.core.schema_marks import Schema
from bot.core.spelling import number_digits

__all__ = ["MAX_DEPTH", "Hidden", "Source", "find_hidden", "spliced"]

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
    if whole is not None:
        out.append(whole)
    elif isinstance(value, dict):
        _walk_object(value, path, schema, look, named, depth, at, out)
    elif isinstance(value, list):
        step = look.paths.step
        for index, item in enumerate(value):
            _walk(item, (*path, index), schema.child(index) if schema.nodes else schema, look, named, depth + 1,
                  step(at, index), out)
    elif isinstance(value, str) or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        out += _in_leaf(value, path, look, depth, at)


def _walk_object(value: dict[Any, Any], path: tuple[Segment, ...], schema: Schema, look: _Look, named: str | None,
                 depth: int, at: States, out: list[Hidden]) -> None:
    """`_walk` of an object: each name (a detector's find in it), then each value; a value nothing hides whole is
    looked at here (no `_walk` call for each one)."""
    step, moves, in_names = look.paths.step, at.moves, bool(look.detectors)
    for key, item in value.items():
        name = key if type(key) is str else str(key)
        here = (*path, name)
        if in_names and len(name) >= MIN_FOUND and (in_key := _in_key(name, here, look)) is not None:
            out.append(in_key)
        secret = secret_name(name) if look.names else None
        inner, below = moves.get(name) or step(at, name), schema.child(name) if schema.nodes else schema
        if type(item) in _LEAVES and not (named or secret or inner.accepting or below.nodes) and depth < MAX_DEPTH:
            out += _in_leaf(item, here, look, depth + 1, inner)
        else:
            _walk(item, here, below, look, named or secret, depth + 1, inner, out)


def _in_leaf(value: Any, path: tuple[Segment, ...], look: _Look, depth: int,
             at: States) -> Iterable[Hidden]:
    """What a string or a number not hidden whole holds: a detector's finds, JSON text's values to hide, a card
    number sent as a number (cheap to rule out: nothing is called for a short string or a small number)."""
    if isinstance(value, str):
        if len(value) >= MIN_FOUND or value.lstrip()[:1] in ("{", "["):  # (else nothing in it is found)
            return _in_text(value, path, look, depth, at)
    elif look.card and isinstance(value, (int, float)) and not isinstance(value, bool) and 1e12 <= abs(value) < 1e19:
        return _card_as_number(value, path)
    return ()


def _in_key(key: str, path: tuple[Segment, ...], look: _Look) -> Hidden | None:
    """A name (key) holding a detector's find (a card number as a key): the name shown with it replaced."""
    found = scan(key, look.detectors) if look.detectors else []
    if not found:
        return None
    shown = spliced(key, [_part(path, finding) for finding in found])
    return Hidden(path, found[0].kind, shown, "detector", in_key=True)


def shown_name(name: str, detectors: Iterable[str] = DETECTORS) -> str:
    """A name (key) as a path or a message writes it: itself, or, when it holds a detector's find (a card number
    as a key), what is shown of it in angle brackets (`<card ending 1111>`), as `Hidden.where` does."""
    found = scan(name, frozenset(detectors)) if len(name) >= MIN_FOUND else []
    return f"<{spliced(name, [_part((), finding) for finding in found])}>" if found else name


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


def spliced(text: str, parts: list[Hidden]) -> str:
    """`text` with each hidden part replaced by its display."""
    for part in sorted(parts, key=lambda item: item.span or (0, 0), reverse=True):
        start, end = part.span or (0, len(text))
        text = text[:start] + part.display + text[end:]
    return text
