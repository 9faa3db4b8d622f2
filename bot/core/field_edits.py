"""A tool call's arguments edited one field each, one way for every surface (the Slack Revise modal's field form, the
Teams card's Revise form): which arguments can be edited so (`editable_fields`), how a field shows a value and what it
takes (`field_text`, `field_kind`, the hidden ones: `hidden_fields`), and the fields as typed read back
(`edited_fields`: each typed as its kind says, checked against the tool's schema, the errors by field in the Slack
path's words) and what an edit changed (`changed_fields`). Pure: the surfaces draw the fields and read their inputs;
bot/approvals/revisions.py makes an edit whole (hidden values put back) and sends it.

    >>> field_value("integer", "3")
    (3, None)
    >>> field_value("integer", "three")
    (None, 'Type a whole number, e.g. 3.')
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agent_approvals.approver import canonical_json, pretty_json
from agent_approvals.schemas import schema_problem

from bot.core.documents import MAX_DEPTH, too_deep
from bot.core.records import ApprovalRecord

FIELD_MOST = 40  # arguments edited one field each, at most (a Slack modal holds 100 blocks)
FIELD_CHARS = 3000  # one field's text, at most (a Slack plain_text_input's value)
HIDDEN_KEEP = "hidden: keep"  # a hidden argument's field: left so, its value is kept unchanged (never shown)
UNKNOWN_SCHEMA = "The tool's schema is unknown, so edits cannot be checked. Nothing was run."
NOT_BY_FIELD = "These arguments cannot be edited field by field. Nothing was sent."
KIND_HINTS = {
    "string": "Text, as it will be sent.",
    "integer": "A whole number, e.g. 3.",
    "number": "A number, e.g. 2.5.",
    "boolean": "true or false.",
    "json": "JSON, e.g. [\"a\", \"b\"] or {\"key\": 1}.",
}


def schema_of(approval: ApprovalRecord) -> Any:
    """The tool's schema as stored with the approval (None when it is not JSON)."""
    try:
        return json.loads(approval.arguments_schema or "{}")
    except ValueError:
        return None


def properties(approval: ApprovalRecord) -> dict[str, Any]:
    """The tool's schema's `properties` ({} when it has none)."""
    schema = schema_of(approval)
    found = schema.get("properties") if isinstance(schema, dict) else None
    return found if isinstance(found, dict) else {}


def editable_fields(approval: ApprovalRecord, *, most: int = FIELD_MOST,
                    chars: int = FIELD_CHARS) -> list[tuple[str, Any]] | None:
    """A tool call's top-level arguments, in the call's order, when each can be edited in a field of its own
    (an object of at most `most` arguments, each value's text within `chars` characters); else None (the
    arguments are edited as one JSON text)."""
    try:
        values = json.loads(approval.arguments or "{}")
    except ValueError:
        return None
    if not isinstance(values, dict) or not values or len(values) > most:
        return None
    fields = list(values.items())
    if any(len(field_text(value)) > chars for _, value in fields):
        return None
    return fields


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]")


def prefilled(text: str) -> str:
    """A field's text as a surface prefills it: without control characters or direction overrides (an input does
    not keep them); a field sent back so is the call's own value, untouched."""
    return _CONTROL.sub("", text)


def field_text(value: Any) -> str:
    """How a field shows a value to edit: text as is, other JSON as JSON (objects and lists indented)."""
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list)):
        return pretty_json(value)
    return json.dumps(value, ensure_ascii=False)


def field_kind(schema: Any, value: Any) -> str:
    """What a field takes: "string", "integer", "number", "boolean" (from the tool's schema where it says one
    type, else from the call's value) or "json"."""
    kinds = schema.get("type") if isinstance(schema, dict) else None
    if isinstance(kinds, list):
        kinds = [k for k in kinds if k != "null"]
        kinds = kinds[0] if len(kinds) == 1 else None
    if kinds in ("string", "integer", "number", "boolean"):
        return str(kinds)
    if kinds is None:
        if isinstance(value, str):
            return "string"
        if isinstance(value, bool):
            return "boolean"
        if isinstance(value, (int, float)) and value is not None:
            return "integer" if isinstance(value, int) else "number"
    return "json"


def choices(schema: Any) -> list[str]:
    """The texts a string field may take, where the tool's schema lists them (`enum` of text); else []."""
    listed = schema.get("enum") if isinstance(schema, dict) else None
    if isinstance(listed, list) and listed and all(isinstance(item, str) for item in listed):
        return [str(item) for item in listed]
    return []


def hidden_fields(approval: ApprovalRecord) -> dict[str, str]:
    """{argument: what is shown of it} of the top-level arguments hidden whole (bot/redaction/hiding.py)."""
    return {str(item.get("path")): str(item.get("shown", "")) for item in approval.hidden_items}


