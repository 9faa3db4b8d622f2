"""AG-UI: a run's tool-call interrupts answered by people in Slack (extra `agui`: `ag-ui-protocol` 1.0).

AG-UI 1.0 (the Agent User Interaction Protocol) ends a run that waits for a person with `RUN_FINISHED` whose
`outcome` is `{"type": "interrupt", "interrupts": [...]}`; an interrupt with `reason: "tool_call"` names the tool call
(`toolCallId`) that the run's `TOOL_CALL_*` events (or its `MESSAGES_SNAPSHOT`) proposed. The application answers
with a new run on the same thread whose `resume` answers every interrupt::

    agent = http_agent("https://agents.example.com/mailer")     # any AG-UI agent over HTTP (SSE)
    events = await run_with_approvals(agent, RunAgentInput(thread_id="t1", run_id="r1", messages=[...]),
                                      client=approvals)

`run_with_approvals` asks for each tool-call interrupt in Slack (the tool's name and arguments on the card, the
interrupt's `message` as its title), waits as long as the person takes (the card's timeout bounds it, or the
interrupt's `expiresAt` when sooner), and resumes the run with one `ResumeEntry` per interrupt
(`resume_entries` makes them, for an application that runs its agent itself):

    payload   `{"approved": true}`, `{"approved": false}`, or `{"approved": true, "editedArgs": {...}}` where a
              person revised the arguments (AG-UI's approve-with-edits: a full replacement). The edited call is
              asked about again, as the call that will run (this plane's rule: a call runs only as approved).
              Only an interrupt whose `responseSchema` offers `editedArgs` may be edited on its card.
    metadata  under `"agent-approvals"`: `approvalId`, `status`, `tool`, `argsSha256` (the call's fingerprint: hex
              SHA-256 of the RFC 8785 canonical JSON of the arguments that may run), `decidedBy`, the signed
              `receipt` bound to exactly that call where the bot signs receipts, and `refusal` (who refused and
              why, for the model) when it may not run.

The agent that runs the tool checks the receipt before it does (`agent_approvals.ReceiptChecker.check(receipt,
tool=..., arguments=...)`: verified and spent once): the adapter does not spend the approval, the executor does. A
tool-call interrupt whose call the run did not carry (no name, or arguments that are not a JSON object) is
answered `{"approved": false}` with no card. An interrupt that is not a tool call's (`input_required`, ...) is not
this plane's to answer: `run_with_approvals` stops and returns the events as the run left them, for the caller.

Each ask carries an idempotency key made of the thread, the interrupt and the exact call, so a process that
restarts and answers the same interrupt finds the same card (a decided one answers at once).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from agent_approvals._extras import missing_extra

try:
    import httpx
    from ag_ui.core import (
        BaseEvent,
        Event,
        Interrupt,
        Message,
        MessagesSnapshotEvent,
        ResumeEntry,
        RunAgentInput,
        RunFinishedEvent,
        RunFinishedInterruptOutcome,
        ToolCallArgsEvent,
        ToolCallChunkEvent,
        ToolCallStartEvent,
    )
    from pydantic import TypeAdapter

    from agent_approvals.client import Approval, ApprovalsClient, call_key, refusal
    from agent_approvals.receipts import args_sha256
except ImportError as exc:  # the extra is not installed
    raise missing_extra(__name__, "agui", exc) from exc

FRAMEWORK = "AG-UI"
KEY = "agent-approvals"  # the resume entry's metadata key
TOOL_CALL = "tool_call"  # AG-UI's core reason of an interrupt bound to a tool call
MAX_EDITS = 5
UNREADABLE = "Not run: the interrupted run did not carry the tool call's name and arguments."
__all__ = ["KEY", "RunAgent", "http_agent", "interrupts_of", "resume_entries", "run_with_approvals"]

RunAgent = Callable[[RunAgentInput], AsyncIterator[BaseEvent]]
_EVENT: TypeAdapter[Any] = TypeAdapter(Event)


@dataclass(frozen=True, slots=True)
class _Call:
    name: str
    arguments: dict[str, Any] | None  # None: not a JSON object


async def run_with_approvals(
    run: RunAgent, input: RunAgentInput, *, client: ApprovalsClient, within: int | None = None,
    agent: str = "agent",
) -> list[BaseEvent]:
    """Run `input`, answering every tool-call interrupt from Slack and resuming, until a run ends with none; the
    events of every run. A run interrupted for something else ends the loop (see the module docstring)."""
    events: list[BaseEvent] = []
    while True:
        batch = [event async for event in run(input)]
        events += batch
        waiting = interrupts_of(batch)
        if not waiting or any(i.reason != TOOL_CALL or not i.tool_call_id for i in waiting):
            return events
        entries = await resume_entries(batch, client=client, thread_id=input.thread_id, within=within, agent=agent)
        input = input.model_copy(update={"run_id": f"run-{uuid.uuid4().hex}", "resume": entries,
                                         "messages": _messages(batch, input.messages)})


def interrupts_of(events: Iterable[BaseEvent]) -> list[Interrupt]:
    """The interrupts the run's `RUN_FINISHED` waits for (none when it finished otherwise)."""
    finished = [e for e in events if isinstance(e, RunFinishedEvent)]
    outcome = finished[-1].outcome if finished else None
    return list(outcome.interrupts) if isinstance(outcome, RunFinishedInterruptOutcome) else []


