"""Hidden values of an approval (#68): found once, where the approval is opened (the decision chain's end, after the
deciders decided on the full arguments), then the approval is stored with only the redacted copy of its arguments
(and of its proposal), what was hidden (`hidden`: path, kind, what is shown, a keyed commitment) and the receipts'
`args_sha256` of the full arguments; the full arguments are sealed apart (`store.hidden`, SECRETS_KEY) for the
program's own `GET`, the reveal page and a reviewer's edit, and dropped when the approval ends.

    hiding.find(approval)             what is hidden in its arguments: the tool's schema, policy.yaml's `redact:`,
                                      the detectors of REDACT_DETECTORS (bot/core/sensitive.py)
    await hiding.hide(approval)       the approval as stored (redacted), its values sealed (`hidden`: and them)
    await hiding.full(approval)       the full arguments (JSON text) kept for it, or None
    await hiding.restore(approval, edit)   a reviewer's edit of the redacted arguments as full arguments: a value
                                      left as shown keeps the hidden one; a new value the detectors find is hidden,
                                      in a call that had nothing hidden too (#76)
    await hiding.keep_edit(approval, full) the full edit sealed, for the run or the program's GET (once)
    await hiding.decision_of(approval)    its decision for the run that asked: a reviewer's edit whole
    hiding.ended(approval)            it was decided: its values dropped (a program's allowed call, an edited one:
                                      kept KEPT_AFTER_DECISION seconds at most, for the program's GET or the run)
    hiding.text(text, known=...)      the one door of free text (#76): every text an approval, a run or a decision
                                      carries (a title, a why, a run's task, a proposal, a reviewer's feedback, a
                                      policy's reason, a schema error, a run's words) goes through it before it is
                                      stored or posted: the values hidden in the arguments (`hidden`, or sealed:
                                      `known`) replaced wherever they appear, after what the detectors find
    await hiding.said(id, text)       `text` of a stored approval, with its kept values (a reviewer's feedback)

Without SECRETS_KEY, values are hidden all the same and not kept: the program's GET answers the redacted copy and says
so (`arguments_redacted`), a reveal has nothing to show, and a reviewer's edit that would hold a hidden value (of the
call's, or a new one) cannot be completed: refused in the modal, nothing sent.

A reviewer's edit of a call with nothing hidden that brings a value to hide (a card number typed into a note) is kept
as one of a call with hidden values is: the record's revision and its `decision` audit entry hold the redacted edit,
the record names what it hid (`edit_hidden`), the full edit is sealed for the run or the program's GET.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Final

from agent_approvals.approver import Decision, edited_arguments, encode_revision, parse_revision
from agent_approvals.receipts import args_sha256

from bot.core.arg_paths import JSON_TEXT, ArgPath, paths_for
from bot.core.detectors import DETECTORS
from bot.core.records import ApprovalRecord
from bot.core.redaction import redacted, shown_text
from bot.core.sealing import SealError
from bot.core.sensitive import Hidden, find_hidden
from bot.core.spelling import normalised, spelling
from bot.store import Store, StoreUnavailable

log = logging.getLogger(__name__)

KEPT_GRACE: Final = 3600  # seconds kept past a pending approval's deadline (the TTL is only a floor)
KEPT_NEVER_TIMES_OUT: Final = 7 * 86400  # an approval that never times out: kept this long at most
KEPT_AFTER_DECISION: Final = 900  # a program's allowed or edited call: kept this long after the decision
# an approval's free texts (#76): each goes through `Hiding.text` before it is stored or posted (the proposal too,
# but a tool call's, which is its redacted arguments)
FREE_TEXTS: Final = ("task", "why", "schema_error", "policy_reason", "feedback", "claim", "summary")
# an artefact's fields that are not free text
ARTIFACT_PLAIN: Final = frozenset({"kind", "sha256", "before_sha256", "context_lines"})
MIN_SCRUBBED: Final = 4  # hidden values this long or longer are also replaced in the record's other texts
NO_RECEIPT: Final = "-"  # `args_sha256` of arguments RFC 8785 cannot encode: no receipt is signed

Rules = Callable[[], Mapping[str, Sequence[ArgPath]]]
Known = tuple[str, str]  # a value hidden in the arguments, and what is shown of it


class Hiding:
    """An approval's hidden values (the module docstring), for one worker: its store, the policy bundle's `redact:`
    (read at each use: the bundle reloads) and the detectors on."""

    def __init__(self, store: Store, *, rules: Rules, detectors: Iterable[str] = DETECTORS) -> None:
        self._store = store
        self._rules = rules
        self.detectors = tuple(detectors)

    def find(self, approval: ApprovalRecord, arguments: Any | None = None, *,
             also: Sequence[tuple[Any, ...]] = ()) -> tuple[Hidden, ...]:
        """What is hidden in `arguments` (default: the approval's own) of its tool call; `also`: paths hidden
        whatever is there (a reviewer's new value where a hidden one was)."""
        if approval.kind != "tool_call":
            return ()
        if arguments is None:
            arguments = _loaded(approval.arguments)
        if arguments is None:
            return ()
        schema = _loaded(approval.arguments_schema)
        rules = dict(self._rules())
        if also:
            extra = tuple(ArgPath(str(path), tuple(s for s in path if s != JSON_TEXT)) for path in also)
            rules[approval.tool_name] = (*paths_for(rules, approval.tool_name), *extra)
        return find_hidden(approval.tool_name, arguments, schema=schema if isinstance(schema, dict) else None,
                           rules=rules, detectors=self.detectors)

    def text(self, text: str, *, tool: str = "", known: Sequence[tuple[str, str]] = ()) -> str:
        """The one door of free text (#76): a title, a why, a run's task, a proposal, a reviewer's feedback, a
        policy's reason, a schema error, a run's streamed turns and results. What the detectors find (and, in JSON
        text, values named like secrets or the policy's `redact:` paths of `tool`) replaced by what may be shown of
        it, as on a card, in the text as written (an expiry or a CVV is found by the card next to it, which may be a
        known value too); then the `known` values left (a hidden value of the arguments and what is shown of it:
        `hidden`, `known`: a `writeOnly` password no detector knows) wherever they appear."""
        if not text:
            return text
        return scrubbed(shown_text(text, tool=tool, rules=self._rules(), detectors=self.detectors), known)

    def artifacts(self, artifacts: str, *, known: Sequence[tuple[str, str]] = ()) -> str:
        """An approval's artefacts (JSON, `ApprovalRecord.artifacts`) as people may see them: each text of each
        artefact (a file's path, texts and diff, a command, a message's recipients, subject and body, a query)
        through `text`; their kinds and digests as they are."""
        try:
            found = json.loads(artifacts)
        except ValueError:
            return ""
        if not isinstance(found, list):
            return ""
        shown = [{name: (self._artifact_text(value, known) if name not in ARTIFACT_PLAIN else value)
                  for name, value in item.items()} for item in found if isinstance(item, dict)]
        return json.dumps(shown, ensure_ascii=False, separators=(",", ":"))

    def _artifact_text(self, value: Any, known: Sequence[tuple[str, str]]) -> Any:
        if isinstance(value, str):
            return self.text(value, known=known)
        if isinstance(value, list):
            return [self.text(item, known=known) if isinstance(item, str) else item for item in value]
        return value

    async def known(self, approval_id: str) -> list[tuple[str, str]]:
        """The values hidden in a stored approval's arguments and what is shown of each, from those kept sealed ([]
        when none are kept: no SECRETS_KEY, or they ended; the detectors still run)."""
        kept = await self.kept(approval_id)
        values, shown = (kept or {}).get("values"), (kept or {}).get("shown")
        if not isinstance(values, list) or not isinstance(shown, list):
            return []
        return pairs_of([str(v) for v in values], [str(s) for s in shown])

    async def said(self, approval_id: str, text: str) -> str:
        """Text said of a stored approval (a reviewer's feedback, a reason it ended) through `text`, with its kept
        values; a revision's edited arguments (`encode_revision`: already as `restore` shows them) kept as they
        are, its note through `text`."""
        if not text:
            return text
        known = await self.known(approval_id)
        revision = parse_revision(text)
        if revision is None:
            return self.text(text, known=known)
        arguments, note = revision
        shown = self.text(note, known=known)
        return text if shown == note else encode_revision(arguments, note=shown)

    async def hide(self, approval: ApprovalRecord, *, keep: bool = True) -> ApprovalRecord:
        """`hidden`'s approval (below)."""
        return (await self.hidden(approval, keep=keep))[0]

    async def hidden(self, approval: ApprovalRecord, *, keep: bool = True) -> tuple[ApprovalRecord, list[Known]]:
        """`approval` as it is stored, and the values hidden in its arguments with what is shown of each (for
        `text`, in what is said of it): its arguments and proposal redacted, what was hidden listed with a keyed
        commitment of each value, the full arguments sealed (when SECRETS_KEY is set and `keep`), and each of its
        free texts (`FREE_TEXTS`: title, why, feedback, a policy's reason...) through `text`, the values hidden in its
        arguments replaced there in any spelling `scrubbed` knows. A `message` or `code` approval's proposal goes
        through `text` too (a run's last message, code to run): there is nothing to seal (its digest binds the full
        text)."""
        arguments = _loaded(approval.arguments) if approval.kind == "tool_call" else None
        found = self.find(approval, arguments)
        values = [value_of(arguments, item) for item in found]
        known = pairs_of(values, [item.display for item in found])
        texts: dict[str, Any] = {name: self.text(getattr(approval, name), known=known) for name in FREE_TEXTS}
        if approval.kind != "tool_call":
            texts["proposal"] = self.text(approval.proposal, known=known)
        if approval.artifacts:
            texts["artifacts"] = self.artifacts(approval.artifacts, known=known)
        if not found:
            changed = {name: text for name, text in texts.items() if text != getattr(approval, name)}
            return (replace(approval, **changed) if changed else approval), known
        ring = self._store.hidden.keyring
        items = [{"path": item.where, "kind": item.kind, "shown": item.display,
                  "hmac": ring.commit(value) if ring is not None else ""}
                 for item, value in zip(found, values, strict=True)]
        shown = json.dumps(redacted(arguments, found), ensure_ascii=False, separators=(",", ":"))
        try:
            digest = args_sha256(arguments)
        except ValueError:
            digest = NO_RECEIPT
        hidden = replace(approval, arguments=shown, proposal=f"{approval.tool_name}({shown})", **texts,
                         hidden=json.dumps(items, ensure_ascii=False, separators=(",", ":")), args_sha256=digest)
        if keep:
            await self._keep(hidden, {"arguments": approval.arguments, "values": values,
                                      "shown": [item.display for item in found]})
        return hidden, known

    async def _keep(self, approval: ApprovalRecord, sealed: Mapping[str, Any]) -> None:
        seconds = keep_seconds(approval)
        if seconds <= 0 or not self._store.hidden.ready:
            return
        await self._store.hidden.put(approval.id, sealed, ttl_seconds=seconds)

    async def kept(self, approval_id: str) -> dict[str, Any] | None:
        """What is sealed for `approval_id` ({arguments, values, edited}), or None (none kept, ended, or not
        opening: said in the log)."""
        if not self._store.hidden.ready:
            return None
        try:
            return await self._store.hidden.get(approval_id)
        except SealError as exc:
            log.warning("hidden values of %s: %s", approval_id, exc)
            return None

    async def full(self, approval: ApprovalRecord, *, edited: bool = False) -> str | None:
        """The full arguments of `approval` (`edited`: a reviewer's edit of them) as JSON text, or None."""
        if not approval.hidden and not (edited and approval.edit_hidden):
            return approval.arguments
        kept = await self.kept(approval.id)
        value = (kept or {}).get("edited" if edited else "arguments")
        return value if isinstance(value, str) else None

    async def restore(self, approval: ApprovalRecord, edit: Any) -> tuple[Any, str] | None:
        """A reviewer's `edit` of the redacted arguments as (full arguments, their redacted copy as JSON text): a
        value left as shown keeps the hidden one; a new value where a hidden one was is hidden too. None when the
        hidden values are not kept (no SECRETS_KEY, or gone): the edit cannot be completed. A call with nothing
        hidden: the edit as it is, or redacted when it brings a value to hide (None without SECRETS_KEY: it could not
        be kept whole)."""
        if not approval.hidden:
            found = self.find(approval, edit)
            if not found:
                return edit, json.dumps(edit, ensure_ascii=False)
            if not self._store.hidden.ready:
                return None
            return edit, json.dumps(redacted(edit, found), ensure_ascii=False)
        kept = await self.full(approval)
        original = _loaded(kept) if kept is not None else None
        if original is None:
            return None
        full = merged(edit, _loaded(approval.arguments), original)
        found = self.find(approval, full, also=[item.path for item in self.find(approval, original)])
        return full, json.dumps(redacted(full, found), ensure_ascii=False)

    async def keep_edit(self, approval: ApprovalRecord, full: Any) -> str:
        """Seal a reviewer's edit (`restore`'s full arguments) beside the approval's own, for its run or program's
        GET. Returns what the edit of a call with nothing hidden hid (JSON as `hidden`: the decision's
        `edit_hidden`), "" when nothing (or the call had hidden values of its own: `hidden` says so)."""
        if approval.hidden:
            kept = await self.kept(approval.id)
            if kept is not None:
                kept["edited"] = json.dumps(full, ensure_ascii=False)
                await self._keep(approval, kept)
            return ""
        found = self.find(approval, full)
        if not found or not self._store.hidden.ready:
            return ""
        values = [value_of(full, item) for item in found]
        ring = self._store.hidden.keyring
        items = [{"path": item.where, "kind": item.kind, "shown": item.display,
                  "hmac": ring.commit(value) if ring is not None else ""}
                 for item, value in zip(found, values, strict=True)]
        sealed = {"arguments": approval.arguments, "values": values, "shown": [item.display for item in found],
                  "edited": json.dumps(full, ensure_ascii=False)}
        # (until its run or program takes it: as an edit of a call with hidden values is kept once decided)
        await self._store.hidden.put(approval.id, sealed, ttl_seconds=KEPT_AFTER_DECISION)
        return json.dumps(items, ensure_ascii=False, separators=(",", ":"))

    async def decision_of(self, approval: ApprovalRecord) -> Decision:
        """`approval.decision()` for the run that asked (its own arguments): a reviewer's edit with the values it kept
        hidden put back (kept sealed since the edit); as stored when they are not kept."""
        decision = approval.decision()
        edit = edited_arguments(decision) if approval.hidden or approval.edit_hidden else None
        if edit is None:
            return decision
        full = await self.full(approval, edited=True)
        if full is None:
            return decision
        await self.drop(approval.id)  # (its run has it now)
        return replace(decision, feedback=encode_revision(json.loads(full), note=edit[1]))

    def ended(self, approval: ApprovalRecord) -> Callable[[], Any]:
        """What to do once `approval` is decided (a coroutine function, run in the background)."""
        async def end() -> None:
            if not (approval.hidden or approval.edit_hidden):
                return
            try:
                if approval.status == "revised" or (approval.asked_by and approval.status == "approved"):
                    await self._store.hidden.keep_for(approval.id, seconds=KEPT_AFTER_DECISION)
                else:
                    await self._store.hidden.drop(approval.id)
            except StoreUnavailable:
                log.warning("hidden values of %s not dropped (Redis): their TTL ends them", approval.id)
        return end

    async def drop(self, approval_id: str) -> None:
        """Forget `approval_id`'s hidden values (its program used the call)."""
        await self._store.hidden.drop(approval_id)


def keep_seconds(approval: ApprovalRecord) -> int:
    """How long an approval's hidden values are kept at most: to its deadline and an hour; a decided one only when
    a program asked it (its GET), KEPT_AFTER_DECISION."""
    if not approval.pending:
        return KEPT_AFTER_DECISION if approval.asked_by and approval.status == "approved" else 0
    if approval.timeout_seconds <= 0:
        return KEPT_NEVER_TIMES_OUT
    return approval.timeout_seconds + KEPT_GRACE


def pairs_of(values: Sequence[str], shown: Sequence[str]) -> list[tuple[str, str]]:
    """(value, what is shown of it) of hidden values long enough (MIN_SCRUBBED) to be replaced in other texts."""
    return [(value, display) for value, display in zip(values, shown, strict=False) if len(value) >= MIN_SCRUBBED]


def scrubbed(text: str, pairs: Sequence[tuple[str, str]]) -> str:
    """`text` (a title, an error message quoting the arguments) with each hidden value in it replaced by what is shown
    of it, in any spelling (`bot.core.spelling`: digits of any script, with separators or without, a JSON number's
    float form, letters in either case); a value of fewer than four letters or digits only as written."""
    for value, shown in sorted(pairs, key=lambda pair: -len(pair[0])):
        found = spelling(value)
        if found is None:
            text = text.replace(value, shown) if value and value in text else text
            continue
        spans = [match.span() for match in found.finditer(normalised(text))]
        for start, end in reversed(spans):
            text = text[:start] + shown + text[end:]
    return text


def merged(edit: Any, shown: Any, original: Any) -> Any:
    """`edit` (of the redacted `shown`) with each value left as shown replaced by the `original`'s."""
    if edit == shown:
        return original
    if isinstance(edit, dict) and isinstance(shown, dict) and isinstance(original, dict):
        keys = list(original)
        if list(shown) != keys:  # (a name itself hidden: names are matched by position)
            renamed = dict(zip(shown, keys, strict=False))
            return {renamed.get(k, k): merged(v, shown.get(k), original.get(renamed.get(k, k))) for k, v in
                    edit.items()}
        return {key: merged(value, shown.get(key), original.get(key)) for key, value in edit.items()}
    if isinstance(edit, list) and isinstance(shown, list) and isinstance(original, list):
        return [merged(value, shown[i], original[i]) if i < len(shown) and i < len(original) else value
                for i, value in enumerate(edit)]
    return edit


def value_of(arguments: Any, hidden: Hidden) -> str:
    """The value `hidden` names in `arguments` (its part of a string, when only a part is hidden), as text."""
    value = arguments
    for step in hidden.path:
        if step == JSON_TEXT and isinstance(value, str):
            value = json.loads(value)
        elif isinstance(value, dict) and step in value:
            value = value[step]
        elif isinstance(value, list) and isinstance(step, int) and 0 <= step < len(value):
            value = value[step]
        else:
            return ""
    if hidden.in_key:
        return str(hidden.path[-1])
    if isinstance(value, str):
        return value[hidden.span[0]:hidden.span[1]] if hidden.span else value
    return json.dumps(value, ensure_ascii=False)


def _loaded(text: str) -> Any:
    try:
        return json.loads(text) if text else None
    except (ValueError, RecursionError):
        return None
