"""Revise's inputs of a tool call's arguments on a Teams card, one per argument as Slack's field form has them
(bot/core/field_edits.py, one way for both): Input.Text, Input.Number, Input.Toggle, Input.ChoiceSet as the tool's
schema or the value says, nested values as JSON text, a hidden value as its mask; within the card's limits
(`form_fields`: else the card offers the arguments as one JSON text). Input values are form fields, not Markdown:
they hold the text as it is."""

from __future__ import annotations

from typing import Any, Final

from microsoft_teams.cards import CardElement, Choice, ChoiceSetInput, NumberInput, TextInput, ToggleInput

from bot.core.field_edits import (
    KIND_HINTS,
    choices,
    editable_fields,
    field_kind,
    field_text,
    hidden_fields,
    prefilled,
    properties,
)
from bot.core.records import ApprovalRecord

EDIT_LIMIT: Final = 4000  # arguments longer than this are not offered for editing on the card
INPUT_FIELD: Final = "arg_{}"  # Revise: one argument, by its index in the call's arguments (`field_id`)
FIELDS_MOST: Final = 20  # arguments edited one input each on a card, at most (more: the JSON box)
FIELD_LIMIT: Final = 1500  # one argument's text edited in its input, at most
FIELD_DEPTH: Final = 2  # an argument nested deeper is edited as JSON, with the rest
CHOICES_MOST: Final = 50  # the texts a schema lists, offered as choices


def form_fields(approval: ApprovalRecord, scale: float = 1.0) -> list[tuple[str, Any]] | None:
    """The call's arguments edited one input each on the card (bot/core/field_edits.py `editable_fields`, within
    the card's limits: at most `FIELDS_MOST`, each within `FIELD_LIMIT` characters, all within `EDIT_LIMIT`, none
    nested deeper than `FIELD_DEPTH`), or None (edited as one JSON text)."""
    if approval.kind != "tool_call" or approval.fixed_arguments:
        return None
    fields = editable_fields(approval, most=FIELDS_MOST, chars=FIELD_LIMIT)
    if fields is None or sum(len(field_text(value)) for _, value in fields) > EDIT_LIMIT * scale:
        return None
    return None if any(_depth(value) > FIELD_DEPTH for _, value in fields) else fields


def field_inputs(approval: ApprovalRecord, fields: list[tuple[str, Any]]) -> list[CardElement]:
    """One input per argument (`field_id(index)`), as its kind says (bot/core/field_edits.py `field_kind`):
    Input.Toggle (true or false), Input.Number (a number a card's number holds exactly), Input.ChoiceSet (a text
    the schema lists), else Input.Text (text as it is, other values as JSON); a hidden value shown as its mask."""
    props = properties(approval)
    hidden = hidden_fields(approval)
    made: list[CardElement] = []
    for index, (key, value) in enumerate(fields):
        kind = field_kind(props.get(key), value)
        label = f"{' '.join(str(key).split())[:60] or '?'} ({kind})"
        text = prefilled(field_text(value))
        if key in hidden:
            made.append(TextInput(id=field_id(index), label=f"{label}, hidden ({hidden[key]}): leave it as shown to"
                                  " keep it unchanged, or type a new value (hidden too)", value=text,
                                  max_length=FIELD_LIMIT))
        elif kind == "boolean" and isinstance(value, bool):
            made.append(ToggleInput(id=field_id(index), label=label, title=str(key)[:60] or "?", value=text,
                                    value_on="true", value_off="false"))
        elif kind in ("integer", "number") and _exact_number(value):
            made.append(NumberInput(id=field_id(index), label=label, value=value))
        elif kind == "string" and value in (listed := choices(props.get(key))):
            made.append(ChoiceSetInput(id=field_id(index), label=label, value=text, style="compact",
                                       choices=[Choice(title=choice[:100] or '""', value=choice)
                                                for choice in listed[:CHOICES_MOST]]))
        else:
            multiline = "\n" in text or len(text) > 60 or kind == "json"
            made.append(TextInput(id=field_id(index), label=label, value=text, is_multiline=multiline or None,
                                  max_length=FIELD_LIMIT, placeholder=KIND_HINTS[kind]))
    return made


def field_id(index: int) -> str:
    """The input id of the argument at `index` in the call's arguments."""
    return INPUT_FIELD.format(index)


def _exact_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) <= 2**53


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0
