"""The Approvals API's steps: ask, read (long-poll), withdraw. Programs ask; only people decide.

An approval asked through the API is an approval like any other (same card, approvers, quorum, rules,
reminders, timeout, audit), in the run of its key, channel and program run: one run per key, channel and
`run` the program sends (its own run or session id), and one for the asks of the key's programs that send
none (preset `api`, owner `API_OWNER`), so `/agent status` lists it and `/agent cancel` cancels what it waits
for. "This run only" rules cover one program run: never the shared run of programs that send no `run`.
Nobody continues such a run: the program reads the decision (`GET`, or its webhook).

Decisions of API approvals are published to the channel of `API_OWNER`, which every worker's
subscription also listens to (`ApiWaiters`): a long-poll is answered by whichever worker holds it, and
after a resubscription every long-poll reads its approval again (pub/sub is at-most-once).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from agent_approvals.approver import ApprovalRequest, canonical_json, digest_of
from agent_approvals.canonical import jcs

from bot.api.allowed import IDEMPOTENCY_SECONDS, RecordAllowed, allowed_request, new_call_id
from bot.api.keys import create_key
from bot.api.receipts import ReceiptIssuer, use_refused
from bot.api.requests import APPROVAL_ID, ApiError, CheckedAllowed, CheckedAsk
from bot.api.shown import NameOf, decider_names, view
from bot.approvals import REFUSAL_QUIET, ApprovalService, OpenRefused, ProgramAsk
from bot.core.artifact_edits import EDITABLE_CHARS
from bot.core.diffs import CONTEXT, unified
from bot.core.ids import new_run_id, random_id
from bot.core.logs import add_log_fields
from bot.core.plain_summary import plain_summary, tool_description
from bot.core.records import API_OWNER, API_PRESET, ApprovalRecord, RunRecord, workspace_of
from bot.core.verdicts import used_already
from bot.core.workspaces import WorkspaceRef
from bot.store import ApiKey, NewKey, Once, Store, persistently
from bot.store.key_revocation import Revoked

log = logging.getLogger(__name__)

RECHECK_SECONDS = 5.0  # a long-poll reads its approval again at least this often (a lost message)
def new_approval_id() -> str:
    return random_id("a-", 24)


class ApiWaiters:
    """This worker's long-polls: any number per approval, woken by a decision published to the API's
    channel (`wake`), or all at once after a resubscription (`wake_all`), to read their approval again.
    A tenant's (`worker`: the worker's, which hears the channel) are woken through the worker's: one lookup a
    decision, whatever the number of tenants."""

    def __init__(self, worker: ApiWaiters | None = None) -> None:
        self._waiting: dict[str, set[asyncio.Future[None]]] = {}
        self._worker = worker
        self._held: dict[str, ApiWaiters] = {}  # the worker's: approval -> the tenant's long-polls waiting for it

    @property
    def count(self) -> int:
        return sum(len(futures) for futures in self._waiting.values())

    def expect(self, approval_id: str) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(approval_id, set()).add(future)
        if self._worker is not None:
            self._worker._held[approval_id] = self
        return future

    def forget(self, approval_id: str, future: asyncio.Future[None]) -> None:
        futures = self._waiting.get(approval_id)
        if futures is not None:
            futures.discard(future)
            if not futures:
                del self._waiting[approval_id]
                self._release(approval_id)

    def _release(self, approval_id: str) -> None:
        if self._worker is not None and self._worker._held.get(approval_id) is self:
            del self._worker._held[approval_id]

    def wake(self, approval_id: str) -> None:
        for future in self._waiting.pop(approval_id, set()):
            if not future.done():
                future.set_result(None)
        self._release(approval_id)
        held = self._held.pop(approval_id, None)
        if held is not None:
            held.wake(approval_id)

    def wake_all(self) -> None:
        for approval_id in list(self._waiting):
            self.wake(approval_id)
        for held in set(self._held.values()):
            held.wake_all()


class Summaries(Protocol):
    """Writes one plain sentence of what an ask does (bot/runs/summaries.py, a model's): "" when it cannot."""

    async def __call__(self, *, tool: str, description: str, artifacts: Sequence[Mapping[str, Any]],
                       plain: str) -> str: ...


@dataclass(kw_only=True, eq=False, repr=False)
class ApprovalsApi:
    """The API's steps on one worker (see the module docstring)."""

    store: Store
    approvals: ApprovalService
    waiters: ApiWaiters
    card_link: str = ""  # the workspace's URL (`https://x.slack.com/`) for card links; '' for none
    names: NameOf | None = None  # a person's display name (the worker's cached directory), for `decided_by_name`
    receipts: ReceiptIssuer | None = None  # signs the receipts of approvals that allow a call; None: no signing key
    user_by_email: NameOf | None = None  # who has an email in Slack (the directory), for a requester by email
    summaries: Summaries | None = None  # a model's one-sentence summary of an ask (MODEL_CONFIG); None: the plain one
    mails: bool = False  # the worker sends e-mail (SMTP_URL): an ask's `notify` is told; without it, refused (400)
    # the worker stops: long-polls answer at once (their programs ask the next worker)
    closing: bool = field(default=False, init=False)

    def close(self) -> None:
        """The worker stops serving: every long-poll answers now, as its approval is (a program's client then
        long-polls the next worker), so the HTTP server's shutdown, which waits for every request in flight,
        is not held by them."""
        self.closing = True
        self.waiters.wake_all()

    async def _summary(self, request: ApprovalRequest) -> str:
        """The model's sentence of what `request` does, from its change and tool description as people may see them
        (hidden values hidden: nothing hidden reaches the model); "" when there is nothing to summarise."""
        hiding = self.approvals.chain.hiding
        shown = json.loads(hiding.artifacts(request.artifacts) or "[]") if request.artifacts else []
        description = hiding.text(tool_description(request.arguments_schema))
        if self.summaries is None or not (shown or description):
            return ""
        plain = plain_summary(shown, description=description, tool=request.tool_name)
        return await self.summaries(tool=request.tool_name, description=description, artifacts=shown, plain=plain)

    # asking ---------------------------------------------------------------------------------------
    async def ask(
        self, key: ApiKey, ask: CheckedAsk, *, idempotency_key: str = "", way: str = "api",
        never_self: bool = False,
    ) -> tuple[int, dict[str, Any]]:
        """Open an approval for `ask` through the one way every approval is opened (`ApprovalService.
        open_request`): 201 pending, 200 when the channel's input mode or a rule decided it at once, or a triage
        model approved it once its card was posted (`Triage.settled`; stored like any other: read and used once). A
        retry with the same `idempotency_key` and body (compared as canonical JSON, `ask.body_digest`: keys in any
        order) gets the same approval (409 with another body); 429 at the
        key's `max_pending`; every limit is part of the store's one step. `way`: the way in it is counted under
        (api, mcp, claude_code, slackbot: `requests.way_in`). `never_self`: its requester may never
        decide it, whatever the channel's `allow_self_approval` (an ask made on a person's behalf: Slackbot's)."""
        channel = ask.channel or key.default_channel
        if not key.allows(channel):
            raise ApiError(403, "forbidden", f"the key {key.name} may not ask in {channel}", field="channel")
        if ask.notify and not self.mails:  # nobody would be told: said now, nothing stored
            raise ApiError(400, "invalid_request", "notify needs the e-mail surface, which this plane does not run"
                           " (its operator sets SMTP_URL)", field="notify")
        if ask.callback_url and not key.webhook_secret:  # nothing could sign its webhook: never sent unsigned
            raise ApiError(400, "invalid_request", f"the key {key.name} has no webhook secret (it was made where"
                           " SECRETS_KEY is not set), so no webhook can be signed: wait for the decision (GET ?wait=)"
                           " or have its operator set SECRETS_KEY and rotate it (python -m bot keys rotate)",
                           field="callback_url")
        requester = await self.requester(ask.requester)  # (an email unknown to Slack: refused, nothing stored)
        run = await self.store.runs.of_program(key.id, channel, program_run(key, channel, ask.run, ask.workflow))
        once = Once(key.id, idempotency_key, ask.body_digest, IDEMPOTENCY_SECONDS)
        program = ProgramAsk(key=key, title=ask.title, requester=requester, context_url=ask.context_url,
                             callback_url=ask.callback_url, timeout=ask.timeout,
                             once=once if idempotency_key else None,
                             workflow=json.dumps(ask.workflow, separators=(",", ":")) if ask.workflow else "",
                             way=way, never_self=never_self, notify=ask.notify)
        request = api_request(ask, approval_id=new_approval_id(), key=key)
        if self.summaries is not None:
            request = replace(request, summary=await self._summary(request))
        add_log_fields(approval_id=request.approval_id, run_id=run.id, channel=channel)
        try:
            opened = await self.approvals.open_request(request, run=run, owner=API_OWNER, program=program)
        except OpenRefused as exc:
            if exc.status == "full":
                raise ApiError(429, "too_many_pending", f"the key {key.name} has {key.max_pending} approvals"
                               " pending", retry_after=30) from None
            raise ApiError(409, "idempotency_conflict", "this Idempotency-Key was used with another body",
                           field="Idempotency-Key") from None
        except RuntimeError as exc:  # Slack refused the card: the approval was cancelled
            raise ApiError(502, "slack_refused", str(exc)) from None
        add_log_fields(approval_id=opened.approval_id)  # (an Idempotency-Key's retry: the approval it opened)
        approval = await self.store.approvals.get(opened.approval_id)
        if approval is None or not key.owns(approval):
            raise ApiError(404, "not_found", "the approval this Idempotency-Key opened is gone")
        if approval.pending and not await self.store.api_keys.stands(key):  # revoked after the key check
            await self.approvals.cancel(approval.id, by="system", reason=f"withdrawn: key {key.name} revoked")
            raise ApiError(401, "unauthorized", f"the API key {key.name} was revoked: nothing it asked may run")
        return (201 if approval.pending else 200), await self.view(approval)

    # recording a call nobody was asked about -------------------------------------------------------
    async def requester(self, given: str) -> str:
        """The Slack user id of a requester given by id or by email (asked of Slack: `users.lookupByEmail`, cached);
        400 naming the field when Slack knows no one with that email."""
        if "@" not in given:
            return given
        found = await self.user_by_email(given) if self.user_by_email is not None else None
        if found is None:
            raise ApiError(400, "invalid_request", "requester: no one in this Slack workspace has that email (give"
                           " their Slack user id, U…, instead)", field="requester")
        return found

    async def record_allowed(
        self, key: ApiKey, allowed: CheckedAllowed, *, idempotency_key: str = "", way: str = "api"
    ) -> tuple[int, dict[str, Any]]:
        """An `allowed` audit entry: a tool call the program forwarded by its own allow-list (no card, no approval),
        with the key, the tool, the digest of its arguments (and the arguments, as a `requested` entry keeps them)
        and what in the allow-list let it through. Decided as every way in is, by the decision chain walked to its
        "record as allowed" end (bot/api/allowed.py): one policy that refuses the call answers 403
        `refused_by_policy` (audited), one that asks a person 409 `ask_a_person` (the program asks for an approval
        instead: a card); otherwise 201 with the record (naming the policy that allowed it, if one did), counted in
        the policy windows (a budget). A retry with the same `idempotency_key` and body (as canonical JSON) gets the
        same answer and adds no entry (another body: 409)."""
        channel = allowed.channel or key.default_channel
        if not key.allows(channel):
            raise ApiError(403, "forbidden", f"the key {key.name} may not record calls in {channel}", field="channel")
        requester = await self.requester(allowed.requester) if allowed.requester else ""
        # (free text of the program's, in the entry and the answer: through the one door, bot/redaction/hiding.py)
        allowed = replace(allowed, allowed_by=self.approvals.chain.hiding.text(allowed.allowed_by))
        end = RecordAllowed(self.store, key, allowed, channel=channel, requester=requester,
                            idempotency_key=idempotency_key)
        program = ProgramAsk(key=key, title=f"{allowed.tool_name}, allowed by {allowed.allowed_by}",
                             requester=requester, way=way)
        await self.approvals.open_request(allowed_request(key, allowed, call_id=new_call_id()),
                                          run=program_run(key, channel), owner=API_OWNER, program=program,
                                          listed=allowed.allowed_by, end=end)
        return 201, end.answer

    # reading ------------------------------------------------------------------------------------
    async def get(self, key: ApiKey, approval_id: str, *, wait: float = 0.0) -> dict[str, Any]:
        """The approval, once decided or after `wait` seconds, whichever comes first."""
        if not APPROVAL_ID.fullmatch(approval_id):
            raise ApiError(404, "not_found", "no such approval")
        deadline = time.monotonic() + wait
        while True:
            woken = self.waiters.expect(approval_id)  # before reading: a decision from now on wakes it
            try:
                approval = await persistently(  # through a Redis blip, no longer than the caller waits (then 503)
                    lambda: self.store.approvals.get(approval_id), what=f"reading approval {approval_id}",
                    patience=max(1.0, deadline - time.monotonic()),
                )
                approval = await self.owned(key, approval)
                left = deadline - time.monotonic()
                if not approval.pending or left <= 0 or self.closing:
                    if wait and not await self.store.api_keys.stands(key):  # revoked while it waited
                        raise ApiError(401, "unauthorized", f"the API key {key.name} was revoked while it waited:"
                                       " nothing it asked may run")
                    return await self.view(approval)
                with contextlib.suppress(TimeoutError):  # (not wait_for: on 3.11 it may lose the client's going)
                    async with asyncio.timeout(min(left, RECHECK_SECONDS)):
                        await asyncio.shield(woken)
            finally:
                self.waiters.forget(approval_id, woken)

    async def owned(self, key: ApiKey, approval: ApprovalRecord | None) -> ApprovalRecord:
        """`approval` when `key` asked for it; else 404 "no such approval" (whether it exists is not said), and an
        audit entry (`refused`, naming the key) when it is another workspace's: a key never reads, withdraws or
        uses another workspace's approvals."""
        if approval is not None and key.owns(approval):
            return approval
        if approval is not None and await self.of_another_workspace(key, approval):
            await self.store.audit.refusal(
                f"workspace:{key.id}:{approval.id}", "refused", window=REFUSAL_QUIET, by=f"key {key.name}",
                key=key.name, key_id=key.id, approval=approval.id, team=key.team, approval_team=approval.team,
                reason="another workspace's approval: an API key reads only its own workspace's",
            )
        raise ApiError(404, "not_found", "no such approval")

    async def of_another_workspace(self, key: ApiKey, approval: ApprovalRecord) -> bool:
        """Whether `approval` is of another workspace than `key` (either without one: the home workspace's)."""
        if key.team == approval.team and key.enterprise == approval.enterprise:
            return False
        home = await self.store.tenants.home() or WorkspaceRef("")
        return workspace_of(key.team, key.enterprise, home=home) != workspace_of(
            approval.team, approval.enterprise, home=home)

    # withdrawing --------------------------------------------------------------------------------
    async def withdraw(self, key: ApiKey, approval_id: str) -> dict[str, Any]:
        """Cancel the key's pending approval (its card says it was withdrawn); a decided one is left
        as it is and shown."""
        if not APPROVAL_ID.fullmatch(approval_id):
            raise ApiError(404, "not_found", "no such approval")
        approval = await self.owned(key, await self.store.approvals.get(approval_id))
        if approval.pending:
            result = await self.approvals.cancel(approval_id, by="system", reason=f"withdrawn by {key.name}")
            approval = result.approval or approval
        return await self.view(approval)

    async def use(self, key: ApiKey, approval_id: str, *, token: str) -> dict[str, Any]:
        """The program uses its approved call, right before running it: `used` true the first time (and for the
        same `token` again), false when another process used it already (it may have run: `refusal` says so)."""
        approval = await self.store.approvals.get(approval_id) if APPROVAL_ID.fullmatch(approval_id) else None
        approval = await self.owned(key, approval)
        status, said, _ = await self.store.approvals.use(approval, by=token, key=key)
        log.info("approval %s: used by key %s: %s", approval.id, key.name, status, extra={"approval_id": approval.id})
        if status not in ("ok", "used"):  # used: answered `used` false (another process used it; it may have run)
            raise use_refused(status, said, approval_id)
        approval = await self.store.approvals.get(approval_id)
        if approval is None:
            raise ApiError(404, "not_found", "no such approval")
        if status == "ok":
            return {**await self.used(approval), "used": True}
        return {**await self.view(approval), "used": False, "refusal": used_already(approval_id)}

    async def used(self, approval: ApprovalRecord) -> dict[str, Any]:
        """The answer to the program that used `approval` (its call runs now): its hidden values end here."""
        body = await self.view(approval)
        if approval.hidden or approval.edit_hidden:
            await self.approvals.chain.hiding.drop(approval.id)
        return body

    # keys, as a channel's admins manage them in Slack (`/agent keys`) -----------------------------------
    async def keys_of(self, channel: str) -> list[ApiKey]:
        """The keys that may ask in `channel`."""
        return [key for key in await self.store.api_keys.all() if key.allows(channel)]

    async def create_key(
        self, name: str, channel: str, *, by: str, max_pending: int, per_minute: int,
        workspace: WorkspaceRef | None = None,
    ) -> NewKey | str:
        """A new key for `channel` of `workspace` (None: the home one), or why not (a message for who asked)."""
        return await create_key(self.store, name, [channel], by=by, max_pending=max_pending, per_minute=per_minute,
                                workspace=workspace)

    async def revoke_key(self, name: str, *, by: str) -> Revoked | None:
        """Revoke the key named `name` (None: no such key): its pending approvals are withdrawn in the same step,
        and their cards redrawn from here at once (saying so) and their long-polls woken."""
        revoked = await self.store.api_keys.revoke(name, by=by)
        for approval in revoked.withdrawn if revoked is not None else ():
            self.approvals.on_decided(approval)
        return revoked

    async def view(self, approval: ApprovalRecord) -> dict[str, Any]:
        """`view(approval)` with its card's link, the decider's name and, when this deployment signs receipts,
        its `receipt` (null unless it allows a call)."""
        body = view(approval, card_url=self._card_of(approval), names=await decider_names(approval, self.names))
        if body.get("arguments_redacted"):  # the program's own arguments are its own: answered whole
            full = await self.approvals.chain.hiding.full(approval, edited=bool(body.get("edited")))
            if full is not None:
                body["arguments"], body["arguments_redacted"] = json.loads(full), False
            elif body.get("edited"):  # an edit whose hidden values are gone: never run with what is shown
                body.update(edited=False, arguments=json.loads(approval.arguments), feedback=EDIT_GONE)
        if self.receipts is not None:
            body["receipt"] = await self.receipts.receipt_of(approval)
        return body

    async def use_receipt(self, approval_id: str, receipt: str, *, token: str) -> dict[str, Any]:
        """An executor spends the approval's receipt, without an API key (the receipt is its credential): the
        approval shown with `used` true when this `token` spent it (now, or before: its retry); 409 `used` when
        another did; 401 `invalid_receipt` when the receipt is forged, expired or another approval's."""
        if self.receipts is None:
            raise ApiError(401, "invalid_receipt", "this deployment signs no receipts (no signing key)")
        claims = self.receipts.check(receipt, approval_id)  # before reading anything: a forged one learns nothing
        approval = await self.store.approvals.get(approval_id)
        if approval is None:
            raise ApiError(404, "not_found", "no such approval")
        await self.receipts.spend(approval, claims, token=token)
        return {**await self.used(approval), "used": True}

    def _card_of(self, approval: ApprovalRecord) -> str:
        return self.card_url(approval.card_channel, approval.card_ts)

    def card_url(self, channel: str, ts: str) -> str:
        if not self.card_link or not channel or not ts:
            return ""
        return f"{self.card_link.rstrip('/')}/archives/{channel}/p{ts.replace('.', '')}"


EDIT_GONE = ("a reviewer edited this call, but its hidden values are no longer kept (the approval ended, or the bot has"
             " no SECRETS_KEY): it cannot be run as edited; ask again")


MAY_HAVE_RUN = (
    "this exact call was approved before, and its program stopped while it ran: it may have run. Approve only if"
    " running it again is safe."
)


def program_run(key: ApiKey, channel: str, run: str = "", workflow: dict[str, str] | None = None) -> RunRecord:
    """A new run for the approvals `key` asks for in `channel` in the program run `run` (its own run or session
    id; '' for every program of the key that sends none) (preset `api`, owned by no worker); a durable
    `workflow`'s run is named by the workflow (its id first: `/agent status` and the App Home cut a task short)."""
    task = (f"approvals asked with the API key {key.name}, program run {run}" if run
            else f"approvals asked with the API key {key.name} (programs that send no run id)")
    if workflow:
        about = ", ".join(part for part in (workflow.get("type", ""), workflow["engine"]) if part)
        task = f"workflow {workflow['id']} ({about}): approvals asked with the API key {key.name}"
    return RunRecord(id=new_run_id(), requester=key.created_by, channel=channel, task=task, preset=API_PRESET,
                     model=key.name, status="running", owner=API_OWNER, created_at=time.time(), epoch=1,
                     program_run=run, team=key.team, enterprise=key.enterprise)


def api_request(ask: CheckedAsk, *, approval_id: str, key: ApiKey) -> ApprovalRequest:
    """The request as the approval service takes it: a tool call bound to the digest of its arguments,
    code to the digest of its text."""
    author = ask.agent or key.name
    artifacts = artifacts_json(ask.artifacts)
    if ask.kind == "tool":
        arguments = canonical_json(ask.arguments)
        return ApprovalRequest(
            approval_id=approval_id,
            proposal=f"{ask.tool_name}({arguments})",
            author=author,
            kind="tool_call",
            tool_name=ask.tool_name,
            arguments=arguments,
            arguments_schema=canonical_json(ask.schema) if ask.schema is not None else "",
            digest=digest_of(ask.arguments),
            fixed_arguments=not ask.editable,
            maybe_ran=ask.may_have_run,
            why=MAY_HAVE_RUN if ask.may_have_run else "",
            artifacts=artifacts,
            claim=ask.why,
        )
    if ask.kind == "code":
        return ApprovalRequest(approval_id=approval_id, proposal=ask.text, author=author, kind="code",
                               digest=digest_of(ask.text), artifacts=artifacts, claim=ask.why)
    return ApprovalRequest(approval_id=approval_id, proposal=ask.text, author=author, kind="message",
                           artifacts=artifacts, claim=ask.why)


def artifacts_json(artifacts: Sequence[Mapping[str, Any]]) -> str:
    """An ask's artefacts (normalised) as the approval keeps them (`kept_artifact`): JSON of the list, each with the
    `sha256` a receipt binds (of the artefact as asked, before anything in it is hidden from people); "" for none."""
    if not artifacts:
        return ""
    return json.dumps([kept_artifact(artifact) for artifact in artifacts], ensure_ascii=False, separators=(",", ":"))


def kept_artifact(artifact: Mapping[str, Any]) -> dict[str, Any]:
    """One artefact (normalised) as the approval keeps it, with its `sha256` (the digest of the artefact as asked:
    what a receipt binds). Nothing nobody is shown is kept: a file change given as before/after whose `after` is
    longer than Revise edits (`EDITABLE_CHARS`) is kept as its unified diff (`CONTEXT` lines around each change,
    `context_lines` saying so) with its `before_sha256`, not its whole texts; so the one door of free text reads
    only the diff, and no line beyond the context (nor a secret on it) is stored. A smaller one keeps its texts
    (Revise edits its `after`)."""
    digest = hashlib.sha256(jcs(artifact)).hexdigest()  # normalised already (CheckedAsk): not normalised again
    before, after = artifact.get("before"), artifact.get("after")
    if (artifact.get("kind") != "file" or not isinstance(before, str) or not isinstance(after, str)
            or len(after) <= EDITABLE_CHARS):
        return {**artifact, "sha256": digest}
    return {"kind": "file", "path": artifact["path"], "before": None, "after": None, "diff": unified(before, after),
            "before_sha256": artifact["before_sha256"], "context_lines": CONTEXT, "sha256": digest}
