"""People in Teams, as Teams tells the bot about them: the activities Teams sends a bot's messaging endpoint, signed
with the stand-in's key (bot/devmsteams/signin.py), in the shapes the Teams SDK parses
(microsoft_teams/api/activities/).

    conversationUpdate     the app added to a team, group chat or personal chat (`membersAdded`: the bot)
    installationUpdate     `action: add`, the same install as an installation (sent after it, in every scope)
    invoke                 `adaptiveCard/action`: a person's click on a card's `Action.Execute` (trigger `manual`,
                           the action's `data` with the card's inputs merged in) or Teams' automatic `refresh` of a
                           card for a person its `refresh.userIds` names (trigger `automatic`)

Each carries `serviceUrl` (the stand-in), `channelData.tenant.id`, the person in `from` (`29:` id, name,
`aadObjectId`) and the bot in `recipient` (`28:<app id>`)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any, Final

import aiohttp

from bot.devmsteams.model import MAX_REFRESH_USERS, Conversation, Delivery, Member, State, cards_of, now_iso

INVOKE: Final = "adaptiveCard/action"
DELIVERY_TIMEOUT: Final = 60.0  # Teams gives up on an invoke after 15 s; a loaded test machine is slower


def _channel_data(conversation: Conversation) -> dict[str, Any]:
    data: dict[str, Any] = {"tenant": {"id": conversation.tenant_id}}
    if conversation.kind == "channel":
        data["team"] = {"id": conversation.team_id, "name": conversation.name}
        data["channel"] = {"id": conversation.id, "name": "General"}
    return data


def base_activity(state: State, conversation: Conversation, member: Member, service_url: str) -> dict[str, Any]:
    """What every activity Teams sends the bot carries: who, where, the service URL, the tenant."""
    return {
        "id": f"f:{secrets.token_hex(8)}",
        "timestamp": now_iso(),
        "localTimestamp": now_iso(),
        "channelId": "msteams",
        "serviceUrl": service_url,
        "from": {"id": member.user_id, "name": member.name, "aadObjectId": member.object_id},
        "conversation": {"id": conversation.id, "conversationType": conversation.kind,
                         "tenantId": conversation.tenant_id, "isGroup": conversation.kind != "personal",
                         **({"name": conversation.name} if conversation.kind != "personal" else {})},
        "recipient": {"id": state.bot_id, "name": "Agent Approvals"},
        "entities": [{"type": "clientInfo", "locale": "en-US", "country": "US", "platform": "Web"}],
        "channelData": _channel_data(conversation),
        "locale": "en-US",
    }


def installed(state: State, conversation: Conversation, by: Member, service_url: str) -> list[dict[str, Any]]:
    """The two activities an install sends: `conversationUpdate` (the bot added), then `installationUpdate`."""
    update = base_activity(state, conversation, by, service_url)
    update.update(type="conversationUpdate", membersAdded=[{"id": state.bot_id}])
    if conversation.kind == "channel":
        update["channelData"]["eventType"] = "teamMemberAdded"
    install = base_activity(state, conversation, by, service_url)
    install.update(type="installationUpdate", action="add")
    return [update, install]


def _actions(element: Any) -> Iterator[dict[str, Any]]:
    """Every action of a card, those in `Action.ShowCard`s, `ActionSet`s and containers included."""
    if isinstance(element, dict):
        if isinstance(element.get("type"), str) and element["type"].startswith("Action."):
            yield element
        for value in element.values():
            yield from _actions(value)
    elif isinstance(element, list):
        for item in element:
            yield from _actions(item)


def execute_action(activity: dict[str, Any], verb: str) -> dict[str, Any]:
    """The card's `Action.Execute` with `verb` (a person can only click a button the card shows)."""
    for card in cards_of(activity):
        for action in _actions({"body": card.get("body"), "actions": card.get("actions")}):  # not its refresh
            if action.get("type") == "Action.Execute" and action.get("verb") == verb:
                return action
    raise LookupError(f"the card shows no Action.Execute with verb {verb!r}")


def refresh_action(activity: dict[str, Any], user_id: str, members: int) -> dict[str, Any]:
    """The card's `refresh.action`, when Teams refreshes it for `user_id` on its own: its `refresh.userIds` names
    them, or it has no `userIds` and the conversation at most 60 `members` (an empty list: nobody)."""
    for card in cards_of(activity):
        refresh = card.get("refresh")
        if isinstance(refresh, dict) and isinstance(refresh.get("action"), dict):
            users = refresh.get("userIds")
            if (user_id not in users) if isinstance(users, list) else members > MAX_REFRESH_USERS:
                raise LookupError(f"{user_id} is not in the card's refresh.userIds: Teams does not refresh it for "
                                  "them")
            return dict(refresh["action"])
    raise LookupError("the card has no refresh")


def invoke(state: State, conversation: Conversation, member: Member, service_url: str, *, activity_id: str,
           action: dict[str, Any], data: dict[str, Any], trigger: str) -> dict[str, Any]:
    """The `adaptiveCard/action` invoke of `action` on the card of `activity_id`, with `data` as sent."""
    sent = base_activity(state, conversation, member, service_url)
    value_action = {"type": "Action.Execute", "verb": action.get("verb"), "data": data}
    if action.get("id"):
        value_action["id"] = action["id"]
    if conversation.kind == "channel":
        sent["conversation"]["id"] = f"{conversation.id};messageid={activity_id}"
    sent["channelData"].update(source={"name": "message"}, legacy={"replyToId": activity_id})
    sent.update(type="invoke", name=INVOKE, replyToId=activity_id,
                value={"action": value_action, "trigger": trigger})
    return sent


async def deliver(url: str, activity: dict[str, Any], token: str | None) -> Delivery:
    """POST `activity` to the bot's messaging endpoint with `token` (none: no Authorization header)."""
    if not url:
        raise RuntimeError("no messaging endpoint: set the stand-in's messaging_url (the worker's /teams/messages)")
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    timeout = aiohttp.ClientTimeout(total=DELIVERY_TIMEOUT)
    async with aiohttp.ClientSession(timeout=timeout) as session, session.post(
            url, json=activity, headers=headers) as response:
        text = await response.text()
        try:
            body: Any = await response.json(content_type=None) if text else None
        except ValueError:
            body = text
        return Delivery(activity=activity, status=response.status, body=body)
