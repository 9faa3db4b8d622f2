"""Block Kit checks: what Slack refuses in blocks and views, reported with Slack's error codes and JSON pointers.

Two layers:

* slack_sdk's models (``slack_sdk.models.blocks.Block.parse(...)``, ``slack_sdk.models.views.View``, and
  ``validate_json()`` on every object of the parsed tree) check the per-component rules they know: lengths of
  header / button / section / label texts, of block_id, action_id, button values and urls, element and field
  counts, a section's text or fields, button styles, a home view without submit / close, the lengths of a view's
  title / submit / close, callback_id and private_metadata.
* Our own checks add what slack_sdk does not check: the surface limits (50 blocks in a message, 100 in a modal or
  App Home, 12,000 characters of block text in a message), the block types accepted, well-formed text objects
  (a string, not empty, at most 3,000 characters; plain_text where Slack requires it), field texts of at most
  2,000 characters, unique block_id and action_id, input blocks with an element and a sane ``max_length``, views
  of type modal or home with a title (modals) and a submit button when they hold inputs, external_id's length, and
  the options of select menus, checkboxes, radio buttons and overflow menus (how many: 100 in a static select, 10
  checkboxes or radio buttons, 5 in an overflow; each with a text of at most 75 characters, plain_text except in
  checkboxes and radio buttons, and a value of 1 to 150 characters; initial options among the options): slack_sdk
  checks those only in the element types whose options it parses.
  They also count a section's fields and measure action_id in actions / context blocks, which slack_sdk does too
  but only for the fields and elements it can read (it skips the others).

A problem is reported once: slack_sdk's finding is dropped when our own check already reported one at, above or
below the same JSON pointer (slack_sdk stops at the first broken rule of an object and knows no pointers).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any, Final, cast

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.basic_objects import JsonObject
from slack_sdk.models.blocks import Block, TextObject
from slack_sdk.models.views import View

from bot.devslack.model import copied

__all__ = [
    "MAX_MESSAGE_BLOCKS",
    "MAX_TEXT_OBJECT",
    "MAX_TOTAL_BLOCK_TEXT",
    "MAX_VIEW_BLOCKS",
    "element_options",
    "normalize_blocks",
    "validate_blocks",
    "validate_view",
]

MAX_MESSAGE_BLOCKS: Final = 50
MAX_VIEW_BLOCKS: Final = 100  # modals and App Home
MAX_TEXT_OBJECT: Final = 3000
MAX_FIELD_TEXT: Final = 2000
MAX_TOTAL_BLOCK_TEXT: Final = 12000
MAX_OPTIONS: Final = {
    "static_select": 100,
    "multi_static_select": 100,
    "checkboxes": 10,
    "radio_buttons": 10,
    "overflow": 5,
}
MAX_OPTION_TEXT: Final = 75
MAX_OPTION_VALUE: Final = 150
MULTI_CHOICE: Final = frozenset({"multi_static_select", "checkboxes"})  # these take initial_options, the others one
BLOCK_TYPES: Final = frozenset(
    {
        "section",
        "actions",
        "context",
        "header",
        "divider",
        "input",
        "image",
        "rich_text",
        "video",
        "file",
        "markdown",
        "table",
        "context_actions",
        "plan",  # an agent's plan of task cards (slack_sdk's PlanBlock): a stopped stream's message, updated
    }
)
# What slack_sdk's constructors and validators raise on a malformed payload (a missing key, a number for a text...).
_SDK_ERRORS: Final = (SlackObjectFormationError, TypeError, KeyError, AttributeError, ValueError)

Problem = tuple[str, str]  # (JSON pointer, message)


# --------------------------------------------------------------------------------------------------- slack_sdk layer


def _reason(exc: Exception) -> str:
    return f"missing {exc.args[0]!r}" if isinstance(exc, KeyError) and exc.args else str(exc)


def _pointer_of(obj: JsonObject, pointer: str, message: str) -> str:
    """Where a broken slack_sdk rule points: its message starts with the attribute it is about (``text attribute
    cannot exceed 150 characters``); a length rule on a text object points at the object's ``text``."""
    name = message.split(" ", 1)[0]
    value = getattr(obj, name, None) if name in obj.attributes else None
    if value is None:
        return pointer
    if isinstance(value, TextObject) and "characters" in message:
        return f"{pointer}/{name}/text"
    return f"{pointer}/{name}"