_INTEGER = re.compile(r"^-?[0-9]{1,18}$")
_NUMBER = re.compile(r"^-?[0-9]{1,18}(\.[0-9]{1,18})?([eE][-+]?[0-9]{1,3})?$")


def field_value(kind: str, text: str) -> tuple[Any, str | None]:
    """A field's text as the value its kind takes, or why not (shown on the field)."""
    if kind == "string":
        return text, None
    typed = text.strip()
    if kind == "integer":
        return (int(typed), None) if _INTEGER.fullmatch(typed) else (None, "Type a whole number, e.g. 3.")
    if kind == "number":
        if not _NUMBER.fullmatch(typed):
            return None, "Type a number, e.g. 2.5."
        number = float(typed)
        return (int(number) if number.is_integer() and "." not in typed and "e" not in typed.lower() else number), None
    if kind == "boolean":
        if typed.lower() in ("true", "false"):
            return typed.lower() == "true", None
        return None, "Type true or false."
    try:
        value = json.loads(typed)
    except ValueError as exc:
        return None, f"This is not valid JSON: {exc.msg if isinstance(exc, json.JSONDecodeError) else exc}."
    except RecursionError:
        return None, f"Nested more than {MAX_DEPTH} levels deep."
    if too_deep(value):
        return None, f"Nested more than {MAX_DEPTH} levels deep."
    return value, None


@dataclass(frozen=True, slots=True)
class FieldEdit:
    """What a reviewer did to a call's arguments one field each: the arguments (changed or not), or the errors by
    field index (`errors`), or why the form cannot be read at all (`refused`)."""

    arguments: Any = None
    changed: bool = False
    errors: dict[int, str] = field(default_factory=dict)
    refused: str = ""


def edited_fields(approval: ApprovalRecord, text_of: Callable[[int], str | None], *,
                  shown: Callable[[str], str] = prefilled,
                  fields: list[tuple[str, Any]] | None = None) -> FieldEdit:
    """The arguments a reviewer edited one field each (`text_of(index)`: the field's text, None when the form has no
    such field; `shown`: how the surface prefilled a text, `prefilled` unless said), typed as the tool's schema says:
    changed and valid, unchanged, or the errors, each on its field (a value of the wrong kind, or what the tool's
    schema says of it). A field left as prefilled (a hidden value as its mask or as `HIDDEN_KEEP`) keeps the call's
    own value exactly. Nothing runs here."""
    fields = editable_fields(approval) if fields is None else fields
    if fields is None:
        return FieldEdit(refused=NOT_BY_FIELD)
    props = properties(approval)
    arguments: dict[str, Any] = {}
    errors: dict[int, str] = {}
    hidden = hidden_fields(approval)
    for index, (name, value) in enumerate(fields):
        text = text_of(index)
        kept = text == HIDDEN_KEEP and name in hidden  # a hidden value left as it is
        if text is None or text == shown(field_text(value)) or kept:  # untouched: the call's own value, exactly
            arguments[name] = value
            continue
        typed, problem = field_value(field_kind(props.get(name), value), text)
        if problem is not None:
            errors[index] = problem
        arguments[name] = typed
    if errors:
        return FieldEdit(errors=errors)
    if canonical_json(arguments) == canonical_json(dict(fields)):
        return FieldEdit(arguments=arguments)
    schema = schema_of(approval)
    if not isinstance(schema, dict):
        return FieldEdit(errors={0: UNKNOWN_SCHEMA})
    if approval.hidden:  # (checked whole, hidden values put back: `Revisions.complete`)
        return FieldEdit(arguments=arguments, changed=True)
    problem = schema_problem(arguments, schema)
    if problem is not None:
        names = sorted(((n, i) for i, (n, _) in enumerate(fields)), key=lambda pair: -len(str(pair[0])))
        at = next((i for n, i in names if str(n) and str(n) in problem), 0)
        return FieldEdit(errors={at: f"The tool's schema says: {problem}. Nothing was run."[:1900]})
    return FieldEdit(arguments=arguments, changed=True)


def changed_fields(old: Any, new: Any) -> list[tuple[str, str, str]]:
    """(name, old, new) of each argument an edit changed, values as JSON text ("" for one not there)."""
    before = old if isinstance(old, dict) else {}
    new = new if isinstance(new, dict) else {}

    def shown(value: Any) -> str:
        return value if isinstance(value, str) else canonical_json(value)

    names = list(dict.fromkeys([*before, *new]))
    return [
        (str(n), shown(before[n]) if n in before else "", shown(new[n]) if n in new else "")
        for n in names
        if canonical_json(before.get(n)) != canonical_json(new.get(n)) or (n in before) != (n in new)
    ]
