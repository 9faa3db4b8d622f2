"""A tool's parameters and a tool call's arguments as cards, Homes and modals show them: the parameters its JSON
schema lists, in one line; the arguments one under the other, each value inert and, on a card, cut.

Names, descriptions and values are untrusted: each goes through `bot.slack.blocks.text` (`safe`, `clean`,
`made_safe`) and is shown inert.
"""

from __future__ import annotations

import json
import re
from typing import Any

from agent_approvals.approver import pretty_json

from bot.slack.blocks.text import SHOWN_LIMIT, TEXT_LIMIT, clean, made_safe, safe

PARAMETERS_LIMIT = 1500  # the card's line of a tool's parameters, at most (a text object takes 3000)
PARAMETER_NAME_LIMIT = 40
PARAMETER_NOTE_LIMIT = 120
_LISTED = 5  # enum values, alternatives listed per parameter


def parameters_line(schema_json: str, *, limit: int = PARAMETERS_LIMIT) -> str:
    """A tool's parameters as its JSON schema (`arguments_schema`) lists them, in one line for a context block:
    ":jigsaw: *Parameters:* `to` string (email), required: The recipient · `cc` array of string · no others".
    Required parameters first, in the schema's `required` order, then the others. Names, types, values and
    descriptions are the schema's (untrusted: each goes through `safe`, inert), cut so that the line stays within
    `limit` characters ("… and 12 more"). '' when the schema lists no properties."""
    try:
        schema = json.loads(schema_json) if schema_json else None
    except ValueError:
        return ""
    if not isinstance(schema, dict) or not isinstance(schema.get("properties"), dict) or not schema["properties"]:
        return ""
    properties: dict[str, Any] = schema["properties"]
    listed = schema.get("required")
    required = [r for r in dict.fromkeys(listed) if r in properties] if isinstance(listed, list) else []
    order = [*required, *(name for name in properties if name not in required)]  # (stored schemas sort their keys)
    closed = " · no others" if schema.get("additionalProperties") is False else ""
    line = ":jigsaw: *Parameters:* "
    shown = 0
    for name in order:
        part = _parameter(str(name), properties[name], name in required)
        more = f" · … and {len(properties) - shown} more"
        if len(line) + len(part) + len(" · ") + len(more) + len(closed) > limit:
            return line + more.removeprefix(" · " if not shown else "") + closed
        line += (" · " if shown else "") + part
        shown += 1
    return line + closed


def _parameter(name: str, schema: Any, required: bool) -> str:
    """One parameter: its name as inline code, its type, "required", its description (all inert)."""
    shown = f"`{safe(' '.join(name.replace('`', chr(39)).split()) or '?', PARAMETER_NAME_LIMIT)}`"
    kind = _type_of(schema)
    shown += f" {safe(kind, PARAMETER_NOTE_LIMIT)}" if kind else ""
    shown += ", required" if required else ""
    note = schema.get("description") if isinstance(schema, dict) else None
    if isinstance(note, str) and note.strip():
        shown += ": " + safe(" ".join(note.replace("`", "'").split()), PARAMETER_NOTE_LIMIT)
    return shown


def _type_of(schema: Any, *, depth: int = 0) -> str:
    """What a parameter takes, in words: "string (email)", "one of "a", "b"", "array of integer", "integer or null"."""
    if not isinstance(schema, dict) or depth > 2:
        return ""
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        values = [json.dumps(v, ensure_ascii=False)[:30] for v in schema["enum"][:_LISTED]]
        return "one of " + ", ".join(values) + (", …" if len(schema["enum"]) > _LISTED else "")
    if "const" in schema:
        return "= " + json.dumps(schema["const"], ensure_ascii=False)[:30]
    kind = schema.get("type")
    if isinstance(kind, list):
        text = " or ".join(str(k) for k in kind[:_LISTED])
    elif isinstance(kind, str):
        text = kind
    else:
        options = schema.get("anyOf") or schema.get("oneOf")
        alternatives = [_type_of(o, depth=depth + 1) for o in options[:_LISTED]] if isinstance(options, list) else []
        text = " or ".join(a for a in alternatives if a)
    if text == "array" and isinstance(schema.get("items"), dict):
        items = _type_of(schema["items"], depth=depth + 1)
        text += f" of {items}" if items else ""
    if isinstance(schema.get("format"), str):
        text += f" ({schema['format'][:30]})"
    return text


ARGUMENT_SHOWN = 600  # one argument's value on a card (or a Home, a DM copy), at most, in characters
ARGUMENT_LINES = 12  # and in lines; the rest behind "Show all"
_MARKS = re.compile(r"[*_~`\n]")


def arguments_text(arguments: str, *, limit: int = SHOWN_LIMIT) -> tuple[dict[str, Any], bool] | None:
    """A tool call's arguments (a JSON object) one under the other, each under its name in bold: text inert
    (text of several lines in a code block, as its lines), numbers, booleans and null as inline code, other JSON
    indented in a code block. Within a card's `limit` (at most 3000), each value is cut to `ARGUMENT_SHOWN`
    characters and `ARGUMENT_LINES` lines; with a larger `limit` (a modal's full text), nothing is cut. None when
    the arguments are not a JSON object (then the caller shows them as code); else the text object and whether
    something was cut."""
    try:
        values = json.loads(arguments) if arguments else {}
    except ValueError:
        return None
    if not isinstance(values, dict) or not values:
        return None
    card = limit <= TEXT_LIMIT
    parts = ["*Arguments*"]
    cut = False
    for name, value in values.items():
        parts.append(f"*{safe(_MARKS.sub(' ', str(name)).strip() or '?', 60)}*")
        shown, clipped = argument_value(value, cut=card)
        parts.append(shown)
        cut = cut or clipped
    text = "\n".join(parts)
    if len(text) > limit:
        text, cut = text[: limit - len(_MORE) - 3], True
        amp = text.rfind("&")
        if amp != -1 and ";" not in text[amp:]:  # never split an entity
            text = text[:amp]
        text = text.rstrip() + ("```" if text.count("```") % 2 else "") + _MORE
    return made_safe(text), cut


_MORE = "\n… (cut)"


def argument_value(value: Any, *, cut: bool = True) -> tuple[str, bool]:
    """One argument's value as inert mrkdwn (see `arguments_text`), and whether it was cut."""
    if isinstance(value, str):
        text = clean(value).strip("\n").replace("```", "`\u200b``")  # no ``` of its own opens or closes a block
        lines = text.split("\n")
        clipped = cut and (len(text) > ARGUMENT_SHOWN or len(lines) > ARGUMENT_LINES)
        if clipped:
            text = "\n".join(lines[:ARGUMENT_LINES])[:ARGUMENT_SHOWN].rstrip() + " … (cut)"
        if not text.strip():
            return "_(empty)_", False
        if "\n" not in text:
            return safe(text, TEXT_LIMIT), clipped
        return "```" + safe(text, TEXT_LIMIT) + "```", clipped
    if value is None or isinstance(value, (bool, int, float)):
        return "`" + json.dumps(value) + "`", False
    text = clean(pretty_json(value)).replace("```", "`\u200b``")
    clipped = cut and (len(text) > ARGUMENT_SHOWN or text.count("\n") >= ARGUMENT_LINES)
    if clipped:
        text = "\n".join(text.split("\n")[:ARGUMENT_LINES])[:ARGUMENT_SHOWN].rstrip() + "\n… (cut)"
    return "```" + safe(text, TEXT_LIMIT) + "```", clipped
