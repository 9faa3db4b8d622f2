"""A policy bundle: the `*.cedar` files and `policy.yaml` of `POLICY_DIR`, with the shipped defaults
(bot/policy/defaults/), parsed, checked and hashed once (`load_bundle`). Nothing is evaluated here
(bot/policy/decide.py does).

Each policy needs a unique `@id` (what audit entries, receipts and cards name) and may carry:

    @reason("...")           what a person or the agent is told ({window.x}, {args.x|usd}... filled in)
    @outcome("ask")          a `forbid` that asks a person instead of refusing
    @approvers("U1,S2")      who may decide an ask (user ids, user group ids), @quorum("2"), @channel("C1"),
                             @timeout("2h"), @sla("15m") (its service level: a floor, the shorter wins)
    @mode("shadow")          decides nothing: what it would have changed is audited (`policy_shadow`)
    @step_up                 an ask whose approving votes each need the voter's passkey (bot/stepup/), bound to
                             the exact action
    @require_details("true") an ask whose Approve counts only from a person who opened its details (its page, a
                             modal): the card says so, an Approve before is refused and audited
    @triage("model")         a model of MODEL_CONFIG reads the ask first (bot/approvals/triage.py); it goes to
                             people as today unless @triage_may_approve("low"|"medium"|"high") lets the model
                             approve at that risk or below (never under step-up, a quorum above one, an attestation,
                             @require_details or a policy about who decides); a model not in MODEL_CONFIG is refused
    @ticket("jira")          an ask that opens a change ticket in Jira (or "servicenow"), closed with its decision
                             (bot/tickets/), whatever its channel's `ticket` setting
    @reach("slack; email after 10m")  how to reach its people, in order, across surfaces (bot/core/reach.py,
                             bot/approvals/reach.py), whatever its channel's `reach` setting

A policy whose scope constrains its principal to `Person` (`principal is Person`, `principal == Person::"U1"`) is
about who decides (`Policy.decider`): asked at each person's vote, never at an ask, and the other policies never at a
vote. It may only be a `forbid`, with only `@id`, `@reason` and `@mode("shadow")` (`DECIDER_ANNOTATIONS`), and reads
the vote's context (`DECIDER_CONTEXT`).

`policy.yaml` declares the windows (bot/policy/windows.py) Cedar reads as `context.window.<name>`, and `redact:`,
the argument paths to hide by tool name (bot/core/arg_paths.py: `refund: [card.number, "items[*].pan"]`).
A bundle that does not parse or check raises `PolicyError` naming the file and line.

A shipped policy that decides as the agent side's input mode does (its risk words) has no @reason of its own: the
loader gives it the mode's sentence (`SHIPPED_REASONS`), so the sentence is written once."""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import cedarpy
import yaml
from agent_approvals.modes import RISK_WORD_REASON
from pydantic import ValidationError

from bot.core.arg_paths import ArgPath, RedactError, parse_redact
from bot.core.documents import refusal
from bot.policy.annotations import EFFECT, Annotations
from bot.policy.windows import WindowSpec, parse_windows

DEFAULTS = Path(__file__).with_name("defaults")
# the @reason of shipped policies that decide as the agent side's input mode does: its own sentence, one copy
SHIPPED_REASONS: Mapping[str, str] = {"default:risk-words": RISK_WORD_REASON}
POLICY_FILE = "policy.yaml"
SCHEMA_FILE = "schema.cedarschema"  # optional: a Cedar schema to validate against as well
CONTEXT_FIELDS = ("args", "kind", "requester", "window", "time", "mode", "risk_word", "workflow", "team", "enterprise")
PRINCIPAL_TYPES = ("Agent", "Run", "Person")
ASKER_TYPES = ("Agent", "Run")  # an ask's principal; `Person`: a vote's (a decider policy)
DECIDER = "Person"
DECIDER_ANNOTATIONS = ("id", "reason", "mode")
# what a decider policy's context holds (bot/policy/decide.py `DeciderRequest`)
DECIDER_CONTEXT = ("vote", "args", "kind", "requester", "asker", "policies", "team", "enterprise", "time")

Outcome = Literal["allow", "deny", "ask"]


class PolicyError(ValueError):
    """A bundle that cannot be used; the message names the file and line ("refunds.cedar:12: ...")."""


