"""What a bundle decides about one request, pure: `Evaluator.evaluate` asks Cedar (cedarpy, one pre-parsed policy
set per action: the policies that name it and those for any action) and reads the answer as one of four outcomes,
by the annotations of the policies that determined it:

    deny    a forbid matched (without @outcome("ask")): refused at once with its @reason, no card
    ask     a forbid with @outcome("ask") matched, or a policy could not be evaluated: a person decides, on a card
            routed by its @approvers, @quorum, @channel, @timeout, with its id and reason on it; with @step_up,
            each approving vote needs the voter's passkey
    allow   a permit matched and no forbid: approved at once, an approval used once like a rule's
    none    no policy applies: the rules, the channel's mode and a person, as without policies

The shipped defaults (bot/policy/defaults/: the `policy` input mode's risk words) are the mode's own: they are
read only when the bundle's policies have no opinion, and come after the rules (the verdict's `fallback`).

Shadow policies (@mode("shadow"), or all of POLICY_DIR's under POLICY_MODE=shadow) decide nothing: the bundle is
evaluated a second time with them, and what they would have changed is the verdict's `shadow`.

A person's vote is one more request (`DeciderRequest`, `Evaluator.evaluate_vote`), asked of the decider policies
alone (`principal is Person`: bot/policy/bundle.py), as the asks are asked of the others alone: `deny` refuses the
vote (a forbid matched, or, for an Approve or Revise, a policy could not be evaluated: a gate never fails open),
`none` lets it count."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import cedarpy

from bot.policy.annotations import RISKS
from bot.policy.bundle import Policy, PolicyBundle

Verdict = Literal["allow", "deny", "ask", "none"]
MAX_CACHED_ACTIONS = 2048
MAX_REASON = 500
_RESERVED = ("__entity", "__extn", "__expr")  # Cedar's JSON escapes: an agent's arguments never make entities
_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_.]*)(?:\|(usd))?\}", re.IGNORECASE)
_LONG = 2**63
_FAILED = re.compile(r"policy `([^`]+)`")  # the policy an evaluation error names (cedarpy's words)


@dataclass(frozen=True, slots=True)
class PolicyRequest:
    """One call as the policies see it (docs/operators/policies.md): the asking program (`Agent::"<key name>"`, or
    `Run::"<run id>"` for the bot's own runs, with their `requester`), the action (the tool's name, "message" or
    "code"), the channel, and the context's parts."""

    principal_type: Literal["Agent", "Run"]
    principal: str
    action: str
    channel: str
    kind: str
    args: Any = None
    requester: str = ""
    mode: str = ""  # the channel's input mode
    risk_word: str = ""  # the first of the channel's risk words the call matches, or ""
    workflow: Mapping[str, str] = field(default_factory=lambda: workflow_of(""))  # a durable workflow's engine...
    team: str = ""  # the workspace it comes from (T…; "" for a key or run of the home workspace made before runs and
    enterprise: str = ""  # keys carried one), and its Enterprise Grid organisation (E…; "" for a plain workspace)
    at: float = field(default_factory=time.time)

    @property
    def per(self) -> dict[str, str]:
        """The values a window is kept per (bot/policy/windows.py)."""
        return {"principal": f'{self.principal_type}::"{self.principal}"', "action": self.action,
                "resource": self.channel}

    def context(self, windows: Mapping[str, int]) -> dict[str, Any]:
        moment = time.gmtime(self.at)
        return {
            "args": cedar_value(self.args) if isinstance(self.args, dict) else {},
            "kind": self.kind,
            "requester": self.requester,
            "window": dict(windows),
            "time": {"hour_utc": moment.tm_hour, "weekday": moment.tm_wday + 1},  # 1 Monday ... 7 Sunday
            "mode": self.mode,
            "risk_word": self.risk_word,
            "workflow": dict(self.workflow),
            "team": self.team,
            "enterprise": self.enterprise,
        }

    def cedar(self, windows: Mapping[str, int]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The Cedar request and entities."""
        principal = {"type": self.principal_type, "id": self.principal}
        request = {"principal": principal, "action": {"type": "Action", "id": self.action},
                   "resource": {"type": "Channel", "id": self.channel}, "context": self.context(windows)}
        attrs = {"requester": self.requester} if self.principal_type == "Run" else {}
        return request, [{"uid": principal, "attrs": attrs, "parents": []}]


Vote = Literal["approve", "reject", "revise"]


@dataclass(frozen=True, slots=True)
class DeciderRequest:
    """One person's vote as the decider policies see it (docs/operators/policies.md "Policies about who decides"):
    the person (`Person::"<id>"`: a Slack user id, or `teams:<object id>`) with the surface they voted on and their
    workspace, the approval's action and channel as its ask had them, and the context's parts (`args` as stored:
    hidden values are their masks)."""

    person: str
    surface: str  # "slack" or "teams"
    action: str
    channel: str
    vote: Vote
    kind: str
    args: Any = None
    person_team: str = ""  # the person's workspace (T…, "" when not known) and its Grid organisation (E… or "")
    person_enterprise: str = ""
    requester: str = ""
    asker: str = ""  # the asking key's name, or the run's id
    policies: tuple[str, ...] = ()  # the ids of the policies that asked (the approval's record)
    team: str = ""  # the approval's workspace, and its Grid organisation
    enterprise: str = ""
    at: float = field(default_factory=time.time)

    def context(self) -> dict[str, Any]:
        moment = time.gmtime(self.at)
        return {
            "vote": self.vote,
            "args": cedar_value(self.args) if isinstance(self.args, dict) else {},
            "kind": self.kind,
            "requester": self.requester,
            "asker": self.asker,
            "policies": list(self.policies),
            "team": self.team,
            "enterprise": self.enterprise,
            "time": {"hour_utc": moment.tm_hour, "weekday": moment.tm_wday + 1},
        }

    def cedar(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The Cedar request and entities (the person, with their surface and workspace)."""
        principal = {"type": "Person", "id": self.person}
        request = {"principal": principal, "action": {"type": "Action", "id": self.action},
                   "resource": {"type": "Channel", "id": self.channel}, "context": self.context()}
        attrs = {"surface": self.surface, "team": self.person_team, "enterprise": self.person_enterprise}
        return request, [{"uid": principal, "attrs": attrs, "parents": []}]


def workflow_of(text: str) -> dict[str, str]:
    """`context.workflow` of a request: the engine, type and id of the durable workflow that asked (an approval's
    `workflow`, JSON), each "" when it is none (every request has them, so a policy may always read them)."""
    try:
        found = json.loads(text) if text else {}
    except ValueError:
        found = {}
    found = found if isinstance(found, dict) else {}
    return {name: str(found.get(name) or "") for name in ("engine", "type", "id")}


def cedar_value(value: Any) -> Any:
    """JSON as Cedar values: integers in range as Long, text, booleans, lists as sets, objects as records; a float
    becomes its text (Cedar has none: amounts are integer cents) and null is left out."""
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value if -_LONG <= value < _LONG else str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dict):
        return {str(k): cedar_value(v) for k, v in value.items() if v is not None and str(k) not in _RESERVED}
    if isinstance(value, list):
        return [cedar_value(v) for v in value if v is not None]
    return str(value)


