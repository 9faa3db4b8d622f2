"""Bolt's reading of what each listener, matcher and middleware takes, once per function's code rather than once per
function: Bolt reads each one's parameter names (`get_arg_names_of_callable`, `inspect.getfullargspec`) as it is
registered, and every worker (the app of each, and of each test) registers the same closures again: about a
twentieth of building a worker.

A plain function's positional parameter names are those of its code object (`co_varnames`), whatever its closure,
defaults or annotations, so the names are kept by code object: exact. Anything else (a `functools.partial`, a bound
method, an object with `__call__`, a function given a `__signature__` or other attributes) is read as Bolt reads
it, every time."""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable
from typing import Any

import slack_bolt.authorization.async_authorize
import slack_bolt.lazy_listener.async_internals
import slack_bolt.listener.async_listener
import slack_bolt.listener.async_listener_completion_handler
import slack_bolt.listener.async_listener_error_handler
import slack_bolt.listener.async_listener_start_handler
import slack_bolt.listener_matcher.async_listener_matcher
import slack_bolt.listener_matcher.builtins
import slack_bolt.middleware.async_custom_middleware
import slack_bolt.middleware.async_middleware_error_handler
from slack_bolt.util import utils

BOLTS = utils.get_arg_names_of_callable  # Bolt's own reading

# the modules of Bolt's async app that read a callable's parameters, each through its own import of Bolt's function
READERS: tuple[types.ModuleType, ...] = (
    slack_bolt.authorization.async_authorize,
    slack_bolt.lazy_listener.async_internals,
    slack_bolt.listener.async_listener,
    slack_bolt.listener.async_listener_completion_handler,
    slack_bolt.listener.async_listener_error_handler,
    slack_bolt.listener.async_listener_start_handler,
    slack_bolt.listener_matcher.async_listener_matcher,
    slack_bolt.listener_matcher.builtins,
    slack_bolt.middleware.async_custom_middleware,
    slack_bolt.middleware.async_middleware_error_handler,
)

_by_code: dict[types.CodeType, tuple[str, ...]] = {}  # a plain function's parameter names, by its code: immutable


def arg_names(func: Callable[..., Any]) -> list[str]:
    """What Bolt's `get_arg_names_of_callable(func)` returns, read once per code object for a plain function."""
    target = inspect.unwrap(func)
    if type(target) is not types.FunctionType or target.__dict__:
        return BOLTS(func)
    names = _by_code.get(target.__code__)
    if names is None:
        names = _by_code[target.__code__] = tuple(BOLTS(target))
    return list(names)


def read_once() -> None:
    """Bolt's async app reads parameters through `arg_names` from now on (idempotent; what it built before keeps
    what it read)."""
    for module in READERS:
        if getattr(module, "get_arg_names_of_callable", None) is BOLTS:
            module.get_arg_names_of_callable = arg_names  # type: ignore[attr-defined]
