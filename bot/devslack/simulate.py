"""People: what the workspace's users do, played for tests and the page. Typing a slash command, clicking a
button, submitting or closing a modal each builds the payload Slack would send and delivers it to the bot, then
applies the bot's answer as Slack would; a person's own message is stored as Slack stores typed text."""

from __future__ import annotations

import copy
import json
import logging
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

from bot.devslack.delivery import Delivery
from bot.devslack.messages import Messages
from bot.devslack.model import (
    APP_ID,
    MAX_MESSAGE_TEXT,
    TEAM_DOMAIN,
    TEAM_ID,
    VERIFICATION_TOKEN,
    VIEW_STACK_LIMIT,
    ApiError,
    DeliveryResult,
    Ephemeral,
    Message,
    View,
)
from bot.devslack.views import Views
from bot.devslack.workspace import Workspace

_log = logging.getLogger(__name__)


def _find_button(blocks: Sequence[Mapping[str, Any]], action_id: str) -> tuple[str, dict[str, Any]] | None:
    """(block_id, button) of the button action_id among blocks (in actions blocks or as a section's accessory)."""
    for block in blocks:
        candidates: list[Any] = []
        if block.get("type") == "actions":
            candidates.extend(block.get("elements") or [])
        if isinstance(block.get("accessory"), dict):
            candidates.append(block["accessory"])
        for element in candidates:
            if not isinstance(element, dict) or element.get("type") != "button":
                continue
            if element.get("action_id") == action_id:
                return str(block.get("block_id", "")), element
    return None