@dataclass(frozen=True, slots=True)
class PolicyVerdict:
    """What the policies decided (module docstring), why, and where an ask goes."""

    outcome: Verdict
    ids: tuple[str, ...] = ()
    reason: str = ""
    approvers: tuple[str, ...] = ()
    quorum: int = 0
    channel: str = ""
    timeout: int | None = None
    windows: Mapping[str, int] = field(default_factory=dict)
    step_up: bool = False  # an ask whose approving votes need the voter's passkey (@step_up)
    attestations: tuple[str, ...] = ()  # an ask's @require_attestation names: each voter's attestation to them
    require_details: bool = False  # an ask whose Approve counts once the person opened its details (@require_details)
    sla: int | None = None  # the shortest @sla of the policies that ask (a service level, seconds)
    triage: str = ""  # an ask every asking policy lets this model read first (@triage: the same model in each)
    triage_may_approve: str = ""  # the lowest of their @triage_may_approve ("": one lets the model approve nothing)
    triage_shadow: bool = False  # one of them says @triage_mode("shadow"): the model's reading is only audited
    ticket: str = ""  # the first @ticket of the policies that ask, by id: its change ticket's system (bot/tickets/)
    reach: str = ""  # the first @reach of the policies that ask, by id: its route across surfaces (bot/core/reach.py)
    error: str = ""
    shadow: PolicyVerdict | None = None  # what shadow policies would have decided, when it differs
    fallback: PolicyVerdict | None = None  # no opinion, but the shipped defaults ask (after the rules)

    @property
    def decided(self) -> bool:
        return self.outcome != "none"