async def resume_entries(
    events: Iterable[BaseEvent], *, client: ApprovalsClient, thread_id: str, within: int | None = None,
    agent: str = "agent",
) -> list[ResumeEntry]:
    """One `ResumeEntry` for each tool-call interrupt of the run whose `events` these are, as people decided."""
    seen = list(events)
    calls = _calls(seen)
    asks = [_answer(i, calls.get(i.tool_call_id or ""), client=client, thread_id=thread_id, within=within,
                    agent=agent)
            for i in interrupts_of(seen) if i.reason == TOOL_CALL and i.tool_call_id]
    return list(await asyncio.gather(*asks))


def http_agent(url: str, *, headers: Mapping[str, str] | None = None, timeout: float = 300.0) -> RunAgent:
    """An AG-UI agent served over HTTP: each run POSTs its input and reads the events it streams (SSE)."""

    async def run(input: RunAgentInput) -> AsyncIterator[BaseEvent]:
        body = input.model_dump(mode="json", by_alias=True)
        sent = {"Accept": "text/event-stream", **(headers or {})}
        async with httpx.AsyncClient(timeout=timeout) as http, http.stream("POST", url, json=body,
                                                                         headers=sent) as answer:
            answer.raise_for_status()
            async for line in answer.aiter_lines():
                if line.startswith("data:"):
                    yield _EVENT.validate_json(line[5:].strip())

    return run


async def _answer(interrupt: Interrupt, call: _Call | None, *, client: ApprovalsClient, thread_id: str,
                  within: int | None, agent: str) -> ResumeEntry:
    if call is None or call.arguments is None or not call.name:
        return ResumeEntry(interrupt_id=interrupt.id, status="resolved", payload={"approved": False},
                           metadata={KEY: {"status": "rejected", "refusal": UNREADABLE}})
    editable = "editedArgs" in ((interrupt.response_schema or {}).get("properties") or {})
    options: dict[str, Any] = {"agent": f"{agent} ({FRAMEWORK})"[:80], "editable": editable}
    if interrupt.message:
        options["title"] = interrupt.message[:150]
    limit = _within(within, interrupt.expires_at)
    if limit is not None:
        options["timeout"] = limit
    decided, arguments = await _decide(client, call.name, call.arguments, f"{thread_id}-{interrupt.id}", options)
    payload: dict[str, Any] = {"approved": decided.approved}
    said: dict[str, Any] = {"approvalId": decided.id, "status": decided.status, "tool": call.name,
                            "argsSha256": args_sha256(arguments), "decidedBy": decided.who or decided.decided_by}
    if decided.approved:
        if arguments != call.arguments:
            payload["editedArgs"] = arguments
        if decided.receipt:
            said["receipt"] = decided.receipt
    else:
        said["refusal"] = refusal(decided)
    return ResumeEntry(interrupt_id=interrupt.id, status="resolved", payload=payload, metadata={KEY: said})


async def _decide(client: ApprovalsClient, name: str, arguments: dict[str, Any], scope: str,
                  options: dict[str, Any]) -> tuple[Approval, dict[str, Any]]:
    """Ask about `name(arguments)` until decided; an edit is asked about again, as the edited call. The decision,
    and the arguments it is about."""
    for _ in range(MAX_EDITS + 1):
        asked = await client.request_tool(name, arguments, idempotency_key=call_key("agui", scope, name, arguments),
                                          **options)
        decided = asked if not asked.pending else await client.wait(asked.id)
        edited = decided.status == "revised" and decided.edited and decided.arguments != arguments
        if not (options["editable"] and edited):
            return decided, arguments
        arguments = dict(decided.arguments)
    too_many = Approval(id="", status="rejected", reason=f"the arguments were edited more than {MAX_EDITS} times")
    return too_many, arguments


def _within(within: int | None, expires_at: str | None) -> int | None:
    """The card's timeout: `within`, or sooner when the interrupt expires sooner (at least 1 s)."""
    if not expires_at:
        return within
    try:
        when = datetime.fromisoformat(expires_at.replace("Z", "+00:00"))
    except ValueError:
        return within
    left = int((when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp() - datetime.now(UTC).timestamp())
    return max(1, left) if within is None else max(1, min(within, left))


def _calls(events: list[BaseEvent]) -> dict[str, _Call]:
    """Each tool call of the run by id: from its `TOOL_CALL_*` events, else its `MESSAGES_SNAPSHOT`."""
    names: dict[str, str] = {}
    args: dict[str, str] = {}
    last = ""
    for event in events:
        if isinstance(event, ToolCallStartEvent):
            names[event.tool_call_id], args[event.tool_call_id] = event.tool_call_name, ""
        elif isinstance(event, ToolCallArgsEvent):
            args[event.tool_call_id] = args.get(event.tool_call_id, "") + event.delta
        elif isinstance(event, ToolCallChunkEvent):
            last = event.tool_call_id or last
            if event.tool_call_name:
                names[last] = event.tool_call_name
            args[last] = args.get(last, "") + (event.delta or "")
        elif isinstance(event, MessagesSnapshotEvent):
            for message in event.messages:
                for call in getattr(message, "tool_calls", None) or []:
                    names.setdefault(call.id, call.function.name)
                    args.setdefault(call.id, call.function.arguments)
    return {key: _Call(name, _object(args.get(key, ""))) for key, name in names.items()}


def _object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _messages(events: list[BaseEvent], before: list[Message]) -> list[Message]:
    """The conversation the resumed run continues: the run's last `MESSAGES_SNAPSHOT`, else what it was given."""
    snapshots = [e for e in events if isinstance(e, MessagesSnapshotEvent)]
    return list(snapshots[-1].messages) if snapshots else list(before)

