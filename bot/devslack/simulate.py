"""People: what the workspace's users do, played for tests and the page. Typing a slash command, clicking a
button (on a message, in their App Home or in an open modal), submitting or closing a modal, opening the app's Home
or Messages tab each builds the payload Slack would send and delivers it to the bot, then applies the bot's answer
as Slack would; a person's own message is stored as Slack stores typed text."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any, Final

from bot.devslack.blockkit import MULTI_CHOICE, element_options
from bot.devslack.delivery import Delivery
from bot.devslack.messages import Messages
from bot.devslack.model import (
    APP_ID,
    MAX_MESSAGE_TEXT,
    VERIFICATION_TOKEN,
    VIEW_STACK_LIMIT,
    ApiError,
    DeliveryResult,
    DevUser,
    Ephemeral,
    Message,
    View,
    copied,
)
from bot.devslack.views import Views
from bot.devslack.workspace import Workspace

_log = logging.getLogger(__name__)


InputValues = Mapping[str, Mapping[str, str | Sequence[str] | None]]  # {block_id: {action_id: what was entered}}

SINGLE_CHOICE: Final = frozenset({"static_select", "radio_buttons"})
HOME_TABS: Final = ("home", "messages")
_ABSENT: Final = object()  # an input the caller gave nothing for: its initial value or option(s) stand


def _buttons(blocks: Sequence[Mapping[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(block_id, button) of every button among blocks (in actions blocks or as a section's accessory), in order."""
    found: list[tuple[str, dict[str, Any]]] = []
    for block in blocks:
        candidates: list[Any] = []
        if block.get("type") == "actions":
            candidates.extend(block.get("elements") or [])
        if isinstance(block.get("accessory"), dict):
            candidates.append(block["accessory"])
        for element in candidates:
            if isinstance(element, dict) and element.get("type") == "button":
                found.append((str(block.get("block_id", "")), element))
    return found


def _find_button(blocks: Sequence[Mapping[str, Any]], action_id: str) -> tuple[str, dict[str, Any]] | None:
    """(block_id, button) of the button action_id among blocks (the first one)."""
    return next(((b, e) for b, e in _buttons(blocks) if e.get("action_id") == action_id), None)


def _button_action(block_id: str, button: Mapping[str, Any], value: str | None) -> dict[str, Any]:
    """A clicked button as ``actions[0]`` of a block_actions payload (value: the button's own unless given)."""
    action: dict[str, Any] = {
        "action_id": button.get("action_id"),
        "block_id": block_id,
        "text": copied(button["text"]),
        "type": "button",
        "action_ts": f"{time.time():.6f}",
    }
    chosen = value if value is not None else button.get("value")
    if chosen is not None:
        action["value"] = chosen
    if "style" in button:
        action["style"] = button["style"]
    return action


def _input_state(where: str, element: Mapping[str, Any], *, required: bool, given: object) -> dict[str, Any]:
    """One input's entry in a view's ``state.values``, as Slack sends it, from what the person entered (``given``:
    a string, a list of option values, None, or ``_ABSENT`` for the element's initial value or options).

    plain_text_input: ``{"value": str | None}``; static_select and radio_buttons (one option value):
    ``{"selected_option": option | None}``; multi_static_select and checkboxes (a list of option values):
    ``{"selected_options": [option, ...]}``. Raises ValueError for what Slack's client would not let through: a
    required input left empty, text over ``max_length``, a value that is none of the options, too many selected.
    """
    etype = str(element.get("type", "plain_text_input"))
    if etype == "plain_text_input":
        return _text_state(where, element, required=required, given=given)
    if etype in SINGLE_CHOICE or etype in MULTI_CHOICE:
        return _choice_state(where, element, required=required, given=given)
    if given is not _ABSENT and given not in (None, "", []):
        raise ValueError(f"input {where} is a {etype}, which the local Slack cannot fill in")
    if required:
        raise ValueError(f"input {where} is a required {etype}, which the local Slack cannot fill in")
    return {"type": etype}


def _text_state(where: str, element: Mapping[str, Any], *, required: bool, given: object) -> dict[str, Any]:
    """A plain_text_input's entry: ``{"value": str | None}``."""
    text = element.get("initial_value") if given is _ABSENT else given
    if text is not None and not isinstance(text, str):
        raise ValueError(f"input {where} is a plain_text_input: its value is a string, not {text!r}")
    if required and not text:
        raise ValueError(f"input {where} is required (Slack would not submit the view)")
    max_length = element.get("max_length")
    if text and isinstance(max_length, int) and len(text) > max_length:
        raise ValueError(f"input {where} is longer than max_length {max_length}")
    return {"type": "plain_text_input", "value": text or None}


