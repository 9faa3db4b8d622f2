"""`TeamsStandIn`: a local Microsoft Teams for dev mode and tests, the Bot Connector and its sign-in
(bot/devmsteams/connector.py, signin.py) served on loopback from its own thread and event loop, and the people who
install the app and click its cards (bot/devmsteams/simulate.py).

Its own thread because the Teams SDK fetches the keys with a blocking call (`jwt.PyJWKClient`): a stand-in on the
worker's event loop would never answer the worker's first key fetch.

How a worker talks to it (set by tests/support/teams.py's `teams_env`): `TEAMS_APP_ID` (`app_id`),
`TEAMS_TENANT_ID` (`tenant_id`), `TEAMS_CONNECTOR_URL` (`url`) and `TEAMS_APP_PASSWORD` (`app_password`). The
worker points the SDK's cloud at `url` (login endpoint, token service, OpenID metadata at
`url`/v1/.well-known/openidconfiguration; the token issuer stays https://api.botframework.com) and its service URL
at `url`; for its outgoing token it POSTs client credentials (`grant_type=client_credentials`, `client_id` the app id,
`client_secret` the password, `scope=https://api.botframework.com/.default`, form-encoded) to
`url`/{tenant}/oauth2/v2.0/token (tenant `botframework.com` or `tenant_id`) and sends the `access_token` as its bearer
(the SDK's `token` callable: its MSAL client takes only https authorities). The stand-in's activities go to
`messaging_url` (the worker's `/teams/messages`).

Example::

    teams = TeamsStandIn()
    teams.start()
    ana = teams.add_member(name="Ana", email="ana@example.com")
    channel = teams.add_conversation("channel", "Approvals", [ana])
    teams.messaging_url = worker_url + "/teams/messages"
    assert await teams.install(channel) == 200
    ... the bot posts a card ...
    status, body = await teams.execute(channel, activity_id, ana, "approve", {"approval": approval_id})
    teams.stop()
"""

from __future__ import annotations

import asyncio
import copy
import json
import secrets
import threading
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final
from urllib.parse import parse_qsl

from aiohttp import web

from bot.devmsteams.connector import Connector
from bot.devmsteams.model import Conversation, Delivery, Kind, Member, RecordedCall, Role, State
from bot.devmsteams.signin import Forgery, SignIn
from bot.devmsteams.simulate import (
    deliver,
    execute_action,
    installed,
    invoke,
    refresh_action,
)

START_WITHIN: Final = 30.0
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
HIDDEN: Final = "[hidden]"