def _sdk_walk(obj: JsonObject, pointer: str) -> list[Problem]:
    """``validate_json()`` on obj and every model object under it (what ``to_dict()`` does), with JSON pointers."""
    try:
        obj.validate_json()
    except SlackObjectFormationError as exc:
        return [(_pointer_of(obj, pointer, str(exc)), str(exc))]
    except _SDK_ERRORS as exc:
        return [(pointer, f"invalid value ({_reason(exc)})")]
    found: list[Problem] = []
    for name in sorted(obj.attributes):
        value = getattr(obj, name, None)
        if isinstance(value, JsonObject):
            found.extend(_sdk_walk(value, f"{pointer}/{name}"))
        elif isinstance(value, list | tuple):
            for i, item in enumerate(value):
                if isinstance(item, JsonObject):
                    found.extend(_sdk_walk(item, f"{pointer}/{name}/{i}"))
    return found


def _sdk_block_problems(block: dict[str, Any], pointer: str) -> list[Problem]:
    try:
        parsed = Block.parse(copied(block))
    except _SDK_ERRORS as exc:
        return [(pointer, f"invalid {block.get('type')} block ({_reason(exc)})")]
    return [] if parsed is None else _sdk_walk(parsed, pointer)


def _sdk_view_problems(view: dict[str, Any]) -> list[Problem]:
    """slack_sdk's rules of the view object itself; its blocks are checked by :func:`validate_blocks`."""
    try:
        parsed = View(**{k: copied(v) for k, v in view.items() if k != "blocks"})
    except _SDK_ERRORS as exc:
        return [("/view", f"invalid view ({_reason(exc)})")]
    # Without blocks View holds [], which its "between 1 and 100 blocks" rule refuses; the blocks are ours to check.
    parsed.blocks = None  # type: ignore[assignment]
    return _sdk_walk(parsed, "/view")


def _overlaps(pointer: str, own: list[Problem]) -> bool:
    """True when one of our own problems (other than the whole list's, pointer "") sits at, above or below pointer."""
    return any(
        mine != "" and (mine == pointer or mine.startswith(f"{pointer}/") or pointer.startswith(f"{mine}/"))
        for mine, _ in own
    )


# --------------------------------------------------------------------------------------------------- our own layer


def _text_objects(node: Any, pointer: str) -> list[tuple[str, dict[str, Any]]]:
    """Every text object (plain_text / mrkdwn) under node, with its JSON pointer."""
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        if node.get("type") in ("plain_text", "mrkdwn") and "text" in node:
            found.append((pointer, node))
        else:
            for key, value in node.items():
                found.extend(_text_objects(value, f"{pointer}/{key}"))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found.extend(_text_objects(value, f"{pointer}/{i}"))
    return found


def _is_plain_text(obj: Any) -> bool:
    return isinstance(obj, dict) and obj.get("type") == "plain_text"


def element_options(element: dict[str, Any]) -> list[Any]:
    """An element's options, those of its option groups included (in order)."""
    options = list(element.get("options") or []) if isinstance(element.get("options"), list) else []
    groups = element.get("option_groups")
    for group in groups if isinstance(groups, list) else []:
        if isinstance(group, dict) and isinstance(group.get("options"), list):
            options.extend(group["options"])
    return options


def _same_option(a: Any, b: Any) -> bool:
    """Slack matches an initial option to one of the options by its value and its text."""
    if not isinstance(a, dict) or not isinstance(b, dict):
        return False
    text_a, text_b = a.get("text"), b.get("text")
    same_text = isinstance(text_a, dict) and isinstance(text_b, dict) and text_a.get("text") == text_b.get("text")
    return a.get("value") == b.get("value") and same_text


def _option_problems(element: dict[str, Any], pointer: str) -> list[Problem]:
    """The rules of an element's options (select menus, checkboxes, radio buttons, overflow menus)."""
    etype = str(element.get("type"))
    limit = MAX_OPTIONS.get(etype)
    if limit is None:
        return []
    options = element.get("options")
    if options is not None and not isinstance(options, list):
        return [(f"{pointer}/options", "options must be an array")]
    problems: list[Problem] = []
    if etype in ("checkboxes", "radio_buttons", "overflow") and not options:
        problems.append((f"{pointer}/options", "must provide at least one option"))
    if isinstance(options, list) and len(options) > limit:
        problems.append((f"{pointer}/options", f"no more than {limit} items allowed"))
    groups = element.get("option_groups")
    grouped = [
        (f"{pointer}/option_groups/{g}/options/{i}", option)
        for g, group in enumerate(groups if isinstance(groups, list) else [])
        if isinstance(group, dict) and isinstance(group.get("options"), list)
        for i, option in enumerate(group["options"])
    ]
    listed = [(f"{pointer}/options/{i}", option) for i, option in enumerate(options or [])]
    for ptr, option in listed + grouped:
        problems.extend(_one_option_problems(option, ptr, etype))
    return problems + _initial_option_problems(element, pointer, etype)


