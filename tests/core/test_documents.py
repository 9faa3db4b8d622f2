"""Documents read by models say what is wrong in the project's words (bot/core/documents.py), never pydantic's:
SLACKBOT_MCP's JSON here (policy files: tests/policy/test_documents.py; Slack's payloads:
tests/slackapp/test_payloads.py)."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel, ValidationError

from bot.core.documents import STRICT_DOCUMENT, refusal
from bot.core.settings import Settings, SettingsError

BASE = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "APPROVALS_CHANNEL": "C0123456789"}
ONE = {"name": "crm", "command": ["crm-mcp"]}


def said(value: object) -> str:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({**BASE, "SLACKBOT_MCP": json.dumps(value)})
    text = str(refused.value)
    assert "validation error" not in text.lower() and "input should be" not in text.lower(), text
    return text


@pytest.mark.parametrize(("given", "words"), [
    ([ONE], 'must name the API key Slackbot asks with'),
    ({"key": 3, "upstreams": [ONE]}, 'must name the API key Slackbot asks with'),
    ({"key": "k", "upstreams": {"crm": ONE}}, 'must list at least one upstream MCP server in "upstreams"'),
    ({"key": "k", "upstreams": [["crm"]]}, 'each upstream must be an object with a "name"'),
    ({"key": "k", "upstreams": [{"name": "crm", "command": "crm-mcp"}]},
     'upstream crm: "command" must be a list of strings, "upstream_url" a URL'),
    ({"key": "k", "upstreams": [{"name": "crm", "command": [["crm-mcp"]]}]}, 'upstream crm: "command" must be a list'),
    ({"key": "k", "upstreams": [{"name": "crm", "upstream_url": {"a": {"b": {"c": []}}}}]},
     'upstream crm: "command" must be a list of strings, "upstream_url" a URL'),
    ({"key": "k", "upstreams": [{"name": "crm", "command": ["x"], "upstream_url": "https://crm"}]},
     'upstream crm: give either "command" or an http(s) "upstream_url"'),
    ({"key": "k", "upstreams": [{"name": "crm", "upstream_url": "ftp://crm"}]}, 'upstream crm: give either'),
    ({"key": "k", "upstreams": [{**ONE, "env": {"A": 1}}]}, 'upstream crm: "env" must map names to strings'),
    ({"key": "k", "upstreams": [{**ONE, "call_timeout": True}]}, "upstream crm: call_timeout and start_timeout"),
    ({"key": "k", "upstreams": [{**ONE, "start_timeout": "30"}]}, "must be seconds from 0 to 55"),
    ({"key": "k", "upstreams": [ONE, {"name": "b", "command": 1}]}, 'upstream b: "command" must be a list'),
])
def test_a_malformed_slackbot_mcp_is_refused_in_the_projects_words(given: object, words: str) -> None:
    assert words in said(given)


def test_a_good_slackbot_mcp_is_read_whole() -> None:
    given = {"key": " k ", "upstreams": [{**ONE, "env": {"B": "2", "A": "1"}, "call_timeout": 10}],
             "workspaces": {"T0OTHER": "o"}, "later": "ignored"}
    config = Settings.from_env({**BASE, "SLACKBOT_MCP": json.dumps(given)}).slackbot_mcp
    assert config is not None and config.key == "k" and config.workspaces == (("T0OTHER", "o"),)
    (upstream,) = config.upstreams
    assert upstream.command == ("crm-mcp",) and upstream.env == (("A", "1"), ("B", "2"))
    assert (upstream.call_timeout, upstream.start_timeout, upstream.upstream_url) == (10.0, 30.0, "")


class _Doc(BaseModel):
    model_config = STRICT_DOCUMENT
    name: str
    count: int = 0
    items: list[int] = []


@pytest.mark.parametrize(("given", "words"), [
    ({"name": "a", "zeta": 1, "alpha": 2}, "unknown key 'alpha' (known: name, count, items)"),
    ({}, "name is missing"),
    ({"name": 3}, "name is not a string"),
    ({"name": "a", "count": "many"}, "count is not a whole number"),
    ({"name": "a", "items": [1, {"a": [1]}]}, "items.1 is not a whole number"),
    ({"name": "a", "items": {"a": 1}}, "items is not a list"),
])
def test_what_pydantic_finds_is_said_in_plain_words(given: object, words: str) -> None:
    with pytest.raises(ValidationError) as refused:
        _Doc.model_validate(given)
    assert refusal(refused.value, known=_Doc.model_fields).said == words
