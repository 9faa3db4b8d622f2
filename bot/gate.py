"""A shape check in front of Bolt: a request body whose interaction payload is not the shape Slack
sends is refused with 400 before any listener sees it. The body is parsed here, once, into what
Bolt would make of it, and handed to Bolt parsed (parsing a click's form-encoded JSON twice was a
tenth of a worker's CPU per click)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

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
_LISTS = ("actions", "authorizations")
_STRINGS = ("type", "trigger_id", "response_url", "api_app_id", "callback_id", "team_id", "enterprise_id", "user_id")
_NESTED_STRINGS = {
    "user": ("id", "team_id", "name", "username"),
    "team": ("id", "enterprise_id"),
    "container": ("type", "channel_id", "message_ts"),
    "channel": ("id",),
    "view": ("id", "callback_id", "private_metadata", "team_id"),
}
MAX_BODY = 512 * 1024


def parse(body: str) -> dict[str, Any] | str:
    """`body` (form-encoded, as Slack posts it, or JSON) as Bolt's own parser would return it: an
    interaction's payload object, or a slash command's fields. A string says why it is refused."""
    if len(body) > MAX_BODY:
        return "body too large"
    if body.startswith("{"):
        try:
            parsed = json.loads(body)
        except ValueError:
            return "body is not JSON"
        return _bad_payload(parsed) or parsed
    try:
        form = dict(parse_qsl(body, keep_blank_values=True, strict_parsing=False))
    except ValueError:
        return "not form-encoded"
    if "payload" not in form:
        return form  # slash commands and ssl_check: plain string fields
    try:
        payload = json.loads(form["payload"])
    except ValueError:
        return "payload is not JSON"
    return _bad_payload(payload) or payload


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
    for key, strings in _NESTED_STRINGS.items():
        inner = payload.get(key)
        if isinstance(inner, dict):
            for name in strings:
                if name in inner and inner[name] is not None and not isinstance(inner[name], str):
                    return f"{key}.{name} is not a string"
    view = payload.get("view")
    states = [payload.get("state"), view.get("state") if isinstance(view, dict) else None]
    for state in states:
        if state is not None and not isinstance(state, dict):
            return "state is not an object"
        values = state.get("values") if isinstance(state, dict) else None
        if values is not None and not (isinstance(values, dict) and all(isinstance(v, dict) for v in values.values())):
            return "state.values is not an object of objects"
    return None
