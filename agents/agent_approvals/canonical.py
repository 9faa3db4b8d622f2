"""RFC 8785 (JCS) canonical JSON: the one writer of what the product hashes (a call's `args_sha256`, an artefact's
`artifact_sha256`), so that every side computes the same digest of the same value. Pure."""

from __future__ import annotations

import json
from typing import Any

import rfc8785

_SAFE_INTEGER = 2**53 - 1  # RFC 8785's integers: an IEEE 754 double's exact ones


def jcs(value: Any) -> bytes:
    """The RFC 8785 (JCS) canonical JSON of `value`: what the `rfc8785` package writes (its errors too), written by
    the C `json` encoder (sorted keys, no spaces, UTF-8 as is) when that is the same bytes: a value of objects with
    keys in the Basic Multilingual Plane (Python's order of them is then UTF-16's), lists, strings, booleans, null and
    integers within +-(2^53-1); with a float or anything else, the package's encoder (ECMAScript numbers)."""
    if _plain(value):
        try:
            return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:  # (a lone surrogate: the package says what is wrong)
            pass
    return rfc8785.dumps(value)


def _plain(value: Any) -> bool:
    """Whether `json.dumps` writes `value` as RFC 8785 does (`jcs`)."""
    todo = [value]
    while todo:
        item = todo.pop()
        kind = type(item)
        if kind is str or kind is bool or item is None:
            continue
        if kind is int:
            if not -_SAFE_INTEGER <= item <= _SAFE_INTEGER:
                return False
        elif kind is list:
            todo.extend(item)
        elif kind is dict:
            try:
                keys = "".join(item)  # (one test of them all; a key that is no string raises)
            except TypeError:
                return False
            if not (keys.isascii() or max(keys) <= "\uffff"):
                return False
            todo.extend(item.values())
        else:
            return False
    return True
