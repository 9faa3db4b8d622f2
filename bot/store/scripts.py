"""The store's Lua steps, loaded from `lua/*.lua`, called with named keys and named arguments.

Each script's first line declares its keys in order (`--! keys: run approval ...rest`; a last name
with `...` takes any number of keys, as a list), and an optional second line the helpers it uses from
`lua/lib/` (`--! uses: fence stored`). The loader puts in front of the script a prelude that names
them: `K.run` is `KEYS[1]`, and `A` is the one JSON argument decoded, so the script reads
`A.outcome`, never `ARGV[7]`. Every key a script touches is declared in KEYS (Redis Cluster needs it).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

from redis.asyncio import Redis

_LUA = resources.files("bot.store") / "lua"


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


class Script:
    """One Lua step: `await script(keys={...}, args={...})`."""

    def __init__(self, redis: Redis, name: str) -> None:
        source = _read(f"{name}.lua")
        self.name = name
        self.keys = _header(source, "keys")
        if not self.keys:
            raise ValueError(f"lua/{name}.lua does not declare its keys")
        self._rest = self.keys[-1][3:] if self.keys[-1].startswith("...") else None
        fixed = self.keys[:-1] if self._rest else self.keys
        names = ", ".join(f"{key} = KEYS[{i}]" for i, key in enumerate(fixed, 1))
        prelude = f"local K = {{{names}}}\n"
        if self._rest:
            prelude += f"K.{self._rest} = {{unpack(KEYS, {len(fixed) + 1})}}\n"
        prelude += "local A = cjson.decode(ARGV[1])\n"
        helpers = "".join(_read(f"lib/{helper}.lua") for helper in _header(source, "uses"))
        self._fixed = fixed
        self._names = frozenset([*fixed, *([self._rest] if self._rest else [])])
        self._script = redis.register_script(prelude + helpers + source)

    async def __call__(self, *, keys: Mapping[str, str | Sequence[str]], args: Mapping[str, Any]) -> Any:
        if keys.keys() != self._names:
            raise TypeError(f"{self.name}.lua takes keys {sorted(self._names)}, not {sorted(keys)}")
        ordered = [str(keys[name]) for name in self._fixed]
        if self._rest:
            ordered += list(keys[self._rest])
        return await self._script(keys=ordered, args=[json.dumps(args, separators=(",", ":"))])


def load_all(redis: Redis) -> dict[str, Script]:
    """Every script in `lua/`, read and registered once (no Redis call: each is sent on first use)."""
    names = sorted(entry.name.removesuffix(".lua") for entry in _LUA.iterdir() if entry.name.endswith(".lua"))
    return {name: Script(redis, name) for name in names}


def fence_arg(fence: tuple[str, int] | None) -> dict[str, str]:
    """A fence as scripts take it (`lua/lib/fence.lua`): no fence is an empty owner."""
    return {"owner": fence[0], "epoch": str(fence[1])} if fence is not None else {"owner": "", "epoch": ""}
