"""What is sensitive in a tool call's arguments (bot/core/sensitive.py): marked by the tool's schema at any depth
($refs, anyOf/oneOf/allOf, items, additional and pattern properties), named by the operator's paths (wildcards),
found by the detectors in every string at every depth (JSON text inside a string too), and the arguments copied
with each hidden value replaced by what may be shown, the original untouched."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.arg_paths import JSON_TEXT, ArgPath, RedactError, parse_detectors, parse_path, parse_redact, path_text
from bot.core.detectors import DETECTORS
from bot.core.redaction import redacted
from bot.core.sealing import HiddenKeyring
from bot.core.sensitive import MAX_DEPTH, find_hidden
from bot.core.settings import Settings, SettingsError, reveal

CARD = "4111 1111 1111 1111"
IBAN = "DE89 3704 0044 0532 0130 00"
STRIPE = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"


def hidden_at(arguments: Any, **kw: Any) -> dict[str, tuple[str, str, str]]:
    """{path: (kind, display, source)} of what `find_hidden` hides."""
    return {h.where: (h.kind, h.display, h.source) for h in find_hidden(kw.pop("tool", "refund"), arguments, **kw)}


# the schema --------------------------------------------------------------------------------------------------

SCHEMA = {
    "type": "object",
    "$defs": {
        "card": {"type": "object", "properties": {"number": {"type": "string", "x-sensitive": True},
                                                  "holder": {"type": "string"}}},
        "node": {"type": "object", "properties": {"pin": {"format": "password"},
                                                  "child": {"$ref": "#/$defs/node"}}},
    },
    "properties": {
        "login": {"type": "object", "properties": {"password": {"type": "string", "format": "password"},
                                                   "user": {"type": "string"}}},
        "cards": {"type": "array", "items": {"$ref": "#/$defs/card"}},
        "tree": {"$ref": "#/$defs/node"},
        "pair": {"type": "array", "prefixItems": [{"type": "string"}, {"writeOnly": True}]},
        "method": {"oneOf": [{"type": "string"}, {"type": "object", "properties": {"cvc": {"writeOnly": True}}}]},
        "headers": {"type": "object", "additionalProperties": {"type": "string", "x-sensitive": True}},
        "env": {"type": "object", "patternProperties": {"^SECRET_": {"writeOnly": True}}},
        "vault": {"writeOnly": True, "type": "object"},
        "legacy": {"type": "array", "items": [{"type": "string"}, {"x-sensitive": True}]},
        "open": {"writeOnly": False, "x-sensitive": "yes", "format": "email"},
    },
}


def test_the_schema_marks_fields_at_any_depth() -> None:
    arguments = {
        "login": {"password": "hunter2!", "user": "ann"},
        "cards": [{"number": "5500000000000004", "holder": "Ann"}, {"number": "n/a", "holder": "Bob"}],
        "tree": {"pin": "1234", "child": {"pin": "5678", "child": {"pin": "0000"}}},
        "pair": ["visible", "hidden"],
        "method": {"cvc": "123"},
        "headers": {"X-Token-Ish": "abc"},
        "env": {"SECRET_DB": "pw", "HOME": "/root"},
        "vault": {"a": 1, "b": [1, 2]},
        "legacy": ["shown", "kept"],
        "open": "ann@example.com",
    }
    assert hidden_at(arguments, schema=SCHEMA, detectors=()) == {
        "login.password": ("password field", "password field (hidden)", "schema"),
        "cards[0].number": ("sensitive field", "sensitive field (hidden)", "schema"),
        "cards[1].number": ("sensitive field", "sensitive field (hidden)", "schema"),
        "tree.pin": ("password field", "password field (hidden)", "schema"),
        "tree.child.pin": ("password field", "password field (hidden)", "schema"),
        "tree.child.child.pin": ("password field", "password field (hidden)", "schema"),
        "pair[1]": ("sensitive field", "sensitive field (hidden)", "schema"),
        "method.cvc": ("sensitive field", "sensitive field (hidden)", "schema"),
        "headers.X-Token-Ish": ("sensitive field", "sensitive field (hidden)", "schema"),
        "env.SECRET_DB": ("sensitive field", "sensitive field (hidden)", "schema"),
        "vault": ("sensitive field", "sensitive field (hidden)", "schema"),
        "legacy[1]": ("sensitive field", "sensitive field (hidden)", "schema"),
    }


def test_a_marked_field_that_is_a_card_says_so() -> None:
    found = hidden_at({"cards": [{"number": "5500000000000004"}]}, schema=SCHEMA)
    assert found == {"cards[0].number": ("card", "card ending 0004", "schema")}


@pytest.mark.parametrize("schema", [
    None, {}, {"$ref": "#/$defs/missing"}, {"$ref": "https://example.com/schema.json"}, {"$ref": "#/$defs/a",
    "$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}}, {"properties": "not a mapping"},
    {"items": 3}, {"patternProperties": {"(": {"writeOnly": True}}}, {"anyOf": "x"},
])
def test_a_schema_that_marks_nothing_or_cannot_be_read_hides_nothing_and_never_fails(schema: Any) -> None:
    assert hidden_at({"a": "1", "b": [{"c": "d"}]}, schema=schema) == {}


# the operator's paths ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "steps"), [
    ("card.number", ("card", "number")),
    ("items[*].pan", ("items", "*", "pan")),
    ("items[0].pan", ("items", 0, "pan")),
    ("*.number", ("*", "number")),
    ("**.cvc", ("**", "cvc")),
    ("matrix[1][*]", ("matrix", 1, "*")),
    ('"card number".last', ("card number", "last")),
    ('"a.b".c', ("a.b", "c")),
    ("  iban ", ("iban",)),
])
def test_paths_read(text: str, steps: tuple[Any, ...]) -> None:
    assert parse_path(text).steps == steps


@pytest.mark.parametrize("text", ["", "   ", "card..number", "items[x]", "items[*", ".iban", "card number", "a[-1]"])
def test_bad_paths_are_refused_saying_what_is_wrong(text: str) -> None:
    with pytest.raises(ValueError, match=r"argument path|is no step"):
        parse_path(text)


@pytest.mark.parametrize(("path", "matches", "not_matches"), [
    ("card.number", ["card.number"], ["card", "card.number.x", "x.card.number", "number"]),
    ("items[*].pan", ["items[0].pan", "items[7].pan"], ["items.pan", "items[0].x.pan", "items[0]"]),
    ("items[1].pan", ["items[1].pan"], ["items[0].pan", "items.1.pan"]),
    ("*.number", ["card.number", "bank.number"], ["number", "a.b.number", "list[3].number"]),
    ("list[*]", ["list[3]"], ["list", "list[3].x"]),
    ("**.cvc", ["cvc", "card.cvc", "a[1].b.c.cvc"], ["cvc.x", "cvcs"]),
])
def test_wildcards_match_one_level_or_any_depth(path: str, matches: list[str], not_matches: list[str]) -> None:
    rule = parse_path(path)
    assert all(rule.matches(steps_of(text)) for text in matches)
    assert not any(rule.matches(steps_of(text)) for text in not_matches)


def steps_of(text: str) -> tuple[Any, ...]:
    """A value's path from its reading (`items[0].pan`), the inverse of `path_text` for these tests."""
    steps: list[Any] = []
    for part in text.split("."):
        name, *indexes = part.replace("]", "").split("[")
        steps += [name, *(int(index) for index in indexes)]
    assert path_text(tuple(steps)) == text
    return tuple(steps)


