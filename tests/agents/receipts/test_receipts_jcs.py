"""The receipts' canonical JSON (agent_approvals/receipts.py `jcs`, what `args_sha256` and an Idempotency-Key's body
digest hash): the same bytes as the `rfc8785` package (the RFC's sorting vector, any JSON value, the same errors),
written by the C `json` encoder when that is the same bytes (#68: hashing a 200-line call cost as much as finding
what to hide in it)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import rfc8785
from agent_approvals.receipts import args_sha256, jcs
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.api.canonical import canonical_digest

# RFC 8785 3.2.3: keys sorted by their UTF-16 code units (the emoji, beyond the BMP, sorts before U+FB33)
SORTING = {"\u20ac": "Euro Sign", "\r": "Carriage Return", "\ufb33": "Hebrew Letter Dalet With Dagesh", "1": "One",
           "\U0001f600": "Emoji: Grinning Face", "\u0080": "Control", "\u00f6": "Latin Small Letter O With Diaeresis"}
SORTED = ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**60), 2**60) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20)


def package(value: Any) -> bytes | type[Exception]:
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, ValueError) as exc:
        return type(exc)


def ours(value: Any) -> bytes | type[Exception]:
    try:
        return jcs(value)
    except (rfc8785.CanonicalizationError, ValueError) as exc:
        return type(exc)


def test_the_rfcs_sorting_vector() -> None:
    assert list(json.loads(jcs(SORTING))) == SORTED
    assert jcs(SORTING) == rfc8785.dumps(SORTING)
    bmp = {key: value for key, value in SORTING.items() if key != "\U0001f600"}
    assert jcs(bmp) == rfc8785.dumps(bmp)


@pytest.mark.parametrize("value", [
    {"b": [1, True, None, "é\u2028\x7f\x00\x1f\"\\"], "a": {"z": -(2**53 - 1), "y": 2**53 - 1}},
    {"amount": 12.5, "n": 1e21, "small": 1e-7, "whole": 1.0, "neg": -0.0},
    [2**53], {"lone": "\ud800"}, {"\ud800": 1}, ("a", 1), {1: "x"}, float("nan"), [], {}, "", 0])
def test_the_same_bytes_or_error_as_the_package(value: Any) -> None:
    assert ours(value) == package(value)


@pytest.mark.slow  # more than 1 s of CPU on its own (tests/support/slow.py)
@settings(max_examples=500)
@given(json_values)
def test_any_json_value_is_written_as_the_package_writes_it(value: Any) -> None:
    assert ours(value) == package(value)


def test_plain_json_is_written_by_the_c_encoder(monkeypatch: pytest.MonkeyPatch) -> None:
    """Strings, safe integers, booleans, null, lists and objects with BMP keys never go through the package's
    (pure Python) encoder; a float does."""
    value: Any = {"lines": [{"sku": f"S{i}", "qty": i, "note": "gift wrap €", "paid": i % 2 == 0} for i in range(200)]}
    expected = rfc8785.dumps(value)

    def refused(_: Any) -> bytes:
        raise AssertionError("the package's encoder was used")

    monkeypatch.setattr(rfc8785, "dumps", refused)
    assert jcs(value) == expected
    assert args_sha256(value) == canonical_digest(value)
    with pytest.raises(AssertionError):
        jcs({"amount": 12.5})