NO_OPINION = PolicyVerdict("none")


class Evaluator:
    """A bundle's policies as Cedar policy sets, one pair per action (enforced, and with its shadow policies),
    built on first use. `shadow_all`: POLICY_MODE=shadow (POLICY_DIR's policies decide nothing; the shipped
    defaults, today's behaviour, still do)."""

    def __init__(self, bundle: PolicyBundle, *, shadow_all: bool = False) -> None:
        self.bundle = bundle
        self.shadow_all = shadow_all
        self._sets: dict[tuple[str, str, bool], _Set | None] = {}
        self.deciders = any(p.decider for p in bundle.policies.values())  # policies about who decides: votes asked
        self.has_shadow = (shadow_all and any(not _default(p) for p in bundle.policies.values())) or any(
            p.shadow for p in bundle.policies.values())

    def shadowed(self, policy: Policy) -> bool:
        return policy.shadow or (self.shadow_all and not _default(policy))

    def evaluate(self, request: PolicyRequest, windows: Mapping[str, int] | None = None) -> PolicyVerdict:
        """The bundle's verdict; when its own policies have no opinion, the shipped defaults' (`fallback`: the
        input mode's risk words, which come after the rules as the mode does)."""
        windows = windows or {}
        cedar_request, entities = request.cedar(windows)
        context = cedar_request["context"]
        enforced = self._verdict(self._set(request.action, "enforced"), cedar_request, entities, context)
        uncounted = [said for spec in self.bundle.windows if (said := spec.uncounted(request.action, request.args))]
        if uncounted:
            enforced = never_counted_down(enforced, uncounted)
        if enforced.outcome == "none":
            fallback = self._verdict(self._set(request.action, "defaults"), cedar_request, entities, context)
            if fallback.outcome != "none":
                enforced = replace(enforced, fallback=fallback)
        if not self.has_shadow:
            return enforced
        everything = self._verdict(self._set(request.action, "all"), cedar_request, entities, context)
        if (everything.outcome, everything.ids) == (enforced.outcome, enforced.ids):
            return enforced
        return replace(enforced, shadow=everything)

    def evaluate_vote(self, request: DeciderRequest) -> PolicyVerdict:
        """The decider policies' verdict on a person's vote (module docstring): `deny` with their ids and the words
        (`Policy <id>: <reason>`), or `none`; `shadow` what shadow decider policies would have done, when it differs."""
        cedar_request, entities = request.cedar()
        enforced = self._vote(self._set(request.action, "enforced", voter=True), cedar_request, entities, request)
        if not self.has_shadow:
            return enforced
        everything = self._vote(self._set(request.action, "all", voter=True), cedar_request, entities, request)
        if (everything.outcome, everything.ids) == (enforced.outcome, enforced.ids):
            return enforced
        return replace(enforced, shadow=everything)

    def has_voters(self, action: str) -> bool:
        """Whether any decider policy (shadow ones too) applies to `action`'s votes."""
        return self._set(action, "all", voter=True) is not None

    def _vote(self, policies: _Set | None, request: dict[str, Any], entities: list[dict[str, Any]],
              vote: DeciderRequest) -> PolicyVerdict:
        if policies is None:
            return NO_OPINION
        context = request["context"]
        result = cedarpy.is_authorized({**request, "context": policies.read(context)}, policies.cedar, entities)
        known = self.bundle.policies
        matched = sorted((known[i] for i in result.diagnostics.reasons if i in known), key=lambda p: p.id)
        if matched:
            said = [f"Policy {p.id}: {render_reason(p.reason, context) if p.reason else 'this vote is refused'}"
                    for p in matched]
            return PolicyVerdict("deny", ids=tuple(p.id for p in matched), reason=_cut("; ".join(said)))
        errors = list(result.diagnostics.errors)
        if not errors or vote.vote == "reject":  # a Reject is refused only by a policy that matched
            return NO_OPINION
        failed = "; ".join(str(error) for error in errors)[:300]
        ids = tuple(i for i in dict.fromkeys(_FAILED.findall(failed)) if i in known) or ("(unknown)",)
        why = f"Policy {', '.join(ids)}: could not be evaluated ({failed}), so this vote is refused"
        return PolicyVerdict("deny", ids=ids, reason=_cut(why), error=failed)

    def _set(self, action: str, which: Literal["enforced", "all", "defaults"], *, voter: bool = False) -> _Set | None:
        """The policies that apply to `action`: the bundle's enforced ones, all of them (shadow ones too) or the
        shipped defaults, as one pre-parsed Cedar policy set with what of a request's context they read (made once
        per action); `voter`: of the decider policies (asked at a vote), else of the others (asked at an ask)."""
        key = (action, which, voter)
        if key not in self._sets:
            if len(self._sets) >= MAX_CACHED_ACTIONS:
                self._sets.clear()
            policies = self.bundle.policies
            chosen = {policy_id: form for policy_id, form in self.bundle.est.items()
                      if policies[policy_id].decider == voter
                      and _default(policies[policy_id]) == (which == "defaults")
                      and (which == "all" or not self.shadowed(policies[policy_id]))
                      and _applies(policies[policy_id], action)}
            self._sets[key] = _Set.of(chosen) if chosen else None
        return self._sets[key]

    def _verdict(self, policies: _Set | None, request: dict[str, Any], entities: list[dict[str, Any]],
                 context: dict[str, Any]) -> PolicyVerdict:
        if policies is None:
            return replace(NO_OPINION, windows=context["window"])
        result = cedarpy.is_authorized({**request, "context": policies.read(context)}, policies.cedar, entities)
        known = self.bundle.policies
        matched = [known[policy_id] for policy_id in result.diagnostics.reasons if policy_id in known]
        errors = list(result.diagnostics.errors)
        windows = context["window"]
        denying = [p for p in matched if p.effect == "forbid" and not p.ask]
        if result.decision == cedarpy.Decision.Deny and denying:
            return self._made("deny", denying, context, windows)
        if errors:  # a policy that could not be evaluated might have refused: a person decides, as it would route
            return self._unevaluated(errors, matched, context)
        if result.decision == cedarpy.Decision.Deny and matched:
            return self._made("ask", matched, context, windows)
        if result.decision == cedarpy.Decision.Allow:
            return self._made("allow", matched, context, windows)
        return replace(NO_OPINION, windows=windows)

    def _unevaluated(self, errors: list[Any], matched: list[Policy], context: dict[str, Any]) -> PolicyVerdict:
        """An ask routed as the policies that asked and those that could not be evaluated would route it, with why."""
        known, windows = self.bundle.policies, context["window"]
        failed = "; ".join(str(error) for error in errors)[:300]
        asking = [p for p in matched if p.ask]
        named = dict.fromkeys(_FAILED.findall(failed))
        failing = [known[i] for i in named if i in known and known[i] not in asking]
        route = self._made("ask", asking + failing, context, windows) if asking or failing else PolicyVerdict(
            "ask", windows=windows)
        said = self._made("ask", asking, context, windows).reason if asking else ""
        reason = f"a policy could not be evaluated, so a person decides ({failed})"
        return replace(route, reason=_cut(f"{said}; {reason}" if said else reason), error=failed)

    @staticmethod
    def _made(outcome: Verdict, policies: list[Policy], context: dict[str, Any],
              windows: Mapping[str, int]) -> PolicyVerdict:
        policies = sorted(policies, key=lambda p: p.id)
        reasons = [render_reason(p.reason, context) if p.reason else _default_reason(outcome, p.id) for p in policies]
        timeouts = [p.timeout for p in policies if p.timeout is not None]
        made = PolicyVerdict(
            outcome=outcome, ids=tuple(p.id for p in policies), reason=_cut("; ".join(dict.fromkeys(reasons))),
            approvers=tuple(dict.fromkeys(who for p in policies for who in p.approvers)),
            quorum=max((p.quorum for p in policies), default=0),
            channel=next((p.channel for p in policies if p.channel), ""),
            timeout=min(timeouts) if timeouts else None, windows=windows,
        )
        return _asked(made, policies) if outcome == "ask" else made