@dataclass(frozen=True, slots=True)
class Policy:
    """One policy of a bundle, as its annotations say it decides."""

    id: str
    effect: Literal["permit", "forbid"]
    file: str
    line: int
    reason: str = ""
    ask: bool = False  # a forbid with @outcome("ask")
    shadow: bool = False
    approvers: tuple[str, ...] = ()
    quorum: int = 0  # 0: the channel's
    channel: str = ""
    timeout: int | None = None
    actions: tuple[str, ...] | None = None  # the actions it applies to; None: any
    step_up: bool = False  # @step_up: each approving vote needs the voter's passkey
    attestation: str = ""  # @require_attestation("NAME"): each approving vote needs the voter's attestation to NAME
    require_details: bool = False  # @require_details("true"): an Approve counts once its person opened the details
    sla: int | None = None  # @sla: the ask's service level (bot/core/service_levels.py), seconds
    ticket: str = ""  # @ticket("jira"): a change ticket per approval it asks for (bot/tickets/)
    reach: str = ""  # @reach("..."): its route across surfaces, canonical (bot/core/reach.py)
    decider: bool = False  # its scope's principal is a `Person`: about who decides, asked at each vote
    triage: str = ""  # @triage("model"): the model that reads the ask first
    triage_may_approve: str = ""  # @triage_may_approve: the highest risk the model may approve at ("": none)
    triage_shadow: bool = False  # @triage_mode("shadow"): the model's reading is only audited, it changes nothing

    @property
    def outcome(self) -> Outcome:
        return "allow" if self.effect == "permit" else "ask" if self.ask else "deny"


@dataclass(frozen=True, slots=True)
class PolicyBundle:
    """A loaded bundle: its policies by id, windows, hash (sha256 of every file's name and text) and where it
    came from. `est` holds each policy's Cedar JSON form, which decide.py builds its policy sets from."""

    hash: str
    policies: Mapping[str, Policy]
    windows: tuple[WindowSpec, ...]
    est: Mapping[str, dict[str, Any]]
    directory: str = ""
    files: tuple[str, ...] = ()
    loaded_at: float = field(default_factory=time.time)
    schema: str = ""  # a Cedar schema (JSON or Cedar text) given in POLICY_DIR, or ""
    redact: Mapping[str, tuple[ArgPath, ...]] = field(default_factory=dict)  # policy.yaml's `redact:`, by tool
    digests: tuple[str, ...] = ()  # each file's `name:sha256` (of its text), in `files`' order

    @property
    def short_hash(self) -> str:
        return self.hash[:12]

    def claim(self, ids: list[str] | tuple[str, ...]) -> dict[str, Any]:
        """What audit entries and receipts carry: `{bundle: <sha256>, ids: [...]}`."""
        return {"bundle": self.hash, "ids": list(ids)}


def policy_files(directory: str | Path | None) -> list[Path]:
    """The files a bundle is made of, in a fixed order: the shipped defaults, then POLICY_DIR's."""
    files = sorted(DEFAULTS.glob("*.cedar"))
    if directory:
        root = Path(directory)
        if not root.is_dir():
            raise PolicyError(f"{root}: POLICY_DIR is not a folder")
        files += sorted(root.glob("*.cedar"))
        for extra in (POLICY_FILE, SCHEMA_FILE):
            if (root / extra).is_file():
                files.append(root / extra)
    return files


