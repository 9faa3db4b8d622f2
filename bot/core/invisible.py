"""Characters that change how text reads without being seen, shown as what they are (pure): the direction
controls (embeddings, overrides, isolates, marks) and the invisible spaces and joiners an attacker uses to make a
path or a command read other than it runs, each written as `<U+202E>`. Joiners that letters need (U+200C, U+200D:
Persian words, emoji) stay as they are.

    >>> visible("invoice\u202etxt.exe")
    'invoice<U+202E>txt.exe'
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["INVISIBLE", "visible"]

INVISIBLE: Final = re.compile("[\u061c\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")


def visible(text: str) -> str:
    """`text` with each invisible or direction-changing character written as `<U+XXXX>`."""
    return INVISIBLE.sub(lambda found: f"<U+{ord(found.group()):04X}>", text)
