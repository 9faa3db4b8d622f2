"""What a tool's JSON schema says of one value of its arguments (pure): the schema nodes that describe it, all
branches of anyOf/oneOf/allOf and local `$ref`s followed, and whether one marks it sensitive (`writeOnly: true`,
`format: "password"`, `x-sensitive: true`). bot/core/sensitive.py walks the arguments with it."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from bot.core.arg_paths import Segment


class Schema:
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

    def child(self, step: Segment) -> Schema:
        """The schema of the value at `step` (a key of an object, an index of a list)."""
        if not self.nodes:
            return self
        return Schema(self.root, [found for node in self.nodes for found in _children(node, step)])


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
