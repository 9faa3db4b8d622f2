"""The whole change of an approval on the worker's HTTP server (mounted by `bot/server.py`), linked from its card:

    GET /approvals/{id}/diff              after Sign in with Slack: each file's path, its hunks with line numbers
                                          (a unified view), each command, message and query, what was cut said
    GET /approvals/{id}/diff?view=split   the same, side by side (before | after)

Whoever signs in (one of ours: the same check as a click) and may see the approval sees it: its requester, who
decided or voted on it, its approvers (named, or in its user groups), or anyone of ours when it names none (whoever
may decide it, as the card's buttons do). Anyone else gets a 403 page (audited, `refused`, naming who); an unknown id
a 404 page; Redis out of reach a 503. The artefacts are read as the record keeps them (hidden values already
replaced: bot/redaction/hiding.py), through `bot.core.diffs`, into a template (bot/templates/changes/, autoescaped by
`bot.core.templates`); the page is never cached nor sent as a referrer, and holds no script.

The route's handler stays small (`diff_page`): what the page shows is `ChangePages.shown`, so other work (who opened
a page, for oversight) hooks in around one call."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web

from bot.approvals import ApprovalService
from bot.core.diffs import CONTEXT, FileChange, Hunk, Row, message_words, read, side_by_side, summary
from bot.core.records import ApprovalRecord
from bot.signin import SignIn
from bot.slack.directory import Directory
from bot.stepup.enrolment import StepUpError  # a page the person does not get: its status and what it says
from bot.stepup.pages import STORAGE_DOWN, Page, page_response
from bot.store import Store, StoreUnavailable

PAGE_LINES: Final = 20_000  # lines of diff one page shows, across its files (the rest counted and said)
VIEWS: Final = ("unified", "split")
UNKNOWN: Final = "There is no approval with this id (or it ended long ago and is no longer kept)."
NOT_YOURS: Final = ("You may not see this approval: only its requester, its approvers and who decided it may. Nothing"
                    " was shown.")


@dataclass(frozen=True)
class ShownFile:
    """One file on the page: its change, the hunks shown (unified) or their rows (split), and lines not shown."""

    change: FileChange
    hunks: tuple[Hunk, ...]
    rows: tuple[tuple[str, tuple[Row, ...]], ...]
    lines_left: int


@dataclass(frozen=True)
class Shown:
    """What the page shows of an approval's change."""

    approval: ApprovalRecord
    summary: str
    view: str
    files: tuple[ShownFile, ...]
    others: tuple[Mapping[str, Any], ...]
    files_left: int  # files not shown at all (past PAGE_LINES, or past MAX_FILES of a diff)
    lines_left: int  # lines of diff not shown, in all


def _shown_files(files: tuple[FileChange, ...], view: str) -> tuple[list[ShownFile], int, int]:
    shown: list[ShownFile] = []
    room, lines_left, files_left = PAGE_LINES, 0, 0
    for change in files:
        total = change.shown_lines + change.lines_left
        if room <= 0:
            files_left, lines_left = files_left + 1, lines_left + total
            continue
        hunks: list[Hunk] = []
        for hunk in change.hunks:
            if len(hunk.lines) > room:
                break
            hunks.append(hunk)
            room -= len(hunk.lines)
        left = total - sum(len(h.lines) for h in hunks)
        rows = tuple((h.header, tuple(side_by_side(h))) for h in hunks) if view == "split" else ()
        shown.append(ShownFile(change, tuple(hunks) if view == "unified" else (), rows, left))
        lines_left += left
        if left:
            room = 0
    return shown, files_left, lines_left


def shown_of(approval: ApprovalRecord, view: str) -> Shown:
    """The page of `approval`'s change in `view` ("unified" or "split")."""
    changes = read(approval.artifact_items)
    files, files_left, lines_left = _shown_files(changes.files, view)
    return Shown(approval, summary(approval.artifact_items), view, tuple(files), changes.others,
                 files_left + changes.files_left, lines_left)


class ChangePages:
    """The change pages of one workspace's data: who may see an approval, and what its page shows."""

    def __init__(self, approvals: ApprovalService, directory: Directory) -> None:
        self._approvals = approvals
        self._store: Store = approvals.store
        self._directory = directory

    async def shown(self, user: str, approval_id: str, *, view: str = "unified") -> Shown:
        """What `user` (signed in, one of ours) sees of `approval_id`'s change; `StepUpError` (404 unknown, 403 not
        theirs: audited) otherwise."""
        approval = await self._store.approvals.get(approval_id) if len(approval_id) <= 100 else None
        if approval is None:
            raise StepUpError(404, UNKNOWN)
        if not await self.may_see(user, approval):
            await self._store.audit.append("refused", by=user, approval=approval.id,
                                           reason="diff page: may not see this approval")
            raise StepUpError(403, NOT_YOURS)
        await self._approvals.opened(approval.id, user)  # the whole change opened: oversight's `opened_at`
        return shown_of(approval, view if view in VIEWS else "unified")

    async def may_see(self, user: str, approval: ApprovalRecord) -> bool:
        """Its requester, who decided or voted, its approvers (named or in its groups), anyone when none are named."""
        if user in (approval.requester, approval.decided_by, approval.on_behalf) or user in approval.voters:
            return True
        if not approval.approvers or user in approval.approvers:
            return True
        return await self._approvals.people.in_groups(user, approval.approvers)  # each surface's own groups


PagesFor = Callable[[str], Awaitable[ChangePages | None]]  # an approval id -> the pages of the data that holds it


def add_change_routes(app: web.Application, pages_for: PagesFor, signin: SignIn) -> None:
    """`GET /approvals/{id}/diff`. `pages_for`: the change pages of the workspace holding an approval id (None:
    no workspace this worker serves holds it, a 404)."""

    async def diff_page(request: web.Request) -> web.Response:
        approval_id = request.match_info["id"]
        session = await signin.require(request, person="", page=request.path_qs[:300], approval=approval_id[:100])
        try:
            pages = await pages_for(approval_id)
            if pages is None:
                raise StepUpError(404, UNKNOWN)
            shown = await pages.shown(session.user, approval_id, view=request.query.get("view", "unified"))
        except StepUpError as refused:
            return _page(("changes/message.html", {"message": refused.message}), status=refused.status)
        except StoreUnavailable:
            return _page(("changes/message.html", {"message": STORAGE_DOWN}), status=503)
        return _page(("changes/diff.html", {"shown": shown, "words": message_words, "context": CONTEXT}))

    app.router.add_get("/approvals/{id}/diff", diff_page)


def _page(page: Page, *, status: int = 200) -> web.Response:
    return page_response(page, nonce=secrets.token_urlsafe(16), status=status)
