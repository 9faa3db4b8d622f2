"""Documents that come in (policy files: bot/policy/bundle.py, windows.py; Slack's payloads: bot/slackapp/payloads.py;
SLACKBOT_MCP's JSON: setting_values.py) are read by pydantic models; this is the one place where what such a model
refuses becomes the project's words. How deep parsed JSON nests (`too_deep`: Slack's payloads, a reviewer's edit of
the arguments) is asked here too, before anything walks it.

A model's validators refuse with `refuse("...")`: the sentence a person reads, exactly. What pydantic itself finds
(a wrong type, a missing or unknown key) is said here in plain words (`refusal`); pydantic's own texts never
reach anyone.

    class Spec(BaseModel):
        model_config = STRICT_DOCUMENT
        over: Annotated[int, BeforeValidator(duration)]

    try:
        Spec.model_validate(raw)
    except ValidationError as exc:
        raise ValueError(refusal(exc, known=Spec.model_fields).said) from None
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import ConfigDict, ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

REFUSED = "refused"  # the error type of `refuse`: its message is the project's own sentence
# A document's model: unknown keys refused, what it read kept as read (frozen).
STRICT_DOCUMENT = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)
# Slack's payloads nest a dozen levels; deeper JSON is refused before anything walks it (past ~1,000
# levels Python's own parser and printer raise RecursionError instead).
MAX_DEPTH = 64

_KINDS = {
    "string": "a string",
    "dict": "an object",
    "model": "an object",
    "list": "a list",
    "tuple": "a list",
    "int": "a whole number",
    "float": "a number",
    "bool": "true or false",
}


def loads_object(data: str | bytes | None) -> dict[str, object] | None:
    """A JSON object's text (or bytes) read back; None when there is none, or it is not one."""
    if data is None:
        return None
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether lists and objects in `value` (parsed JSON) nest more than `limit` levels. Iterative, so
    any depth is safe to ask about."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        for child in children:
            if isinstance(child, dict | list):
                if depth >= limit:
                    return True
                stack.append((child, depth + 1))
    return False


def refuse(said: str) -> PydanticCustomError:
    """What a validator raises: `raise refuse("@quorum('11'): use a number from 1 to 10")`; one that begins "is
    not" is said of the key it is about (`refuse("is not an object")`: "user is not an object")."""
    return PydanticCustomError(REFUSED, "{said}", {"said": said})


@dataclass(frozen=True, slots=True)
class Refusal:
    """What is wrong with a document: where (`loc`, as pydantic names it: keys and list indexes) and in words."""

    loc: tuple[str | int, ...]
    said: str

    @property
    def key(self) -> str:
        """The first key of `loc` ("" for the document itself)."""
        return str(self.loc[0]) if self.loc else ""


def refusal(exc: ValidationError, *, known: Iterable[str] = (), outer_first: bool = False) -> Refusal:
    """The one thing to tell of a refused document: an unknown key first (the first in sorted order), else the
    first problem found (with `outer_first`, the first of those nearest the top); `known` lists the keys a
    document may hold, for "unknown key 'x' (known: ...)"."""
    errors = exc.errors(include_url=False, include_input=False)
    if outer_first:
        errors = sorted(errors, key=lambda e: len(e["loc"]))
    unknown = sorted((e for e in errors if e["type"] == "extra_forbidden"), key=lambda e: str(e["loc"][-1]))
    first = unknown[0] if unknown else errors[0]
    return Refusal(tuple(first["loc"]), words(first, known=tuple(known)))


def words(error: ErrorDetails, *, known: tuple[str, ...] = ()) -> str:
    """One of pydantic's errors in the project's words."""
    kind, loc = error["type"], error["loc"]
    name = ".".join(str(part) for part in loc) or "the document"
    if kind == REFUSED:
        said = str((error.get("ctx") or {})["said"])
        return f"{name} {said}" if said.startswith("is not ") else said
    if kind == "extra_forbidden":
        listed = f" (known: {', '.join(known)})" if known else ""
        return f"unknown key {str(loc[-1])!r}{listed}"
    if kind == "missing":
        return f"{name} is missing"
    expected = next((said for prefix, said in _KINDS.items() if kind.startswith(prefix)), "of the kind expected")
    return f"{name} is not {expected}"

