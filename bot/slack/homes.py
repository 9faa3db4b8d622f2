"""Each person's App Home: what waits for them, their runs, what they decided, kept current within
the rate Slack allows.

    opened (app_home_opened), a page turned, a click in it -> publish(person): drawn now
    an approval opened, voted on, escalated or decided     -> refresh_for(approval): the Homes it changes
                                                              (`affected`) are marked due in Redis
    a run ended, a rule changed, numbers computed          -> mark_due(people)

A change publishes nothing itself: it marks the Homes it changes due (`bot/store/home_queue.py`), in
Redis, once per person however many changes. Each worker's drawer takes the due Homes, the people who
looked most recently first, as the workspace's `views.publish` budget allows (`HOME_PUBLISHES_PER_MINUTE`,
counted in Redis for every worker together: Slack's Tier 4 is per workspace), each once its changes of
`GATHER` seconds are gathered, and draws at most `concurrency` at once. A Home not drawn within the
budget stays due, and is drawn when its person next opens it: an opening is served at once, ahead of
the budget (its call is counted in it). Slack's `ratelimited` (429) pauses every worker's Home
publishing for its `Retry-After` (the Home is due again).

Which Homes a change shows in (`affected`): those whose page shows the approval (`Homes.shown_by`),
those with room on their page for a new one that is theirs to decide, its decider's and its
requester's. A full page whose count alone changed is not redrawn for it: its count says when it was
counted (the Home's "Updated" time), and it is exact again at its next draw. So one decision among
10,000 approvals redraws a handful of Homes, not every Home open.

A draw reads Redis as it is at that moment, under a per-person lock, so two workers never publish one
Home at once and the later draw always reads the newer state (never an older Home over a newer one);
Slack's `hash` guards against a holder that stalled past its lock. A change made while a Home is being
drawn (after it read Redis, before it noted what it shows) finds it neither showing the approval nor with
room yet: the note (`Homes.drawn`) sees such a change and makes the Home due again. Home work has its own Redis client
(`HOME_REDIS_CONNECTIONS`, wired in `bot/root.py`) and bounded concurrency (`concurrency` draws
from the queue, `OPENINGS` openings and `MARKINGS` markings at once per worker), so a redraw storm
never takes the connections clicks, timeouts, reminders and run starts need. Only the Homes of people
who opened theirs in the last 30 days are kept current (a Home never opened is drawn when it first is).

A channel's admins (its `admins`; ADMIN_USERS for every channel that has settings or rules) also see
their channels: the last 7 days' headline numbers, read from a cache only (`bot/report/headline_cache.py`: when
missing, the Home shows "computing…" and is redrawn once they are computed, off the draw's path), and
the live rules, each with Revoke. Rules are read at each draw, so a rule created or revoked shows the
next time a Home is drawn; `refresh_admins(channel)` marks the Homes of a channel's admins due.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.people import surface_of
from bot.core.records import ApprovalRecord
from bot.core.service_levels import urgency
from bot.core.tasks import Background, stop_task
from bot.people import People
from bot.report.headline_cache import Headlines
from bot.slack.admin_panels import AdminPanels
from bot.slack.blocks import HOME_PAGE_SIZE, HomeContent, build_home_view
from bot.slack.directory import Directory
from bot.store import Store, StoreUnavailable
from bot.store.home_queue import Claimed, HomeQueue

log = logging.getLogger(__name__)

LOCK_SECONDS = 10.0  # a Home's drawer holds its lock at most this long (then another may draw it)
LOCK_POLL = 0.01
GATHER = 0.2  # seconds of changes gathered into one redraw of a Home
IDLE_POLL = 1.0  # seconds between two looks at the queue when nothing is known due (another worker's marks)
OPENINGS = 2  # Homes drawn at once per worker for people who opened them (beyond the queue's `concurrency`)
MARKINGS = 2  # changes whose Homes are being marked due at once per worker
DEFAULT_RETRY_AFTER = 30.0  # a 429 without a readable Retry-After

# how one draw ended
PUBLISHED = "published"
LOCKED = "locked"  # another draw held the Home: due again (nothing sent)
RATELIMITED = "ratelimited"  # Slack paused publishing: due again
DROPPED = "dropped"  # Redis or the network failed: due again
FAILED = "failed"  # Slack refused it: drawn at the next change or opening


def _retry_after(headers: Mapping[str, str] | None) -> float:
    raw = str((headers or {}).get("Retry-After") or (headers or {}).get("retry-after") or "")
    try:
        return max(1.0, min(float(raw), 3600.0))
    except ValueError:
        return DEFAULT_RETRY_AFTER


class HomeService:
    def __init__(
        self,
        *,
        store: Store,
        slack: AsyncWebClient,
        directory: Directory,
        worker_id: str,
        background: Background,
        concurrency: int = 2,
        admin_users: Sequence[str] = (),
        publishes_per_minute: int = 100,
        budget_window: float = 60.0,
        gather: float = GATHER,
        people: People | None = None,
    ) -> None:
        """`store` and `slack` are the Home work's own (its Redis connections; a client that does not
        retry a 429 itself: the budget pauses instead). `publishes_per_minute`: the workspace's
        `views.publish` budget, counted over `budget_window` seconds. `people`: who is who across surfaces, so a
        Slack user's Home lists what waits for the `email:` approver their verified email is (issue 88)."""
        self._people = people
        self.admin_users = tuple(admin_users)  # ADMIN_USERS: they administer every channel
        self.headlines = Headlines(store, worker_id=worker_id)
        self.panels = AdminPanels(store=store, headlines=self.headlines, background=background,
                                  admin_users=self.admin_users, mark_due=self.mark_due)
        self._indexed = False  # settings written before the admin index existed: indexed once per worker
        self._store = store
        self._slack = slack
        self._directory = directory
        self._worker_id = worker_id
        self._workspace_url: str | None = None
        self._background = background
        self.queue = HomeQueue(
            store.shared,
            budget=max(1, round(publishes_per_minute * budget_window / 60)),
            window=budget_window,
            gather=gather,
            holder=worker_id,
        )
        self._concurrency = max(1, concurrency)
        self._opening = asyncio.Semaphore(OPENINGS)
        self._marking = asyncio.Semaphore(MARKINGS)
        self._wake = asyncio.Event()
        self._drawer: asyncio.Task[None] | None = None
        self._drawing: set[asyncio.Task[None]] = set()
        self._closed = False

    async def save_batch(self, token: str, batch: dict[str, Any], *, seconds: int) -> None:
        """A batch decision a person is asked to confirm (`token` is in the confirmation's metadata)."""
        await self._store.homes.save_batch(token, batch, seconds=seconds)

    async def take_batch(self, token: str) -> dict[str, Any] | None:
        """The batch to decide, once: a second submission of the same confirmation finds nothing."""
        return await self._store.homes.take_batch(token)

    # who sees what ------------------------------------------------------------------------
    async def waiting_for(
        self, user: str, pending: Iterable[ApprovalRecord], *, principals: Sequence[str] = ()
    ) -> list[ApprovalRecord]:
        """The pending approvals `user` may decide now (the decide step checks again when they do),
        themselves or for one of `principals` (away, delegating to them): breached their service level first, then
        at risk, then the others (bot/core/service_levels.py), each oldest first."""
        waiting = []
        for approval in pending:
            if await self._may_decide(approval, user) or any(
                [await self._may_decide(approval, p, delegate=user) for p in principals]
            ):
                waiting.append(approval)
        return sorted(waiting, key=lambda a: (urgency(a.sla_state), a.created_at, a.id))

    async def _may_decide(self, approval: ApprovalRecord, user: str, *, delegate: str = "") -> bool:
        groups = [a for a in approval.approvers if a.startswith("S")]
        directory = self._directory
        in_groups = bool(groups) and user not in approval.approvers and await directory.counts_in_groups(user, groups)
        if delegate:
            return approval.may_decide_for(delegate, user, in_groups=in_groups)
        return approval.may_decide(user, in_groups=in_groups)

    async def affected(self, approval: ApprovalRecord) -> set[str]:
        """Whose Home shows something else now that `approval` was opened, voted on, escalated or
        decided (of those who opened theirs lately: `HomeQueue.mark` keeps only them):

        * the Homes whose page shows it (`Homes.shown_by`): its row changes or leaves;
        * pending, who may decide it (named; members of its groups; anyone when none are named; the
          delegates of those away) whose page has room (`Homes.with_room`): it shows there. On a full
          page it would not: only the page's count and its "Newer →" change, left until that Home is
          next drawn (so a decision on one of 10,000 approvals redraws a handful of Homes, not all); at risk or
          breached, named, it shows first on their first page (`sla:urgent`): their Homes, full or not;
        * who decided it ("Recently decided by you") and who started its run ("Your runs").

        Left for the next draw as well: a Home on a later page whose rows shift because an older
        approval was decided (each row it shows is still there to decide)."""
        homes = self._store.homes
        people = set(await homes.shown_by(approval.id)) | {approval.requester, approval.decided_by}
        if approval.pending:
            if not approval.approvers:
                people |= await homes.with_room()
            else:
                deciders = {a for a in approval.approvers if not a.startswith("S")}
                for group in (a for a in approval.approvers if a.startswith("S")):
                    try:
                        deciders |= await self._directory.group_members(group)
                    except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
                        log.warning("user group %s could not be read for Homes (%s)", group, type(exc).__name__)
                deciders |= set(await self._people.holders(approval.approvers)) if self._people else set()
                away = await self._store.away.many(sorted(deciders), now=time.time())
                deciders |= {state.delegate for state in away.values() if state.delegate}
                urgent = approval.sla_state in ("at_risk", "breached")  # first on every decider's first page
                people |= deciders if urgent else await homes.with_room(sorted(deciders))
        people.discard("")
        return {p for p in people if surface_of(p) == "slack"}  # a person first known elsewhere has no Slack Home

    async def refresh_admins(self, channel: str, *, but: Sequence[str] = ()) -> bool:
        """Mark due the Homes of `channel`'s admins (but those of `but`) who opened theirs lately: its
        rules changed. False when they could not be marked."""
        settings = await self._store.settings.get(channel, default_timeout=0)
        return await self.mark_due({*settings.admins, *self.admin_users} - set(but))

    # publishing ---------------------------------------------------------------------------
    async def refresh_for(self, approval: ApprovalRecord) -> bool:
        """The Homes `approval`'s change shows in (`affected`) are due a redraw: marked in Redis, drawn by
        the drawers within the budget. False when they could not be marked (the caller keeps the
        approval in the outbox, to try again)."""
        try:
            async with self._marking:
                people = await self.affected(approval)
                if people:
                    await self.queue.mark(people)
        except StoreUnavailable as exc:
            log.warning("the Homes of approval %s could not be marked due (%s)", approval.id, exc.cause)
            return False
        if people:
            self._wake_drawer()
        return True

    async def mark_due(self, people: Iterable[str]) -> bool:
        """Redraw these people's Homes (those who opened theirs lately) within the budget. False when
        they could not be marked."""
        try:
            async with self._marking:
                marked = await self.queue.mark(people)
        except StoreUnavailable as exc:
            log.warning("Homes could not be marked due (%s)", exc.cause)
            return False
        if marked:
            self._wake_drawer()
        return True

    async def refresh_person(self, user: str) -> bool:
        """Redraw `user`'s Home (e.g. one of their runs ended), if they have opened it lately."""
        return await self.mark_due([user])

    async def opened(self, user: str) -> bool:
        """`user` opened their Home: note it, and publish it as it is now."""
        if not self._indexed:  # (in the background, once: the next draws show what it finds)
            self._indexed = True
            self._background.spawn(self._store.settings.rebuild_indexes(), name="admin-index")
        await self._store.homes.opened(user, now=time.time())
        return await self.publish(user)

    async def show_page(self, user: str, page: int) -> bool:
        await self._store.homes.set_page(user, max(0, page))
        return await self.publish(user)

    async def publish(self, user: str) -> bool:
        """Draw `user`'s Home from Redis and publish it now: they opened it, turned its page or clicked in
        it. Served ahead of the budget (its call counted in it); while Slack has paused publishing, or
        another draw of it holds it too long, it is due first instead. False when Slack refused."""
        token, _ = await self.queue.take(user)
        if not token:
            self._wake_drawer()
            return True  # (due first: drawn when the pause ends)
        outcome = FAILED
        try:
            async with self._opening:
                outcome = await self._draw(user, token, wait=True)
        finally:
            await self._done(user, token, outcome)
        return outcome in (PUBLISHED, LOCKED)

    async def _done(self, user: str, token: str, outcome: str) -> None:
        try:
            await self.queue.done(
                user, refund=token if outcome == LOCKED else "", again=outcome in (LOCKED, RATELIMITED, DROPPED)
            )
        except StoreUnavailable as exc:  # its lease ends: due again then
            log.warning("the Home of %s: its redraw could not be noted (%s)", user, exc.cause)
        if outcome in (LOCKED, RATELIMITED, DROPPED):
            self._wake_drawer()

    # the drawer: the Homes due, within the budget, `concurrency` at a time ------------------------
    def _wake_drawer(self) -> None:
        if self._closed:
            return
        if self._drawer is None:
            self._drawer = asyncio.create_task(self._drain(), name=f"home-drawer-{self._worker_id}")
        self._wake.set()

    async def sweep(self) -> int:
        """The worker's Home queue found Homes of this workspace due (marked by any worker: bot/store/due.py): draw
        them."""
        self._wake_drawer()
        return 0

    async def _drain(self) -> None:
        """Draw the due Homes, as many at once as `concurrency`, as fast as the budget allows, until closed or
        none is left (then the worker's Home queue wakes it: `sweep`, every `IDLE_POLL` seconds at most)."""
        while not self._closed:
            self._wake.clear()
            wait = IDLE_POLL
            free = self._concurrency - len(self._drawing)
            if free > 0:
                try:
                    claimed = await self.queue.claim(free)
                except StoreUnavailable as exc:
                    log.warning("due Homes could not be claimed (%s)", exc.cause)
                    claimed = Claimed(homes=[], wait=IDLE_POLL)
                except Exception:  # (the drawer goes on: the Homes stay due in Redis)
                    log.exception("due Homes could not be claimed")
                    claimed = Claimed(homes=[], wait=IDLE_POLL)
                for user, token in claimed.homes:
                    task = asyncio.create_task(self._draw_due(user, token), name=f"home-{user}")
                    self._drawing.add(task)
                    task.add_done_callback(self._drew)
                if not claimed.homes and claimed.wait == 0 and not self._drawing and not self._wake.is_set():
                    self._drawer = None  # nothing due, nothing drawing: idle until woken
                    return
                wait = claimed.wait or IDLE_POLL
                if len(self._drawing) >= self._concurrency:
                    wait = IDLE_POLL  # (woken when one is drawn)
            with contextlib.suppress(TimeoutError):  # (not wait_for: on 3.11 it loses a stop that comes with a wake)
                async with asyncio.timeout(max(0.005, wait)):
                    await self._wake.wait()

    def _drew(self, task: asyncio.Task[None]) -> None:
        self._drawing.discard(task)
        self._wake.set()

    async def _draw_due(self, user: str, token: str) -> None:
        outcome = FAILED
        try:
            outcome = await self._draw(user, token, wait=False)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the Home of %s was not redrawn", user)
        await self._done(user, token, outcome)

    async def close(self, *, grace: float = 2.0) -> None:
        """Stop the drawer, letting the draws under way end for `grace` seconds; the Homes still due stay due
        in Redis (for the other workers, or the next start), and those cut short are due again after their lease."""
        self._closed = True
        if self._drawing:
            await asyncio.wait(list(self._drawing), timeout=grace)
        await stop_task(self._drawer, *self._drawing, grace=grace)

    # one draw ---------------------------------------------------------------------------------
    async def _draw(self, user: str, token: str, *, wait: bool) -> str:
        """Draw `user`'s Home under its lock (another worker drawing it meanwhile: `wait` for it, at most
        `LOCK_SECONDS`, or give up at once) and publish it. Returns PUBLISHED, LOCKED (not drawn: due
        again), RATELIMITED (Slack paused publishing: due again), DROPPED (a failure: due again) or
        FAILED (Slack refused it: drawn at the next change or opening)."""
        holder = f"{self._worker_id}:{secrets.token_hex(4)}"
        deadline = time.monotonic() + LOCK_SECONDS
        try:
            while not await self._store.homes.lock(user, holder, seconds=LOCK_SECONDS):
                if not wait or time.monotonic() > deadline:
                    return LOCKED  # (drawn later, from the queue: after that other draw, so newer)
                await asyncio.sleep(LOCK_POLL)  # another worker is drawing this Home: ours comes after, newer
            try:
                return await self._publish_locked(user, holder, token)
            finally:
                await self._store.homes.unlock(user, holder)
        except StoreUnavailable as exc:
            log.warning("the Home of %s was not drawn: Redis (%s); due again", user, exc.cause)
            return DROPPED

    async def _publish_locked(self, user: str, holder: str, token: str) -> str:
        state = await self._store.homes.state(user)
        waiting_total, page, shown = await self.waiting_page(user, page=state.page, groups=state.groups)
        content = HomeContent(
            user=user,
            now=time.time(),
            waiting=shown,
            waiting_total=waiting_total,
            page=page,
            runs=state.runs,
            recent=state.recent,
            workspace_url=await self._url(),
            passkeys=await self._store.passkeys.of(user),
            names=await self._store.msteams.names(p for a in (*shown, *state.recent) for p in a.people),
        )
        panels, total = await self.panels.channel_panels(user)
        if total:
            content = dataclasses.replace(content, channels=panels, channels_total=total)
        if total or user in self.admin_users:  # admins see what is frozen (`/agent freeze`) first
            content = dataclasses.replace(content, frozen=tuple((await self._store.freezes.all()).values()))
        view = build_home_view(content)
        try:
            try:
                await self.queue.sending(token)
                response = await self._slack.views_publish(user_id=user, view=view, hash=state.hash or None)
            except SlackApiError as exc:
                if exc.response.get("error") != "hash_conflict":
                    raise
                # published since without its hash noted (its drawer died): ours is newer, as long as
                # this worker still holds the lock (one that stalled past it leaves the Home alone)
                if not await self._store.homes.holds(user, holder):
                    return PUBLISHED
                await self.queue.sending(token + ":again")  # (a second call: counted too)
                response = await self._slack.views_publish(user_id=user, view=view)
        except SlackApiError as exc:
            error = str(exc.response.get("error") or "")
            if error == "ratelimited" or exc.response.status_code == 429:
                retry_after = _retry_after(exc.response.headers)
                log.info(
                    "Slack limits views.publish: Homes wait %.0f s (the Home of %s is due again)", retry_after, user
                )
                await self.queue.pause(retry_after)
                return RATELIMITED
            log.warning("the Home of %s was not published (%s)", user, error)
            return FAILED
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("the Home of %s was not published (%s); due again", user, type(exc).__name__)
            return DROPPED
        published = response.get("view") or {}
        again = await self._store.homes.drawn(
            user,
            seen=state.changes,
            view_hash=str(published.get("hash") or ""),
            shown=[a.id for a in shown],
            page=page,
            page_size=HOME_PAGE_SIZE,
        )
        if again:  # a change made while it was drawn may have missed it: due again
            self._wake_drawer()
        return PUBLISHED

    async def waiting_page(
        self,
        user: str,
        *,
        page: int,
        size: int = HOME_PAGE_SIZE,
        groups: Iterable[str] | None = None,
        delegated: bool = True,
    ) -> tuple[int, int, list[ApprovalRecord]]:
        """Page `page` (of `size`; the last one if there are fewer) of the approvals waiting for `user`,
        with their texts, oldest first, read from the Home indexes (`Homes.waiting_page`: the page and
        the count, never the backlog): (how many in all, the page shown, its approvals). `groups`: the
        user groups with approvals pending (None: read them); `delegated`: with those waiting for the
        people away who delegated to `user`. The exact rules are applied again to the page's records
        (`waiting_for`): one decided meanwhile is left out."""
        pending_groups = await self._store.homes.pending_groups() if groups is None else sorted(groups)
        principals = await self._store.away.principals(user, now=time.time()) if delegated else []
        if self._people is not None:  # the `email:` approver their verified email is: listed as a principal's
            principals = [*principals, *await self._people.aliases(user)]
        theirs = {p: await self._groups_of(p, pending_groups) for p in principals}
        mine = await self._groups_of(user, pending_groups)
        page = max(0, page)
        found = await self._store.homes.waiting_page(
            user, groups=mine, principals=theirs, offset=page * size, count=size
        )
        last = max(0, -(-found.total // size) - 1)
        if page > last:  # fewer pages now than when the person chose this one
            page = last
            found = await self._store.homes.waiting_page(
                user, groups=mine, principals=theirs, offset=page * size, count=size
            )
        records = await self._store.approvals.get_many(found.ids)
        pending = {a.id for a in records if a.pending}
        if len(pending) < len(found.ids):  # listed, yet decided by a worker older than the indexes, or gone
            await self._store.homes.forget(found, [i for i in found.ids if i not in pending])
        return found.total, page, await self.waiting_for(user, records, principals=principals)

    async def _groups_of(self, user: str, groups: Sequence[str]) -> list[str]:
        """Those of `groups` that `user` is in (membership cached by the directory; a group that cannot
        be read counts as not theirs, as in `Directory.counts_in_groups`)."""
        mine = []
        for group in groups:
            if await self._directory.counts_in_groups(user, [group]):
                mine.append(group)
        return mine

    async def _url(self) -> str:
        """The workspace's URL (for links to runs' headers), from `auth.test`, asked once."""
        if self._workspace_url is None:
            try:
                response = await self._slack.auth_test()
            except (SlackApiError, aiohttp.ClientError, TimeoutError):
                return ""
            self._workspace_url = str(response.get("url") or "")
        return self._workspace_url