def _one_option_problems(option: Any, ptr: str, etype: str) -> list[Problem]:
    """The rules of one option of an element of type `etype`: its text, value and description."""
    if not isinstance(option, dict):
        return [(ptr, "option must be an object")]
    problems: list[Problem] = []
    text = option.get("text")
    if not isinstance(text, dict) or text.get("type") not in ("plain_text", "mrkdwn"):
        problems.append((f"{ptr}/text", "option text must be a text object"))
    elif etype not in ("checkboxes", "radio_buttons") and text.get("type") != "plain_text":
        problems.append((f"{ptr}/text", f"option text must be plain_text in a {etype}"))
    elif isinstance(text.get("text"), str) and len(text["text"]) > MAX_OPTION_TEXT:
        problems.append((f"{ptr}/text/text", f"must be less than {MAX_OPTION_TEXT + 1} characters"))
    value = option.get("value")
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_OPTION_VALUE:
        problems.append((f"{ptr}/value", f"value must be a string of 1 to {MAX_OPTION_VALUE} characters"))
    description = option.get("description")
    if isinstance(description, dict) and len(str(description.get("text", ""))) > MAX_OPTION_TEXT:
        problems.append((f"{ptr}/description/text", f"must be less than {MAX_OPTION_TEXT + 1} characters"))
    return problems


def _initial_option_problems(element: dict[str, Any], pointer: str, etype: str) -> list[Problem]:
    """An element's initial option(s) (`initial_options` in those of MULTI_CHOICE): each one of its options."""
    choices = element_options(element)
    key = "initial_options" if etype in MULTI_CHOICE else "initial_option"
    initial = element.get(key)
    if initial is None:
        return []
    problems: list[Problem] = []
    chosen = initial if key == "initial_options" else [initial]
    if not isinstance(chosen, list):
        problems.append((f"{pointer}/{key}", f"{key} must be an array"))
        chosen = []
    for j, option in enumerate(chosen):
        if not any(_same_option(option, choice) for choice in choices):
            where = f"{pointer}/{key}/{j}" if key == "initial_options" else f"{pointer}/{key}"
            problems.append((where, f"{key} must match one of the element's options"))
    return problems


def _elements(block: dict[str, Any], pointer: str) -> list[tuple[str, dict[str, Any]]]:
    """The interactive elements of a block with their JSON pointers: actions' elements, an accessory, an input's."""
    found: list[tuple[str, dict[str, Any]]] = []
    if block.get("type") == "actions" and isinstance(block.get("elements"), list):
        found.extend((f"{pointer}/elements/{j}", e) for j, e in enumerate(block["elements"]) if isinstance(e, dict))
    for key in ("accessory", "element"):
        if isinstance(block.get(key), dict):
            found.append((f"{pointer}/{key}", block[key]))
    return found


def _own_block_problems(blocks: list[dict[str, Any]], max_blocks: int) -> tuple[list[Problem], int]:
    """Our own rules; returns the problems (pointers below ``/blocks``) and the total length of all texts."""
    problems: list[Problem] = []
    if len(blocks) > max_blocks:
        problems.append(("", f"no more than {max_blocks} items allowed"))
    block_ids: set[str] = set()
    for i, block in enumerate(blocks):
        p = f"/{i}"
        btype = block.get("type")
        if not isinstance(btype, str) or btype not in BLOCK_TYPES:
            problems.append((f"{p}/type", f"unknown or missing block type {btype!r}"))
            continue
        problems.extend(_block_id_problems(block.get("block_id"), p, block_ids))
        if (rules := _BLOCK_RULES.get(btype)) is not None:
            problems.extend(rules(block, p))
        for ptr, element in _elements(block, p):
            problems.extend(_option_problems(element, ptr))
    texts, total = _text_problems(blocks)
    return problems + texts, total


def _block_id_problems(block_id: Any, p: str, seen: set[str]) -> list[Problem]:
    """A block's block_id (None: none given): a non-empty string, not one of those `seen` (to which it is added)."""
    if block_id is None:
        return []
    if not isinstance(block_id, str) or not block_id:
        return [(f"{p}/block_id", "block_id must be a non-empty string")]
    duplicate = block_id in seen
    seen.add(block_id)
    return [(f"{p}/block_id", f"duplicate block_id {block_id!r}")] if duplicate else []


