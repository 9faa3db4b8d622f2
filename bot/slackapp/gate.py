"""A shape check in front of Bolt: a request body whose interaction payload is not the shape Slack
sends (bot/slackapp/payloads.py `Interaction`) is refused with 400 before any listener sees it. The body is parsed
here, once, into what Bolt would make of it, and handed to Bolt parsed (parsing a click's form-encoded JSON twice was a
tenth of a worker's CPU per click). The form is decoded by yarl's `query_to_pairs` (what `urllib.parse.parse_qsl`
returns, decoded in C: a Revise's 19 KB submission in 0.16 ms, against 1.4 ms)."""

from __future__ import annotations

import json
import re
from typing import Any

from yarl import query_to_pairs

from bot.core.documents import MAX_DEPTH, too_deep
from bot.slackapp.payloads import interaction_problem

MAX_BODY = 512 * 1024
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
    return interaction_problem(parsed) or parsed