def test_the_operators_paths_hide_whole_values_for_their_tool_and_every_tool() -> None:
    rules = parse_redact({"refund": ["card.number", "items[*].pan", "bank"], "*": ["**.cvc"]})
    arguments = {"card": {"number": "12", "cvc": "999"}, "items": [{"pan": "x"}, {"pan": {"a": 1}}],
                 "bank": {"iban": "n/a", "bic": "DEUTDEFF"}, "note": "hello"}
    assert hidden_at(arguments, rules=rules, detectors=()) == {
        "card.number": ("sensitive value", "sensitive value (hidden)", "policy"),
        "card.cvc": ("sensitive value", "sensitive value (hidden)", "policy"),
        "items[0].pan": ("sensitive value", "sensitive value (hidden)", "policy"),
        "items[1].pan": ("sensitive value", "sensitive value (hidden)", "policy"),
        "bank": ("sensitive value", "sensitive value (hidden)", "policy"),
    }
    assert hidden_at(arguments, tool="search", rules=rules, detectors=()) == {
        "card.cvc": ("sensitive value", "sensitive value (hidden)", "policy")}


@pytest.mark.parametrize(("document", "error"), [
    ([], "a mapping is expected"),
    ({"refund": 3}, "refund: a list of argument paths"),
    ({"refund": []}, "refund: a list of argument paths"),
    ({"refund": ["ok", "bad["]}, "refund: 'bad\\[': 'bad\\[' is no step"),
    ({"refund": [None]}, "refund: None: an argument path"),
    ({3: ["a"]}, "3: a tool's name is a text"),
])
def test_a_bad_redact_is_refused_naming_the_tool_and_path(document: Any, error: str) -> None:
    with pytest.raises(RedactError, match=error) as raised:
        parse_redact(document)
    if isinstance(document, dict) and document.get("refund") == ["ok", "bad["]:
        assert (raised.value.tool, raised.value.index) == ("refund", 1)