def _asked(made: PolicyVerdict, policies: list[Policy]) -> PolicyVerdict:
    """An ask's verdict with what only an ask carries: step-up, attestations, details, SLA, triage, ticket, reach."""
    slas = [p.sla for p in policies if p.sla is not None]
    model, limit = _triage(policies)
    return replace(made, step_up=any(p.step_up for p in policies),
                   attestations=tuple(dict.fromkeys(p.attestation for p in policies if p.attestation)),
                   require_details=any(p.require_details for p in policies), sla=min(slas) if slas else None,
                   triage=model, triage_may_approve=limit,
                   triage_shadow=bool(model) and any(p.triage_shadow for p in policies),
                   ticket=next((p.ticket for p in policies if p.ticket), ""),
                   reach=next((p.reach for p in policies if p.reach), ""))


def _triage(policies: list[Policy]) -> tuple[str, str]:
    """The triage of an ask: the model every asking policy names (none when one names none or another model: a
    policy that did not let a model in is not overruled by one that did), and the lowest risk they all let it
    approve at ("" when one lets it approve nothing)."""
    models = {p.triage for p in policies}
    if len(models) != 1 or "" in models:
        return "", ""
    levels = [p.triage_may_approve for p in policies]
    return models.pop(), "" if "" in levels else min(levels, key=RISKS.index)


