"""Frozen scopes in Slack text (bot/store/freezes.py): a scope as people read it and as `/agent unfreeze` takes it,
and the lines `/agent status` and the admins' Home show. Pure."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Protocol

from bot.slack.blocks.text import safe, user_ref


class Frozen(Protocol):
    """A frozen scope as the store reads it (`bot.store.Frozen`)."""

    @property
    def scope(self) -> str: ...

    @property
    def reason(self) -> str: ...

    @property
    def by(self) -> str: ...


def scope_text(scope: str) -> str:
    """A scope as people read it: "everything", "<#C…>", "API key `nightly`", "agent `writer`"."""
    kind, _, name = scope.partition(":")
    if kind == "all":
        return "everything (all)"
    if kind == "channel":
        return f"<#{name}>"
    return f"{'API key' if kind == 'key' else 'agent'} `{safe(name, 40)}`"


def scope_typed(scope: str) -> str:
    """A scope as `/agent unfreeze` takes it."""
    kind, _, name = scope.partition(":")
    if kind == "all":
        return "all"
    return f"<#{name}>" if kind == "channel" else f"{kind} {name}"


def clock(at: float) -> str:
    """When a freeze drill's hold ends, as people read it: "HH:MM:SS UTC"."""
    return time.strftime("%H:%M:%S UTC", time.gmtime(at))


def frozen_lines(frozen: Iterable[Frozen]) -> str:
    """What `/agent status` and the admins' Home say of the frozen scopes ('' when none)."""
    lines = [f":octagonal_sign: *Frozen* {scope_text(held.scope)}: {safe(held.reason or 'no reason given', 300)}"
             f" (by {user_ref(held.by) if held.by else 'someone'}): new asks refused, nothing approved"
             for held in frozen]
    return "\n".join(lines)
