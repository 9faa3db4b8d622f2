"""The arguments as they may be shown (pure), the one door of redaction: each value `find_hidden`
(bot/core/sensitive.py) found replaced by what may be shown of it (`redacted`), and free text the same way
(`shown_text`).

    >>> from bot.core.arg_paths import parse_redact
    >>> from bot.core.sensitive import find_hidden
    >>> arguments = {"card": {"number": "4111111111111111"}}
    >>> redacted(arguments, find_hidden("refund", arguments, rules=parse_redact({"refund": ["card.number"]})))
    {'card': {'number': 'card ending 1111'}}

The surfaces that show arguments (cards, modals, logs, the report, webhooks) call `find_hidden` and `redacted`
(through bot/redaction/hiding.py)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from bot.core.arg_paths import JSON_TEXT, ArgPath, Segment
from bot.core.detectors import DETECTORS
from bot.core.sensitive import Hidden, find_hidden, spliced

__all__ = ["redacted", "shown_text"]


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
        return spliced(value, here)
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


def _plain_copy(value: Any) -> Any:
    """A copy of a JSON value (a scalar is its own copy: no call for each one)."""
    if isinstance(value, dict):
        return {key: _plain_copy(item) if isinstance(item, (dict, list)) else item for key, item in value.items()}
    if isinstance(value, list):
        return [_plain_copy(item) if isinstance(item, (dict, list)) else item for item in value]
    return value