def never_counted_down(verdict: PolicyVerdict, uncounted: list[str]) -> PolicyVerdict:
    """A call whose summed argument is below zero (it would lower its window: a credit against a budget,
    bot/policy/engine.py `counted`) or not an integer (it would pass uncounted) is not counted and never allowed at
    once: a person decides; a refusal stands."""
    if verdict.outcome == "deny":
        return verdict
    said = "; ".join(uncounted) + ", so a person decides"
    reason = f"{verdict.reason}; {said}" if verdict.outcome == "ask" and verdict.reason else said
    return replace(verdict, outcome="ask", reason=_cut(reason))


Reads = dict[str, "Reads | None"]  # the attributes policies read of a record: each read whole (None) or in part


@dataclass(frozen=True, slots=True)
class _Set:
    """One pre-parsed Cedar policy set, and what of a request's context its policies read (`reads`; None: all of
    it). Cedar is given only that: its time goes mostly to taking in the context, and nothing else of it can change
    what the policies decide."""

    cedar: cedarpy.PolicySet
    reads: Reads | None

    @classmethod
    def of(cls, forms: dict[str, dict[str, Any]]) -> _Set:
        text = json.dumps({"staticPolicies": forms, "templates": {}, "templateLinks": []})
        return cls(cedarpy.PolicySet.from_json_str(text), _reads(list(forms.values())))

    def read(self, context: dict[str, Any]) -> Any:
        """What of `context` its policies read."""
        return _picked(context, self.reads)


