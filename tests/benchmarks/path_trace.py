"""Where a reviewer's feedback -> the next card spends its time (feedback_floor.py `--trace`): in a `procs.py worker`
process, the coroutine functions on that path are wrapped to note when each starts and ends (`time.perf_counter`,
one clock with the benchmark's process), before the worker is built; `stages` cuts each round into the parts below.

Wrapping costs a few microseconds a call: run it apart from the figures it explains."""

from __future__ import annotations

import functools
import importlib
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

# name -> (module, attribute path): what is stamped ("name>" when it starts, "name<" when it ends)
POINTS: dict[str, tuple[str, str]] = {
    "submit": ("bot.slackapp.listeners.views", "submit_revision"),
    "decide": ("bot.approvals.service", "ApprovalService.decide"),
    "wait": ("bot.approvals.service", "ApprovalService._wait"),
    "ask": ("bot.approvals.service", "ApprovalService.ask"),
    "settings": ("bot.approvals.chain", "DecisionChain.settings_of"),
    "judge": ("bot.approvals.deciders.policies", "Policies.judge"),
    "open": ("bot.store.approvals", "Approvals.open"),
    "card": ("bot.slack.card_sync", "CardService.post"),
    "model": ("autogen_ext.models.replay", "ReplayChatCompletionClient.create"),
    "save_state": ("autogen_agentchat.teams._group_chat._base_group_chat", "BaseGroupChat.save_state"),
}

# stage -> (from, to): the stamps (or "sent": the submission leaving the stand-in; "came": the card coming in)
STAGES: dict[str, tuple[str, str]] = {
    "HTTP in, the gate, Bolt, to the listener": ("sent", "submit>"),
    "the decide step (Lua)": ("decide>", "decide<"),
    "the owner woken, the decision taken once (consume)": ("decide<", "wait<"),
    "the agent's turn: AutoGen, the model, to save_state": ("wait<", "save_state>"),
    "save_state (the checkpoint)": ("save_state>", "save_state<"),
    "to the ask (the input function, the gate)": ("save_state<", "ask>"),
    "the channel's settings (the worker's copy)": ("settings>", "settings<"),
    "the policies judged (Cedar)": ("judge>", "judge<"),
    "to the open step (the chain's links, the record)": ("judge<", "open>"),
    "the open step (Lua)": ("open>", "open<"),
    "to the card's post (noting, building)": ("open<", "card>"),
    "the card built and sent, to Slack": ("card>", "came"),
}

Stamp = tuple[float, str]


def install() -> list[Stamp]:
    """Wrap every point (call before the worker is built); returns the list the stamps go to."""
    stamps: list[Stamp] = []
    for name, (module, path) in POINTS.items():
        owner: Any = importlib.import_module(module)
        *parents, attribute = path.split(".")
        for parent in parents:
            owner = getattr(owner, parent)
        setattr(owner, attribute, _stamped(getattr(owner, attribute), name, stamps))
    return stamps


def _stamped(function: Callable[..., Any], name: str, stamps: list[Stamp]) -> Callable[..., Any]:
    @functools.wraps(function)
    async def stamped(*args: Any, **kwargs: Any) -> Any:
        stamps.append((time.perf_counter(), name + ">"))
        try:
            return await function(*args, **kwargs)
        finally:
            stamps.append((time.perf_counter(), name + "<"))

    return stamped


def stages(stamps: Sequence[Stamp], rounds: Sequence[tuple[float, float]]) -> dict[str, float]:
    """The median of each stage (ms) over `rounds` ((sent, came) of each timed submission): in each, the first
    stamp of a stage's start after `sent` and the first of its end after that."""
    found: dict[str, list[float]] = {stage: [] for stage in STAGES}
    for sent, came in rounds:
        inside = [(at, label) for at, label in stamps if sent <= at <= came]
        for stage, (start, end) in STAGES.items():
            begun = sent if start == "sent" else next((at for at, label in inside if label == start), None)
            if begun is None:
                continue
            ended = came if end == "came" else next((at for at, label in inside if label == end and at >= begun),
                                                     None)
            if ended is not None:
                found[stage].append((ended - begun) * 1000)
    return {stage: round(statistics.median(values), 3) for stage, values in found.items() if values}
