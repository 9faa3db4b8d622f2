"""Argument paths, the one door of their syntax (pure): `redact:` of policy.yaml, by tool name, parsed
(`parse_redact`, `ArgPath`: `card.number`, `items[*].pan`, `**.cvc`) and compiled into an automaton moved one step at
a time while arguments are walked (`PathMatcher`); a value's path written as people read it (`path_text`); and
REDACT_DETECTORS read (`parse_detectors`). bot/core/sensitive.py walks the arguments with them."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from bot.core.detectors import DETECTORS

Segment = str | int
JSON_TEXT = "(json)"  # a path's step into a string that is JSON text: `payload.(json).card`
_WILD, _DEEP = "*", "**"

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


def path_text(path: Sequence[Segment], shown: Mapping[int, str] | None = None) -> str:
    """`("items", 0, "pan")` read as `items[0].pan` (`$` for the root); the steps `shown` names (by index) written
    as `<what is shown>` instead."""
    text = ""
    for index, step in enumerate(path):
        if shown and index in shown:
            step = f"<{shown[index]}>"
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else step)
    return text or "$"


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
