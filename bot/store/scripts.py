"""The store's Lua steps, loaded from `lua/*.lua`, called with named keys and named arguments.

Each script's first line declares its keys in order (`--! keys: run approval ...rest`; a last name
with `...` takes any number of keys, as a list), and an optional second line the helpers it uses from
`lua/lib/` (`--! uses: fence stored`). The loader puts in front of the script a prelude that names
them: `K.run` is `KEYS[1]`, and `A` is the one JSON argument decoded, so the script reads
`A.outcome`, never `ARGV[7]`. Every key a script touches is declared in KEYS (Redis Cluster needs it).

A helper may need a key of its own in every script that uses it (its first line: `--! needs: audit_floor`): the
loader is given those keys' names (`load_all(redis, needed={...})`, from `Keys`) and passes them first in KEYS,
named in `K` as the others, so the callers of the script do not name them. Such a script also gets ARGV[2]: the
highest audit seq this process knows, as `AUDIT_KNOWN` (lua/lib/audit.lua reports it while numbering is held).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from importlib import resources
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError, ResponseError

from bot.store.connection import StoreUnavailable, aw

_LUA = resources.files("bot.store") / "lua"
HELD = "AUDIT_HELD"  # lua/lib/audit.lua's refusal while the audit floor is not confirmed (Redis restarted)
HOLD_SECONDS = 30.0  # how long a step refused so waits for a worker to confirm the floor, then StoreUnavailable


def _header(source: str, tag: str) -> list[str]:
    for line in source.splitlines()[:2]:
        if line.startswith(f"--! {tag}:"):
            return line.split(":", 1)[1].split()
    return []


@functools.cache
def _read(path: str) -> str:
    """A file of `lua/`, read once per process: every store (a worker's, its Homes', each workspace's) registers
    every script, and the package's files do not change while it runs."""
    return _LUA.joinpath(*path.split("/")).read_text()


@functools.cache
def _compiled(name: str) -> tuple[tuple[str, ...], tuple[str, ...], str | None, tuple[str, ...], str]:
    """`lua/{name}.lua` as it is sent, read and put together once a process (every store registers every script):
    its declared keys, the helpers' keys it needs (`wanted`), its own fixed keys, the name of its rest of keys, and
    its text with the prelude and the helpers in front."""
    source = _read(f"{name}.lua")
    keys = _header(source, "keys")
    if not keys:
        raise ValueError(f"lua/{name}.lua does not declare its keys")
    rest = keys[-1][3:] if keys[-1].startswith("...") else None
    fixed = keys[:-1] if rest else keys
    uses = _header(source, "uses")
    wanted = [key for helper in uses for key in _header(_read(f"lib/{helper}.lua"), "needs")]
    named = [*wanted, *fixed]
    names = ", ".join(f"{key} = KEYS[{i}]" for i, key in enumerate(named, 1))
    prelude = f"local K = {{{names}}}\n"
    if rest:
        prelude += f"K.{rest} = {{unpack(KEYS, {len(named) + 1})}}\n"
    prelude += "local A = cjson.decode(ARGV[1])\n"
    if wanted:  # (the process's highest audit seq: lua/lib/audit.lua's hold)
        prelude += "local AUDIT_KNOWN = tonumber(ARGV[2] or '0') or 0\n"
    helpers = "".join(_read(f"lib/{helper}.lua") for helper in uses)
    return tuple(keys), tuple(wanted), rest, tuple(fixed), prelude + helpers + source


@functools.cache
def _sha(text: str) -> str:
    """The SHA-1 Redis knows a script's text by (EVALSHA), computed once per process (as redis-py's `Script` would
    for every store: a tenth of building a worker)."""
    return hashlib.sha1(text.encode()).hexdigest()


@functools.cache
def _names() -> tuple[str, ...]:
    """The scripts of `lua/`, listed once per process."""
    return tuple(sorted(entry.name.removesuffix(".lua") for entry in _LUA.iterdir() if entry.name.endswith(".lua")))


class Encoded(str):
    """A step's arguments encoded once (`encoded`), for a step called again and again with the same ones (the due
    note after every decision: its JSON was ~30 µs of each click's bookkeeping)."""


def encoded(args: Mapping[str, Any]) -> Encoded:
    """`args` as a script's call sends them."""
    return Encoded(json.dumps(args, separators=(",", ":")))


class Script:
    """One Lua step: `await script(keys={...}, args={...})` (`args` an `Encoded`: sent as it is)."""

    def __init__(self, redis: Redis, name: str, *, needed: Mapping[str, str] | None = None,
                 known: Callable[[], int] = lambda: 0) -> None:
        keys, wanted, self._rest, fixed, text = _compiled(name)
        self.name = name
        self.keys = list(keys)
        if missing := [key for key in wanted if key not in (needed or {})]:
            raise ValueError(f"lua/{name}.lua: its helpers need keys {missing} the loader was not given")
        self._implied = [str((needed or {})[key]) for key in wanted]
        self._known = known
        self._fixed = list(fixed)
        self._names = frozenset([*self._fixed, *([self._rest] if self._rest else [])])
        self._redis, self._text, self._sha = redis, text, _sha(text)

    async def __call__(self, *, keys: Mapping[str, str | Sequence[str]], args: Mapping[str, Any] | Encoded) -> Any:
        if keys.keys() != self._names:
            raise TypeError(f"{self.name}.lua takes keys {sorted(self._names)}, not {sorted(keys)}")
        ordered = [*self._implied, *(str(keys[name]) for name in self._fixed)]
        if self._rest:
            ordered += list(keys[self._rest])
        argv = [args if isinstance(args, Encoded) else encoded(args)]
        deadline = time.monotonic() + HOLD_SECONDS
        while True:
            try:
                return await self._run(ordered, [*argv, str(self._known())] if self._implied else argv)
            except ResponseError as exc:
                if HELD not in str(exc):
                    raise
                if time.monotonic() > deadline:  # (no worker confirmed the floor: said as Redis down)
                    raise StoreUnavailable(str(exc)[:300]) from exc
            await asyncio.sleep(0.05)  # the step wrote nothing: tried again once a worker confirmed the floor

    @property
    def sha(self) -> str:
        """The SHA-1 the step is called by (EVALSHA)."""
        return self._sha

    async def _run(self, keys: list[str], args: Sequence[str]) -> Any:
        """EVALSHA, the script loaded first where Redis does not know it (restarted, another node): as redis-py's
        `Script` runs one."""
        try:
            return await aw(self._redis.evalsha(self._sha, len(keys), *keys, *args))
        except NoScriptError:
            self._sha = await aw(self._redis.script_load(self._text))
            return await aw(self._redis.evalsha(self._sha, len(keys), *keys, *args))


def load_all(
    redis: Redis, *, needed: Mapping[str, str] | None = None, known: Callable[[], int] = lambda: 0
) -> dict[str, Script]:
    """Every script in `lua/`, read and registered once (no Redis call: each is sent on first use); `needed`: the
    names of the keys the helpers need (`--! needs:`); `known`: the process's highest audit seq (ARGV[2])."""
    return {name: Script(redis, name, needed=needed, known=known) for name in _names()}


def fence_arg(fence: tuple[str, int] | None) -> dict[str, str]:
    """A fence as scripts take it (`lua/lib/fence.lua`): no fence is an empty owner."""
    return {"owner": fence[0], "epoch": str(fence[1])} if fence is not None else {"owner": "", "epoch": ""}
