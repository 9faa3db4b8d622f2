"""Approvals in Redis, and the one place an approval changes state: the decide step (`lua/lib/decide.lua`).

The decide step moves an approval from pending to decided exactly once, whatever races it (two
reviewers, a double click, the timeout), appends the decision to the audit stream, puts its card in
the outbox and wakes the owning worker. `decide()` runs it for one approval, `time_out_due()` for a
batch of due ones.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Literal, cast

from bot.core.key_records import ApiKey
from bot.core.records import ApprovalRecord, workspace_of
from bot.core.workspaces import WorkspaceRef
from bot.store.codec import approval_from, pack, pairs, readable_approval, split_texts, unpack
from bot.store.connection import aw
from bot.store.due import DueWork
from bot.store.freezes import Freezes
from bot.store.keys import DECIDED_RETENTION_SECONDS
from bot.store.opening import Opening, OpenStatus, opened_entry
from bot.store.scripts import fence_arg
from bot.store.shared import Fence, Shared

CANARY_SECONDS = 120  # a canary approval (bot/api/canary.py) is gone this long after it was opened, decided or not
SWEEP_LEASE_SECONDS = 5.0  # a sweeper that claimed due approvals and died: they are due again this much later
DecideStatus = Literal[
    "ok", "vote", "missing", "mismatch", "unattached", "already", "not_due", "self", "not_allowed", "check_groups",
    "check_delegates", "check_people", "duplicate", "late", "allowed", "step_up", "check_workspace",
    "other_workspace", "frozen", "attestation", "details", "policy", "reversed", "unspread"
]


@dataclass(frozen=True, slots=True)
class DecideResult:
    status: DecideStatus
    approval: ApprovalRecord | None
    owner_heard: bool = False  # `ok`: the owner's worker was subscribed when the decision was published
    taken: bool = False  # `ok` with `take`: the run's owner took it in the same step (as `RunStore.consume`)
    running: bool = False  # taken: the run is running again (it had not ended)
    frozen: str = ""  # `frozen`: the freeze's words ("frozen: <reason> (scope …, by …)", `freezes.frozen_words`)
    attest: str = ""  # `attestation`: the scope the person holds no current attestation to (fit to decide)
    page: str = ""  # `attestation`: its brief's page on the bot ("" without PUBLIC_URL)
    refused: str = ""  # `policy`: a decider policy refused the vote: its words ("Policy <id>: <reason>")


# a person's click the decide step refused (lua/lib/decide.lua), by the metric's reason: the refused ones it audits
# (self, not_allowed, other_workspace, frozen) and those it only answers (already decided, a vote counted, ...)
REFUSED_CLICKS = {"self": "self", "not_allowed": "not_allowed", "other_workspace": "other_workspace",
                  "frozen": "frozen", "details": "details_not_opened", "already": "already_decided",
                  "duplicate": "duplicate_vote", "mismatch": "mismatch", "late": "late", "missing": "missing",
                  "attestation": "attestation", "unspread": "frozen"}


class Approvals:
    def __init__(self, shared: Shared) -> None:
        self._s = shared
        self._k = shared.keys
        self._due = DueWork(shared)  # the worker-wide index of due work (bot/store/due.py)
        self.refused: Callable[[str], None] = lambda reason: None  # each refused click's reason (the metrics)

    async def create(
        self, approval: ApprovalRecord, *, checkpoint: str | None = None, fence: Fence | None = None
    ) -> str:
        """Store a pending approval (`open` without limits). Returns "ok", "exists" or "fenced"."""
        status, _ = await self.open(Opening(approval, checkpoint=checkpoint, fence=fence))
        return status

    async def open(self, opening: Opening) -> tuple[OpenStatus, str]:
        """The one step that opens an approval (`lua/open_approval.lua`), given as one `Opening`, pending or decided at
        once, with every limit in it: a pending one is stored with its deadline (before its card is posted) if `fence`
        still owns its run and, with `max_pending`, while the asking key (`approval.key_id`) has fewer pending; `once`
        makes the ask idempotent; an approval decided at once (its status not pending: the input mode's or a rule's,
        audited as `audit`) is stored decided, and with `rule` (channel, rule id) only while that rule stands, its use
        counted. Returns (status, id): "ok"; "exists" (this `once` or this id opened it already: id); "conflict" (`once`
        was used with another body); "full"; "gone" (the rule was revoked or expired); "fenced"; "stale" (a policy
        window's total changed since the policies read it: `windows`, each {key, since, expect, count, member, ttl};
        decide again); "unsettled" (the channel's settings it was decided under, `settings` (channel, what its hash
        held: `ChannelSettingsStore.read`; None: not compared), changed since: read them, decide again). `policy` (the
        ids of the policies that decided or routed it, of `policy_bundle`) are counted for `/agent policy`."""
        approval, windows, once = opening.approval, opening.windows, opening.once
        fields, texts = split_texts(approval)
        decided = not approval.pending
        first_step = None if decided else approval.next_step_at(0)
        entry = opened_entry(opening)
        k = self._k
        rule_channel, rule_id = opening.rule
        settings_channel, settings_held = opening.settings
        policy_bundle, checkpoint, now = opening.policy_bundle, opening.checkpoint, opening.now
        result = await self._s.script("open_approval")(
            keys={
                "approval": k.approval(approval.id),
                "texts": k.texts(approval.id),
                "deadlines": k.deadlines,
                "run_approvals": k.run_approvals(approval.run_id),
                "checkpoint": k.checkpoint(approval.id),
                "audit": k.audit, "audit_seq": k.audit_seq, "audit_shards": k.audit_shards,
                "run": k.run(approval.run_id),
                "changes": k.changes,
                "nudges": k.nudges,
                "waiting": k.waiting,
                # (a placeholder, never read, of the workspace's own: in its slot on Redis Cluster)
                "idem": k.api_idempotency(once.owner, once.key) if once else k.scratch("-"),
                "pending": k.api_pending(approval.key_id) if approval.key_id else k.scratch("-"),
                "rules": k.rules(rule_channel or "-"),
                "rule_uses": k.rule_uses(rule_channel or "-"),
                "policy_counts": k.policy_counts(policy_bundle or "-"),
                "settings": k.settings(settings_channel or "-"),
                "windows": [str(window["key"]) for window in windows],
            },
            args={
                "fence": fence_arg(opening.fence),
                "id": approval.id,
                "deadline": repr(approval.deadline),
                "fields": fields,
                "texts": texts,
                # compressed: a team's state is repetitive JSON (~3 KB -> ~1 KB)
                "checkpoint": pack(checkpoint) if checkpoint is not None else "",
                "retention": str(DECIDED_RETENTION_SECONDS),
                "audit": entry,
                "nudge_at": "" if first_step is None else repr(first_step),
                "waiting": [repr(approval.created_at), f"{approval.origin_channel}/{approval.id}"],
                "idem": {"digest": once.digest, "ttl": once.ttl} if once else "",
                "max_pending": str(opening.max_pending if approval.key_id else 0),
                "decided": approval.status if decided else "",
                "rule": rule_id,
                "now": repr(time.time() if now is None else now),
                "windows": [{name: w[name] for name in ("since", "expect", "count", "member", "ttl")} for w in windows],
                "policy": list(opening.policy),
                "settings": list(settings_held) if settings_held is not None else "",
                "canary": str(CANARY_SECONDS) if approval.canary else "",
            },
        )
        status = str(result[0])
        if status == "ok" and not approval.canary:  # its deadline, reminder, card: due work; its tenant in one lookup
            await self._due.note(held=approval.id)
        return cast(OpenStatus, status), str(result[1]) if len(result) > 1 else ""

    async def open_canary(self, approval: ApprovalRecord) -> OpenStatus:
        """A worker's synthetic canary (bot/api/canary.py) opened by the one open step, marked `canary`: kept
        CANARY_SECONDS in no index and no audit entry. It allows no call (no program reads it, no receipt names it,
        only its probe decides it), so it is not asked of the decision chain."""
        status, _ = await self.open(Opening(replace(approval, canary=1)))
        return status

    async def policy_counts(self, bundle: str) -> dict[str, int]:
        """How often each policy of `bundle` decided or routed an approval (the open step counts them)."""
        raw = await aw(self._s.redis.hgetall(self._k.policy_counts(bundle)))
        return {str(name): int(count) for name, count in raw.items()}

    async def attach_card(self, approval_id: str, *, channel: str, ts: str, read_seconds: float | None = None) -> str:
        """Note the message showing an approval (and, the first time, when it was delivered and `read_seconds`, its
        reading time: lua/lib/oversight.lua). Returns the approval's status (a decided one's card is
        put in the outbox, to be redrawn), "other" when another message shows it already, or "missing"."""
        k = self._k
        status = str(
            await self._s.script("attach_card")(
                keys={"approval": k.approval(approval_id), "outbox": k.outbox},
                args={"id": approval_id, "channel": channel, "ts": ts, "now": repr(time.time()),
                      "read_seconds": "" if read_seconds is None else repr(read_seconds)},
            )
        )
        if status not in ("pending", "other", "missing"):  # in the outbox: a redraw due
            await self._due.note()
        return status

    async def note_copies(self, approval_id: str, copies: dict[str, str]) -> str:
        """Note the copies of an approval's card in direct messages, {channel: ts} (ts "" before the
        copy is posted). Returns the approval's status (a decided one's cards are put in the outbox),
        or "missing"."""
        k = self._k
        return str(
            await self._s.script("note_copies")(
                keys={"approval": k.approval(approval_id), "outbox": k.outbox},
                args={"id": approval_id, "now": repr(time.time()), "copies": copies},
            )
        )

    async def note_reveal(self, approval_id: str, user: str) -> bool:
        """Note that `user` saw the approval's hidden values (`lua/note_reveal.lua`); False when it is gone."""
        done = await self._s.script("note_reveal")(keys={"approval": self._k.approval(approval_id)},
                                                   args={"user": user})
        return str(done) == "ok"

    async def note_triage(self, approval_id: str, note: str) -> str:
        """The triage model's reading on a pending approval, its card due a redraw (`lua/triage_note.lua`): "ok",
        "decided" or "missing" (nothing written)."""
        done = str(await self._s.script("triage_note")(keys={"approval": self._k.approval(approval_id),
                                                                "outbox": self._k.outbox},
                                                          args={"id": approval_id, "note": note,
                                                                "now": repr(time.time())}))
        if done == "ok":
            await self._due.note()  # its redraw due
        return done

    async def get(self, approval_id: str) -> ApprovalRecord | None:
        found = await self.get_many([approval_id])
        return found[0] if found else None

    async def use(self, approval: ApprovalRecord, *, by: str, key: ApiKey) -> tuple[str, str, float]:
        """A program (`by`: its use's token, asking with `key`) uses its approval, once (`lua/use_approval.lua`):
        ("ok", by, now), or ("used", who used it, when), ("not_approved", status, 0), ("revoked", the rule that
        approved it and stands no more, 0), ("frozen", the frozen scope it is in, 0: audited) or ("missing", "", 0)."""
        now = time.time()
        status, *rest = await self._s.script("use_approval")(
            keys={"approval": self._k.approval(approval.id), "audit": self._k.audit, "audit_seq": self._k.audit_seq,
                  "audit_shards": self._k.audit_shards,
                  "rules": self._k.rules(approval.origin_channel or "-"), "frozen": self._k.frozen_here,
                  "frozen_seq": self._k.frozen_here_seq},
            args={"id": approval.id, "by": by, "key": key.id, "key_name": key.name,
                  "key_created": repr(key.created_at), "now": repr(now),
                  "frozen_at": await Freezes(self._s).copies.frozen_at()},  # (sharded: as a decision's)
        )
        if status == "used":
            return status, str(rest[0]), float(rest[1] or 0)
        if status in ("not_approved", "revoked", "frozen"):
            return status, str(rest[0]), 0.0
        return status, by if status == "ok" else "", now if status == "ok" else 0.0

    async def get_many(self, approval_ids: Iterable[str]) -> list[ApprovalRecord]:
        async with self._s.redis.pipeline(transaction=False) as pipe:
            for approval_id in approval_ids:
                pipe.hgetall(self._k.approval(approval_id))
                pipe.get(self._k.texts(approval_id))
            replies = await pipe.execute()
        found = (readable_approval(raw, text) for raw, text in zip(replies[::2], replies[1::2], strict=True) if raw)
        return [approval for approval in found if approval is not None]

    async def note_edit(self, run_id: str, digest: str, note: str, *, seconds: int) -> None:
        """What an edit of a tool call changed (and whether its editor approved it), for the card of the edited
        call that follows: bound to the run and the edited arguments' digest, kept `seconds`."""
        await self._s.redis.set(self._k.edit(run_id, digest), note, ex=seconds)

    async def take_edit(self, run_id: str, digest: str) -> str | None:
        """The note of the edit that made this call, once (GETDEL: Redis 6.2 or newer)."""
        raw = await self._s.redis.getdel(self._k.edit(run_id, digest))
        return str(raw) if raw else None

    async def pending(self, *, channels: Iterable[str] = (), batch: int = 500) -> list[ApprovalRecord]:
        """Every pending approval (whose origin or card channel is among `channels`, when given), read without
        their long texts: the ids in `deadlines` and in `waiting` (members "<origin channel>/<id>", which also
        holds approvals that never time out)."""
        ids: dict[str, None] = dict.fromkeys(str(i) for i in await self._s.redis.zrange(self._k.deadlines, 0, -1))
        for member in await self._s.redis.zrange(self._k.waiting, 0, -1):
            ids.setdefault(str(member).rpartition("/")[2], None)
        wanted, ordered, found = set(channels), list(ids), []
        for start in range(0, len(ordered), batch):
            async with self._s.redis.pipeline(transaction=False) as pipe:
                for approval_id in ordered[start : start + batch]:
                    pipe.hgetall(self._k.approval(approval_id))
                replies = await pipe.execute()
            for raw in replies:
                approval = readable_approval(raw, None) if raw else None
                if approval is not None and approval.pending and (
                    not wanted or wanted & {approval.origin_channel, approval.card_channel}
                ):
                    found.append(approval)
        return found

    async def of_run(self, run_id: str) -> list[ApprovalRecord]:
        ids = await aw(self._s.redis.smembers(self._k.run_approvals(run_id)))
        return await self.get_many(sorted(ids))

    async def checkpoint(self, approval_id: str) -> str | None:
        """The team's state saved when the approval was requested."""
        value = await self._s.redis.get(self._k.checkpoint(approval_id))
        return unpack(value) if value is not None else None

    async def decide(
        self,
        approval_id: str,
        *,
        outcome: str, by: str, feedback: str = "", now: float | None = None,
        card: tuple[str, str] | None = None,
        check_auth: bool = False,
        in_groups: bool | None = None,
        attach: bool = False,
        dry_run: bool = False,
        principals: Iterable[str] | None = None,
        group_principal: str = "",
        assurance: str = "",
        take: tuple[str, Fence] | None = None,
        team: str = "",
        home_team: str = "",
        across: bool | None = None,
        edit_hidden: str = "",
        artifacts: str = "",
        surface: str = "",
        same: str | None = None,
    ) -> DecideResult:
        """Move a pending approval to `outcome`, exactly once; or count one approval vote of a quorum.

        Args:
            card: (channel, ts) of the message the click came from; the approval must belong to it.
            now: decision time (epoch seconds); a `timed_out` decision is refused before the deadline.
            check_auth: apply the approval's rules on who may decide (a person's click).
            in_groups: whether `by` is in one of the approval's user groups (None: not checked).
            attach: if the approval's card ts was never stored, take `card`'s (its worker died after
                posting the card and before storing its ts).
            dry_run: only apply the rules on who may decide (`allowed` when they may); nothing changes.
            principals: people away who delegated to `by` (`bot/store/away.py`): when `by` may not
                decide, they decide for the first of these who may (`on_behalf`). None: not looked
                up (a person not allowed gets `check_delegates`: look them up, then call again).
            group_principal: one of `principals` the caller found in the approval's user groups.
            assurance: the clicker's passkey confirmed this Approve (`bot.core.passkeys.Assurance`, JSON):
                an approval that needs step-up counts a person's Approve only with one.
            take: (run id, fence) when this worker owns the approval's run and waits for it: decided, the
                decision is taken for the run in the same step, as `RunStore.consume` takes it (`taken`,
                `running`), if the fence still holds.
            team: the clicker's workspace ("?": Slack could not say; "": not checked) and `home_team` the home
                workspace's (an approval without one is of it): a person of another workspace than the approval's
                gets `check_workspace` (apply `rights.may_decide_across`, then call again with `across`); `across`
                False refuses them (`other_workspace`, audited).
            edit_hidden: what a reviewer's edit of a call with nothing hidden hid (JSON as `hidden`), kept on the
                decided record (bot/redaction/hiding.py).
            artifacts: the approval's artefacts with a reviewer's edit (JSON as `ApprovalRecord.artifacts`, #79),
                kept on the record when (and only when) this step decides it; "" leaves them as asked.
            surface: where the person clicked when not Slack (`teams`, #81), named in their vote's and the decision's
                audit entries ("" for Slack: no field).
            same: the approver `by` is by another account of theirs ("": ask, `check_people`; "-"/None: none; #88).

        Returns `ok` with the decided record; `vote` when an approval was counted towards a quorum
        not yet reached; `already` with the record as it was decided; `self`, `not_allowed`
        (refused and audited), `other_workspace` (refused and audited: a person of another workspace),
        `check_workspace` (`by` is of another workspace than the approval: apply the rule, then call again with
        `across`), `check_groups` (`by` is not named: check the groups, then call again
        with `in_groups`), `check_people` (call again with `same`), `check_delegates` (call again with `principals`) or
        `frozen` (an Approve of an approval in a frozen scope, bot/store/freezes.py: refused and audited; Reject still
        works), `unspread` (sharded: an Approve while the last freeze is not copied into this workspace, its scope
        not frozen: refused and audited, tried again once spread, bot/store/freeze_copies.py), `duplicate` (this
        person's vote already counts) or `step_up` (the approval needs this person's passkey to confirm their
        Approve: nothing changed) with the record;
        `missing`, `mismatch` (not this card's approval), `not_due` or `late` (Redis ran it after the
        click window) without one.
        """
        channel, ts = card if card is not None else ("", "")
        k, s = self._k, self._s
        valid_until = ""
        if check_auth and s.click_window is not None:
            valid_until = repr(time.time() + s.clock_offset + s.click_window)
        freezes = Freezes(s)  # an Approve: the last freeze's number, which this workspace's copy must hold (sharded)
        frozen_at = await freezes.copies.frozen_at() if outcome == "approved" and not dry_run else ""
        status, flat, *heard = await s.script("decide")(
            keys={
                "approval": k.approval(approval_id),
                "texts": k.texts(approval_id),
                "votes": k.votes(approval_id),
                "deadlines": k.deadlines,
                "nudges": k.nudges,
                "waiting": k.waiting,
                "outbox": k.outbox,
                "audit": k.audit, "audit_seq": k.audit_seq, "audit_shards": k.audit_shards,
                "refused": k.refused(approval_id, by), "refusals_due": k.refusals_due,
                "attested": k.attested(by),
                "changes": k.changes,
                "recent": k.decided_by(by),
                "webhooks": k.webhooks,
                "run": k.run(take[0] if take is not None else "-"),
                "frozen": k.frozen_here, "frozen_seq": k.frozen_here_seq,
                "oversight_people": k.oversight_people, "oversight_times": k.oversight_times,
                "oversight_week": k.oversight_week, "digest_due": k.digest_due,
            },
            args={
                "id": approval_id,
                "outcome": outcome,
                "by": by,
                "now": repr(time.time() if now is None else now),
                "feedback": feedback,
                "card_channel": channel,
                "card_ts": ts,
                "worker_channels": s.worker_channels, "publish": s.publish,
                "retention": str(DECIDED_RETENTION_SECONDS),
                "check_auth": _flag(check_auth),
                "in_groups": _flag(in_groups),
                "card_grace": repr(s.card_grace),
                "attach": _flag(attach),
                "valid_until": valid_until,
                "dry_run": _flag(dry_run),
                "principals": "?" if principals is None else ",".join(principals),
                "group_principal": group_principal,
                "assurance": assurance,
                "take": fence_arg(take[1]) if take is not None else "",
                "team": team,
                "home_team": home_team,
                "across": _flag(across),
                "edit_hidden": edit_hidden,
                "artifacts": artifacts,
                "surface": surface,
                "same": "-" if same is None else same,
                "frozen_at": frozen_at,
            },
        )
        if heard and heard[0]:  # published to a waiting worker: one turn of the loop, so that a reader of this
            await asyncio.sleep(0)  # process whose message came with the answer (a long-poll) resumes before the rest
        if check_auth and status in REFUSED_CLICKS:
            self.refused(REFUSED_CLICKS[status])
        record = approval_from(pairs(flat)) if flat else None
        if status not in ("missing", "allowed", "step_up") and not dry_run and not (
                status == "ok" and record is not None and record.canary):
            await self._due.note()  # a decision's webhook and redraw, a vote's redraw, a refusal's summary: due work
        taken = len(heard) > 1 and heard[1] == "1"
        if taken and record is not None and take is not None:
            record = replace(record, consumed=1, consumed_by=":".join(map(str, take[1])))
        words = await freezes.refusal_words(record) if status in ("frozen", "unspread") else ""
        if status == "unspread" and words:  # not copied here yet, and frozen: said as the freeze
            status = "frozen"
        return DecideResult(status=status, approval=record, owner_heard=bool(heard and heard[0]), taken=taken,
                            running=taken and heard[2] == "1", frozen=words)

    async def time_out_due(self, now: float, *, limit: int = 200) -> tuple[list[DecideResult], bool]:
        """Time out up to `limit` approvals whose deadline is before `now`, each through the decide step
        (the same as a click's). Any number of workers can sweep at once: each claims its own batch of
        due approvals first (`lua/claim_due.lua`). Returns the timed-out approvals and whether more may
        be due."""
        k, s = self._k, self._s
        claimed = await s.script("claim_due")(
            keys={"deadlines": k.deadlines},
            args={"now": repr(now), "lease_end": repr(now + SWEEP_LEASE_SECONDS), "limit": str(limit)},
        )
        due = [str(i) for i in claimed]
        if not due:
            return [], False
        decided = await s.script("sweep")(
            keys={
                "deadlines": k.deadlines,
                "nudges": k.nudges,
                "waiting": k.waiting,
                "outbox": k.outbox,
                "audit": k.audit, "audit_seq": k.audit_seq, "audit_shards": k.audit_shards,
                "changes": k.changes,
                "webhooks": k.webhooks,
                "frozen": k.frozen_here, "frozen_seq": k.frozen_here_seq,
                "approvals": [key for i in due for key in (k.approval(i), k.texts(i), k.votes(i))],
            },
            args={
                "ids": due,
                "now": repr(now),
                "worker_channels": s.worker_channels, "publish": s.publish,
                "retention": str(DECIDED_RETENTION_SECONDS),
                "card_grace": repr(s.card_grace),
                "frozen_at": await Freezes(s).copies.frozen_at(),  # (a timeout that approves: as an Approve)
            },
        )
        results = [
            DecideResult(status="ok", approval=approval_from(pairs(flat)), owner_heard=bool(heard))
            for flat, heard in decided
        ]
        return results, len(due) >= limit

    async def next_deadline(self) -> float | None:
        first = await self._s.redis.zrange(self._k.deadlines, 0, 0, withscores=True)
        return float(first[0][1]) if first else None

    async def pending_of_workspace(self, workspace: WorkspaceRef, *, home: WorkspaceRef) -> list[str]:
        """The ids of the pending approvals of `workspace` (one without a workspace is the `home` one's), from the
        `waiting` index: what an uninstall of that workspace withdraws (of every workspace of an organisation named
        whole: an org-wide install's)."""
        ids = [str(member).partition("/")[2] for member in await self._s.redis.zrange(self._k.waiting, 0, -1)]
        async with self._s.redis.pipeline(transaction=False) as pipe:
            for approval_id in ids:
                pipe.hmget(self._k.approval(approval_id), ["status", "team", "enterprise"])
            replies = await pipe.execute() if ids else []
        return [
            approval_id for approval_id, (status, team, enterprise) in zip(ids, replies, strict=True)
            if status == "pending" and workspace.includes(workspace_of(team or "", enterprise or "", home=home))
        ]

    async def waiting_ids(self, *, limit: int = 2000) -> list[str]:
        """The ids of pending approvals (the `waiting` index), the oldest first, at most `limit`."""
        members = await self._s.redis.zrange(self._k.waiting, 0, limit - 1)
        return [str(member).partition("/")[2] for member in members]

    async def service_levels(self) -> list[tuple[int, str]]:
        """(sla_seconds, sla_state) of each pending approval (the `waiting` index; bot/core/service_levels.py)."""
        ids = [str(member).partition("/")[2] for member in await self._s.redis.zrange(self._k.waiting, 0, -1)]
        async with self._s.redis.pipeline(transaction=False) as pipe:
            for approval_id in ids:
                pipe.hmget(self._k.approval(approval_id), ["status", "sla_seconds", "sla_state"])
            replies = await pipe.execute() if ids else []
        return [(int(sla or 0), str(state or "")) for status, sla, state in replies if status == "pending"]

    async def waiting_by_channel(self) -> dict[str, tuple[int, float]]:
        """For each channel with pending approvals (the runs' channels): how many, and when the oldest
        was requested (the `waiting` index: also the approvals that never time out)."""
        found: dict[str, tuple[int, float]] = {}
        for member, score in await self._s.redis.zrange(self._k.waiting, 0, -1, withscores=True):
            channel = str(member).partition("/")[0]
            count, oldest = found.get(channel, (0, float(score)))
            found[channel] = (count + 1, oldest)
        return found


def _flag(value: bool | None) -> str:
    """A yes/no argument of a Lua step: "1", "0", or "" when not given (None)."""
    return "" if value is None else "1" if value else "0"
