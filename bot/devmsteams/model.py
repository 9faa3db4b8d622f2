"""What the stand-in holds, shared by its HTTP thread and the tests (or the page) that drive it, under one lock:
tenants' members, conversations (channel, groupChat, personal) with their members and the bot's activities in them
(as they stand now, updates applied, and each person's own view after a refresh), every request the bot made, and
every activity delivered to the bot with its answer.

Limits as Teams keeps them: a message (the activity's JSON) of at most 28 KB (`MAX_MESSAGE_BYTES`, 413 beyond), a
card's `refresh.userIds` of at most 60 people (`MAX_REFRESH_USERS`, 400 beyond)."""

from __future__ import annotations

import copy
import datetime
import itertools
import json
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final, Literal

Kind = Literal["channel", "groupChat", "personal"]
KINDS: Final[tuple[Kind, ...]] = ("channel", "groupChat", "personal")
Role = Literal["user", "guest"]
MAX_MESSAGE_BYTES: Final = 28 * 1024
MAX_REFRESH_USERS: Final = 60
ADAPTIVE_CARD: Final = "application/vnd.microsoft.card.adaptive"


class ConnectorError(Exception):
    """A Bot Connector refusal: answered with `status` and Teams' `{"error": {"code", "message"}}`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Member:
    """A person of a tenant, as Teams' roster gives them (`GET /v3/conversations/{id}/members/{user id}`)."""

    user_id: str  # `29:…`, the id activities carry
    object_id: str  # their Azure AD object id
    tenant_id: str  # their home tenant (a guest's account lives in the host tenant)
    name: str
    email: str
    role: Role = "user"

    def account(self) -> dict[str, Any]:
        """Their `TeamsChannelAccount` JSON."""
        given, _, surname = self.name.partition(" ")
        return {"id": self.user_id, "name": self.name, "aadObjectId": self.object_id, "email": self.email,
                "userPrincipalName": self.email, "tenantId": self.tenant_id, "userRole": self.role,
                "givenName": given, "surname": surname}


@dataclass
class Conversation:
    """A channel, group chat or personal chat; `installed` once the bot was added there."""

    id: str
    kind: Kind
    name: str
    tenant_id: str
    members: list[str]  # user ids
    team_id: str = ""  # a channel's team (its General channel's id)
    installed: bool = False
    activities: dict[str, dict[str, Any]] = field(default_factory=dict)  # activity id -> as it stands now
    views: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (activity, user) -> their card

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "name": self.name, "tenant_id": self.tenant_id,
                "members": list(self.members), "installed": self.installed}


@dataclass(frozen=True, slots=True)
class RecordedCall:
    """One request the bot made to the stand-in, and the status it got."""

    method: str
    path: str
    body: Any
    status: int


@dataclass(frozen=True, slots=True)
class Delivery:
    """One activity the stand-in sent the bot, and the bot's answer."""

    activity: dict[str, Any]
    status: int
    body: Any


def now_iso() -> str:
    """Now, as Teams writes times (ISO 8601, milliseconds, UTC)."""
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def message_bytes(activity: dict[str, Any]) -> int:
    """The size Teams counts for a message: its activity as compact JSON, in bytes."""
    return len(json.dumps(activity, separators=(",", ":"), ensure_ascii=False).encode())