def _picked(value: Any, reads: Reads | None) -> Any:
    if reads is None or not isinstance(value, dict):
        return value
    return {name: _picked(value[name], part) for name, part in reads.items() if name in value}


_CONTEXT = {"Var": "context"}


def _reads(forms: list[Any]) -> Reads | None:
    """The parts of the context that policies (their Cedar JSON forms) read: each chain of attributes from `context`
    reads the value at its end whole (`context.args.customer.tier`), or only whether it is there (`context.args has
    to`); a `context` used other than through an attribute (`context == {...}`) reads all of it (None)."""
    reads: Reads = {}
    stack: list[tuple[Any, bool]] = [(form, False) for form in forms]  # (node, whether it is an attribute's record)
    while stack:
        node, inner = stack.pop()
        if isinstance(node, list):
            stack.extend((item, False) for item in node)
            continue
        if not isinstance(node, dict):
            continue
        if node == _CONTEXT and not inner:
            return None
        op = "." if "." in node else "has" if "has" in node else ""
        body = node.get(op) if op else None
        if isinstance(body, dict):
            path = _path(node)
            if path is not None and not inner:
                _mark(reads, path, whole=op == ".")
            stack.append((body.get("left"), True))
            stack.extend((value, False) for key, value in body.items() if key != "left")
            continue
        stack.extend((value, False) for value in node.values())
    return reads


def _path(node: Any) -> list[str] | None:
    """The attributes `context.a.b` (or `context.a has b`) reads, from `context` out; None if not from `context`."""
    path: list[str] = []
    while isinstance(node, dict) and node != _CONTEXT:
        body = node.get(".") or node.get("has")
        if not isinstance(body, dict) or not isinstance(body.get("attr"), str):
            return None
        path.append(body["attr"])
        node = body.get("left")
    return path[::-1] if node == _CONTEXT else None


def _mark(reads: Reads, path: list[str], *, whole: bool) -> None:
    """`path` read whole, or only whether it is there (`has`: its attributes are not read)."""
    for name in path[:-1]:
        if name in reads and reads[name] is None:
            return
        reads = reads.setdefault(name, {})  # type: ignore[assignment]
    if whole:
        reads[path[-1]] = None
    else:
        reads.setdefault(path[-1], {})


def _applies(policy: Policy, action: str) -> bool:
    return policy.actions is None or action in policy.actions


def _default(policy: Policy) -> bool:
    return policy.id.startswith("default:")


def _default_reason(outcome: Verdict, policy_id: str) -> str:
    return {"deny": f"refused by policy {policy_id}", "ask": f"policy {policy_id} asks a person"}.get(
        outcome, f"allowed by policy {policy_id}")


def _cut(text: str) -> str:
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"


def render_reason(template: str, context: Mapping[str, Any]) -> str:
    """A policy's @reason with `{window.name}`, `{args.amount_cents|usd}`, `{risk_word}`... filled in from the
    request's context (`|usd`: integer cents as dollars); a placeholder that names nothing is left as written."""

    def fill(match: re.Match[str]) -> str:
        value: Any = context
        for part in match.group(1).split("."):
            if not isinstance(value, Mapping) or part not in value:
                return match.group(0)
            value = value[part]
        if match.group(2) and isinstance(value, int) and not isinstance(value, bool):
            return usd(value)
        return value if isinstance(value, str) else json.dumps(value)

    return _PLACEHOLDER.sub(fill, template)


def usd(cents: int) -> str:
    """$350, $1,250.50."""
    sign = "-" if cents < 0 else ""
    dollars, rest = divmod(abs(cents), 100)
    return f"{sign}${dollars:,}" + (f".{rest:02d}" if rest else "")
