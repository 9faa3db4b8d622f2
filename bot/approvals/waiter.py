"""Per-worker waiting: one pub/sub subscription for all of a worker's approvals (every tenant's), and deadlines.

`DecisionWaiter` keeps a future per approval this worker waits for, and resolves it when a decision
of it is published to the worker's channel. The message only wakes the waiter: the decision itself
is read from the approval's record (`ApprovalService`). Pub/sub is at-most-once, so after every
(re)subscription it re-reads the status of every approval it waits for. A decision made on this worker
wakes its waiter at once (`decided_here`); one its decide step took for the waiting run comes with the decision
itself (`deciding`: the run and fence it waits with; the message that step publishes, heard while it runs, is held
until its answer, so the run is woken once, with what it took).

A tenant's parts wait through a view of the worker's one waiter (`DecisionWaiter.view`: no connection, no task of
its own; the channels are the worker's, so one subscription hears every tenant's decisions, and the store each
approval is waited for in is kept to read it again after a resubscription; sharded, a tenant's own channels too,
added as its view is made: bot/approvals/tenant_channels.py).

The loops of due work (deadlines, reminders, a surface's copies): bot/approvals/due_loops.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from bot.approvals.tenant_channels import TenantChannels, next_message
from bot.core.tasks import stop_task
from bot.store import DecideResult, Fence, Store, StoreUnavailable, Subscription

log = logging.getLogger(__name__)

ControlHandler = Callable[[dict[str, Any]], Awaitable[None]]


class Woken(Protocol):
    """Whoever else waits for decisions published to a channel this worker also listens to (the
    Approvals API's long-polls: `bot.api.service.ApiWaiters`)."""

    def wake(self, approval_id: str) -> None: ...

    def wake_all(self) -> None: ...


class Together:
    """Whoever waits on one channel, woken together: each `Woken` with the approval decided, and each sweeper
    (a `DueSweeper`'s `wake`: the webhook sender, which has a delivery to make now) to look again."""

    def __init__(self, *woken: Woken, sweepers: Sequence[Callable[[], None]] = ()) -> None:
        self._woken = woken
        self._sweepers = tuple(sweepers)

    def wake(self, approval_id: str) -> None:
        for woken in self._woken:
            woken.wake(approval_id)
        for sweeper in self._sweepers:
            sweeper()

    def wake_all(self) -> None:
        for woken in self._woken:
            woken.wake_all()
        for sweeper in self._sweepers:
            sweeper()


class DecisionWaiter:
    """Futures for this worker's pending approvals, woken from its one subscription."""

    def __init__(
        self,
        store: Store,
        worker_id: str,
        *,
        on_control: ControlHandler | None = None,
        on_reconnect: Callable[[], None] | None = None,
        also: Mapping[str, Woken] | None = None,
        base: DecisionWaiter | None = None,
    ) -> None:
        self._on_reconnect = on_reconnect
        self._store = store
        self._freeze = store.freezes.copies  # (sharded: the freeze's number heard on the subscription)
        self._channel = store.keys.worker_channel(worker_id)
        self._base = base
        # other workers' channels this one listens to as well (by the owner their decisions name): each tenant's
        # parts add theirs (`view`), woken together
        self._also: dict[str, list[Woken]] = {} if base is None else base._also
        self._mine = [(store.keys.worker_channel(owner), woken) for owner, woken in (also or {}).items()]
        for channel, woken in self._mine:
            self._also.setdefault(channel, []).append(woken)
        self._controls: list[ControlHandler] = [] if base is None else base._controls  # each tenant's runs
        self._on_control = on_control
        if on_control is not None:
            self._controls.append(on_control)
        # shared with the views: approval -> its future, the run (and fence) waiting with it here, the decide steps
        # running here for it [count, messages heard meanwhile], and the store it is waited for in (a view's)
        self._futures: dict[str, asyncio.Future[DecideResult | None]] = {} if base is None else base._futures
        self._takes: dict[str, tuple[str, Fence]] = {} if base is None else base._takes
        self._deciding: dict[str, list[int]] = {} if base is None else base._deciding
        self._stores: dict[str, Store] = {} if base is None else base._stores
        # sharded: each tenant's own channels to this worker, heard too (a view's tenant's added as it is made)
        self._tenants: TenantChannels = base._tenants if base else TenantChannels(
            store.keys.worker_channels, self._channel, self._also)
        self._tenants.join(store.shared.worker_channels, self)  # (none: the root's)
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self.reconnects = 0
        # told of each notice to every worker heard on an `also` channel (`Tenancy`: a workspace uninstalled)
        self.on_notice: list[ControlHandler] = [] if base is None else base.on_notice

    def view(self, store: Store, *, also: Mapping[str, Woken] | None = None) -> DecisionWaiter:
        """A tenant's waiter: this one's subscription, futures and handlers, approvals waited for in `store`;
        `also`: its own who-else-waits on channels this worker listens to (woken with the others')."""
        return DecisionWaiter(store, self._channel.removeprefix(store.keys.worker_channels), also=also, base=self)

    def set_control_handler(self, handler: ControlHandler) -> None:
        """A handler of the control messages to this worker (each tenant's run manager: every one is told)."""
        if self._on_control is not None:
            self._controls.remove(self._on_control)
        self._on_control = handler
        self._controls.append(handler)

    async def _shared(self, woken: Sequence[Woken], data: str) -> None:
        """One message on a channel every worker listens to (`also`): a decision wakes `woken`; a notice for every
        worker (`{"t": …}`, such as a workspace's uninstall) goes to each `on_notice` handler."""
        try:
            message = json.loads(data)
        except ValueError:
            message = None
        if isinstance(message, dict) and message.get("t") == "decision" and isinstance(message.get("id"), str):
            for each in woken:
                each.wake(message["id"])
        elif isinstance(message, dict) and isinstance(message.get("t"), str) and self.on_notice:
            for handler in self.on_notice:
                try:
                    await handler(message)
                except Exception:
                    log.exception("a notice to every worker could not be handled; skipped")
        else:
            log.warning("ignored a malformed decision message")

    @property
    def waiting(self) -> int:
        """The approvals waited for here in this waiter's store (a view's tenant; the worker's: home's)."""
        return sum(1 for approval_id in self._futures if self._stores.get(approval_id, self._store) is self._store)

    async def listening(self, *, within: float = 10.0) -> bool:
        """Whether the worker's subscription hears this view's tenant's own channels (sharded), waiting at most
        `within` seconds for it (True at once when it has none, or the worker's waiter does not run)."""
        task, prefix = (self._base or self)._task, self._store.shared.worker_channels
        return task is None or task.done() or await self._tenants.listening(prefix, within=within)

    async def start(self) -> None:
        if self._base is not None:  # a view: the worker's waiter listens
            return
        self._task = asyncio.create_task(self._listen(), name="decision-waiter")
        await self._ready.wait()

    async def stop(self) -> None:
        """Stop listening (the worker's) or waiting (a view's: its approvals' futures cancelled, its handlers
        gone)."""
        await stop_task(self._task)
        self._tenants.leave(self)
        for channel, woken in self._mine:
            self._also[channel].remove(woken)
        self._mine = []
        if self._on_control is not None:
            self._controls.remove(self._on_control)
            self._on_control = None
        for approval_id, future in list(self._futures.items()):
            if self._base is None or self._stores.get(approval_id) is self._store:
                future.cancel()
                self.forget(approval_id)

    def expect(
        self, approval_id: str, *, take: tuple[str, Fence] | None = None
    ) -> asyncio.Future[DecideResult | None]:
        """Register interest in an approval *before* it can be decided: the future is done when a
        decision of it may have been made (its result: the decision, when a decide step here took it for
        the run that waits, `take` (run id, fence); else None: read it)."""
        future: asyncio.Future[DecideResult | None] = asyncio.get_running_loop().create_future()
        self._futures[approval_id] = future
        self._stores[approval_id] = self._store
        if take is not None:
            self._takes[approval_id] = take
        return future

    @contextlib.contextmanager
    def deciding(self, approval_id: str) -> Iterator[tuple[str, Fence] | None]:
        """While a decide step runs here: the run (and its fence) that waits here for the approval, which the step
        may take the decision for (`Approvals.decide(take=...)`), else None. Meanwhile a decision message heard for
        it (the one this step publishes, which Redis may deliver before the step's answer) is held: the step's
        answer wakes the run with what it took (`wake(approval_id, taken)`); whatever else ends the step (a
        refusal, another worker's decision, an error, a cancellation) lets a held message wake it as usual."""
        take = self._takes.get(approval_id) if approval_id in self._futures else None
        if take is None:
            yield None
            return
        state = self._deciding.setdefault(approval_id, [0, 0])
        state[0] += 1
        try:
            yield take
        finally:
            state[0] -= 1
            if state[0] == 0 and self._deciding.pop(approval_id, None) is not None:
                if state[1]:
                    self.wake(approval_id)

    def forget(self, approval_id: str) -> None:
        self._futures.pop(approval_id, None)
        self._takes.pop(approval_id, None)
        self._stores.pop(approval_id, None)

    def wake(self, approval_id: str, taken: DecideResult | None = None) -> bool:
        future = self._futures.pop(approval_id, None)
        self._takes.pop(approval_id, None)
        self._stores.pop(approval_id, None)
        if future is None or future.done():
            return False
        future.set_result(taken)
        return True

    def heard(self, approval_id: str) -> None:
        """A decision of the approval was published (or read after a resubscription): wake its waiter, unless a
        decide step here is still running for it (`deciding`), whose end wakes it."""
        if (state := self._deciding.get(approval_id)) is not None:
            state[1] += 1
        else:
            self.wake(approval_id)

    def decided_here(self, owner: str, approval_id: str) -> None:
        """A decision this worker just made: wake whoever waits for it here at once, without waiting for the
        message the decide step published (which wakes nobody a second time). `owner`: the approval's, this
        worker's id or one whose channel this worker also listens to (the Approvals API's)."""
        if self._store.keys.worker_channel(owner) == self._channel:
            self.wake(approval_id)
        else:
            for woken in self._also.get(self._store.keys.worker_channel(owner), ()):
                woken.wake(approval_id)

    async def _listen(self) -> None:
        backoff = 0.1
        while True:
            pubsub: Subscription | None = None
            getting: asyncio.Future[Any] | None = None
            try:
                self._tenants.reset(self._store)
                pubsub = await self._store.subscriber()
                await pubsub.subscribe(self._channel, *self._also)
                await self._tenants.add(pubsub, self._tenants.fresh())
                await self._freeze.watch(pubsub)  # (sharded: the freeze's number heard, not read)
                await self._caught_up()
                self._ready.set()
                self._store.outage.ok()
                backoff = 0.1
                while True:
                    getting, message = await next_message(pubsub, getting, self._tenants)
                    if self._tenants.more.is_set():  # a tenant's view made: its channels added, its waits read again
                        self._tenants.more.clear()
                        if fresh := self._tenants.fresh():
                            await self._tenants.add(pubsub, fresh)
                            await self._caught_up()
                    if isinstance(message, dict) and message.get("type") == "message":
                        if self._freeze.heard(message):
                            continue
                        other = self._also.get(self._tenants.standing_for(str(message.get("channel"))))
                        if other is not None:
                            await self._shared(list(other), message["data"])
                        else:
                            await self._dispatch(message["data"])
            except Exception as exc:  # Redis away, or a bug: neither may leave this worker's runs waiting forever
                self._store.shared.freeze_heard.lost()  # (each Approve reads the freeze's number until heard again)
                if pubsub is not None:  # subscribed, or about to: what is published meanwhile is read again
                    self.reconnects += 1
                    if self._on_reconnect is not None:
                        self._on_reconnect()
                if isinstance(exc, StoreUnavailable):
                    self._store.outage.failed(exc)  # one line, then one a minute (bot.core.logs.Outage)
                else:
                    log.exception("decision subscription failed; resubscribing")
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                self._store.shared.freeze_heard.lost()
                if getting is not None:
                    getting.cancel()
                    with contextlib.suppress(BaseException):
                        await getting
                if pubsub is not None:
                    with contextlib.suppress(Exception):
                        await pubsub.aclose()

    async def _caught_up(self) -> None:
        """Subscribed (again, or to more channels): what was published meanwhile is read again."""
        await self._reconcile()
        for woken in [w for listed in self._also.values() for w in listed]:
            woken.wake_all()

    async def _reconcile(self) -> None:
        """Resolve every awaited approval that was decided while we were not subscribed."""
        by_store: dict[int, tuple[Store, list[str]]] = {}
        for approval_id in list(self._futures):
            store = self._stores.get(approval_id, self._store)
            by_store.setdefault(id(store), (store, []))[1].append(approval_id)
        for store, ids in by_store.values():
            for approval in await store.approvals.get_many(ids):
                if not approval.pending:
                    self.heard(approval.id)

    async def _dispatch(self, data: str) -> None:
        """One message on this worker's channel: a decision wakes its waiter; anything else is a control
        message. A malformed message is logged and skipped (the subscription goes on)."""
        try:
            message = json.loads(data)
        except ValueError:
            message = None
        if not isinstance(message, dict):
            log.warning("ignored a malformed worker message (not a JSON object)")
            return
        if message.get("t") == "decision":
            approval_id = message.get("id")
            if not isinstance(approval_id, str):
                log.warning("ignored a malformed decision message")
                return
            self.heard(approval_id)
        else:
            for handler in list(self._controls):  # (a run named is one handler's: the others do nothing)
                try:
                    await handler(message)
                except Exception:
                    log.exception("a control message could not be handled; skipped")