def cards_of(activity: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The Adaptive Cards an activity carries."""
    for attachment in activity.get("attachments") or ():
        if isinstance(attachment, dict) and attachment.get("contentType") == ADAPTIVE_CARD:
            content = attachment.get("content")
            if isinstance(content, dict):
                yield content


def check_message(activity: dict[str, Any]) -> None:
    """Teams' limits on a message the bot sends or updates (`ConnectorError` when over one)."""
    if not isinstance(activity, dict) or not isinstance(activity.get("type"), str):
        raise ConnectorError(400, "BadArgument", "Activity type cannot be null")
    if (size := message_bytes(activity)) > MAX_MESSAGE_BYTES:
        raise ConnectorError(413, "MessageSizeTooBig", f"Message size too large: {size} bytes, at most "
                             f"{MAX_MESSAGE_BYTES}")
    for card in cards_of(activity):
        refresh = card.get("refresh")
        users = refresh.get("userIds") if isinstance(refresh, dict) else None
        if isinstance(users, list) and len(users) > MAX_REFRESH_USERS:
            raise ConnectorError(400, "BadArgument", f"refresh.userIds has {len(users)} entries; at most "
                                 f"{MAX_REFRESH_USERS} users can get an automatic refresh")


class State:
    """Everything the stand-in holds; every read and write under `lock` (the HTTP thread and callers share it)."""

    def __init__(self, *, app_id: str, tenant_id: str) -> None:
        self.app_id = app_id
        self.tenant_id = tenant_id
        self.lock = threading.RLock()
        self.members: dict[str, Member] = {}
        self.conversations: dict[str, Conversation] = {}
        self.calls: list[RecordedCall] = []
        self.deliveries: list[Delivery] = []
        self._ids = itertools.count(int(time.time() * 1000))

    @property
    def bot_id(self) -> str:
        return f"28:{self.app_id}"

    def next_activity_id(self) -> str:
        """Teams' activity ids: increasing milliseconds."""
        return str(next(self._ids))

    # ------------------------------------------------------------------------------------------- people, places

    def add_member(self, *, name: str, email: str, object_id: str | None, tenant_id: str | None,
                   role: Role) -> Member:
        if role not in ("user", "guest"):
            raise ValueError(f"role {role!r}: a member is a 'user' or a 'guest'")
        member = Member(user_id=f"29:{secrets.token_urlsafe(24)}", object_id=(object_id or str(uuid.uuid4())).lower(),
                        tenant_id=tenant_id or self.tenant_id, name=name, email=email, role=role)
        with self.lock:
            if any(m.object_id == member.object_id and m.tenant_id == member.tenant_id
                   for m in self.members.values()):
                raise ValueError(f"object id {member.object_id} is already a member of tenant {member.tenant_id}")
            self.members[member.user_id] = member
        return member

    def add_conversation(self, kind: Kind, name: str, members: list[str], *, tenant_id: str | None) -> Conversation:
        if kind not in KINDS:
            raise ValueError(f"kind {kind!r}: one of {', '.join(KINDS)}")
        with self.lock:
            unknown = [m for m in members if m not in self.members]
            if unknown:
                raise ValueError(f"unknown members {unknown}: add_member first")
            if not members:
                raise ValueError("a conversation has at least one member")
            if kind == "personal" and len(members) != 1:
                raise ValueError("a personal chat is the bot and one person")
            conversation = Conversation(id=_conversation_id(kind), kind=kind, name=name,
                                        tenant_id=tenant_id or self.tenant_id, members=list(members))
            if kind == "channel":
                conversation.team_id = conversation.id
            self.conversations[conversation.id] = conversation
        return conversation

    def personal_chat(self, user_id: str) -> Conversation | None:
        """The bot's personal chat with `user_id`, when there is one."""
        with self.lock:
            return next((c for c in self.conversations.values()
                         if c.kind == "personal" and c.members == [user_id]), None)

    def conversation(self, conversation_id: str) -> Conversation:
        """The conversation an id names (a channel thread's `;messageid=` suffix dropped); 404 when none."""
        key = conversation_id.split(";", 1)[0]
        with self.lock:
            found = self.conversations.get(key)
        if found is None:
            raise ConnectorError(404, "ConversationNotFound", "Conversation not found.")
        return found

    def member(self, conversation: Conversation, member_id: str) -> Member:
        """A conversation's member by user id or object id; 404 when not in it."""
        with self.lock:
            for user_id in conversation.members:
                member = self.members[user_id]
                if member_id in (member.user_id, member.object_id):
                    return member
        raise ConnectorError(404, "MemberNotFoundInConversation", "The specified member was not found in the "
                             "conversation.")

    # ------------------------------------------------------------------------------------------- what was sent

    def record(self, call: RecordedCall) -> None:
        with self.lock:
            self.calls.append(call)

    def activities(self, conversation_id: str) -> list[dict[str, Any]]:
        conversation = self.conversation(conversation_id)
        with self.lock:
            return copy.deepcopy(list(conversation.activities.values()))


def _conversation_id(kind: Kind) -> str:
    token = secrets.token_hex(16)
    if kind == "channel":
        return f"19:{token}@thread.tacv2"
    if kind == "groupChat":
        return f"19:{token}@thread.v2"
    return f"a:{secrets.token_urlsafe(48)}"
