"""The two shapes of a key's name in `Keys`' table (bot/store/keys.py): one key (`Named`), a family of keys one
part apart (`Family`), under the tenant's prefix or on the global root. A name is built here only, from its words."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, overload


class Prefixed(Protocol):
    """What a name is built under: the tenant's `prefix` and the global `root` (`Keys`)."""

    prefix: str
    root: str


class Named:
    """One key: `keys.<attr>` is `{prefix}:<word>` (`on_root`: `{root}:<word>`)."""

    def __init__(self, word: str, *, on_root: bool = False) -> None:
        self._word, self._on_root = word, on_root

    @overload
    def __get__(self, keys: None, owner: type) -> Named: ...
    @overload
    def __get__(self, keys: Prefixed, owner: type | None = None) -> str: ...
    def __get__(self, keys: Prefixed | None, owner: type | None = None) -> Named | str:
        if keys is None:
            return self
        return f"{keys.root if self._on_root else keys.prefix}:{self._word}"


class Family:
    """Keys one part apart: `keys.<attr>(part)` is `{prefix}:<word>:<part>`, `{<part>}` when `tagged` (an approval's
    hash tag), followed by `:<then>` when given (`on_root`: under `{root}`)."""

    def __init__(self, word: str, *, then: str = "", tagged: bool = False, on_root: bool = False) -> None:
        self._word, self._on_root = word, on_root
        self._open, self._close = ("{", "}") if tagged else ("", "")
        self._then = f":{then}" if then else ""

    @overload
    def __get__(self, keys: None, owner: type) -> Family: ...
    @overload
    def __get__(self, keys: Prefixed, owner: type | None = None) -> Callable[[str], str]: ...
    def __get__(self, keys: Prefixed | None, owner: type | None = None) -> Family | Callable[[str], str]:
        if keys is None:
            return self
        start = f"{keys.root if self._on_root else keys.prefix}:{self._word}:{self._open}"
        end = f"{self._close}{self._then}"
        return lambda part: f"{start}{part}{end}"