class TeamsStandIn:
    """A local Teams: one bot (its app id and secret), its home tenant, the people and conversations tests add."""

    def __init__(self, *, app_id: str | None = None, tenant_id: str | None = None, app_password: str | None = None,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        self.app_id = app_id or str(uuid.uuid4())
        self.tenant_id = tenant_id or str(uuid.uuid4())
        self.app_password = app_password or secrets.token_urlsafe(32)
        self.messaging_url = ""  # where Teams delivers activities: the worker's /teams/messages
        self.state = State(app_id=self.app_id, tenant_id=self.tenant_id)
        self.signin = SignIn(app_id=self.app_id, app_password=self.app_password, tenants={self.tenant_id})
        self.connector = Connector(self.state, self.signin)
        self.app = web.Application(middlewares=[self._recorded])
        self.signin.add_routes(self.app)
        self.connector.add_routes(self.app)
        self._host, self._port = host, port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # ------------------------------------------------------------------------------------------- its thread

    def start(self) -> None:
        """Serve on a thread of its own (returns once it listens)."""
        ready = threading.Event()
        failed: list[BaseException] = []
        self._thread = threading.Thread(target=self._serve, args=(ready, failed), name="teams-standin", daemon=True)
        self._thread.start()
        if not ready.wait(START_WITHIN) or failed:
            raise RuntimeError(f"the Teams stand-in did not start: {failed[0] if failed else 'timed out'}")

    def _serve(self, ready: threading.Event, failed: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._listen())
        except BaseException as exc:  # told to the starting thread, which raises it
            failed.append(exc)
            ready.set()
            loop.close()
            return
        ready.set()
        loop.run_forever()
        loop.run_until_complete(self._close())
        loop.close()

    async def _listen(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        self.signin.base_url = self.url

    async def _close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def stop(self) -> None:
        """Stop serving and end its thread."""
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(START_WITHIN)

    @web.middleware
    async def _recorded(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        raw = await request.read()
        try:
            response = await handler(request)
        except web.HTTPException as exc:  # no such route or method: recorded too
            self.state.record(RecordedCall(request.method, request.path_qs, _readable(request, raw), exc.status))
            raise
        self.state.record(RecordedCall(request.method, request.path_qs, _readable(request, raw), response.status))
        return response

    # ------------------------------------------------------------------------------------------- people, places

    def add_member(self, name: str, email: str, *, object_id: str | None = None, tenant_id: str | None = None,
                   role: Role = "user") -> str:
        """A person (of the home tenant unless `tenant_id` names another; `role` "guest" for a guest): their `29:`
        user id."""
        return self.state.add_member(name=name, email=email, object_id=object_id, tenant_id=tenant_id,
                                     role=role).user_id

    def add_conversation(self, kind: Kind, name: str, members: Sequence[str], *, tenant_id: str | None = None) -> str:
        """A channel, group chat or personal chat of these members (user ids): its conversation id."""
        return self.state.add_conversation(kind, name, list(members), tenant_id=tenant_id).id

    def member(self, user_id: str) -> Member:
        with self.state.lock:
            return self.state.members[user_id]

    def members(self) -> list[Member]:
        with self.state.lock:
            return list(self.state.members.values())

    def conversations(self) -> list[dict[str, Any]]:
        """Every conversation: id, kind, name, tenant, members, whether the app is installed there."""
        with self.state.lock:
            return [c.summary() for c in self.state.conversations.values()]

    def personal_chat(self, user_id: str) -> str | None:
        """The id of the bot's personal chat with `user_id`, when there is one."""
        chat = self.state.personal_chat(user_id)
        return chat.id if chat else None

    # ------------------------------------------------------------------------------------------- what the bot did

    def activities(self, conversation_id: str) -> list[dict[str, Any]]:
        """The bot's activities in a conversation, as they stand now (updates applied, deleted ones gone)."""
        return self.state.activities(conversation_id)

    def view(self, conversation_id: str, activity_id: str, user_id: str) -> dict[str, Any]:
        """The activity as `user_id` sees it: the card a refresh or a click answered them with, else everyone's."""
        conversation = self.state.conversation(conversation_id)
        with self.state.lock:
            activity = copy.deepcopy(conversation.activities[activity_id])
            own = conversation.views.get((activity_id, user_id))
        if own is not None:
            activity["attachments"] = [{"contentType": "application/vnd.microsoft.card.adaptive", "content": own}]
        return activity

    @property
    def sent(self) -> list[RecordedCall]:
        """Every request the bot made to the stand-in, in order (a client secret hidden)."""
        with self.state.lock:
            return list(self.state.calls)

    @property
    def delivered(self) -> list[Delivery]:
        """Every activity the stand-in sent the bot, with the bot's answer, in order."""
        with self.state.lock:
            return list(self.state.deliveries)

    # ------------------------------------------------------------------------------------------- as Teams does

    def _where(self, conversation_id: str, user_id: str) -> tuple[Conversation, Member]:
        conversation = self.state.conversation(conversation_id)
        with self.state.lock:
            member = self.state.members.get(user_id)
            if member is None or user_id not in conversation.members:
                raise LookupError(f"{user_id} is not a member of {conversation_id}")
        return conversation, member

    async def _send(self, activity: dict[str, Any], forgery: Forgery | None = None) -> Delivery:
        delivery = await deliver(self.messaging_url, activity, self.signin.bot_token(forgery=forgery))
        with self.state.lock:
            self.state.deliveries.append(delivery)
        return delivery

    async def install(self, conversation_id: str, *, by: str | None = None) -> int:
        """Add the app to a conversation as a person (`by`, else its first member) does: `conversationUpdate` then
        `installationUpdate`, signed. The highest status the bot answered (200 when both were taken)."""
        conversation = self.state.conversation(conversation_id)
        conversation, member = self._where(conversation_id, by or conversation.members[0])
        with self.state.lock:
            conversation.installed = True
        statuses = [(await self._send(a)).status for a in installed(self.state, conversation, member, self.url)]
        return max(statuses)

    def _invoke(self, conversation_id: str, activity_id: str, user_id: str, verb: str, data: dict[str, Any],
                inputs: dict[str, Any] | None) -> tuple[dict[str, Any], Conversation]:
        conversation, member = self._where(conversation_id, user_id)
        with self.state.lock:
            if activity_id not in conversation.activities:
                raise LookupError(f"no activity {activity_id} in {conversation_id}")
        action = execute_action(self.view(conversation_id, activity_id, user_id), verb)  # the card they see
        sent = invoke(self.state, conversation, member, self.url, activity_id=activity_id, action=action,
                      data={**data, **(inputs or {})}, trigger="manual")
        return sent, conversation

    async def execute(self, conversation_id: str, activity_id: str, user_id: str, verb: str, data: dict[str, Any],
                      inputs: dict[str, Any] | None = None) -> tuple[int, Any]:
        """`user_id` clicks the card's `Action.Execute` `verb`: the signed `adaptiveCard/action` invoke (its `data`
        with the `inputs` merged in). The bot's HTTP status and JSON body; a card it answers with becomes what this
        person sees (`view`). LookupError when the card shows no such button or the person is not there."""
        sent, conversation = self._invoke(conversation_id, activity_id, user_id, verb, data, inputs)
        return self._answered(conversation, activity_id, user_id, await self._send(sent))

    async def refresh(self, conversation_id: str, activity_id: str, user_id: str) -> tuple[int, Any]:
        """Teams refreshes the card for `user_id` (it names them in `refresh.userIds`): the `refresh` action's invoke,
        trigger `automatic`. LookupError when the card would not be refreshed for them."""
        conversation, member = self._where(conversation_id, user_id)
        activity = self.state.activities(conversation_id)
        shown = next((a for a in activity if a["id"] == activity_id), None)
        if shown is None:
            raise LookupError(f"no activity {activity_id} in {conversation_id}")
        action = refresh_action(shown, user_id, len(conversation.members))
        data = action.get("data")
        sent = invoke(self.state, conversation, member, self.url, activity_id=activity_id, action=action,
                      data=dict(data) if isinstance(data, dict) else {}, trigger="automatic")
        return self._answered(conversation, activity_id, user_id, await self._send(sent))

    async def forged(self, conversation_id: str, activity_id: str, user_id: str, verb: str, data: dict[str, Any],
                     *, forgery: Forgery, inputs: dict[str, Any] | None = None) -> tuple[int, Any]:
        """`execute`, with a token nobody should accept (`forgery`: "none", "other_key", "wrong_audience",
        "expired", "other_service_url")."""
        sent, _ = self._invoke(conversation_id, activity_id, user_id, verb, data, inputs)
        delivery = await self._send(sent, forgery)
        return delivery.status, delivery.body

    def _answered(self, conversation: Conversation, activity_id: str, user_id: str,
                  delivery: Delivery) -> tuple[int, Any]:
        body = delivery.body
        if (delivery.status == 200 and isinstance(body, dict) and body.get("statusCode") == 200
                and body.get("type") == "application/vnd.microsoft.card.adaptive" and isinstance(body.get("value"),
                                                                                                 dict)):
            with self.state.lock:
                conversation.views[(activity_id, user_id)] = copy.deepcopy(body["value"])
        return delivery.status, body


def _readable(request: web.Request, raw: bytes) -> Any:
    """A request's body as recorded: JSON parsed, a form with its client secret hidden."""
    if not raw:
        return None
    if request.content_type == "application/x-www-form-urlencoded":
        return {k: (HIDDEN if k == "client_secret" else v) for k, v in parse_qsl(raw.decode(errors="replace"))}
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")
