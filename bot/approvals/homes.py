"""Each person's App Home: what waits for them, their runs, what they decided, kept current.

    opened (app_home_opened)        -> publish(person)
    an approval opened              -> refresh_for(approval): publish each affected person's Home
    a decision or vote, redrawn     -> refresh_for(approval), awaited by the card redraw: the outbox
                                       entry is cleared only once every Home is current

`publish` draws from Redis (`bot/store/homes.py`), under a per-person lock, so two workers never
publish one Home at once and the later one always reads the newer state; a Home that already shows
the change (its `seen` counter) is skipped, and the changes of 0.2 s are gathered into one redraw
(`publish_soon`), which merges a burst of decisions into one publish per person. Slack's `hash`
guards against a holder that stalled past its lock. `views.publish` is a Tier 4 method (100+ per
minute): at most `concurrency` publishes run at once per worker. Only the Homes of
people who opened theirs in the last 30 days are kept current (a Home never opened is drawn when it
first is), so a workspace where nobody uses the Home costs one Redis read per redraw, no Slack call.

A channel's admins (its `admins`; ADMIN_USERS for every channel that has settings or rules) also see
their channels: the last 7 days' headline numbers, read from a cache only (`bot/report/headline_cache.py`: when
missing, the Home shows "computing…" and is redrawn once they are computed, off the draw's path), and
the live rules, each with Revoke. Rules are read at each draw, so a rule created or revoked shows the
next time a Home is drawn; `refresh_admins(channel)` redraws the Homes of a channel's admins at once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
import time
from collections.abc import Iterable, Sequence

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.records import ApprovalRecord
from bot.core.tasks import Background
from bot.report.headline_cache import Headlines
from bot.slack.blocks import HOME_PAGE_SIZE, HomeContent, build_home_view
from bot.slack.blocks.home import HOME_CHANNELS, ChannelPanel
from bot.slack.directory import Directory
from bot.store import Store

log = logging.getLogger(__name__)

LOCK_SECONDS = 10.0  # a Home's drawer holds its lock at most this long (then another may draw it)
LOCK_POLL = 0.01
GATHER = 0.2  # seconds of changes gathered into one redraw of a Home
ADMIN_CANDIDATES = 30  # an admin's channels read at a draw (the most recently configured), to pick those shown
SETTINGS_CHANNELS_READ = 1000  # ADMIN_USERS: the channels with settings considered (the most recent)


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
    ) -> None:
        self.admin_users = tuple(admin_users)  # ADMIN_USERS: they administer every channel
        self.headlines = Headlines(store, worker_id=worker_id)
        self._headlines_wanted: set[tuple[str, str]] = set()  # (channel, person) being computed for, here
        self._indexed = False  # settings written before the admin index existed: indexed once per worker
        self._store = store
        self._slack = slack
        self._directory = directory
        self._worker_id = worker_id
        self._slots = asyncio.Semaphore(concurrency)
        self._workspace_url: str | None = None
        self._background = background
        self._scheduled: dict[str, asyncio.Future[bool]] = {}  # a person's next redraw, gathering changes

    # who sees what ------------------------------------------------------------------------
    async def waiting_for(
        self, user: str, pending: Iterable[ApprovalRecord], *, principals: Sequence[str] = ()
    ) -> list[ApprovalRecord]:
        """The pending approvals `user` may decide now (the decide step checks again when they do),
        themselves or for one of `principals` (away, delegating to them), oldest first."""
        waiting = []
        for approval in pending:
            if await self._may_decide(approval, user) or any(
                [await self._may_decide(approval, p, delegate=user) for p in principals]
            ):
                waiting.append(approval)
        return sorted(waiting, key=lambda a: (a.created_at, a.id))

    async def _may_decide(self, approval: ApprovalRecord, user: str, *, delegate: str = "") -> bool:
        groups = [a for a in approval.approvers if a.startswith("S")]
        in_groups = bool(groups) and user not in approval.approvers and await self._in_groups(user, groups)
        if delegate:
            return approval.may_decide_for(delegate, user, in_groups=in_groups)
        return approval.may_decide(user, in_groups=in_groups)

    async def _in_groups(self, user: str, groups: list[str]) -> bool:
        try:
            return await self._directory.in_any_group(user, groups)
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("user groups could not be read for a Home (%s)", type(exc).__name__)
            return False

    async def affected(self, approval: ApprovalRecord) -> set[str]:
        """Whose Home shows `approval`, or should now: who may decide it (named; members of its groups;
        anyone when none are named), who started its run, who voted and who decided it; of them, those
        who have opened their Home (the others get theirs drawn when they first open it)."""
        viewers = set(await self._store.homes.viewers())
        if not viewers:
            return set()
        people = {approval.requester, approval.decided_by, *approval.voters}
        if not approval.approvers:
            return viewers
        people |= {a for a in approval.approvers if not a.startswith("S")}
        for group in (a for a in approval.approvers if a.startswith("S")):
            try:
                people |= await self._directory.group_members(group)
            except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
                log.warning("user group %s could not be read for Homes (%s)", group, type(exc).__name__)
        # and the delegates of those away, who may decide for them
        away = await self._store.away.many(sorted(people), now=time.time())
        people |= {state.delegate for state in away.values() if state.delegate}
        return people & viewers

    async def admin_channels(self, user: str) -> tuple[list[str], int, dict[str, float]]:
        """The channels `user` administers, the most recently configured first (at most
        `ADMIN_CANDIDATES`), how many in all, and when each was last configured (0: never)."""
        named = await self._store.settings.admin_of(user)
        if not named and user not in self.admin_users:
            return [], 0, {}  # (most people: one Redis command)
        recent = dict(await self._store.settings.channels(limit=SETTINGS_CHANNELS_READ))
        every = set(named)
        if user in self.admin_users:
            every |= set(recent) | set(await self._store.rules.channels())
        ordered = sorted(every, key=lambda c: (-recent.get(c, 0.0), c))
        return ordered[:ADMIN_CANDIDATES], len(every), recent

    async def channel_panels(self, user: str) -> tuple[list[ChannelPanel], int]:
        """What `user`'s Home shows of the channels they administer: the most active (configured, or
        with a rule, lately) first, at most `HOME_CHANNELS`, and how many they administer in all. The
        numbers are only read from the cache: those missing are computed in the background, and the
        Home redrawn then."""
        candidates, total, configured = await self.admin_channels(user)
        if not candidates:
            return [], 0
        now = time.time()
        rules = await asyncio.gather(*(self._store.rules.of_channel(c, now=now) for c in candidates))
        live = dict(zip(candidates, rules, strict=True))

        def activity(channel: str) -> float:
            return max([configured.get(channel, 0.0), *(r.created_at for r in live[channel])])

        shown = sorted(candidates, key=lambda c: (-activity(c), c))[:HOME_CHANNELS]
        cached = await self.headlines.cached(shown)
        for channel in shown:
            if channel not in cached:
                self._want_headline(channel, user)
        panels = [
            ChannelPanel(
                channel=c,
                numbers=cached[c].numbers if c in cached else None,
                as_of=cached[c].at if c in cached else now,
                rules=live[c],
            )
            for c in shown
        ]
        return panels, total

    def _want_headline(self, channel: str, user: str) -> None:
        """Compute `channel`'s numbers in the background (unless this worker is already at it for
        `user`), then redraw the Homes that waited for them."""
        wanted = (channel, user)
        if wanted in self._headlines_wanted:
            return
        self._headlines_wanted.add(wanted)

        async def compute() -> None:
            try:
                people = await self.headlines.refresh(channel, user)
            finally:
                self._headlines_wanted.discard(wanted)
            await asyncio.gather(*(self.publish_soon(person, at_least=0) for person in people))

        self._background.spawn(compute(), name=f"headline-{channel}-{user}")

    async def refresh_admins(self, channel: str, *, but: Sequence[str] = ()) -> bool:
        """Redraw the Homes of `channel`'s admins (but those of `but`) who opened theirs lately: its
        rules changed. False when a publish failed."""
        settings = await self._store.settings.get(channel, default_timeout=0)
        people = ({*settings.admins, *self.admin_users} - set(but)) & set(await self._store.homes.viewers())
        done = await asyncio.gather(*(self.publish_soon(p, at_least=0) for p in sorted(people)))
        return all(done)

    # publishing ---------------------------------------------------------------------------
    async def refresh_for(self, approval: ApprovalRecord) -> bool:
        """Bring the Home of each person `approval` concerns up to its change. False when a publish
        failed (the caller keeps the approval in the outbox, to try again)."""
        people = sorted(await self.affected(approval))
        done = await asyncio.gather(*(self.publish_soon(p, at_least=approval.version) for p in people))
        return all(done)

    async def publish_soon(self, user: str, *, at_least: int) -> bool:
        """`publish`, gathering the changes of the next `GATHER` seconds into one redraw per person (a
        burst of decisions costs each Home one redraw, not one per decision)."""
        if at_least and await self._store.homes.seen(user) >= at_least:
            return True  # (0: the change's counter is not known, e.g. an approval just opened: redraw)
        scheduled = self._scheduled.get(user)
        if scheduled is None:
            scheduled = self._scheduled[user] = asyncio.get_running_loop().create_future()
            self._background.spawn(self._publish_later(user, scheduled), name=f"home-{user}")
        return await asyncio.shield(scheduled)

    async def _publish_later(self, user: str, done: asyncio.Future[bool]) -> None:
        try:
            await asyncio.sleep(GATHER)
            self._scheduled.pop(user, None)  # a change from now on may not be read below: it schedules again
            done.set_result(await self.publish(user))
        except BaseException as exc:
            self._scheduled.pop(user, None)
            if not done.done():
                done.set_result(False)
            if isinstance(exc, asyncio.CancelledError):
                raise
            log.exception("the Home of %s was not redrawn", user)

    async def refresh_person(self, user: str) -> bool:
        """Redraw `user`'s Home (e.g. one of their runs ended), if they have opened it lately."""
        if user not in await self._store.homes.viewers():
            return True
        return await self.publish(user)

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

    async def publish(self, user: str, *, at_least: int = 0) -> bool:
        """Draw `user`'s Home from Redis and publish it, unless it already shows change `at_least`
        (0: publish anyway). False when the lock could not be had or Slack refused."""
        if at_least and await self._store.homes.seen(user) >= at_least:
            return True  # drawn since that change already (checked again under the lock)
        holder = f"{self._worker_id}:{secrets.token_hex(4)}"
        deadline = time.monotonic() + LOCK_SECONDS + 1
        while not await self._store.homes.lock(user, holder, seconds=LOCK_SECONDS):
            if time.monotonic() > deadline:
                log.warning("the Home of %s stayed locked; not published", user)
                return False
            await asyncio.sleep(LOCK_POLL)  # another worker is drawing this Home: ours comes after, newer
        try:
            async with self._slots:
                return await self._publish_locked(user, holder, at_least=at_least)
        finally:
            await self._store.homes.unlock(user, holder)

    async def _publish_locked(self, user: str, holder: str, *, at_least: int) -> bool:
        state = await self._store.homes.state(user)
        if at_least and state.seen >= at_least:
            return True  # drawn since that change already
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
        )
        panels, total = await self.channel_panels(user)
        if total:
            content = dataclasses.replace(content, channels=panels, channels_total=total)
        view = build_home_view(content)
        try:
            try:
                response = await self._slack.views_publish(user_id=user, view=view, hash=state.hash or None)
            except SlackApiError as exc:
                if exc.response.get("error") != "hash_conflict":
                    raise
                # published since without its hash noted (its drawer died): ours is newer, as long as
                # this worker still holds the lock (one that stalled past it leaves the Home alone)
                if not await self._store.homes.holds(user, holder):
                    return True
                response = await self._slack.views_publish(user_id=user, view=view)
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
            error = exc.response.get("error") if isinstance(exc, SlackApiError) else type(exc).__name__
            log.warning("the Home of %s was not published (%s)", user, error)
            return False
        published = response.get("view") or {}
        await self._store.homes.drawn(
            user,
            seen=state.changes,
            view_hash=str(published.get("hash") or ""),
            shown=[a.id for a in shown],
            page=page,
        )
        return True

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
        be read counts as not theirs, as in `_in_groups`)."""
        mine = []
        for group in groups:
            if await self._in_groups(user, [group]):
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
