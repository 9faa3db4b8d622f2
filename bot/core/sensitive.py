"""What is sensitive in a tool call's arguments (pure): the values to hide, found three ways, and the arguments
with those values replaced by what may be shown of them.

- **The tool's JSON schema**: a property with `writeOnly: true`, `format: "password"` or `x-sensitive: true`, at
  any depth (`properties`, `patternProperties`, `additionalProperties`, `items`, `prefixItems`, local `$ref`s to
  `#/$defs/...` or `#/definitions/...`; in `anyOf`/`oneOf`/`allOf`, any branch that marks it).
- **The operator**: `redact:` in policy.yaml, argument paths by tool name (`parse_redact`, `ArgPath`).
- **Detectors** (`REDACT_DETECTORS`, bot/core/detectors.py): cards, IBANs, secret formats inside every string at
  every depth (and inside a string that is itself JSON text), and the values of arguments named like secrets.

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

import functools
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from bot.core.detectors import DETECTORS, MIN_FOUND, Finding, card_number, scan, secret_name

Segment = str | int
Source = Literal["schema", "policy", "name", "detector"]
JSON_TEXT = "(json)"  # a path's step into a string that is JSON text: `payload.(json).card`
MAX_DEPTH = 64  # deeper values are hidden whole ("too deep to examine"): never shown unexamined
MAX_JSON_TEXT = 100_000  # longer strings are not parsed as JSON (their text is still scanned)
_WILD, _DEEP = "*", "**"


@dataclass(frozen=True, slots=True)
class Hidden:
    """One hidden value: where it is (`path`, from the arguments' root), its kind ("card", "password field"), what
    may be shown instead (`display`), why (`source`), and `span`: the part of a string hidden (None: all of it).
    `in_key`: the value is in the name (key) at the end of `path`: `display` is the name as shown (its value is
    examined on its own)."""

    path: tuple[Segment, ...]
    kind: str
    display: str
    source: Source
    span: tuple[int, int] | None = None
    in_key: bool = False

    @property
    def where(self) -> str:
        """The path as people read it: `items[0].card.number`."""
        return path_text(self.path)


def path_text(path: Sequence[Segment]) -> str:
    """`("items", 0, "pan")` read as `items[0].pan` (`$` for the root)."""
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else step)
    return text or "$"


# the operator's paths ------------------------------------------------------------------------------------------

_STEP = re.compile(r"(\*\*|\*|[A-Za-z0-9_$@-]+|\"(?:[^\"\\]|\\.)+\")((?:\[(?:\*|[0-9]{1,6})\])*)")


@dataclass(frozen=True, slots=True)
class ArgPath:
    """An argument path of `redact:`: steps separated by dots, each a name, `*` (any one key or index) or `**` (any
    depth, none included), followed by `[n]` or `[*]` for list items: `card.number`, `items[*].pan`, `**.cvc`.
    A name with other characters is quoted: `"card number".last`."""

    text: str
    steps: tuple[Segment, ...]

    def matches(self, path: tuple[Segment, ...]) -> bool:
        """Whether a value's path (JSON-text steps left out) is this one's."""
        return _match(self.steps, tuple(step for step in path if step != JSON_TEXT) if JSON_TEXT in path else path)


def parse_path(text: str) -> ArgPath:
    """An `ArgPath` from its text; ValueError saying what is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{text!r}: an argument path is a text such as card.number or items[*].pan")
    steps: list[Segment] = []
    for part in _split_dots(text.strip()):
        match = _STEP.fullmatch(part)
        if not match:
            raise ValueError(f"{text!r}: {part!r} is no step (a name, *, **, then [n] or [*]; quote other names)")
        name = match.group(1)
        steps.append(json.loads(name) if name.startswith('"') else name)
        steps += [_WILD if index == "*" else int(index) for index in re.findall(r"\[(\*|[0-9]+)\]", match.group(2))]
    return ArgPath(text.strip(), tuple(steps))


def _split_dots(text: str) -> list[str]:
    """The steps of a path: split at dots outside quotes."""
    parts, current, quoted = [], "", False
    for i, char in enumerate(text):
        if char == '"' and (i == 0 or text[i - 1] != "\\"):
            quoted = not quoted
        if char == "." and not quoted:
            parts.append(current)
            current = ""
        else:
            current += char
    return [*parts, current]


def _match(steps: tuple[Segment, ...], path: tuple[Segment, ...]) -> bool:
    if not steps:
        return not path
    head = steps[0]
    if head == _DEEP:
        return any(_match(steps[1:], path[i:]) for i in range(len(path) + 1))
    if not path:
        return False
    step = path[0]
    fits = head == _WILD or (head == step and isinstance(head, int) == isinstance(step, int))
    return fits and _match(steps[1:], path[1:])


MAX_MOVES = 1024  # steps remembered by themselves per state of the operator's paths (names met, a bounded number)
_LEAVES = (str, int, float, bool, type(None))  # a JSON value's types that hold no other value
_ANY_NAME, _ANY_INDEX = object(), object()  # a name, an index that no path names (all such alike)


class States:
    """Where the operator's paths are after some steps of a value's path: each (which path, how many of its steps
    are matched), whether one is matched whole (`accepting`), and the states after each next step met so far."""

    __slots__ = ("accepting", "moves", "states")

    def __init__(self, states: frozenset[tuple[int, int]], accepting: bool) -> None:
        self.states = states
        self.accepting = accepting
        self.moves: dict[object, States] = {}


class PathMatcher:
    """The operator's paths (of one tool) compiled once: an automaton over a value's path, moved one step at a time
    while the arguments are walked (`start`, `step`, `accepts`), so that a value costs one lookup whatever the
    number of paths and of `**`s in them (no path is rescanned per value). Matches exactly as `ArgPath.matches`
    (JSON-text steps are no step)."""

    def __init__(self, paths: Sequence[ArgPath]) -> None:
        self._steps = tuple(path.steps for path in paths)
        named = {step for steps in self._steps for step in steps}
        self._names = frozenset(step for step in named if isinstance(step, str))
        self._indexes = frozenset(step for step in named if isinstance(step, int))
        self._known: dict[frozenset[tuple[int, int]], States] = {}
        self.start = self._state({(rule, 0) for rule in range(len(self._steps))})

    def _state(self, states: set[tuple[int, int]]) -> States:
        """The state of `states` and those reached from them by a `**` matching no step (one object each)."""
        out, todo = set(states), list(states)
        while todo:
            rule, at = todo.pop()
            if at < len(self._steps[rule]) and self._steps[rule][at] == _DEEP and (rule, at + 1) not in out:
                out.add((rule, at + 1))
                todo.append((rule, at + 1))
        key = frozenset(out)
        if key not in self._known:
            self._known[key] = States(key, any(at == len(self._steps[rule]) for rule, at in key))
        return self._known[key]

    def step(self, states: States, step: Segment) -> States:
        """The states after one more step of a value's path (a key or an index); remembered for the step itself
        too (up to MAX_MOVES steps a state), so that a walk may look it up first (`states.moves.get(step)`)."""
        if not states.states or step == JSON_TEXT:
            moved = states
        else:
            if isinstance(step, int):
                key: object = step if step in self._indexes else _ANY_INDEX
            else:
                key = step if step in self._names else _ANY_NAME
            moved = states.moves.get(key) or self._move(states, key)
            states.moves[key] = moved
        if len(states.moves) < MAX_MOVES:
            states.moves[step] = moved
        return moved

    def _move(self, states: States, key: object) -> States:
        out = set()
        for rule, at in states.states:
            steps = self._steps[rule]
            if at == len(steps):
                continue
            head = steps[at]
            if head == _DEEP:
                out.add((rule, at))
            elif head == _WILD or (head == key and isinstance(head, int) == isinstance(key, int)):
                out.add((rule, at + 1))
        return self._state(out)

    @staticmethod
    def accepts(states: States) -> bool:
        """Whether a value reached with `states` is named by one of the paths."""
        return states.accepting


@functools.lru_cache(maxsize=256)
def compiled(paths: tuple[ArgPath, ...]) -> PathMatcher:
    """A `PathMatcher` of `paths`, compiled once per set of paths (a bundle's, for one tool)."""
    return PathMatcher(paths)


class RedactError(ValueError):
    """A `redact:` that cannot be used: the message, and where (the tool's name, the index of its path) so that
    the loader names the line."""

    def __init__(self, message: str, *, tool: str | None = None, index: int | None = None) -> None:
        super().__init__(message)
        self.tool = tool
        self.index = index


def parse_redact(document: object) -> dict[str, tuple[ArgPath, ...]]:
    """policy.yaml's `redact:` (tool name -> list of argument paths; `"*"` for every tool) parsed; RedactError
    starting with the tool's name ("refund: ...") when a path or the shape is wrong."""
    if document is None:
        return {}
    if not isinstance(document, Mapping):
        raise RedactError("a mapping is expected (a tool's name: [argument paths])")
    return {str(tool): _tool_paths(tool, paths) for tool, paths in document.items()}


def _tool_paths(tool: object, paths: object) -> tuple[ArgPath, ...]:
    if not isinstance(tool, str) or not tool:
        raise RedactError(f"{tool!r}: a tool's name is a text", tool=str(tool))
    if isinstance(paths, str):
        paths = [paths]
    if not isinstance(paths, list) or not paths:
        raise RedactError(f"{tool}: a list of argument paths is expected ([card.number, iban])", tool=tool)
    rules = []
    for index, path in enumerate(paths):
        try:
            rules.append(parse_path(path))
        except ValueError as exc:
            raise RedactError(f"{tool}: {exc}", tool=tool, index=index) from None
    return tuple(rules)


def paths_for(rules: Mapping[str, Sequence[ArgPath]], tool: str) -> tuple[ArgPath, ...]:
    """The operator's paths for `tool`: its own and those for every tool (`"*"`)."""
    return (*rules.get(tool, ()), *rules.get("*", ()))


def parse_detectors(value: str | Iterable[str]) -> frozenset[str]:
    """`REDACT_DETECTORS` read: names separated by commas (or a list), `all` for every one, `none` (or empty) for
    none; ValueError naming an unknown one and the known ones."""
    names = [name.strip().lower() for name in (value.split(",") if isinstance(value, str) else value)]
    names = [name for name in names if name]
    if names in ([], ["none"]):
        return frozenset()
    if names == ["all"]:
        return frozenset(DETECTORS)
    unknown = [name for name in names if name not in DETECTORS]
    if unknown:
        raise ValueError(f"names an unknown detector {unknown[0]!r} (known: {', '.join(DETECTORS)}; or all, none)")
    return frozenset(names)


def read_detectors(value: object) -> object:
    """REDACT_DETECTORS' text read (`parse_detectors`), in the detectors' own order (a setting's reader)."""
    if isinstance(value, str):
        chosen = parse_detectors(value)
        return tuple(name for name in DETECTORS if name in chosen)
    return value


# the schema --------------------------------------------------------------------------------------------------


class _Schema:
    """The schema nodes that describe one value (all branches of anyOf/oneOf/allOf, $refs followed)."""

    def __init__(self, root: Mapping[str, Any] | None, nodes: Iterable[Any]) -> None:
        self.root = root
        self.nodes = [node for node in self._expand(nodes, set()) if isinstance(node, Mapping)]

    def _expand(self, nodes: Iterable[Any], seen: set[str]) -> Iterator[Any]:
        for node in nodes:
            if not isinstance(node, Mapping):
                continue
            ref = node.get("$ref")
            if isinstance(ref, str) and ref not in seen:
                yield from self._expand([self._resolve(ref)], seen | {ref})
            yield node
            for key in ("anyOf", "oneOf", "allOf"):
                if isinstance(node.get(key), list):
                    yield from self._expand(node[key], seen)

    def _resolve(self, ref: str) -> Any:
        """A local reference (`#/$defs/card`) in the root schema; None for any other."""
        if not ref.startswith("#"):
            return None
        node: Any = self.root
        for token in ref[1:].split("/")[1:]:
            token = token.replace("~1", "/").replace("~0", "~")
            node = node.get(token) if isinstance(node, Mapping) else None
        return node

    def marked(self) -> str | None:
        """The kind the schema gives this value when it marks it sensitive, else None."""
        for node in self.nodes:
            if node.get("format") == "password":
                return "password field"
            if node.get("writeOnly") is True or node.get("x-sensitive") is True:
                return "sensitive field"
        return None

    def child(self, step: Segment) -> _Schema:
        """The schema of the value at `step` (a key of an object, an index of a list)."""
        if not self.nodes:
            return self
        return _Schema(self.root, [found for node in self.nodes for found in _children(node, step)])


def _children(node: Mapping[str, Any], step: Segment) -> Iterator[Any]:
    if isinstance(step, int):
        prefix = node.get("prefixItems")
        items = node.get("items")
        if isinstance(prefix, list) and step < len(prefix):
            yield prefix[step]
        elif isinstance(items, list):  # draft 4-7 tuples
            yield items[step] if step < len(items) else node.get("additionalItems")
        else:
            yield items
        return
    properties = node.get("properties")
    if isinstance(properties, Mapping) and step in properties:
        yield properties[step]
    patterns = node.get("patternProperties")
    if isinstance(patterns, Mapping):
        yield from (schema for pattern, schema in patterns.items() if _search(pattern, step))
    if not (isinstance(properties, Mapping) and step in properties):
        yield node.get("additionalProperties")


def _search(pattern: str, text: str) -> bool:
    try:
        return re.search(pattern, text) is not None
    except (re.error, TypeError):
        return False


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
    _walk(arguments, (), _Schema(schema, [schema]), look, None, 0, look.paths.start, out)
    return tuple(out)


def _walk(value: Any, path: tuple[Segment, ...], schema: _Schema, look: _Look, named: str | None,
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
                elif kind is int and look.card and 10**12 <= item < 10**19:
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
    elif isinstance(value, int) and not isinstance(value, bool) and look.card:
        out += _card_as_number(value, path)


def _in_key(key: str, path: tuple[Segment, ...], look: _Look) -> Hidden | None:
    """A name (key) holding a detector's find (a card number as a key): the name shown with it replaced."""
    found = scan(key, look.detectors) if look.detectors else []
    if not found:
        return None
    shown = _spliced(key, [_part(path, finding) for finding in found])
    return Hidden(path, found[0].kind, shown, "detector", in_key=True)


def _card_as_number(value: int, path: tuple[Segment, ...]) -> Iterator[Hidden]:
    """A card number sent as a JSON number, hidden whole."""
    if not 10**12 <= value < 10**19:  # (and str() of a huge number is never tried)
        return
    text = str(value)
    if card_number(text):
        yield Hidden(path, "card", f"card ending {text[-4:]}", "detector")


def _whole(value: Any, path: tuple[Segment, ...], schema: _Schema, look: _Look, named: str | None,
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
        _walk(inner, (*path, JSON_TEXT), _Schema(None, []), look, None, depth + 1, at, found)
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