def test_redact_reads_a_single_path_and_nothing() -> None:
    assert parse_redact(None) == {}
    assert parse_redact({"refund": "iban"}) == {"refund": (ArgPath("iban", ("iban",)),)}


# detectors and names -----------------------------------------------------------------------------------------


def test_every_string_at_every_depth_is_examined() -> None:
    arguments = {
        "orders": [{"id": "ORD-2026-000123456", "lines": [{"note": f"refund to {CARD}, thanks"}]}],
        "payout": {"to": IBAN, "tags": ["x", ["y", STRIPE]]},
        "n": 5500000000000004,
        "ts": 1732636800123,
        "request_id": "123e4567-e89b-12d3-a456-426614174000",
    }
    assert hidden_at(arguments) == {
        "orders[0].lines[0].note": ("card", "card ending 1111", "detector"),
        "payout.to": ("iban", "IBAN DE89 … 3000", "detector"),
        "payout.tags[1][1]": ("Stripe secret key", "Stripe secret key (hidden)", "detector"),
        "n": ("card", "card ending 0004", "detector"),
    }


def test_json_text_inside_a_string_is_examined_as_json() -> None:
    inner = {"user": "ann", "password": "hunter2", "pan": CARD.replace(" ", "")}
    arguments = {"body": json.dumps(inner)}
    assert hidden_at(arguments) == {
        f"body.{JSON_TEXT}.password": ("password", "password (hidden)", "name"),
        f"body.{JSON_TEXT}.pan": ("card", "card ending 1111", "detector"),
    }
    shown = redacted(arguments, find_hidden("t", arguments))
    assert json.loads(shown["body"]) == {"user": "ann", "password": "password (hidden)", "pan": "card ending 1111"}


@pytest.mark.parametrize("text", ["{not json", "[1, 2,", '{"a": ' * 5000, "   "])
def test_text_that_is_not_json_is_scanned_as_text(text: str) -> None:
    assert hidden_at({"body": f"{text} {CARD}"}) == {"body": ("card", "card ending 1111", "detector")}


def test_values_of_arguments_named_like_secrets_are_hidden() -> None:
    arguments = {"db_password": "hunter2", "apiKey": 12345, "clientSecret": "", "X-Api-Key": "k",
                 "auth": {"access_token": "t", "refresh": {"token": ["a", "b"]}}, "max_tokens": 512,
                 "is_secret": True, "secret": None, "secret_name": "prod/db"}
    assert hidden_at(arguments) == {
        "db_password": ("password", "password (hidden)", "name"),
        "apiKey": ("API key", "API key (hidden)", "name"),
        "X-Api-Key": ("API key", "API key (hidden)", "name"),
        "auth.access_token": ("token", "token (hidden)", "name"),
        "auth.refresh.token[0]": ("token", "token (hidden)", "name"),
        "auth.refresh.token[1]": ("token", "token (hidden)", "name"),
    }
    assert hidden_at(arguments, detectors=parse_detectors("card")) == {}


def test_no_detectors_leaves_schema_and_operator_hiding() -> None:
    rules = parse_redact({"refund": ["iban"]})
    arguments = {"iban": IBAN, "note": CARD, "pw": "x"}
    assert hidden_at(arguments, rules=rules, schema={"properties": {"pw": {"writeOnly": True}}},
                     detectors=parse_detectors("none")) == {
        "iban": ("sensitive value", "sensitive value (hidden)", "policy"),
        "pw": ("sensitive field", "sensitive field (hidden)", "schema"),
    }
    assert hidden_at(arguments, rules=rules, detectors=parse_detectors("iban"))["iban"] == (
        "iban", "IBAN DE89 … 3000", "policy")  # a detector on names what the operator hides


def test_values_too_deep_to_examine_are_hidden_not_shown() -> None:
    deep: Any = CARD
    for _ in range(MAX_DEPTH + 5):
        deep = [deep]
    found = find_hidden("t", {"a": deep})
    assert [h.kind for h in found] == ["value too deep to examine"]
    assert "4111" not in json.dumps(redacted({"a": deep}, found))


