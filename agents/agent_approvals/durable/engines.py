"""The engines the relay delivers to, found by name, and what delivering a decision answers.

`ENGINES` names each engine's module; the relay imports it only when told to deliver to that engine
(`connect`), so the relay never imports an engine and no engine imports the relay: both import this module. An
engine's module has `async def connect(address, *, namespace) -> Deliver`.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

GONE = "the workflow had already finished (completed, cancelled, failed or timed out)"


@dataclass(frozen=True, slots=True)
class Delivered:
    """What an engine did with a decision: `delivered`; `done` (it had it already) or `gone` (the workflow had
    finished): nothing more to do; `later` (not yet recorded its ask): try again; `wrong`: not deliverable."""

    outcome: Literal["delivered", "done", "gone", "later", "wrong"]
    why: str = ""


Deliver = Callable[[Mapping[str, str], dict[str, Any]], Awaitable[Delivered]]


@dataclass(frozen=True, slots=True)
class Engine:
    """An engine the relay can deliver to: the module with its `connect`, and the extra that installs it."""

    module: str
    extra: str


ENGINES: Mapping[str, Engine] = MappingProxyType({
    "temporal": Engine("agent_approvals.durable.temporal.delivery", "temporal"),
    "dbos": Engine("agent_approvals.durable.dbos", "dbos"),
})


async def connect(name: str, address: str, *, namespace: str = "default") -> Deliver:
    """The engine `name` connected at `address` (Temporal's frontend, DBOS's system database URL), its module
    imported now, by name. A name not in `ENGINES` is a `KeyError`."""
    module = importlib.import_module(ENGINES[name].module)
    deliver: Deliver = await module.connect(address, namespace=namespace)
    return deliver
