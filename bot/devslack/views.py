"""Views: the ``views.*`` Web API methods (modals opened with a trigger, pushed, updated; App Home published per
user), each user's stack of open modals, and the view object Slack shows in answers and payloads."""

from __future__ import annotations

import time
from typing import Any, cast

from bot.devslack.blockkit import normalize_blocks, validate_view
from bot.devslack.model import APP_ID, BOT_ID, TEAM_ID, VIEW_STACK_LIMIT, ApiError, Trigger, View, copied, web_api
from bot.devslack.workspace import Workspace


class Views:
    """Modals and App Home views of the workspace."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws

    # ------------------------------------------------------------------------------------------- shapes

    @staticmethod
    def view_object(v: View) -> dict[str, Any]:
        """A view as Slack's Web API and payloads show it."""
        return {
            "id": v.id,
            "team_id": TEAM_ID,
            "type": v.view.get("type", "modal"),
            "blocks": copied(v.view.get("blocks", [])),
            "private_metadata": v.view.get("private_metadata", ""),
            "callback_id": v.view.get("callback_id", ""),
            "state": {"values": {}},
            "hash": v.hash,
            "title": copied(v.view.get("title")),
            "clear_on_close": bool(v.view.get("clear_on_close", False)),
            "notify_on_close": bool(v.view.get("notify_on_close", False)),
            "close": copied(v.view.get("close")),
            "submit": copied(v.view.get("submit")),
            "previous_view_id": v.previous_id,
            "root_view_id": v.root_id,
            "app_id": APP_ID,
            "external_id": v.view.get("external_id", ""),
            "app_installed_team_id": TEAM_ID,
            "bot_id": BOT_ID,
        }

    def listing(self, user: str | None = None) -> list[dict[str, Any]]:
        """Modals currently open, bottom of each user's stack first."""
        result: list[dict[str, Any]] = []
        for uid, stack in self.ws.stacks.items():
            if user is not None and uid != user:
                continue
            for vid in stack:
                v = self.ws.views[vid]
                result.append(
                    {
                        "id": v.id,
                        "user": v.user,
                        "view": self.view_object(v),
                        "errors": copied(v.errors),
                        "hash": v.hash,
                        "callback_id": v.view.get("callback_id"),
                        "external_id": v.view.get("external_id"),
                    }
                )
        return result

    def home_of(self, user: str) -> dict[str, Any] | None:
        """The App Home view last published for user (as ``views.publish`` answered it), None before any."""
        home = self.ws.homes.get(user)
        return None if home is None else self.view_object(home)

    # ------------------------------------------------------------------------------------------- the modal stack

    def checked_view(self, view: Any) -> dict[str, Any]:
        """The view argument, checked (else ``invalid_arguments``) and with Slack's block_id / action_id filled in."""
        problems = validate_view(view)
        if problems is not None:
            raise ApiError("invalid_arguments", response_metadata={"messages": problems})
        checked = copied(cast(dict[str, Any], view))
        checked["blocks"] = normalize_blocks(checked.get("blocks") or [])
        return checked

    def open_view(self, user: str, view: dict[str, Any], *, push: bool) -> View:
        """Open view as the user's only modal, or push it on top of their stack."""
        external_id = view.get("external_id")
        if external_id and any(v.open and v.view.get("external_id") == external_id for v in self.ws.views.values()):
            raise ApiError("duplicate_external_id")
        stack = self.ws.stacks.setdefault(user, [])
        if push and len(stack) >= VIEW_STACK_LIMIT:
            raise ApiError("push_limit_reached")
        if not push:
            self.close_views(user, everything=True)
            stack = self.ws.stacks.setdefault(user, [])
        vid = self.ws.new_id("V")
        previous = stack[-1] if stack else None
        root = self.ws.views[stack[0]].root_id if stack else vid
        v = View(id=vid, user=user, view=view, hash=self.ws.new_hash(), root_id=root, previous_id=previous)
        self.ws.views[vid] = v
        stack.append(vid)
        return v

    def close_views(self, user: str, *, everything: bool) -> None:
        """Close the user's topmost modal, or all of them."""
        stack = self.ws.stacks.get(user, [])
        for vid in list(stack) if everything else stack[-1:]:
            self.close_view(self.ws.views[vid])

    def close_view(self, v: View) -> None:
        v.open = False
        stack = self.ws.stacks.get(v.user, [])
        if v.id in stack:
            stack.remove(v.id)
        if not stack:
            self.ws.stacks.pop(v.user, None)

    def topmost(self, user: str, view_id: str) -> View:
        """The user's open view view_id, which must be their topmost; else ValueError saying what is open."""
        v = self.ws.views.get(view_id)
        if v is None or not v.open or v.user != user:
            raise ValueError(f"no open view {view_id!r} for {user}; open: {[x['id'] for x in self.listing(user)]}")
        if self.ws.stacks[user][-1] != view_id:
            raise ValueError(f"view {view_id} is not the topmost view of {user}")
        return v

    # ------------------------------------------------------------------------------------------- views.*

    def _take_trigger(self, trigger_id: Any) -> Trigger:
        trigger = self.ws.triggers.get(trigger_id) if isinstance(trigger_id, str) else None
        if trigger is None:
            raise ApiError("invalid_trigger_id")
        if trigger.used:
            raise ApiError("exchanged_trigger_id")
        if time.monotonic() - trigger.issued > self.ws.trigger_ttl:
            raise ApiError("expired_trigger_id")
        return trigger

    @web_api("views.open")
    def views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return self._open_by_trigger(args, push=False)

    @web_api("views.push")
    def views_push(self, args: dict[str, Any]) -> dict[str, Any]:
        return self._open_by_trigger(args, push=True)

    def _open_by_trigger(self, args: dict[str, Any], *, push: bool) -> dict[str, Any]:
        """views.open / views.push: the view, checked, opened (or pushed) for whom the trigger is, once."""
        trigger = self._take_trigger(args.get("trigger_id"))
        view = self.checked_view(args.get("view"))
        trigger.used = True
        v = self.open_view(trigger.user, view, push=push)
        return {"view": self.view_object(v)}

    @web_api("views.update")
    def views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        view_id, external_id = args.get("view_id"), args.get("external_id")
        if not view_id and not external_id:
            raise ApiError("invalid_arguments", response_metadata={"messages": ["view_id or external_id required"]})
        target: View | None = None
        for v in self.ws.views.values():
            if v.open and ((view_id and v.id == view_id) or (external_id and v.view.get("external_id") == external_id)):
                target = v
        if target is None:
            raise ApiError("not_found")
        expected = args.get("hash")
        if expected and expected != target.hash:
            raise ApiError("hash_conflict")
        target.view = self.checked_view(args.get("view"))
        target.hash = self.ws.new_hash()
        target.errors = None
        return {"view": self.view_object(target)}

    @web_api("views.publish")
    def views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        """Publish (create or replace) the App Home of ``user_id``. A ``hash`` must match the home view it replaces
        (``hash_conflict`` otherwise); with no home published yet there is nothing to conflict with."""
        user = self.ws.require_user(args.get("user_id"))
        view = self.checked_view(args.get("view"))
        if view.get("type") != "home":
            raise ApiError(
                "invalid_arguments",
                response_metadata={"messages": ["views.publish takes a view of type home [json-pointer:/view/type]"]},
            )
        home = self.ws.homes.get(user.id)
        expected = args.get("hash")
        if expected and home is not None and expected != home.hash:
            raise ApiError("hash_conflict")
        if home is None:
            vid = self.ws.new_id("V")
            home = View(id=vid, user=user.id, view=view, hash=self.ws.new_hash(), root_id=vid)
            self.ws.homes[user.id] = home
        else:
            home.view, home.hash = view, self.ws.new_hash()
        return {"view": self.view_object(home)}
