"""A shape check in front of Bolt: a request body whose interaction payload is not the shape Slack
sends is refused with 400 before any listener sees it. The body is parsed here, once, into what
Bolt would make of it, and handed to Bolt parsed (parsing a click's form-encoded JSON twice was a
tenth of a worker's CPU per click). The form is decoded by yarl's `query_to_pairs` (what `urllib.parse.parse_qsl`
returns, decoded in C: a Revise's 19 KB submission in 0.16 ms, against 1.4 ms)."""

from __future__ import annotations

import json
import re
from typing import Any

from yarl import query_to_pairs

# Keys Slack sends as objects, and those it sends as lists of objects, in interaction payloads.
_OBJECTS = (
    "user",
    "team",
    "enterprise",
    "channel",
    "container",
    "view",
    "message",
    "state",
    "event",
    "item",
    "user_team",
    "function_data",
    "assistant_thread",
    "previous_message",
    "bot_access_token",
)
_LISTS = ("actions", "authorizations", "response_urls")
_STRINGS = ("type", "trigger_id", "response_url", "api_app_id", "callback_id", "team_id", "enterprise_id", "user_id")
_NESTED_STRINGS = {
    "user": ("id", "team_id", "name", "username"),
    "team": ("id", "enterprise_id"),
    "container": ("type", "channel_id", "message_ts"),
    "channel": ("id",),
    "view": ("id", "callback_id", "private_metadata", "team_id"),
}
MAX_BODY = 512 * 1024
# Slack's payloads nest a dozen levels; deeper JSON is refused before anything walks it (past ~1,000
# levels Python's own parser and printer raise RecursionError instead).
MAX_DEPTH = 64
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")  # a \ud800-\udfff escape: maybe half a pair


def parse(body: str) -> dict[str, Any] | str:
    """`body` (form-encoded, as Slack posts it, or JSON) as Bolt's own parser would return it: an
    interaction's payload object, or a slash command's fields. A string says why it is refused."""
    if len(body) > MAX_BODY:
        return "body too large"
    if body.startswith("{"):
        return _loads(body, "body")
    try:
        form = dict(query_to_pairs(body))
    except ValueError:
        return "not form-encoded"
    if "payload" not in form:
        return form  # slash commands and ssl_check: plain string fields
    return _loads(form["payload"], "payload")


def _loads(text: str, what: str) -> dict[str, Any] | str:
    """`text` parsed as an interaction payload (or a JSON body), or why it is refused."""
    try:
        parsed = json.loads(text)
    except ValueError:
        return f"{what} is not JSON"
    except RecursionError:
        return f"{what} is nested more than {MAX_DEPTH} levels"
    if text.count("{") + text.count("[") > MAX_DEPTH and too_deep(parsed):
        return f"{what} is nested more than {MAX_DEPTH} levels"
    if _SURROGATE_ESCAPE.search(text) is not None:
        try:
            json.dumps(parsed, ensure_ascii=False).encode()
        except UnicodeEncodeError:
            return f"{what} has a lone surrogate (not Unicode text)"
    return _bad_payload(parsed) or parsed


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether lists and objects in `value` (parsed JSON) nest more than `limit` levels. Iterative, so
    any depth is safe to ask about."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        for child in children:
            if isinstance(child, dict | list):
                if depth >= limit:
                    return True
                stack.append((child, depth + 1))
    return False


def _bad_payload(payload: Any) -> str | None:
    if not isinstance(payload, dict):
        return "payload is not an object"
    for key in _STRINGS:
        if key in payload and not isinstance(payload[key], str):
            return f"{key} is not a string"
    for key in _OBJECTS:
        if key in payload and payload[key] is not None and not isinstance(payload[key], dict):
            return f"{key} is not an object"
    for key in _LISTS:
        value = payload.get(key)
        if value is not None and not (isinstance(value, list) and all(isinstance(v, dict) for v in value)):
            return f"{key} is not a list of objects"
    if payload.get("actions") == []:
        return "actions is empty"  # Bolt reads the first one unchecked
    for key, strings in _NESTED_STRINGS.items():
        inner = payload.get(key)
        if isinstance(inner, dict):
            for name in strings:
                if name in inner and inner[name] is not None and not isinstance(inner[name], str):
                    return f"{key}.{name} is not a string"
    view = payload.get("view")
    if isinstance(view, dict) and payload.get("type") in ("view_submission", "view_closed"):
        if not isinstance(view.get("type"), str):
            return "view.type is not a string"  # Bolt reads it unchecked
        if view["type"] == "workflow_step" and not isinstance(payload.get("workflow_step"), dict):
            return "workflow_step is not an object"
    states = [payload.get("state"), view.get("state") if isinstance(view, dict) else None]
    for state in states:
        if state is not None and not isinstance(state, dict):
            return "state is not an object"
        values = state.get("values") if isinstance(state, dict) else None
        if values is not None and not (isinstance(values, dict) and all(isinstance(v, dict) for v in values.values())):
            return "state.values is not an object of objects"
    return None