def bundle_texts(directory: str | Path | None) -> list[tuple[Path, str]]:
    """Each file of the bundle of `directory` (`policy_files`: symbolic links followed, looked up anew) with its
    text; PolicyError when one cannot be read."""
    texts = []
    for path in policy_files(directory):
        try:
            texts.append((path, path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as exc:
            raise PolicyError(f"{path}: cannot be read ({type(exc).__name__})") from None
    return texts


def content_hash(texts: list[tuple[Path, str]]) -> str:
    """A bundle's hash: sha256 of every file's name and text, and of the reasons the shipped policies are given
    (what `PolicyBundle.hash` is)."""
    digest = hashlib.sha256(json.dumps(SHIPPED_REASONS, sort_keys=True).encode())
    for path, text in texts:
        digest.update(f"{path.name}\0{len(text)}\0".encode())
        digest.update(text.encode())
    return digest.hexdigest()


def load_bundle(directory: str | Path | None, *, models: Collection[str] | None = None) -> PolicyBundle:
    """Read, parse and check the bundle of `directory` (None or "": the shipped defaults alone); `models`: the
    models MODEL_CONFIG names (a worker's), each @triage must name one of (None: not checked, as by `policy test`)."""
    texts = bundle_texts(directory)
    files = [path for path, _ in texts]
    policies: dict[str, Policy] = {}
    est: dict[str, dict[str, Any]] = {}
    windows: tuple[WindowSpec, ...] = ()
    redact: dict[str, tuple[ArgPath, ...]] = {}
    schema = ""
    for path, text in texts:
        if path.name == POLICY_FILE:
            windows, redact = _policy_yaml(path, text)
        elif path.name == SCHEMA_FILE:
            schema = text
        else:
            for policy, form in _policies_of(path, text):
                if path.parent == DEFAULTS and not policy.reason:
                    policy = replace(policy, reason=SHIPPED_REASONS.get(policy.id, ""))
                if policy.id in policies:
                    first = policies[policy.id]
                    raise PolicyError(f"{path.name}:{policy.line}: @id {policy.id!r} is used already"
                                      f" ({first.file}:{first.line})")
                policies[policy.id] = policy
                est[policy.id] = form
    bundle = PolicyBundle(
        hash=content_hash(texts), policies=policies, windows=windows, est=est,
        directory=str(directory or ""), files=tuple(path.name for path in files), schema=schema, redact=redact,
        digests=tuple(f"{path.name}:{hashlib.sha256(text.encode()).hexdigest()}" for path, text in texts),
    )
    _check_references(bundle)
    if models is not None:
        _check_models(bundle, models)
    if schema:
        _validate(bundle)
    return bundle


# parsing ---------------------------------------------------------------------------------------------------


def _policies_of(path: Path, text: str) -> Iterator[tuple[Policy, dict[str, Any]]]:
    """Each policy of one file, with its Cedar JSON form; PolicyError at the first that does not parse or check."""
    for line, statement in _statements(text):
        try:
            parsed = json.loads(cedarpy.policies_to_json_str(statement))
        except ValueError as exc:
            raise PolicyError(f"{path.name}:{line}: {exc}") from None
        for form in parsed.get("staticPolicies", {}).values():
            yield _policy(path.name, line, form), form
        if parsed.get("templates"):
            raise PolicyError(f"{path.name}:{line}: templates (?principal, ?resource) are not supported")


def _statements(text: str) -> Iterator[tuple[int, str]]:
    """The policies of a Cedar file one by one, each with the line it starts on: split at each `;` outside
    strings and comments, so that an error names the policy's line."""
    start, i, n = 0, 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        elif text.startswith("//", i):
            i = text.find("\n", i)
            if i < 0:
                break
        elif c == ";":
            yield from _statement(text, start, i + 1)
            start = i + 1
        i += 1
    yield from _statement(text, start, n)


def _statement(text: str, start: int, end: int) -> Iterator[tuple[int, str]]:
    chunk = text[start:end]
    body = re.sub(r"//[^\n]*", "", chunk)
    if not body.strip():
        return
    first = len(chunk) - len(chunk.lstrip())
    while chunk.startswith("//", first):  # the line of its first word, past comments
        newline = chunk.find("\n", first)
        first = len(chunk) if newline < 0 else newline + 1
        first += len(chunk[first:]) - len(chunk[first:].lstrip())
    yield text.count("\n", 0, start + first) + 1, chunk


def _policy(file: str, line: int, form: dict[str, Any]) -> Policy:
    """One policy of a file from its Cedar JSON form: its annotations read (`Annotations`, bot/policy/annotations.py),
    PolicyError naming the file and line of what is wrong."""
    decider = is_decider(form)
    if decider:
        _check_decider(file, line, form)
    try:
        notes = Annotations.model_validate({**(form.get("annotations") or {}), EFFECT: form["effect"]})
    except ValidationError as exc:
        raise PolicyError(f"{file}:{line}: {refusal(exc).said}") from None
    return Policy(
        id=notes.id, effect=notes.effect, file=file, line=line, reason=notes.reason, ask=notes.outcome == "ask",
        shadow=notes.mode == "shadow", approvers=notes.approvers, quorum=notes.quorum, channel=notes.channel,
        timeout=notes.timeout, actions=_actions(form.get("action") or {}), step_up=notes.step_up, sla=notes.sla,
        attestation=notes.require_attestation, ticket=notes.ticket, reach=notes.reach,
        require_details=notes.require_details, decider=decider, triage=notes.triage,
        triage_may_approve=notes.triage_may_approve, triage_shadow=notes.triage_mode == "shadow",
    )


def _check_models(bundle: PolicyBundle, models: Collection[str]) -> None:
    """Each @triage names a model MODEL_CONFIG has (a gate never waits on a model nobody configured)."""
    for policy in bundle.policies.values():
        if policy.triage and policy.triage not in models:
            known = ", ".join(sorted(models)) or "none: set MODEL_CONFIG"
            raise PolicyError(f"{policy.file}:{policy.line}: @triage({policy.triage!r}) names no model of"
                              f" MODEL_CONFIG (its models: {known})")


def is_decider(form: dict[str, Any]) -> bool:
    """Whether a policy's scope constrains its principal to a `Person` (`principal is Person [in ...]`,
    `principal == Person::"..."`, `principal in Person::"..."`): a policy about who decides."""
    scope = form.get("principal") or {}
    return scope.get("entity_type") == DECIDER or (scope.get("entity") or {}).get("type") == DECIDER


def _check_decider(file: str, line: int, form: dict[str, Any]) -> None:
    """A decider policy only refuses a vote: a `forbid`, with only @id, @reason and @mode."""
    if form.get("effect") != "forbid":
        raise PolicyError(f"{file}:{line}: a policy about who decides (principal is Person) may only forbid a vote:"
                          " write it as a forbid (a person's right to decide is given by the approvers, not a permit)")
    extra = sorted(set(form.get("annotations") or {}) - set(DECIDER_ANNOTATIONS))
    if extra:
        raise PolicyError(f"{file}:{line}: @{extra[0]} is not for a policy about who decides (principal is Person):"
                          f" it refuses a vote, with only {', '.join('@' + a for a in DECIDER_ANNOTATIONS)}")


def _actions(scope: dict[str, Any]) -> tuple[str, ...] | None:
    """The actions a policy's scope names (`action == Action::"x"`, `action in [...]`), or None for any."""
    op = scope.get("op")
    if op == "==" and scope.get("entity", {}).get("type") == "Action":
        return (str(scope["entity"]["id"]),)
    if op == "in" and "entities" in scope and all(e.get("type") == "Action" for e in scope["entities"]):
        return tuple(str(e["id"]) for e in scope["entities"])
    return None


def _policy_yaml(path: Path, text: str) -> tuple[tuple[WindowSpec, ...], dict[str, tuple[ArgPath, ...]]]:
    """policy.yaml's windows and `redact:` paths; PolicyError naming the line of what is wrong."""
    document = _yaml_of(path, text)
    unknown = sorted(set(document) - {"windows", "redact"})
    if unknown:
        raise PolicyError(f"{path.name}:{_line_of(text, unknown[0])}: unknown key {unknown[0]!r}"
                          " (known: windows, redact)")
    try:
        windows = parse_windows(document.get("windows") or {})
    except ValueError as exc:
        name = str(exc).split(":", 1)[0]
        raise PolicyError(f"{path.name}:{_line_of(text, name)}: {exc}") from None
    try:
        return windows, parse_redact(document.get("redact"))
    except RedactError as exc:
        raise PolicyError(f"{path.name}:{_redact_line(text, exc)}: redact: {exc}") from None


def _yaml_of(path: Path, text: str) -> dict[Any, Any]:
    try:
        document = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise PolicyError(f"{path.name}{line}: not YAML ({getattr(exc, 'problem', None) or exc})") from None
    if not isinstance(document, dict):
        raise PolicyError(f"{path.name}:1: a mapping is expected (windows: ..., redact: ...)")
    return document


def _redact_line(text: str, error: RedactError) -> int:
    """The line of what a RedactError is about: the path, else the tool, else `redact:` itself."""
    root = yaml.compose(text)
    node = _value_node(root, "redact")
    line = _line_of(text, "redact")
    tool = _value_node(node, error.tool) if error.tool is not None else None
    if tool is not None:
        line = tool.start_mark.line + 1
    if isinstance(tool, yaml.SequenceNode) and error.index is not None and error.index < len(tool.value):
        line = tool.value[error.index].start_mark.line + 1
    return line


def _value_node(node: yaml.Node | None, key: str | None) -> yaml.Node | None:
    """The node of `key`'s value in a YAML mapping node, or None."""
    if not isinstance(node, yaml.MappingNode):
        return None
    return next((value for name, value in node.value if getattr(name, "value", None) == key), None)


def _line_of(text: str, word: str) -> int:
    for number, line in enumerate(text.splitlines(), 1):
        if re.match(rf"\s*{re.escape(word)}\s*:", line):
            return number
    return 1


# checking --------------------------------------------------------------------------------------------------


def _check_references(bundle: PolicyBundle) -> None:
    """What the request shape (docs/operators/policies.md) cannot hold: an unknown `context.x`, a window
    not declared in policy.yaml, a principal type other than Agent and Run (Person in a decider policy, which reads
    a vote's context). (A Cedar schema file checks more.)"""
    declared = {window.name for window in bundle.windows}
    for policy_id, form in bundle.est.items():
        policy = bundle.policies[policy_id]
        where = f"{policy.file}:{policy.line}"
        fields, what = (DECIDER_CONTEXT, "a vote") if policy.decider else (CONTEXT_FIELDS, "a request")
        for top, attr in _context_reads(form):
            if top not in fields:
                raise PolicyError(f"{where}: context.{top} is not part of {what} (known: {', '.join(fields)})")
            if top == "window" and attr is not None and attr not in declared:
                known = ", ".join(sorted(declared)) or "none declared"
                raise PolicyError(f"{where}: context.window.{attr} is not declared in {POLICY_FILE} ({known})")
        principals = (DECIDER,) if policy.decider else ASKER_TYPES
        for entity in _entity_types(form):
            if entity in ("Channel", "Action", *principals):
                continue
            if entity in PRINCIPAL_TYPES:
                raise PolicyError(f"{where}: {_never(entity, decider=policy.decider)}")
            raise PolicyError(f"{where}: entity type {entity} is not part of a request (Agent, Run, Person, Action,"
                              " Channel)")


def _never(entity: str, *, decider: bool) -> str:
    """Why a principal type a policy's requests never carry is refused."""
    if decider:
        return (f"a policy about who decides (principal is Person) is asked only at a vote, where the principal is a"
                f" Person, never {entity}")
    return (f"{entity} is the principal of a vote: a policy about who decides says so in its scope (principal is"
            " Person, or principal == Person::\"U…\"); this one is asked only when an agent asks")


def _context_reads(node: Any) -> Iterator[tuple[str, str | None]]:
    """(field, attribute) of each `context.field[.attribute]` and `context has field` in a policy's JSON form."""
    if isinstance(node, dict):
        for op in (".", "has"):
            body = node.get(op)
            if isinstance(body, dict) and body.get("left") == {"Var": "context"}:
                yield str(body.get("attr")), None
            elif isinstance(body, dict) and isinstance(body.get("left"), dict):
                inner = body["left"].get(".")
                if isinstance(inner, dict) and inner.get("left") == {"Var": "context"}:
                    yield str(inner.get("attr")), str(body.get("attr"))
        for value in node.values():
            yield from _context_reads(value)
    elif isinstance(node, list):
        for value in node:
            yield from _context_reads(value)


def _entity_types(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("type"), str) and "id" in node:
            yield node["type"]
        if "__entity" in node and isinstance(node["__entity"], dict):
            yield str(node["__entity"].get("type"))
        if isinstance(node.get("entity_type"), str):  # `principal is T` (scope and condition)
            yield node["entity_type"]
        for value in node.values():
            yield from _entity_types(value)
    elif isinstance(node, list):
        for value in node:
            yield from _entity_types(value)


def _validate(bundle: PolicyBundle) -> None:
    """Validate every policy against the bundle's own Cedar schema (schema.cedarschema, in POLICY_DIR)."""
    for policy_id, form in bundle.est.items():
        text = cedarpy.policies_from_json_str(json.dumps({"staticPolicies": {"p": form}, "templates": {},
                                                           "templateLinks": []}))
        try:
            result = cedarpy.validate_policies(text, bundle.schema)
        except ValueError as exc:
            raise PolicyError(f"{SCHEMA_FILE}:1: {exc}") from None
        if not result.validation_passed:
            policy = bundle.policies[policy_id]
            errors = "; ".join(error.error for error in result.errors)
            where = SCHEMA_FILE if "Schema" in errors else f"{policy.file}:{policy.line}"
            raise PolicyError(f"{where}: {errors}")