# replacing ---------------------------------------------------------------------------------------------------


def test_the_copy_hides_each_value_and_the_original_is_untouched() -> None:
    arguments = {"login": {"password": "hunter2!", "user": "ann"}, "vault": {"a": [1, 2]},
                 "note": f"card {CARD} and {IBAN}.", "list": [{"k": STRIPE}, 7, None, True]}
    before = copy.deepcopy(arguments)
    shown = redacted(arguments, find_hidden("t", arguments, schema=SCHEMA))
    assert arguments == before
    assert shown == {"login": {"password": "password field (hidden)", "user": "ann"},
                     "vault": "sensitive field (hidden)",
                     "note": "card ending 1111 and IBAN DE89 … 3000.",
                     "list": [{"k": "Stripe secret key (hidden)"}, 7, None, True]}
    shown["list"].append("x")
    assert arguments == before  # a copy all the way down, not shared lists


def test_nothing_hidden_is_an_equal_copy() -> None:
    arguments = {"a": [{"b": "c"}], "d": 1.5}
    shown = redacted(arguments, ())
    assert shown == arguments and shown is not arguments and shown["a"] is not arguments["a"]


# properties --------------------------------------------------------------------------------------------------

json_leaves = st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(
    st.characters(codec="utf-8", exclude_characters="0123456789"), max_size=12)
json_values = st.recursive(json_leaves, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.text("abcxyz_", min_size=1, max_size=6), inner, max_size=4), max_leaves=20)
secrets = st.sampled_from([CARD, CARD.replace(" ", "-"), IBAN, STRIPE, "AKIAIOSFODNN7EXAMPLE",
                           "5500000000000004"])


def plant(value: Any, secret: str, where: list[int]) -> tuple[Any, tuple[Any, ...]]:
    """`value` with `secret` put in at a place chosen by `where`, and that place's path."""
    if isinstance(value, dict) and value and where:
        key = sorted(value)[where[0] % len(value)]
        inner, path = plant(value[key], secret, where[1:])
        return {**value, key: inner}, (key, *path)
    if isinstance(value, list) and value and where:
        index = where[0] % len(value)
        inner, path = plant(value[index], secret, where[1:])
        return [*value[:index], inner, *value[index + 1:]], (index, *path)
    return {"x": f"see {secret} here"}, ("x",)


@pytest.mark.slow  # over 0.5 s of CPU on its own (0.8 s: its JSON values drawn): tests/support/slow.py
@given(json_values, secrets, st.lists(st.integers(0, 10), max_size=6))
def test_a_secret_planted_anywhere_is_found_there_and_never_shown(value: Any, secret: str, where: list[int]) -> None:
    arguments, path = plant(value, secret, where)
    found = find_hidden("t", arguments)
    assert [h.path for h in found] == [path]
    text = json.dumps(redacted(arguments, found), ensure_ascii=False)
    assert secret not in text and secret.replace(" ", "").replace("-", "") not in text.replace(" ", "")


@pytest.mark.slow  # over 0.5 s of CPU (docs/contributors/tests.md)
@given(json_values)
def test_values_without_secrets_are_left_as_they_are(value: Any) -> None:
    assert find_hidden("t", value) == ()
    assert redacted(value, ()) == value


# the setting -------------------------------------------------------------------------------------------------

ENV = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "APPROVALS_CHANNEL": "C0APPROVALS"}


@pytest.mark.parametrize(("value", "detectors"), [
    (None, "all"), ("all", "all"), ("none", ()), ("None ", ()), ("card, IBAN", ("card", "iban")),
    ("names,card", ("card", "names")),
])
def test_the_detectors_setting(value: str | None, detectors: str | tuple[str, ...]) -> None:
    env = ENV if value is None else {**ENV, "REDACT_DETECTORS": value}
    assert Settings.from_env(env).redact_detectors == (DETECTORS if detectors == "all" else detectors)


def test_an_unknown_detector_stops_the_worker_naming_the_variable() -> None:
    with pytest.raises(SettingsError, match=r"REDACT_DETECTORS names an unknown detector 'luhn' \(known: card, "):
        Settings.from_env({**ENV, "REDACT_DETECTORS": "card,luhn"})


