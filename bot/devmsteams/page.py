"""The local Teams' page (`/teams`, `static/`), served by the stand-in's own server: its conversations, each of the
bot's activities drawn as Teams draws a card (the `adaptivecards` renderer, in the browser), a "who am I" picker of
the members, and working buttons. The page polls `/_teams/state?user=<29:…>` (every activity as that member sees
it) and acts through `POST /_teams/execute` (the member clicks an `Action.Execute`: the stand-in sends the bot the
signed invoke and keeps the card the bot answers as the member's own).

As Teams does, showing a card to a member its `refresh.userIds` names refreshes it for them: the state answer first
sends the bot that `refresh` invoke, once for each version of the activity (an update to the card refreshes it
again), so an approver sees their buttons and everyone else the read-only card.

Like the local Slack's page, it answers only on loopback host names when served on loopback, and a POST only from
the page itself (no other site open in the same browser may click cards)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import aiohttp
from aiohttp import web

from bot.devmsteams.model import ConnectorError
from bot.devslack.pages import LOOPBACK_NAMES, foreign, host_name, refused, static_file

if TYPE_CHECKING:
    from bot.devmsteams.server import TeamsStandIn

PAGE_PATH: Final = "/teams"
STATIC_DIR: Final = Path(__file__).with_name("static")
# nothing from elsewhere, no inline script (the renderer sets styles through the DOM, which style-src 'self'
# allows); framed only by a page on this machine (the local Slack's "Teams" pane)
_PAGE_CSP: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'self' http://127.0.0.1:* http://localhost:*"
)


def _fingerprint(activity: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(activity, sort_keys=True).encode()).hexdigest()


def refresh_users(activity: dict[str, Any]) -> list[str]:
    """Whom Teams refreshes an activity's card for: its cards' `refresh.userIds` (none without a refresh)."""
    users: list[str] = []
    for attachment in activity.get("attachments") or ():
        content = attachment.get("content") if isinstance(attachment, dict) else None
        refresh = content.get("refresh") if isinstance(content, dict) else None
        listed = refresh.get("userIds") if isinstance(refresh, dict) else None
        users.extend(u for u in listed or () if isinstance(u, str))
    return users


class TeamsPage:
    """The page of one stand-in; `add_routes` before the stand-in starts serving."""

    def __init__(self, standin: TeamsStandIn) -> None:
        self.standin = standin
        self._refreshed: dict[tuple[str, str, str], str] = {}  # (conversation, activity, user) -> its fingerprint

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get(PAGE_PATH, self.handle_page)
        app.router.add_get(PAGE_PATH + "/static/{name}", self.handle_static)
        app.router.add_get("/_teams/state", self.handle_state)
        app.router.add_post("/_teams/execute", self.handle_execute)

    # ------------------------------------------------------------------------------------------- guards

    def _foreign(self, request: web.Request) -> web.Response | None:
        """A refusal for a request the page must not answer: another host name on loopback (DNS rebinding), a POST
        from another site."""
        served = host_name(self.standin.url.split("://", 1)[-1].split("/", 1)[0])
        return foreign(request, loopback_only=served in LOOPBACK_NAMES, standin="Teams")

    # ------------------------------------------------------------------------------------------- the page

    async def handle_page(self, request: web.Request) -> web.StreamResponse:
        return self._foreign(request) or _static_file("teams.html")

    async def handle_static(self, request: web.Request) -> web.StreamResponse:
        return self._foreign(request) or _static_file(request.match_info["name"])

    # ------------------------------------------------------------------------------------------- state

    async def handle_state(self, request: web.Request) -> web.Response:
        """``?user=<29:…>``: the members, and the conversations that member is in with every activity as they see
        it (their refreshed card, once Teams would have refreshed it for them). Without ``user``: the first member's
        view."""
        if refusal := self._foreign(request):
            return refusal
        members = self.standin.members()
        user = request.query.get("user") or (members[0].user_id if members else "")
        if members and user not in {m.user_id for m in members}:
            return refused(400, f"user must be a member's 29: id, one of {[m.user_id for m in members]}")
        conversations = [c for c in self.standin.conversations() if user in c["members"]]
        for conversation in conversations:
            conversation["activities"] = await self._seen(conversation["id"], user)
        return web.json_response({
            "ok": True,
            "tenant_id": self.standin.tenant_id,
            "user": user,
            "members": [{"user_id": m.user_id, "object_id": m.object_id, "tenant_id": m.tenant_id, "name": m.name,
                         "email": m.email, "role": m.role} for m in members],
            "conversations": conversations,
        }, headers={"Cache-Control": "no-store"})

    async def _seen(self, conversation_id: str, user: str) -> list[dict[str, Any]]:
        """The conversation's activities as `user` sees them, each refreshed for them first where Teams would."""
        seen = []
        for activity in self.standin.activities(conversation_id):
            key = (conversation_id, str(activity.get("id")), user)
            version = _fingerprint(activity)
            if user in refresh_users(activity) and self._refreshed.get(key) != version:
                self._refreshed[key] = version  # once per version, whatever the bot answers
                try:
                    await self.standin.refresh(conversation_id, key[1], user)
                except (LookupError, aiohttp.ClientError, TimeoutError, RuntimeError):
                    pass  # the read-only card stays: what Teams shows when a refresh fails
            seen.append(self.standin.view(conversation_id, key[1], user))
        return seen

    # ------------------------------------------------------------------------------------------- a click

    async def handle_execute(self, request: web.Request) -> web.Response:
        """``{"conversation", "activity", "user", "verb", "data"}`` (`data`: the action's data with the card's
        inputs, as the renderer gives them): the member clicks; answers the bot's status and body."""
        if refusal := self._foreign(request):
            return refusal
        try:
            body = await request.json()
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
            data = body.get("data") or {}
            if not isinstance(data, dict):
                raise ValueError("data must be an object")
            status, answer = await self.standin.execute(str(body["conversation"]), str(body["activity"]),
                                                        str(body["user"]), str(body["verb"]), data)
        except KeyError as exc:
            return refused(400, f"missing field {exc.args[0]!r}")
        except (ValueError, LookupError) as exc:
            return refused(400, str(exc))
        except ConnectorError as exc:
            return refused(exc.status, exc.message)
        except (aiohttp.ClientError, TimeoutError, RuntimeError) as exc:
            return refused(502, f"delivery to the bot failed: {exc!r}")
        return web.json_response({"ok": True, "status": status, "body": answer})


def _static_file(name: str) -> web.StreamResponse:
    return static_file(STATIC_DIR, name, csp=_PAGE_CSP)
