"""Asks whose tool schema or arguments once froze a worker (issue #33): each must be a 400 naming its field, quickly,
with the worker answering meanwhile (tests/api/test_api_hostile.py checks the answers, and
tests/benchmarks/hostile_load.py how fast /healthz answers while they are checked)."""

from __future__ import annotations

from typing import Any

from tests.conftest import ALICE


def tool(schema: Any, arguments: Any) -> dict[str, Any]:
    """The body of a tool ask with this schema and these arguments."""
    return {"kind": "tool", "title": "hostile", "requester": ALICE,
            "tool": {"name": "send_email", "arguments": arguments, "schema": schema}}


def hostile_asks() -> list[tuple[Any, str]]:
    """(body, the field its 400 names): the catastrophic pattern, an anyOf/$ref expansion, a recursive $ref, a
    backreference, a check that takes long, and a schema nested 3,000 deep (raw bytes: json.dumps cannot)."""
    defs: dict[str, Any] = {f"a{i}": {"anyOf": [{"$ref": f"#/$defs/a{i + 1}"}, {"$ref": f"#/$defs/a{i + 1}"}]}
                            for i in range(17)}
    defs["a17"] = {"type": "string"}
    deep = ('{"kind": "tool", "title": "hostile", "tool": {"name": "send_email", "arguments": {"rows": []}, "schema":'
            ' {"type": "object", "properties": {"rows": ' + '{"items": ' * 3000 + "{}" + "}" * 3000 + "}}}}").encode()
    slow_schema = {"type": "object", "properties": {"rows": {"type": "array", "items": {"anyOf": [
        {"type": "string", "pattern": f"^z{{{n}}}"} for n in range(1, 300)]}}}}  # 300 x 5,000: seconds unbounded
    return [
        (tool({"type": "object", "properties": {"to": {"type": "string", "pattern": "^(a+)+$"}}},
              {"to": "a" * 40 + "!"}), "tool.arguments"),
        (tool({"$defs": defs, "type": "object", "properties": {"to": {"$ref": "#/$defs/a0"}}}, {"to": "x"}),
         "tool.schema"),
        (tool({"$defs": {"n": {"type": "object", "properties": {"c": {"$ref": "#/$defs/n"}}}},
               "$ref": "#/$defs/n"}, {"c": {}}), "tool.schema"),
        (tool({"type": "object", "properties": {"to": {"pattern": "(a)\\1"}}}, {"to": "aa"}), "tool.schema"),
        (tool(slow_schema, {"rows": ["c"] * 5000}), "tool.schema"),
        (deep, ""),
    ]


HOSTILE = hostile_asks()
