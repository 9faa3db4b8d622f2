"""An approval's details on the worker's HTTP server (mounted by `bot/server.py`), behind Sign in with Slack:

    GET /approvals/{id}     what its card shows, whole (the task, the tool and its arguments as stored: hidden
                            values by their kind), for a person who may decide it now; their first look is noted
                            (`ApprovalService.opened`: their decision's `opened_at`, a policy's @require_details)

The full diff (`/approvals/{id}/diff`) notes its opening through the same recorder. An id that is no approval, a 404;
someone who may not decide it, a 403 (audited: `refused`, reason `details: <why>`); Redis out of reach, a 503. The
page is never cached, never sent as a referrer, and escapes every text (bot/templates/approval/page.html)."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.approvals import ApprovalService
from bot.core.records import APPROVAL_ID
from bot.signin import SignIn
from bot.stepup.pages import STORAGE_DOWN, page_response
from bot.store import StoreUnavailable

NOT_YOURS = "This approval is not waiting for you: it was decided, or is not yours to decide."
NO_SUCH = "There is no such approval (it may have expired)."
ApprovalsFor = Callable[[str], Awaitable[ApprovalService | None]]  # approval id -> its workspace's (None: none)


def add_details_routes(app: web.Application, approvals: ApprovalService, signin: SignIn, *,
                       approvals_for: ApprovalsFor | None = None) -> None:
    """`GET /approvals/{id}`. `approvals_for`: the approvals of the workspace that holds an id (`bot.tenancy`);
    None: `approvals` serves all."""

    async def details(request: web.Request) -> web.Response:
        approval_id = request.match_info["id"]
        nonce = secrets.token_urlsafe(16)
        if not APPROVAL_ID.fullmatch(approval_id):
            return _page(None, "", message=NO_SUCH, nonce=nonce, status=404)
        session = signin.cookies.open_session(request.cookies.get(signin.cookies.session_name))
        page = f"/approvals/{approval_id}"
        # whoever is signed in (else the sign-in first), checked as a click is: one of ours
        await signin.require(request, person=session.user if session is not None else "", page=page,
                             approval=approval_id)
        assert session is not None  # (`require` answered the request otherwise)
        try:
            service = approvals if approvals_for is None else await approvals_for(approval_id)
            if service is None:
                return _page(None, "", message=NO_SUCH, nonce=nonce, status=404)
            checked = await service.decisions.may_decide(session.user, service.people.surface(session.user), "approve",
                                                         approval_id=approval_id)  # (a page: the person's own)
            if checked.approval is None:
                return _page(None, "", message=NO_SUCH, nonce=nonce, status=404)
            if checked.status != "allowed":
                await service.store.audit.append("refused", by=session.user, approval=approval_id,
                                                 reason=f"details: {checked.status}")
                return _page(None, "", message=NOT_YOURS, nonce=nonce, status=403)
            await service.opened(approval_id, session.user)
        except StoreUnavailable:
            return _page(None, "", message=STORAGE_DOWN, nonce=nonce, status=503)
        return _page(checked.approval, session.name or session.user, nonce=nonce)

    app.router.add_get("/approvals/{id}", details)


def _page(approval: object, person: str, *, nonce: str, message: str = "", status: int = 200) -> web.Response:
    return page_response(("approval/page.html", {"approval": approval, "person": person, "message": message}),
                         nonce=nonce, status=status, headers={"Pragma": "no-cache"})
