"""Bolt's reading of each listener's parameters, once per function's code (bot/slackapp/arg_names.py): the same
names as Bolt's own reading for every kind of callable, read once for the closures every worker registers again, and
used by each module of Bolt's async app that reads them.

Real parts: Bolt itself (its reading is the reference), and a worker's Bolt app built as the composition root
builds it."""

from __future__ import annotations

import functools
import inspect
import sys
import types
from collections.abc import Callable
from typing import Any

import pytest

from bot.slackapp import arg_names
from bot.slackapp.arg_names import BOLTS, READERS
from tests.conftest import Worker


def listener_of(prefix: str) -> Callable[..., Any]:
    """A closure as a listener module registers one: a new function object, of the same code, each call."""

    async def handle(ack: Any, body: dict[str, Any], context: Any, *, respond: Any = None) -> None:
        return None

    handle.__qualname__ = prefix  # (an attribute of the function object, not of its code)
    return handle


class Clicks:
    async def on_click(self, ack: Any, body: dict[str, Any]) -> None:
        return None

    async def __call__(self, say: Any, context: Any) -> None:
        return None


async def two(ack: Any, body: Any, /, client: Any, *rest: Any, logger: Any = None, **more: Any) -> None:
    return None


def wrapped(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        return await func(*args, **kwargs)

    return wrapper


def signed() -> Callable[..., Any]:
    async def handle(ack: Any, body: Any) -> None:
        return None

    handle.__signature__ = inspect.signature(two)  # type: ignore[attr-defined]
    return handle


CALLABLES: dict[str, Callable[[], Callable[..., Any]]] = {
    "a closure": lambda: listener_of("a"),
    "positional-only and keyword-only": lambda: two,
    "a partial": lambda: functools.partial(two, "ack"),
    "a bound method": lambda: Clicks().on_click,
    "an object with __call__": Clicks,
    "a wrapped function": lambda: wrapped(two),
    "a function with its own __signature__": signed,
    "a lambda": lambda: lambda respond, body: None,
}


@pytest.mark.parametrize("made", CALLABLES.values(), ids=CALLABLES.keys())
def test_the_names_are_bolts_twice_over(made: Callable[[], Callable[..., Any]]) -> None:
    first, again = made(), made()
    assert arg_names.arg_names(first) == BOLTS(first)
    assert arg_names.arg_names(again) == BOLTS(again)  # (from what the first left, for a plain function)


def test_a_closure_made_again_is_read_once() -> None:
    first, again = listener_of("first"), listener_of("again")
    assert first is not again and first.__code__ is again.__code__
    assert arg_names.arg_names(first) == ["ack", "body", "context"]
    names = arg_names._by_code[first.__code__]
    given = arg_names.arg_names(again)
    assert arg_names._by_code[again.__code__] is names  # not read again
    given.append("changed")  # a caller's list is its own
    assert arg_names.arg_names(again) == ["ack", "body", "context"]


def test_a_function_given_a_signature_is_not_kept() -> None:
    handle = signed()
    assert arg_names.arg_names(handle) == ["ack", "body", "client"]
    assert handle.__code__ not in arg_names._by_code


async def test_bolts_async_app_reads_through_it(worker: Worker) -> None:
    """Once a worker's app is built, every module of Bolt's async app that reads parameters reads them through it
    (a newer Bolt with another reader is named here)."""
    assert all(module.get_arg_names_of_callable is arg_names.arg_names for module in READERS)
    left = sorted(name for name, module in list(sys.modules.items())
                  if name.startswith("slack_bolt.") and "async" in name and isinstance(module, types.ModuleType)
                  and getattr(module, "get_arg_names_of_callable", None) is BOLTS)
    assert left == []