def test_a_secret_in_a_name_is_shown_replaced_and_its_value_examined_on_its_own() -> None:
    arguments = {"4111111111111111": "refund", "card ending 1111": 3, "note": {"5500 0000 0000 0004": STRIPE}}
    found = find_hidden("t", arguments)
    assert [(h.where, h.display, h.in_key) for h in found] == [
        ("<card ending 1111>", "card ending 1111", True),  # a path names a hidden name by what is shown of it
        ("note.<card ending 0004>", "card ending 0004", True),
        ("note.<card ending 0004>", "Stripe secret key (hidden)", False),
    ]
    shown = redacted(arguments, found)
    assert shown == {"card ending 1111 (2)": "refund", "card ending 1111": 3,
                     "note": {"card ending 0004": "Stripe secret key (hidden)"}}
    assert "4111111111111111" in arguments  # the original untouched


@pytest.mark.parametrize("number", [10**4000, -(10**30), 4111111111111112, 1732636800123, 2**53 - 1])
def test_numbers_that_are_no_card_are_left_alone(number: int) -> None:
    assert find_hidden("t", {"n": number}) == ()


def test_secrets_key_takes_key_ids_for_rotation_and_a_bad_one_stops_the_worker_without_showing_it() -> None:
    key1, key2 = base64.b64encode(b"1" * 32).decode(), base64.b64encode(b"2" * 32).decode()
    keyring = HiddenKeyring.from_setting(reveal(Settings.from_env({**ENV, "SECRETS_KEY": f"k2:{key2},k1:{key1}"})
                                                .secrets_key) or "")
    assert (keyring.current, sorted(keyring.sealers)) == ("k2", ["k1", "k2"])
    with pytest.raises(SettingsError, match="SECRETS_KEY") as caught:
        Settings.from_env({**ENV, "SECRETS_KEY": "k1:c2hvcnQ="})
    assert "c2hvcnQ" not in str(caught.value)


@pytest.mark.parametrize("sent", ['4111111111111111', '4.111111111111111e15', '4111111111111111.0',
                                  '4.111111111111111E+15', '-4111111111111111'])
def test_a_card_sent_as_a_json_number_integer_or_float_is_hidden(sent: str) -> None:
    arguments = json.loads(f'{{"pay": {{"with": {sent}}}, "many": [{sent}]}}')
    found = find_hidden("t", arguments)
    assert [(h.where, h.display) for h in found] == [("pay.with", "card ending 1111"), ("many[0]", "card ending 1111")]
    assert redacted(arguments, found) == {"pay": {"with": "card ending 1111"}, "many": ["card ending 1111"]}
    assert find_hidden("t", {"amount": 4111111111111112.0, "ts": 1.7326368e12}) == ()


def test_a_cards_expiry_beside_it_is_hidden_and_a_security_code_by_its_name() -> None:
    arguments = {"card": {"number": "4111 1111 1111 1111", "exp_month": 12, "expYear": "2029", "cvc": 123,
                          "holder": "Ada"}, "session": {"expires": 3600}}
    found = find_hidden("t", arguments, detectors={"card", "names"})
    assert [(h.where, h.kind) for h in found] == [
        ("card.number", "card"), ("card.exp_month", "card expiry"), ("card.expYear", "card expiry"),
        ("card.cvc", "card security code")]
    assert redacted(arguments, found)["card"] == {"number": "card ending 1111", "exp_month": "card expiry (hidden)",
                                                  "expYear": "card expiry (hidden)",
                                                  "cvc": "card security code (hidden)", "holder": "Ada"}
    alone = find_hidden("t", arguments, detectors={"card"})  # (the `names` detector off: beside a card all the same)
    assert [(h.where, h.kind) for h in alone] == [
        ("card.number", "card"), ("card.exp_month", "card expiry"), ("card.expYear", "card expiry"),
        ("card.cvc", "card security code")]


def test_every_path_under_a_hidden_name_names_it_by_its_placeholder() -> None:
    arguments = {"cards": {"4111111111111111": "primary", "٥٥٠٠ ٠٠٠٠ ٠٠٠٠ ٠٠٠٤": {"note": f"key {STRIPE}"}},
                 "list": [{"DE89370400440532013000": [{"pin": "1234"}]}]}
    found = find_hidden("t", arguments, schema={"type": "object", "properties": {"list": {"items": {
        "additionalProperties": {"items": {"properties": {"pin": {"writeOnly": True}}}}}}}})
    wheres = [h.where for h in found]
    assert wheres == ["cards.<card ending 1111>", "cards.<card ending 0004>", "cards.<card ending 0004>.note",
                      "list[0].<IBAN DE89 … 3000>", "list[0].<IBAN DE89 … 3000>[0].pin"]
    assert not any(digits in "".join(wheres) for digits in ("4111111111111111", "٥٥٠٠", "DE89370400440532013000"))
