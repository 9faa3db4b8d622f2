"""TEAMS_FILE (issue 81): a Teams-only company's people (and any company's Teams people without a Slack account), and
where each channel's cards go in Teams. Read by `Settings.from_env` at start: a bad file stops the worker, its
message naming the line and what is wrong.

    people:                                   # who may decide in Teams as themselves (`teams:<object id>`)
      - {email: ana@example.com, object_id: 6f1c…-…, name: Ana}   # email or object_id (or both), name optional
    routes:                                   # an approval's channel (a Slack channel id, the API's `channel`)
      C0123ABC: {conversation: "19:…@thread.tacv2", personal: true}  # its Teams channel or chat; personal: each
                                                                     # approver's card in their 1:1 chat too

A person listed by object id is known at once; one listed by email only is known by the email Teams gives for them
(the roster's). A guest of the tenant decides only when listed by object id (bot/msteams/people.py)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NoReturn

import yaml

from bot.core.msteams import OBJECT_ID

CHANNEL = re.compile(r"^[CGD][A-Z0-9]{2,23}$")  # as the Approvals API's `channel` (bot/api/requests.py)
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}$")
CONVERSATION = re.compile(r"^[0-9A-Za-z:@._;=-]{3,300}$")  # 19:…@thread.tacv2, 19:…@thread.v2, a:…
MAX_NAME = 80
YES, NO = frozenset({"true", "yes", "on"}), frozenset({"false", "no", "off"})


class TeamsFileError(ValueError):
    """TEAMS_FILE is not what it must be; the message names the line and what is wrong."""


@dataclass(frozen=True, slots=True)
class TeamsFilePerson:
    """One person of the file: their email (lower case, "" when not given), Azure AD object id ("" when not
    given; lower case) and display name."""

    email: str
    object_id: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class TeamsRoute:
    """Where a channel's cards go in Teams: its `conversation` (a Teams channel or chat id), and whether each
    approver also gets their card in their personal chat with the bot."""

    conversation: str
    personal: bool = False


@dataclass(frozen=True, slots=True)
class TeamsFile:
    """The file as read: its people and routes (channel id -> route)."""

    people: tuple[TeamsFilePerson, ...] = ()
    routes: Mapping[str, TeamsRoute] = field(default_factory=lambda: MappingProxyType({}))

    def by_object_id(self, object_id: str) -> TeamsFilePerson | None:
        oid = object_id.strip().lower()
        return next((p for p in self.people if oid and p.object_id == oid), None)

    def by_email(self, email: str) -> TeamsFilePerson | None:
        key = email.strip().lower()
        return next((p for p in self.people if key and p.email == key), None)


def read_teams_file(path: str) -> TeamsFile:
    """The file at `path`; TeamsFileError naming the line (`TEAMS_FILE line N: ...`) and what is wrong."""
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise TeamsFileError(f"TEAMS_FILE cannot be read ({type(exc).__name__})") from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise TeamsFileError(f"TEAMS_FILE{where}: not YAML ({getattr(exc, 'problem', None) or 'unreadable'})") \
            from None
    if root is None:
        return TeamsFile()
    _expect(root, yaml.MappingNode, "a mapping with `people:` and `routes:`")
    people: tuple[TeamsFilePerson, ...] = ()
    routes: dict[str, TeamsRoute] = {}
    for key, value in root.value:
        name = _scalar(key, "a key")
        if name == "people":
            people = _people(value)
        elif name == "routes":
            routes = _routes(value)
        else:
            _fail(key, f"unknown key `{name[:40]}` (only `people` and `routes`)")
    return TeamsFile(people=people, routes=MappingProxyType(routes))


def _people(node: yaml.Node) -> tuple[TeamsFilePerson, ...]:
    if _null(node):
        return ()
    _expect(node, yaml.SequenceNode, "`people` must be a list of {email, object_id, name}")
    found: list[TeamsFilePerson] = []
    for item in node.value:
        fields = _fields(item, {"email", "object_id", "name"}, "a person must be {email, object_id, name}")
        email = fields.get("email", ("", item))[0].strip().lower()
        oid = fields.get("object_id", ("", item))[0].strip().lower()
        name = fields.get("name", ("", item))[0].strip()
        if email and not EMAIL.fullmatch(email):
            _fail(fields["email"][1], "`email` is not an email address")
        if oid and not OBJECT_ID.fullmatch(oid):
            _fail(fields["object_id"][1], "`object_id` is no Azure AD object id (a GUID: 8-4-4-4-12 hex digits)")
        if not email and not oid:
            _fail(item, "a person needs `email` or `object_id`")
        if len(name) > MAX_NAME:
            _fail(fields["name"][1], f"`name` is longer than {MAX_NAME} characters")
        for other in found:
            if (email and other.email == email) or (oid and other.object_id == oid):
                _fail(item, "this person is listed twice (the same email or object_id)")
        found.append(TeamsFilePerson(email=email, object_id=oid, name=name))
    return tuple(found)


def _routes(node: yaml.Node) -> dict[str, TeamsRoute]:
    if _null(node):
        return {}
    _expect(node, yaml.MappingNode, "`routes` must map channel ids to {conversation, personal}")
    routes: dict[str, TeamsRoute] = {}
    for key, value in node.value:
        channel = _scalar(key, "a channel id")
        if not CHANNEL.fullmatch(channel):
            _fail(key, f"`{channel[:40]}` is no channel id (as the API's `channel`: C0123ABC)")
        if channel in routes:
            _fail(key, f"{channel} is routed twice")
        fields = _fields(value, {"conversation", "personal"}, "a route must be {conversation, personal}")
        conversation = fields.get("conversation", ("", value))[0].strip()
        if not CONVERSATION.fullmatch(conversation):
            _fail(fields.get("conversation", ("", value))[1], "`conversation` must be a Teams conversation id"
                  " (19:…@thread.tacv2)")
        personal = fields.get("personal", ("false", value))
        if personal[0] not in YES | NO:
            _fail(personal[1], "`personal` must be true or false")
        routes[channel] = TeamsRoute(conversation=conversation, personal=personal[0] in YES)
    return routes


def _fields(node: yaml.Node, allowed: set[str], what: str) -> dict[str, tuple[str, yaml.Node]]:
    """A flat mapping's scalar values (and their nodes), lower-cased booleans; only the `allowed` keys."""
    _expect(node, yaml.MappingNode, what)
    found: dict[str, tuple[str, yaml.Node]] = {}
    for key, value in node.value:
        name = _scalar(key, "a key")
        if name not in allowed:
            _fail(key, f"unknown key `{name[:40]}` ({what})")
        text = _scalar(value, f"`{name}` must be a single value")
        found[name] = (text.lower() if value.tag.endswith(":bool") else text, value)  # (YAML 1.1: yes/on too)
    return found


def _scalar(node: yaml.Node, what: str) -> str:
    _expect(node, yaml.ScalarNode, what)
    return str(node.value)


def _null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null")


def _expect(node: yaml.Node, kind: type[yaml.Node], what: str) -> None:
    if not isinstance(node, kind):
        _fail(node, what)


def _fail(node: Any, what: str) -> NoReturn:
    raise TeamsFileError(f"TEAMS_FILE line {node.start_mark.line + 1}: {what}")