def _choice_state(where: str, element: Mapping[str, Any], *, required: bool, given: object) -> dict[str, Any]:
    """A select's, radio buttons' or checkboxes' entry: the options chosen, each one of the element's."""
    etype = str(element.get("type"))
    multi = etype in MULTI_CHOICE
    options = {str(o.get("value")): o for o in element_options(dict(element)) if isinstance(o, dict)}
    chosen = _chosen_values(where, element, given, etype=etype, multi=multi)
    unknown = [c for c in chosen if not isinstance(c, str) or c not in options]
    if unknown:
        raise ValueError(f"input {where} has no option {unknown[0]!r}; its options (values): {list(options)}")
    chosen = list(dict.fromkeys(chosen))
    if required and not chosen:
        raise ValueError(
            f"input {where} is required: choose from {list(options)} (Slack would not submit the view)"
        )
    max_selected = element.get("max_selected_items")
    if multi and isinstance(max_selected, int) and len(chosen) > max_selected:
        raise ValueError(f"input {where} takes at most {max_selected} options (max_selected_items)")
    picked = [copied(options[c]) for c in chosen]
    if multi:
        return {"type": etype, "selected_options": picked}
    return {"type": etype, "selected_option": picked[0] if picked else None}


def _chosen_values(where: str, element: Mapping[str, Any], given: object, *, etype: str, multi: bool) -> list[Any]:
    """The option values a person chose (``_ABSENT``: the element's initial ones), not yet checked."""
    if given is _ABSENT:
        initial = element.get("initial_options" if multi else "initial_option")
        listed = initial if isinstance(initial, list) else [initial] if initial else []
        return [o.get("value") for o in listed if isinstance(o, dict)]
    if given is None or given == "":
        return []
    if multi:
        if isinstance(given, str) or not isinstance(given, Sequence):
            raise ValueError(f"input {where} is a {etype}: give a list of option values, not {given!r}")
        return list(given)
    if not isinstance(given, str):
        raise ValueError(f"input {where} is a {etype}: give one option value (a string), not {given!r}")
    return [given]


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

    def _where(self, user: DevUser, cid: str | None) -> dict[str, Any]:
        """An interaction's ``team``, ``enterprise`` and ``is_enterprise_install``: the workspace acted in."""
        where = self.ws.context(self.ws.acting_team(user, cid))
        enterprise = where["enterprise_id"]
        return {
            "team": {"id": where["team_id"], "domain": where["team_domain"]},
            "enterprise": None if enterprise is None else {"id": enterprise, "name": where["enterprise_name"]},
            "is_enterprise_install": where["is_enterprise_install"],
        }

    def _require_member(self, cid: str, user: str) -> None:
        if not self.ws.can_see(cid, user):
            raise ValueError(f"{user} is not in {cid}: it is the bot's DM with {self.ws.dms[cid]}")

    # ------------------------------------------------------------------------------------------- slash commands

    async def send_command(self, *, user: str, channel: str, text: str, command: str = "/agent") -> DeliveryResult:
        """Deliver a slash command as ``user`` typed it in ``channel``; shows a non-empty 200 reply like Slack."""
        if not command.startswith("/"):
            raise ValueError(f"command must start with '/': {command!r}")
        u = self.ws.user_or_error(user)
        cid = self.ws.channel_or_error(channel)
        self._require_member(cid, u.id)
        where = self.ws.context(self.ws.acting_team(u, cid))
        form = {
            "token": VERIFICATION_TOKEN,
            "team_id": where["team_id"],
            "team_domain": where["team_domain"],
            "channel_id": cid,
            "channel_name": self.ws.channel_name(cid),
            "user_id": u.id,
            "user_name": u.name,
            "command": command,
            "text": self.escape_command_text(text),
            "api_app_id": APP_ID,
            "is_enterprise_install": "true" if where["is_enterprise_install"] else "false",
            "response_url": self.ws.issue_response_url(user=u.id, channel=cid),
            "trigger_id": self.ws.issue_trigger(u.id),
        }
        if where["enterprise_id"] is not None:  # on Grid, as Slack adds them
            form.update(enterprise_id=where["enterprise_id"], enterprise_name=where["enterprise_name"] or "")
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
        if not self.ws.can_see(cid, u.id):
            raise ValueError(f"no message {ts} in {cid} visible to {u.id} (the bot's DM with {self.ws.dms[cid]})")
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
        action = _button_action(block_id, button, value)
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
            **self._where(u, cid),
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

    def _clickable_view(self, user: str, view_id: str | None) -> View:
        """The view a person can click in: their published Home (view_id None or its id), or their topmost modal."""
        home = self.ws.homes.get(user)
        if view_id is None or (home is not None and view_id == home.id):
            if home is None:
                raise ValueError(f"no Home view published for {user} (views.publish with user_id={user})")
            return home
        return self.views.topmost(user, view_id)

    async def click_view(
        self,
        *,
        user: str,
        action_id: str,
        value: str | None = None,
        view_id: str | None = None,
        values: InputValues | None = None,
    ) -> DeliveryResult:
        """Deliver a ``block_actions`` payload for ``user`` clicking a button in a view: their published App Home
        (``view_id`` None) or their open modal ``view_id`` (the topmost one).

        The button is the one with ``action_id`` and, when given, ``value`` (a Home lists many approvals with the
        same buttons: the value picks one); ValueError listing the (action_id, value) pairs when none or several
        match. As Slack does for views, the payload has ``container: {"type": "view", "view_id"}`` and the whole
        ``view`` (with ``state``, ``private_metadata``, ``hash``), and no message, channel or response_url.
        ``values`` (modals): what the person has entered so far, as for :meth:`submit_view`, shown in ``view.state``.
        """
        u = self.ws.user_or_error(user)
        v = self._clickable_view(u.id, view_id)
        buttons = _buttons(v.view.get("blocks", []))
        matching = [
            (block_id, b)
            for block_id, b in buttons
            if b.get("action_id") == action_id and (value is None or b.get("value") == value)
        ]
        if len(matching) != 1:
            which = f"action_id {action_id!r}" + ("" if value is None else f" and value {value!r}")
            count = "no button" if not matching else f"{len(matching)} buttons (give the value to pick one)"
            pairs = [(b.get("action_id"), b.get("value")) for _, b in buttons]
            kind = "Home" if v.view.get("type") == "home" else "modal"
            raise ValueError(f"{kind} {v.id} of {u.id} has {count} with {which}; buttons (action_id, value): {pairs}")
        block_id, button = matching[0]
        view_obj = self.views.view_object(v)
        if values is not None:
            view_obj["state"] = self._view_state(v, values, submitting=False)
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": self.ws.user_payload(u),
            "api_app_id": APP_ID,
            "token": VERIFICATION_TOKEN,
            "container": {"type": "view", "view_id": v.id},
            "trigger_id": self.ws.issue_trigger(u.id),
            **self._where(u, None),
            "view": view_obj,
            "actions": [_button_action(block_id, button, None)],
        }
        return await self.delivery.deliver({"payload": json.dumps(payload)})

    # ------------------------------------------------------------------------------------------- App Home

    async def open_home(self, *, user: str, tab: str = "home") -> DeliveryResult:
        """``user`` opens the app's Home tab (or its Messages tab): deliver the ``app_home_opened`` event as Slack
        does, an Events API callback (JSON, signed like every request) or an ``events_api`` Socket Mode envelope.
        The event carries the person's DM with the bot as ``channel`` and, on the Home tab, the Home view last
        published for them (none before the first ``views.publish``)."""
        if tab not in HOME_TABS:
            raise ValueError(f"tab must be one of {HOME_TABS}, not {tab!r}")
        u = self.ws.user_or_error(user)
        event: dict[str, Any] = {
            "type": "app_home_opened",
            "user": u.id,
            "channel": self.ws.dm_of(u.id),
            "tab": tab,
            "event_ts": self.ws.next_ts(),
        }
        home = self.ws.homes.get(u.id)
        if home is not None and tab == "home":
            event["view"] = self.views.view_object(home)
        return await self.delivery.deliver_event(self._callback(u, event))

    async def deactivate(self, *, user: str) -> DeliveryResult:
        """An admin deactivates ``user``: Slack says ``deleted`` of them from now on (users.info) and sends the
        ``user_change`` event (bot event, scope ``users:read``) with their user object, as it does."""
        u = dataclasses.replace(self.ws.user_or_error(user), deleted=True)
        self.ws.users[u.id] = u
        self.ws.touch()
        event = {"type": "user_change", "event_ts": self.ws.next_ts(), "cache_ts": int(time.time()),
                 "user": {"id": u.id, "team_id": u.team_id, "name": u.name, "real_name": u.real_name, "deleted": True,
                          "profile": {"display_name": u.name, "real_name": u.real_name}, "is_bot": False}}
        return await self.delivery.deliver_event(self._callback(u, event))

    def _callback(self, u: DevUser, event: dict[str, Any]) -> dict[str, Any]:
        """An Events API callback of `event`, about `u`, as Slack wraps it."""
        event_id = self.ws.new_id("Ev")
        where = self.ws.context(self.ws.acting_team(u))
        org = where["is_enterprise_install"]
        callback: dict[str, Any] = {
            "token": VERIFICATION_TOKEN,
            "team_id": where["enterprise_id"] if org else where["team_id"],
            "context_team_id": where["team_id"],
            "context_enterprise_id": where["enterprise_id"],
            "api_app_id": APP_ID,
            "event": event,
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": where["enterprise_id"],
                    "team_id": None if org else where["team_id"],
                    "user_id": self.ws.team_info(where["team_id"]).bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": org,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": f"4-{event_id}",
        }
        if where["enterprise_id"] is not None:
            callback.update(enterprise_id=where["enterprise_id"], is_enterprise_install=org)
        return callback

    # ------------------------------------------------------------------------------------------- modals

    @staticmethod
    def _view_state(v: View, values: InputValues, *, submitting: bool = True) -> dict[str, Any]:
        """``view.state`` of v with values entered (see :func:`_input_state`); inputs not given keep their initial
        value or options. ``submitting``: required inputs must be filled (Slack's client checks before sending)."""
        inputs: dict[tuple[str, str], tuple[dict[str, Any], bool]] = {}
        for block in v.view.get("blocks", []):
            element = block.get("element")
            if block.get("type") == "input" and isinstance(element, dict):
                key = (str(block.get("block_id")), str(element.get("action_id")))
                inputs[key] = (element, bool(block.get("optional", False)))
        if not isinstance(values, Mapping) or not all(isinstance(a, Mapping) for a in values.values()):
            raise ValueError("values must be {block_id: {action_id: value}}")
        given = {(b, a): val for b, actions in values.items() for a, val in actions.items()}
        unknown = sorted(set(given) - set(inputs))
        if unknown:
            raise ValueError(f"view {v.id} has no input {unknown}; inputs (block_id, action_id): {sorted(inputs)}")
        state: dict[str, dict[str, Any]] = {}
        for (block_id, action_id), (element, optional) in inputs.items():
            state.setdefault(block_id, {})[action_id] = _input_state(
                f"{block_id}/{action_id}",
                element,
                required=submitting and not optional,
                given=given.get((block_id, action_id), _ABSENT),
            )
        return {"values": state}

    async def submit_view(self, *, user: str, view_id: str, values: InputValues) -> DeliveryResult:
        """Deliver a ``view_submission`` of the user's topmost open view, and apply the bot's response_action.

        ``values``: ``{block_id: {action_id: entered}}``, entered being the text of a plain_text_input, one option
        value of a static_select or radio_buttons, a list of option values of a multi_static_select or checkboxes
        (None: nothing). An input left out keeps its ``initial_value`` / ``initial_option(s)``."""
        u = self.ws.user_or_error(user)
        v = self.views.topmost(u.id, view_id)
        view_obj = self.views.view_object(v)
        view_obj["state"] = self._view_state(v, values)
        payload: dict[str, Any] = {
            "type": "view_submission",
            "user": self.ws.user_payload(u),
            "api_app_id": APP_ID,
            "token": VERIFICATION_TOKEN,
            "trigger_id": self.ws.issue_trigger(u.id),
            "view": view_obj,
            "response_urls": [],
            **self._where(u, None),
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
            "user": self.ws.user_payload(u),
            "api_app_id": APP_ID,
            "token": VERIFICATION_TOKEN,
            "view": view_obj,
            "is_cleared": False,
            **self._where(u, None),
        }
        return await self.delivery.deliver({"payload": json.dumps(payload)})

    # ------------------------------------------------------------------------------------------- typed messages

    def post_user_message(self, *, user: str, channel: str, text: str, thread_ts: str | None = None) -> dict[str, Any]:
        """A person's own message (not a command), stored as Slack stores typed text: ``&<>`` escaped, mentions
        as ``<@U…|name>``. The bot subscribes to no message events, so nothing is delivered."""
        u = self.ws.user_or_error(user)
        cid = self.ws.channel_or_error(channel)
        self._require_member(cid, u.id)
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
