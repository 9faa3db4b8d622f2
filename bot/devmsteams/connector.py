"""The Bot Connector's `/v3/conversations…` routes the Teams SDK's `ApiClient` calls (microsoft_teams/api/clients/
conversation/), with Teams' answers and refusals:

    POST   /v3/conversations                                  create a conversation: a person's personal chat
    POST   /v3/conversations/{id}/activities                  send an activity (a reply when it has `replyToId`)
    POST   /v3/conversations/{id}/activities/{activity}       reply to an activity
    PUT    /v3/conversations/{id}/activities/{activity}       update an activity in place
    DELETE /v3/conversations/{id}/activities/{activity}       delete it
    GET    /v3/conversations/{id}/activities/{activity}/members
    GET    /v3/conversations/{id}/members, …/pagedMembers, …/members/{user id or object id}

Every call needs a bearer token the stand-in's token endpoint issued to its app (401 otherwise); an unknown
conversation is 404, one the bot is not installed in 403; a message over 28 KB is 413, a card whose
`refresh.userIds` names more than 60 people 400 (bot/devmsteams/model.py)."""

from __future__ import annotations

import copy
import json
from typing import Any

from aiohttp import web

from bot.devmsteams.model import ConnectorError, Conversation, State, check_message, now_iso
from bot.devmsteams.signin import SignIn, TokenRefused

PAGE_SIZE = 200


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.read() or b"null")
    except ValueError as exc:
        raise ConnectorError(400, "BadSyntax", "The request body is not JSON.") from exc
    if not isinstance(body, dict):
        raise ConnectorError(400, "BadSyntax", "The request body must be a JSON object.")
    return body