def _section_problems(block: dict[str, Any], p: str) -> list[Problem]:
    """A section's fields: at most 10, each text at most MAX_FIELD_TEXT."""
    fields = block.get("fields")
    if fields is None:
        return []
    if not isinstance(fields, list) or len(fields) > 10:  # (slack_sdk counts only the fields it can read)
        return [(f"{p}/fields", "fields must be an array of at most 10 items")]
    return [
        (f"{p}/fields/{j}/text", f"must be less than {MAX_FIELD_TEXT + 1} characters")
        for j, fld in enumerate(fields)
        if isinstance(text := fld.get("text") if isinstance(fld, dict) else None, str) and len(text) > MAX_FIELD_TEXT
    ]


def _header_problems(block: dict[str, Any], p: str) -> list[Problem]:
    return [] if _is_plain_text(block.get("text")) else [(f"{p}/text", "header text must be a plain_text object")]


def _element_list_problems(block: dict[str, Any], p: str) -> list[Problem]:
    """An actions or context block's elements: at least one, each an object, action_ids short and unique, buttons'
    texts plain."""
    problems: list[Problem] = []
    elements = block.get("elements")
    if not isinstance(elements, list) or not elements:
        problems.append((f"{p}/elements", "must provide at least one element"))
        elements = []
    action_ids: set[str] = set()
    for j, element in enumerate(elements):
        if not isinstance(element, dict):
            problems.append((f"{p}/elements/{j}", "element must be an object"))
            continue
        action_id = element.get("action_id")
        if isinstance(action_id, str):
            if len(action_id) > 255:  # (slack_sdk checks it too, but skips element types it does not know)
                problems.append((f"{p}/elements/{j}/action_id", "must be less than 256 characters"))
            if action_id in action_ids:
                problems.append((f"{p}/elements/{j}/action_id", f"duplicate action_id {action_id!r}"))
            action_ids.add(action_id)
        if element.get("type") == "button" and not _is_plain_text(element.get("text")):
            problems.append((f"{p}/elements/{j}/text", "button text must be a plain_text object"))
    return problems


def _input_problems(block: dict[str, Any], p: str) -> list[Problem]:
    """An input block: an element, a plain label, a text input's max_length between 1 and 3000."""
    problems: list[Problem] = []
    element = block.get("element")
    if not isinstance(element, dict):
        problems.append((f"{p}/element", "input block requires an element"))
    if not _is_plain_text(block.get("label")):
        problems.append((f"{p}/label", "input label must be a plain_text object"))
    if isinstance(element, dict) and element.get("type") == "plain_text_input":
        max_length = element.get("max_length")
        if max_length is not None and (not isinstance(max_length, int) or not 1 <= max_length <= 3000):
            problems.append((f"{p}/element/max_length", "max_length must be between 1 and 3000"))
    return problems


_BLOCK_RULES: Final[dict[str, Callable[[dict[str, Any], str], list[Problem]]]] = {
    "section": _section_problems,
    "header": _header_problems,
    "actions": _element_list_problems,
    "context": _element_list_problems,
    "input": _input_problems,
}


def _text_problems(blocks: list[dict[str, Any]]) -> tuple[list[Problem], int]:
    """Every text object of the blocks: a string, not empty, at most MAX_TEXT_OBJECT; and their total length."""
    problems: list[Problem] = []
    total = 0
    for ptr, obj in _text_objects(blocks, ""):
        text = obj.get("text")
        if not isinstance(text, str):
            problems.append((f"{ptr}/text", "text must be a string"))
            continue
        if not text:
            problems.append((f"{ptr}/text", "must be more than 0 characters"))
        elif len(text) > MAX_TEXT_OBJECT:
            problems.append((f"{ptr}/text", f"must be less than {MAX_TEXT_OBJECT + 1} characters"))
        total += len(text)
    return problems, total


# --------------------------------------------------------------------------------------------------- the checks


