"""A worker's policies: the active bundle (`POLICY_DIR`, `POLICY_MODE`), kept current when its files change, and
the one evaluation every way in goes through (`PolicyEngine.judge`, called by the decision chain's policies link,
bot/approvals/deciders/policies.py): the request's windows read from Redis, then Cedar (bot/policy/decide.py); and
a person's vote asked of the policies about who decides (`PolicyEngine.judge_decider`, by
bot/approvals/decider_policies.py), by the bundle current at the click.

A bundle that does not load stops a worker at start (`PolicyError`, exit 2 naming the file and line). Later, a
change that does not load keeps the last good bundle: a warning and a `policy_load_failed` audit entry. Every
load is audited (`policy_loaded`, with its hash), and `/healthz` shows the hash a worker runs.

Changes are found by content: every `reload_seconds` the files are read (the folder looked up anew, so a swapped
symbolic link is followed) and hashed as the bundle's hash is, so an edit that keeps a file's size and time is
loaded too. A new content is loaded only once it has settled: the content, and the folder (where the link leads, its
own times, each entry's name, inode, size and times, whatever its name), the same on every look for
`settle_seconds`; and the same again in what was loaded. Until then, and when it does not load, the last good bundle
stays. A writer that pauses for less than the settle time is never loaded half-written. One that pauses longer in
the middle of a file (and leaves what parses) cannot be told from one that finished: a file published whole, by a
rename or a symbolic link swapped, is the only write that is safe whatever its writer does (docs/operators/
policies.md)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

from bot.core.tasks import Background
from bot.policy.bundle import PolicyBundle, PolicyError, bundle_texts, content_hash, load_bundle
from bot.policy.decide import DeciderRequest, Evaluator, PolicyRequest, PolicyVerdict
from bot.policy.windows import WindowMark
from bot.store import Store, persistently

log = logging.getLogger(__name__)

PolicyMode = Literal["enforce", "shadow"]
RELOAD_SECONDS = 1.0  # between two looks at the files
SETTLE_SECONDS = 5.0  # how long a new content and its folder stay the same before it is loaded
WINDOW_SLACK = 3600  # seconds a window's set outlives its `over`


@dataclass(frozen=True, slots=True)
class Judged:
    """What the policies decided about one request, with the windows it read (`marks`, for the open step)."""

    verdict: PolicyVerdict
    marks: tuple[WindowMark, ...]
    bundle: PolicyBundle

    def windows_arg(self, approval_id: str) -> list[dict[str, Any]]:
        return [mark.arg(approval_id) for mark in self.marks]

    @property
    def claim(self) -> dict[str, Any]:
        """`{bundle, ids}` of the policies that decided (audit entries, receipts)."""
        return self.bundle.claim(self.verdict.ids)


class PolicyEngine:
    """The active bundle of one worker (or one CLI command), and its evaluation (module docstring)."""

    def __init__(self, bundle: PolicyBundle, *, store: Store | None = None, mode: PolicyMode = "enforce",
                 worker: str = "", reload_seconds: float = RELOAD_SECONDS,
                 settle_seconds: float = SETTLE_SECONDS, models: Collection[str] | None = None) -> None:
        self.mode = mode
        self.models = None if models is None else frozenset(models)  # MODEL_CONFIG's, each @triage must name one
        self.store = store
        self.worker = worker
        self.reload_seconds = reload_seconds
        self.settle_seconds = settle_seconds
        self._evaluator = Evaluator(bundle, shadow_all=mode == "shadow")
        self._seen: Look | None = None  # what the last look found (loaded once it stayed the same long enough)
        self._seen_since = 0.0  # since when (monotonic) the looks found it
        self._failed = ""
        self._failed_hash = ""  # the content that did not load
        # what the worker checks of a loaded bundle outside it (the user groups its @approvers name, with Slack):
        # a warning ("" when none), kept in `warning` and audited as `policy_warning`
        self.vet: Callable[[PolicyBundle], Awaitable[str]] | None = None
        self.warning = ""
        self.failed_since = 0.0  # when the files on disk stopped loading (0: they load), with `failed`
        self._task: asyncio.Task[None] | None = None
        self.evaluations = 0  # how many requests this engine judged (one per walk of the decision chain)

    @classmethod
    def load(cls, directory: str | None, *, models: Collection[str] | None = None, **kwargs: Any) -> PolicyEngine:
        """The engine of `directory`'s bundle (its @triage checked against `models`, MODEL_CONFIG's); PolicyError if
        it does not load."""
        return cls(load_bundle(directory, models=models), models=models, **kwargs)

    @property
    def bundle(self) -> PolicyBundle:
        return self._evaluator.bundle

    @property
    def evaluator(self) -> Evaluator:
        return self._evaluator

    # the one evaluation ------------------------------------------------------------------------------------
    async def judge(self, request: PolicyRequest) -> Judged:
        """The policies' verdict on `request`, its windows read from Redis first (through a blip)."""
        evaluator = self._evaluator
        bundle = evaluator.bundle
        specs = [spec for spec in bundle.windows if spec.actions is None or request.action in spec.actions]
        totals: list[int] = []
        keys: list[str] = []
        if specs and self.store is not None:
            store = self.store
            keys = [store.keys.window(spec.key_part(request.per)) for spec in specs]
            since = [request.at - spec.over for spec in specs]
            counts = [not spec.sum for spec in specs]
            totals = await persistently(lambda: store.windows.totals(keys, since, counts),
                                        what="reading policy windows")
        else:
            totals = [0] * len(specs)
        amounts = [spec.amount(request.action, request.args) for spec in specs]
        marks = tuple(
            WindowMark(spec.name, key, request.at - spec.over, total, counted(amount), spec.over + WINDOW_SLACK,
                       count=not spec.sum)
            for spec, key, total, amount in zip(specs, keys or [""] * len(specs), totals, amounts, strict=True)
        )
        verdict = evaluator.evaluate(request, {mark.name: mark.expect for mark in marks})
        self.evaluations += 1
        return Judged(verdict, marks if self.store is not None else (), bundle)

    def judge_decider(self, request: DeciderRequest) -> Judged | None:
        """The decider policies' verdict on a person's vote (`Evaluator.evaluate_vote`), by the bundle current now
        (one added while an approval waits applies to its next vote); None when none applies to its action."""
        evaluator = self._evaluator
        if not evaluator.has_voters(request.action):
            return None
        return Judged(evaluator.evaluate_vote(request), (), evaluator.bundle)

    # loading ---------------------------------------------------------------------------------------------
    def start(self, background: Background) -> None:
        """Audit this load and look for changed files every `reload_seconds` (a bundle from POLICY_DIR; the shipped
        defaults alone are no load worth an entry)."""
        if not self.bundle.directory:
            return
        background.spawn(self._loaded(self.bundle), name="policy-loaded")
        if self.reload_seconds > 0:
            self._task = asyncio.get_running_loop().create_task(self._watch(), name="policy-watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.reload_seconds)
            try:
                await self.reload()
            except Exception:  # a watcher that stops would leave a stale bundle with nobody told
                log.exception("looking for policy changes failed")

    @property
    def failed(self) -> str:
        """Why the files on disk do not load now ("" when they do, or have not changed): the last good bundle stays."""
        return self._failed

    async def reload(self) -> bool:
        """Load the bundle again if its files' content changed and has settled (module docstring): True when a new
        one is active. One that does not load keeps the last good one (a warning, and `policy_load_failed`
        audited once per distinct error)."""
        directory = self.bundle.directory
        look = await asyncio.to_thread(look_at, directory)
        if look != self._seen:  # a change (or the first look): the settle time starts again
            self._seen, self._seen_since = look, time.monotonic()
        seen = look.content
        if seen == self.bundle.hash or seen == self._failed_hash:
            if seen == self.bundle.hash and self._failed:  # back to the bundle in force
                self._failed, self._failed_hash, self.failed_since = "", "", 0.0
            return False
        if time.monotonic() - self._seen_since < self.settle_seconds:
            return False
        try:
            bundle = await asyncio.to_thread(partial(load_bundle, directory, models=self.models))
        except PolicyError as exc:
            self._failed_hash = seen  # not parsed again until the files change
            if str(exc) != self._failed:
                self._failed, self.failed_since = str(exc), time.time()
                log.warning("policies not reloaded, the last good bundle %s stays: %s", self.bundle.short_hash, exc)
                await self._audit("policy_load_failed", error=str(exc)[:500], kept=self.bundle.hash)
            return False
        if bundle.hash != seen or await asyncio.to_thread(folder_state, directory) != look.folder:
            return False  # written again while it was loaded: the next looks decide
        self._failed, self._failed_hash, self.failed_since = "", "", 0.0
        self._evaluator = Evaluator(bundle, shadow_all=self.mode == "shadow")
        log.info("policies reloaded: bundle %s (%d policies)", bundle.short_hash, len(bundle.policies))
        await self._loaded(bundle)
        return True

    async def _loaded(self, bundle: PolicyBundle) -> None:
        await self._audit("policy_loaded", bundle=bundle.hash, policies=str(len(bundle.policies)),
                          files=",".join(bundle.files)[:500], digests=",".join(bundle.digests)[:4000], mode=self.mode,
                          by=f"system:policy folder {bundle.directory or '(the shipped defaults)'}"[:300])
        self.warning = await self.vet(bundle) if self.vet is not None else ""
        if self.warning:
            log.warning("policies %s: %s", bundle.short_hash, self.warning)
            await self._audit("policy_warning", bundle=bundle.hash, warning=self.warning[:500])

    async def _audit(self, event: str, **fields: str) -> None:
        if self.store is None:
            return
        store = self.store
        entry = {"at": repr(time.time()), "by": "system", "worker": self.worker, **fields}
        try:
            await persistently(lambda: store.audit.append(event, **entry), what=f"auditing {event}")
        except Exception:
            log.exception("could not audit %s", event)

    async def counts(self) -> dict[str, int]:
        """How often each policy of the active bundle decided (all workers, in Redis)."""
        if self.store is None:
            return {}
        return await self.store.approvals.policy_counts(self.bundle.hash)


@dataclass(frozen=True, slots=True)
class Look:
    """What one look at POLICY_DIR found: the files' content (the bundle's hash, or why they cannot be read) and
    the folder's state (`folder_state`)."""

    content: str
    folder: tuple[Any, ...]


def look_at(directory: str) -> Look:
    """The files' content and the folder's state, now (blocking: run in a thread)."""
    try:
        content = content_hash(bundle_texts(directory))
    except PolicyError as exc:
        content = f"unreadable: {exc}"
    return Look(content, folder_state(directory))


def folder_state(directory: str) -> tuple[Any, ...]:
    """What a write in POLICY_DIR changes, whatever the file (a draft beside the bundle too): the folder it leads to
    (a swapped symbolic link), its own times, and each entry's name, inode, size and times (links followed)."""
    try:
        real = os.path.realpath(directory)
        own = os.stat(real)
        entries: list[tuple[Any, ...]] = []
        with os.scandir(real) as found:
            for entry in found:
                try:
                    st = entry.stat()
                    entries.append((entry.name, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
                except OSError as exc:  # gone meanwhile, or a link to nothing
                    entries.append((entry.name, type(exc).__name__, 0, 0, 0))
    except OSError as exc:
        return ("unreadable", type(exc).__name__)
    return (real, own.st_ino, own.st_mtime_ns, own.st_ctime_ns, tuple(sorted(entries)))


def counted(amount: int | None) -> int | None:
    """What a call adds to a window: its amount, or nothing when it is below zero (a call never lowers a window:
    the verdict on it is a person's, `decide.never_counted_down`)."""
    return None if amount is None or amount < 0 else amount


def shadow_entry(judged: Judged, *, approval: str, request: PolicyRequest) -> dict[str, str] | None:
    """The `policy_shadow` audit entry of a verdict whose shadow policies would have decided otherwise."""
    shadow = judged.verdict.shadow
    if shadow is None:
        return None
    return {
        "at": repr(time.time()), "approval": approval, "by": "policy", "outcome": judged.verdict.outcome,
        "would": shadow.outcome, "reason": shadow.reason[:500], "tool": request.action, "kind": request.kind,
        "origin_channel": request.channel,
        "policy": json.dumps(judged.bundle.claim(shadow.ids), separators=(",", ":")),
    }