class People:
    """The users' side of the workspace: each action delivered through :class:`Delivery`."""

    def __init__(self, ws: Workspace, messages: Messages, views: Views, delivery: Delivery) -> None:
        self.ws = ws
        self.messages = messages
        self.views = views
        self.delivery = delivery

    def escape_command_text(self, text: str) -> str:
        """Command text as Slack sends it with should_escape: ``&<>`` as entities, @user/#channel as links."""
        out = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        users = {u.name.lower(): u for u in self.ws.users.values()}
        specials = {"here": "<!here>", "channel": "<!channel>", "everyone": "<!everyone>"}
        for group_id in self.ws.usergroups:  # handle: the id without its "S0" prefix, e.g. @approvers
            handle = group_id[2:].lower() if group_id.startswith("S0") else group_id.lower()
            specials[handle] = f"<!subteam^{group_id}|@{handle}>"
        names = sorted({*users, *specials}, key=len, reverse=True)
        if names:
            pattern = re.compile(r"(?<![\w@])@(" + "|".join(map(re.escape, names)) + r")(?![\w-])", re.IGNORECASE)

            def user_link(match: re.Match[str]) -> str:
                name = match.group(1).lower()
                if name in users:
                    return f"<@{users[name].id}|{users[name].name}>"
                return specials[name]

            out = pattern.sub(user_link, out)
        channels = {c.name.lower(): c for c in self.ws.channels.values()}
        if channels:
            names = sorted(channels, key=len, reverse=True)
            pattern = re.compile(r"(?<![\w#&])#(" + "|".join(map(re.escape, names)) + r")(?![\w-])", re.IGNORECASE)

            def channel_link(match: re.Match[str]) -> str:
                ch = channels[match.group(1).lower()]
                return f"<#{ch.id}|{'' if ch.is_private else ch.name}>"

            out = pattern.sub(channel_link, out)
        return out

    # ------------------------------------------------------------------------------------------- slash commands

    async def send_command(self, *, user: str, channel: str, text: str, command: str = "/agent") -> DeliveryResult:
        """Deliver a slash command as ``user`` typed it in ``channel``; shows a non-empty 200 reply like Slack."""
        if not command.startswith("/"):
            raise ValueError(f"command must start with '/': {command!r}")
        u = self.ws.user_or_error(user)
        cid = self.ws.channel_or_error(channel)
        form = {
            "token": VERIFICATION_TOKEN,
            "team_id": TEAM_ID,
            "team_domain": TEAM_DOMAIN,
            "channel_id": cid,
            "channel_name": self.ws.channel_name(cid),
            "user_id": u.id,
            "user_name": u.name,
            "command": command,
            "text": self.escape_command_text(text),
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": self.ws.issue_response_url(user=u.id, channel=cid),
            "trigger_id": self.ws.issue_trigger(u.id),
        }
        result = await self.delivery.deliver(form)
        if result.status == 200 and result.body.strip():
            reply = result.json if isinstance(result.json, dict) else {"text": result.body}
            self._show_command_reply(cid, u.id, reply)
        return result

    def _show_command_reply(self, cid: str, user: str, reply: Mapping[str, Any]) -> None:
        try:
            text, blocks = self.messages.content(reply)
        except ApiError as exc:
            _log.warning("slash command reply not shown (%s): %r", exc.error, reply)
            return
        if reply.get("response_type") == "in_channel":
            self.messages.post(cid, text, blocks)
        else:
            self.messages.post_ephemeral(cid, user, text, blocks)
        self.ws.touch()

    # ------------------------------------------------------------------------------------------- buttons

    async def click(
        self,
        *,
        user: str,
        channel: str,
        ts: str,
        action_id: str,
        value: str | None = None,
        as_seen: Mapping[str, Any] | None = None,
    ) -> DeliveryResult:
        """Deliver a ``block_actions`` payload for ``user`` clicking the button ``action_id`` on message ``ts``.

        ``value`` overrides the button's own value (to simulate a tampered payload). ``as_seen`` is the message as
        the user's client still showed it (e.g. a dict taken from :meth:`messages` before the bot updated it): the
        button is looked up there instead of in the current message, to simulate a click racing an update. The
        payload's ``message`` is still the current one, as Slack stores it.
        """
        u = self.ws.user_or_error(user)
        cid = self.ws.channel_or_error(channel)
        message = self.ws.find_message(cid, ts)
        ephemeral = None
        source: Message | Ephemeral
        if message is not None:
            source = message
        else:
            visible = (e for e in self.ws.ephemerals if e.channel == cid and e.ts == ts and e.user == u.id)
            ephemeral = next(visible, None)
            if ephemeral is None:
                raise ValueError(f"no message {ts} in {cid} visible to {u.id}")
            source = ephemeral
        blocks = source.blocks
        if as_seen is not None:
            if as_seen.get("ts") != ts:
                raise ValueError(f"as_seen is message {as_seen.get('ts')!r}, not {ts!r}")
            blocks = list(as_seen.get("blocks") or [])
        found = _find_button(blocks, action_id)
        if found is None:
            available = [
                e.get("action_id")
                for b in blocks
                for e in [*(b.get("elements") or []), b.get("accessory")]
                if isinstance(e, dict) and e.get("type") == "button"
            ]
            raise ValueError(f"message {ts} in {cid} has no button with action_id {action_id!r}; buttons: {available}")
        block_id, button = found
        action: dict[str, Any] = {
            "action_id": action_id,
            "block_id": block_id,
            "text": copy.deepcopy(button["text"]),
            "type": "button",
            "action_ts": f"{time.time():.6f}",
        }
        chosen = value if value is not None else button.get("value")
        if chosen is not None:
            action["value"] = chosen
        if "style" in button:
            action["style"] = button["style"]
        thread_ts = source.thread_ts
        container: dict[str, Any] = {
            "type": "message",
            "message_ts": ts,
            "channel_id": cid,
            "is_ephemeral": ephemeral is not None,
        }
        if thread_ts is not None:
            container["thread_ts"] = thread_ts
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": self.ws.user_payload(u),
            "api_app_id": APP_ID,
            "token": VERIFICATION_TOKEN,
            "container": container,
            "trigger_id": self.ws.issue_trigger(u.id),
            "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": cid, "name": self.ws.channel_name(cid)},
            "state": {"values": {}},
            "response_url": self.ws.issue_response_url(
                user=u.id, channel=cid, source_ts=ts, source_ephemeral=ephemeral is not None, thread_ts=thread_ts
            ),
            "actions": [action],
        }
        if message is not None:  # Slack leaves the message out of payloads from ephemeral messages
            payload["message"] = self.messages.message_object(message)
        return await self.delivery.deliver({"payload": json.dumps(payload)})

    # ------------------------------------------------------------------------------------------- modals

    @staticmethod
    def _view_state(v: View, values: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:
        inputs: dict[tuple[str, str], tuple[dict[str, Any], bool]] = {}
        for block in v.view.get("blocks", []):
            element = block.get("element")
            if block.get("type") == "input" and isinstance(element, dict):
                key = (str(block.get("block_id")), str(element.get("action_id")))
                inputs[key] = (element, bool(block.get("optional", False)))
        given = {(b, a): val for b, actions in values.items() for a, val in actions.items()}
        unknown = sorted(set(given) - set(inputs))
        if unknown:
            raise ValueError(f"view {v.id} has no input {unknown}; inputs (block_id, action_id): {sorted(inputs)}")
        state: dict[str, dict[str, Any]] = {}
        for (block_id, action_id), (element, optional) in inputs.items():
            val = given.get((block_id, action_id))
            if not val and not optional:
                raise ValueError(f"input {block_id}/{action_id} is required (Slack would not submit the view)")
            max_length = element.get("max_length")
            if val and isinstance(max_length, int) and len(val) > max_length:
                raise ValueError(f"input {block_id}/{action_id} is longer than max_length {max_length}")
            state.setdefault(block_id, {})[action_id] = {
                "type": element.get("type", "plain_text_input"),
                "value": val or None,
            }
        return {"values": state}

    async def submit_view(self, *, user: str, view_id: str, values: Mapping[str, Mapping[str, str]]) -> DeliveryResult:
        """Deliver a ``view_submission`` of the user's topmost open view, and apply the bot's response_action."""
        u = self.ws.user_or_error(user)
        v = self.views.topmost(u.id, view_id)
        view_obj = self.views.view_object(v)
        view_obj["state"] = self._view_state(v, values)
        payload: dict[str, Any] = {
            "type": "view_submission",
            "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
            "user": self.ws.user_payload(u),
            "api_app_id": APP_ID,
            "token": VERIFICATION_TOKEN,
            "trigger_id": self.ws.issue_trigger(u.id),
            "view": view_obj,
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }
        result = await self.delivery.deliver({"payload": json.dumps(payload)})
        if result.status == 200:
            self._apply_view_response(v, result)
            self.ws.touch()
        return result

    def _apply_view_response(self, v: View, result: DeliveryResult) -> None:
        if not result.body.strip() or result.json == {}:
            self.views.close_view(v)
            return
        answer = result.json if isinstance(result.json, dict) else {}
        action = answer.get("response_action")
        if action == "errors" and isinstance(answer.get("errors"), dict):
            v.errors = {str(k): str(val) for k, val in answer["errors"].items()}
        elif action in ("update", "push"):
            try:
                view = self.views.checked_view(answer.get("view"))
            except ApiError as exc:
                _log.warning("view_submission %s rejected: %s", action, exc.extra)
                return
            if action == "update":
                v.view, v.hash, v.errors = view, self.ws.new_hash(), None
            elif len(self.ws.stacks.get(v.user, [])) < VIEW_STACK_LIMIT:
                v.errors = None
                self.views.open_view(v.user, view, push=True)
        elif action == "clear":
            self.views.close_views(v.user, everything=True)
        else:
            _log.warning("view_submission answer not understood, view stays open: %r", result.body)

    async def close_view(self, *, user: str, view_id: str) -> DeliveryResult | None:
        """The user closes their topmost view (Cancel or x). Delivers ``view_closed`` if the view asked for it."""
        u = self.ws.user_or_error(user)
        v = self.views.topmost(u.id, view_id)
        view_obj = self.views.view_object(v)
        self.views.close_view(v)
        self.ws.touch()
        if not v.view.get("notify_on_close") or not self.ws.events_url:
            return None
        payload: dict[str, Any] = {
            "type": "view_closed",
            "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
            "user": self.ws.user_payload(u),
            "api_app_id": APP_ID,
            "token": VERIFICATION_TOKEN,
            "view": view_obj,
            "is_cleared": False,
            "is_enterprise_install": False,
            "enterprise": None,
        }
        return await self.delivery.deliver({"payload": json.dumps(payload)})

    # ------------------------------------------------------------------------------------------- typed messages

    def post_user_message(self, *, user: str, channel: str, text: str, thread_ts: str | None = None) -> dict[str, Any]:
        """A person's own message (not a command), stored as Slack stores typed text: ``&<>`` escaped, mentions
        as ``<@U…|name>``. The bot subscribes to no message events, so nothing is delivered."""
        u = self.ws.user_or_error(user)
        cid = self.ws.channel_or_error(channel)
        if not text.strip():
            raise ValueError("text is empty")
        if len(text) > MAX_MESSAGE_TEXT:
            raise ValueError(f"text is longer than {MAX_MESSAGE_TEXT} characters")
        try:
            parent = self.messages.thread_parent(cid, thread_ts)
        except ApiError as exc:
            raise ValueError(exc.error) from None
        m = Message(
            channel=cid,
            ts=self.ws.next_ts(),
            text=self.escape_command_text(text),
            blocks=[],
            thread_ts=parent,
            user=u.id,
            bot_id=None,
        )
        stored = self.ws.messages.setdefault(cid, [])
        stored.append(m)
        self.ws.touch()
        return self.messages.message_view(m, stored)