def validate_blocks(
    blocks: Any, *, max_blocks: int = MAX_MESSAGE_BLOCKS, surface: str = "message"
) -> tuple[str, list[str]] | None:
    """Check Block Kit blocks the way Slack does (the subset of rules that matters here).

    ``surface`` is ``"message"`` (which also limits the total text) or a view's (``"view"``, ``"modal"``,
    ``"home"``). Returns ``None`` when valid, else ``(error_code, messages)`` with Slack's error code
    (``invalid_blocks_format``, ``invalid_blocks`` or ``msg_blocks_too_long``) and messages carrying JSON pointers
    like Slack's.
    """
    if not isinstance(blocks, list) or not all(isinstance(b, dict) for b in blocks):
        return "invalid_blocks_format", ["blocks must be an array of objects [json-pointer:/blocks]"]
    checked = cast(list[dict[str, Any]], blocks)
    own, total = _own_block_problems(checked, max_blocks)
    sdk = [
        problem
        for i, block in enumerate(checked)
        if isinstance(block.get("type"), str) and block["type"] in BLOCK_TYPES
        for problem in _sdk_block_problems(block, f"/{i}")
    ]
    problems = own + [(ptr, msg) for ptr, msg in sdk if not _overlaps(ptr, own)]
    if problems:
        return "invalid_blocks", [f"{msg} [json-pointer:/blocks{ptr}]" for ptr, msg in problems]
    if surface == "message" and total > MAX_TOTAL_BLOCK_TEXT:
        return "msg_blocks_too_long", [f"total text of all blocks is {total} characters [json-pointer:/blocks]"]
    return None


def _under_view(message: str) -> str:
    """A block problem's message with its pointer moved under the view: ``/blocks/0`` -> ``/view/blocks/0``."""
    head, marker, tail = message.rpartition("[json-pointer:/blocks")
    return f"{head}[json-pointer:/view/blocks{tail}" if marker else message


def validate_view(view: Any) -> list[str] | None:
    """Check a modal or App Home view; Slack answers ``invalid_arguments`` with these messages; None when valid."""
    if not isinstance(view, dict):
        return ["view must be an object [json-pointer:/view]"]
    vtype = view.get("type")
    own = _view_field_problems(view)
    blocks = view.get("blocks")
    problem = validate_blocks(blocks, max_blocks=MAX_VIEW_BLOCKS, surface="view")
    block_messages = [] if problem is None else [_under_view(m) for m in problem[1]]
    if (
        problem is None
        and isinstance(blocks, list)
        and any(b.get("type") == "input" for b in blocks)
        and view.get("submit") is None
        and vtype == "modal"
    ):
        own.append(("/view/submit", "submit is required when an input block is present"))
    sdk = [(ptr, msg) for ptr, msg in _sdk_view_problems(view) if not _overlaps(ptr, own)]
    messages = [f"{msg} [json-pointer:{ptr}]" for ptr, msg in own] + block_messages
    return messages + [f"{msg} [json-pointer:{ptr}]" for ptr, msg in sdk] or None


def _view_field_problems(view: dict[str, Any]) -> list[Problem]:
    """Our rules of a view's own fields: its type, its title (a modal's required), submit and close as plain texts,
    callback_id, private_metadata and external_id as strings."""
    own: list[Problem] = []
    vtype = view.get("type")
    if vtype not in ("modal", "home"):
        own.append(("/view/type", "type must be modal or home"))
    for key in ("title", "submit", "close"):
        obj = view.get(key)
        if obj is None:
            if key == "title" and vtype == "modal":
                own.append(("/view/title", "title is required"))
            continue
        if not _is_plain_text(obj) or not isinstance(obj.get("text"), str):
            own.append((f"/view/{key}", f"{key} must be a plain_text object"))
        elif not obj["text"]:
            own.append((f"/view/{key}/text", f"{key} must be 1 to 24 characters"))
    for key in ("callback_id", "private_metadata", "external_id"):
        value = view.get(key)
        if value is not None and not isinstance(value, str):
            own.append((f"/view/{key}", f"{key} must be a string"))
    external_id = view.get("external_id")
    if isinstance(external_id, str) and len(external_id) > 255:
        own.append(("/view/external_id", "external_id must be a string of at most 255 characters"))
    return own


def normalize_blocks(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Copy blocks and give every block a block_id and every interactive element an action_id, as Slack does."""
    result = copied(blocks)
    for block in result:
        block.setdefault("block_id", secrets.token_urlsafe(3))
        elements: list[Any] = []
        if isinstance(block.get("elements"), list) and block.get("type") == "actions":
            elements = block["elements"]
        for key in ("accessory", "element"):
            if isinstance(block.get(key), dict):
                elements.append(block[key])
        for element in elements:
            if isinstance(element, dict) and element.get("type") not in (None, "image", "plain_text", "mrkdwn"):
                element.setdefault("action_id", secrets.token_urlsafe(3))
    return result