class Connector:
    """The Bot Connector of one stand-in."""

    def __init__(self, state: State, signin: SignIn) -> None:
        self.state = state
        self.signin = signin

    def add_routes(self, app: web.Application) -> None:
        conv = "/v3/conversations/{conversation}"
        app.router.add_post("/v3/conversations", self._guard(self.create_conversation))
        app.router.add_post(f"{conv}/activities", self._guard(self.send))
        app.router.add_post(f"{conv}/activities/{{activity}}", self._guard(self.reply))
        app.router.add_put(f"{conv}/activities/{{activity}}", self._guard(self.update))
        app.router.add_delete(f"{conv}/activities/{{activity}}", self._guard(self.delete))
        app.router.add_get(f"{conv}/activities/{{activity}}/members", self._guard(self.members))
        app.router.add_get(f"{conv}/members", self._guard(self.members))
        app.router.add_get(f"{conv}/pagedMembers", self._guard(self.paged_members))
        app.router.add_get(f"{conv}/members/{{member}}", self._guard(self.member))

    def _guard(self, handler: Any) -> Any:
        """`handler` behind the bearer check, its refusals answered as Teams answers them."""

        async def guarded(request: web.Request) -> web.StreamResponse:
            try:
                self.signin.check_access_token(request.headers.get("Authorization", ""))
            except TokenRefused:
                return web.json_response({"message": "Authorization has been denied for this request."}, status=401)
            try:
                return await handler(request)  # type: ignore[no-any-return]
            except ConnectorError as exc:
                return _error(exc.status, exc.code, exc.message)

        return guarded

    def _installed(self, request: web.Request) -> Conversation:
        conversation = self.state.conversation(request.match_info["conversation"])
        if not conversation.installed:
            raise ConnectorError(403, "BotNotInConversationRoster", "The bot is not part of the conversation "
                                 "roster.")
        return conversation

    # ------------------------------------------------------------------------------------------- conversations

    async def create_conversation(self, request: web.Request) -> web.Response:
        """A personal chat with one person of the tenant who has the app (Teams answers the one already there)."""
        body = await _body(request)
        if body.get("isGroup"):
            raise ConnectorError(400, "BadArgument", "Bots cannot create group conversations in Teams.")
        members = body.get("members")
        if not isinstance(members, list) or len(members) != 1 or not isinstance(members[0], dict):
            raise ConnectorError(400, "BadArgument", "A bot can create a conversation with exactly one member.")
        tenant = body.get("tenantId") or ((body.get("channelData") or {}).get("tenant") or {}).get("id")
        if not tenant:
            raise ConnectorError(400, "BadArgument", "Tenant id is required.")
        member_id = str(members[0].get("id", ""))
        with self.state.lock:
            member = next((m for m in self.state.members.values()
                           if member_id in (m.user_id, m.object_id)), None)
            if member is None or member.tenant_id != tenant:
                raise ConnectorError(404, "NotFound", "The user was not found in the tenant.")
            if not any(c.installed and member.user_id in c.members for c in self.state.conversations.values()):
                raise ConnectorError(403, "Forbidden", "The bot is not installed for this user.")
            chat = self.state.personal_chat(member.user_id)
            if chat is None:
                chat = self.state.add_conversation("personal", member.name, [member.user_id], tenant_id=tenant)
            chat.installed = True
            answer: dict[str, Any] = {"id": chat.id, "serviceUrl": self.signin.base_url}
            if isinstance(body.get("activity"), dict):
                answer["activityId"] = self._post(chat, body["activity"])
        return web.json_response(answer, status=201)

    # ------------------------------------------------------------------------------------------- activities

    def _kept(self, conversation: Conversation, activity_id: str, activity: dict[str, Any]) -> dict[str, Any]:
        """An activity as Teams keeps it: as sent, with its id, conversation, sender (the bot) and time."""
        kept = copy.deepcopy(activity)
        kept.update(id=activity_id, conversation={"id": conversation.id}, timestamp=now_iso(),
                    **{"from": {"id": self.state.bot_id}})
        return kept

    def _post(self, conversation: Conversation, activity: dict[str, Any], reply_to: str = "") -> str:
        check_message(activity)
        with self.state.lock:
            if reply_to and reply_to not in conversation.activities:
                raise ConnectorError(404, "NotFound", "The activity to reply to was not found.")
            activity_id = self.state.next_activity_id()
            kept = self._kept(conversation, activity_id, activity)
            if reply_to:
                kept["replyToId"] = reply_to
            conversation.activities[activity_id] = kept
        return activity_id

    async def send(self, request: web.Request) -> web.Response:
        conversation = self._installed(request)
        body = await _body(request)
        if body.get("type") == "typing":
            check_message(body)
            return web.json_response({}, status=201)
        return web.json_response({"id": self._post(conversation, body, str(body.get("replyToId") or ""))},
                                 status=201)

    async def reply(self, request: web.Request) -> web.Response:
        conversation = self._installed(request)
        body = await _body(request)
        return web.json_response({"id": self._post(conversation, body, request.match_info["activity"])}, status=201)

    async def update(self, request: web.Request) -> web.Response:
        conversation = self._installed(request)
        activity_id = request.match_info["activity"]
        body = await _body(request)
        check_message(body)
        with self.state.lock:
            before = conversation.activities.get(activity_id)
            if before is None:
                raise ConnectorError(404, "NotFound", "The activity was not found.")
            kept = self._kept(conversation, activity_id, body)
            if "replyToId" in before:
                kept["replyToId"] = before["replyToId"]
            conversation.activities[activity_id] = kept
            for key in [k for k in conversation.views if k[0] == activity_id]:
                del conversation.views[key]  # an update redraws the card for everyone
        return web.json_response({"id": activity_id})

    async def delete(self, request: web.Request) -> web.Response:
        conversation = self._installed(request)
        with self.state.lock:
            if conversation.activities.pop(request.match_info["activity"], None) is None:
                raise ConnectorError(404, "NotFound", "The activity was not found.")
        return web.Response(status=200)

    # ------------------------------------------------------------------------------------------- members

    def _roster(self, conversation: Conversation) -> list[dict[str, Any]]:
        with self.state.lock:
            return [self.state.members[u].account() for u in conversation.members]

    async def members(self, request: web.Request) -> web.Response:
        return web.json_response(self._roster(self._installed(request)))

    async def paged_members(self, request: web.Request) -> web.Response:
        roster = self._roster(self._installed(request))
        try:
            size = min(int(request.query.get("pageSize", PAGE_SIZE)), 500)
            start = int(request.query.get("continuationToken", "0"))
        except ValueError as exc:
            raise ConnectorError(400, "BadArgument", "pageSize and continuationToken are numbers here.") from exc
        page: dict[str, Any] = {"members": roster[start:start + size]}
        if start + size < len(roster):
            page["continuationToken"] = str(start + size)
        return web.json_response(page)

    async def member(self, request: web.Request) -> web.Response:
        conversation = self._installed(request)
        return web.json_response(self.state.member(conversation, request.match_info["member"]).account())
