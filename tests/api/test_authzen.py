"""OpenID AuthZEN Authorization API 1.0 on the worker (#91.2): `POST /access/v1/evaluation`, `/access/v1/evaluations`
and `GET /.well-known/authzen-configuration`, answered from the same Cedar bundle every way in is decided by
(`WAYS_IN`, tests/support/policies.py), with a real worker, Redis and the Slack stand-in: allow, deny, and "a person
decides" (an approval opened, decided by a person's click, then a re-evaluation true once); the batch form with its
defaults and semantics; the PDP's metadata; bad input a 400 naming the field in AuthZEN's words; no key a 401."""

from __future__ import annotations

from typing import Any

from bot.devslack.server import SlackStandIn
from tests.conftest import ALICE, APPROVALS, BOB, StartPolicyWorker, Worker
from tests.support.api import Client, new_key
from tests.support.hitl import audit_events, click, nth_card
from tests.support.policies import REFUND_WINDOWS, REFUNDS, WAYS_IN, refund

BUNDLE = {"ways.cedar": WAYS_IN}
OURS = {"to": "bob@example.com", "body": "Prices go up 5% on May 1."}
RIVAL = {**OURS, "to": "eve@rival.com"}
PARTNER = {**OURS, "to": "carol@partner.org"}
AGENT = {"type": "agent", "id": "pricing-bot"}


def evaluation(arguments: dict[str, Any], **context: Any) -> dict[str, Any]:
    return {"subject": AGENT, "action": {"name": "send_email"},
            "resource": {"type": "email", "id": "outbox", "properties": arguments},
            "context": {"requester": ALICE, **context}, "unknown_member": "ignored"}


async def evaluate(client: Client, body: Any, *, path: str = "/access/v1/evaluation",
                   **headers: str) -> tuple[int, dict[str, Any], dict[str, str]]:
    return await client.call("POST", path, body=body, headers=headers)


async def test_allow_and_deny_as_the_policies_say_recording_nothing(
        policy_worker: StartPolicyWorker, slack: SlackStandIn) -> None:
    worker = await policy_worker(BUNDLE)
    client = Client(worker, (await new_key(worker, "pep")).key)
    status, allowed, headers = await evaluate(client, evaluation(OURS), **{"X-Request-ID": "req-1"})
    assert (status, allowed) == (200, {"decision": True}) and headers["X-Request-ID"] == "req-1"
    status, denied, _ = await evaluate(client, evaluation(RIVAL))
    assert status == 200 and denied["decision"] is False, denied
    assert denied["context"]["reason"] == "policy_denied"
    assert denied["context"]["reason_user"] == {"403": "we never email a competitor (eve@rival.com)"}
    assert "mail-no-rivals" in denied["context"]["reason_admin"]["403"]
    assert slack.messages(APPROVALS) == []  # nobody asked
    assert await audit_events(worker, "allowed", "requested") == []  # an evaluation records nothing as allowed
    audited = await audit_events(worker, "authzen_evaluated")
    assert [(e["decision"], e["tool"], e["subject"]) for e in audited] == [
        ("true", "send_email", "agent:pricing-bot"), ("false", "send_email", "agent:pricing-bot")]


async def test_an_evaluation_is_not_counted_in_a_budget(policy_worker: StartPolicyWorker, slack: SlackStandIn) -> None:
    """$500 of refunds a day: evaluating a $400 refund three times spends nothing (each is allowed), while the one
    refund asked for spends the budget, so the next evaluation of the same refund needs a person."""
    worker = await policy_worker({"refunds.cedar": REFUNDS, "policy.yaml": REFUND_WINDOWS})
    client = Client(worker, (await new_key(worker, "pep")).key)
    body = {"subject": AGENT, "action": {"name": "refund"},
            "resource": {"type": "order", "id": "A-1", "properties": {"order": "A-1", "amount_cents": 40000}},
            "options": {"open_approvals": False}}
    for _ in range(3):
        status, answer, _ = await evaluate(client, body)
        assert (status, answer) == (200, {"decision": True})
    _, spent = await client.ask(refund(40000))
    assert spent["status"] == "approved", spent
    _, over, _ = await evaluate(client, body)
    assert (over["decision"], over["context"]["reason"]) == (False, "approval_required"), over


# requests shaped as the AuthZEN interop scenarios send them (the API gateway's routes, the Todo backend's
# resources with their own members): accepted, unknown members ignored, decided by the Cedar policies on the action
# and the resource's properties. The scenarios' expected decisions turn on who the subject is (a user's roles),
# which the policies do not see (their principal is the key): they do not apply.
INTEROP = [
    ({"subject": {"type": "identity", "id": "CiRmZDA2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs"},
      "action": {"name": "GET"}, "resource": {"type": "route", "id": "/todos"}}, True),
    ({"subject": {"type": "identity", "id": "CiRmZDA2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs"},
      "action": {"name": "DELETE"}, "resource": {"type": "route", "id": "/todos/{todoId}"}}, False),
    ({"subject": {"type": "user", "id": "rick@the-citadel.com", "identity": "CiRmZDA2MTRk"},
      "action": {"name": "can_read_user"}, "resource": {"type": "user", "id": "beth@the-smiths.com",
                                                         "userID": "beth@the-smiths.com"}}, True),
    ({"subject": {"type": "user", "id": "morty@the-citadel.com"}, "action": {"name": "can_update_todo"},
      "resource": {"type": "todo", "id": "7240d0db", "properties": {"ownerID": "rick@the-citadel.com"}}}, False),
]
INTEROP_POLICIES = """
@id("read-and-list")
permit (principal, action, resource);

@id("no-deletes")
forbid (principal, action == Action::"DELETE", resource);

@id("own-todos-only")
forbid (principal, action == Action::"can_update_todo", resource)
when { context.args has ownerID && context.args.ownerID != "morty@the-citadel.com" };
"""


async def test_requests_shaped_as_the_interop_scenarios(policy_worker: StartPolicyWorker, slack: SlackStandIn) -> None:
    worker = await policy_worker({"interop.cedar": INTEROP_POLICIES})
    client = Client(worker, (await new_key(worker, "gateway")).key)
    for body, expected in INTEROP:
        status, answer, _ = await evaluate(client, body)
        assert status == 200 and answer["decision"] is expected, (body, answer)
    status, batch, _ = await evaluate(client, {"evaluations": [body for body, _ in INTEROP]},
                                      path="/access/v1/evaluations")
    assert [e["decision"] for e in batch["evaluations"]] == [expected for _, expected in INTEROP]


async def test_a_person_decides_then_the_re_evaluation_is_true_once(
        policy_worker: StartPolicyWorker, slack: SlackStandIn) -> None:
    worker = await policy_worker(BUNDLE)
    client = Client(worker, (await new_key(worker, "pep")).key)
    status, waiting, _ = await evaluate(client, evaluation(PARTNER), **{"X-Request-ID": "ask-partner"})
    assert status == 200 and waiting["decision"] is False, waiting
    _, retried, _ = await evaluate(client, evaluation(PARTNER), **{"X-Request-ID": "ask-partner"})  # a lost answer
    assert retried["context"]["task"]["id"] == waiting["context"]["task"]["id"]  # the same approval, one card
    context = waiting["context"]
    task = context["task"]
    assert (context["reason"], context["next_action"], task["status"]) == ("approval_required", "retry", "pending")
    assert task["status_endpoint"] == f"{worker.url}/api/v1/approvals/{task['id']}"
    assert context["wait"]["url"] == f"{task['status_endpoint']}?wait=60"
    assert "carol@partner.org is outside example.com" in context["reason_user"]["403"]
    again = evaluation(PARTNER, approval={"id": task["id"]})
    status, pending, _ = await evaluate(client, again)
    assert (status, pending["decision"], pending["context"]["reason"]) == (200, False, "approval_pending")
    await click(slack, await nth_card(slack, 1), "approval_approve", user=BOB)
    assert (await client.wait(task["id"]))["status"] == "approved"
    other = evaluation({**PARTNER, "to": "dan@partner.org"}, approval={"id": task["id"]})
    status, swapped, _ = await evaluate(client, other)  # another call presenting it: not this approval's
    assert (swapped["decision"], swapped["context"]["reason"]) == (False, "approval_unverifiable")
    status, allowed, _ = await evaluate(client, again, **{"X-Request-ID": "run-partner-1"})
    assert (status, allowed) == (200, {"decision": True, "context": {"approval": {"id": task["id"]}}})
    status, twice, _ = await evaluate(client, again, **{"X-Request-ID": "run-partner-2"})
    assert (twice["decision"], twice["context"]["reason"]) == (False, "approval_expired")  # used once
    assert [e["approval"] for e in await audit_events(worker, "authzen_evaluated")].count(task["id"]) == 6
    assert len(slack.messages(APPROVALS)) == 1
    other_key = Client(worker, (await new_key(worker, "another")).key)
    status, foreign, _ = await evaluate(other_key, again)
    assert (foreign["decision"], foreign["context"]["reason"]) == (False, "approval_unverifiable")


async def test_the_batch_form_its_defaults_and_semantics(policy_worker: StartPolicyWorker, slack: SlackStandIn) -> None:
    worker = await policy_worker(BUNDLE)
    client = Client(worker, (await new_key(worker, "pep")).key)

    def batch(semantic: str, *calls: dict[str, Any]) -> dict[str, Any]:
        return {"subject": AGENT, "action": {"name": "send_email"}, "context": {"requester": ALICE},
                "options": {"evaluations_semantic": semantic, "open_approvals": False},
                "evaluations": [{"resource": {"type": "email", "id": str(n), "properties": call}}
                                for n, call in enumerate(calls)]}

    path = "/access/v1/evaluations"
    status, every, _ = await evaluate(client, batch("execute_all", OURS, RIVAL, PARTNER), path=path)
    assert status == 200 and [e["decision"] for e in every["evaluations"]] == [True, False, False], every
    assert every["evaluations"][2]["context"]["reason"] == "approval_required"
    assert "task" not in every["evaluations"][2]["context"] and slack.messages(APPROVALS) == []  # none opened
    _, first_deny, _ = await evaluate(client, batch("deny_on_first_deny", OURS, RIVAL, OURS), path=path)
    assert [e["decision"] for e in first_deny["evaluations"]] == [True, False]
    _, first_permit, _ = await evaluate(client, batch("permit_on_first_permit", RIVAL, OURS, RIVAL), path=path)
    assert [e["decision"] for e in first_permit["evaluations"]] == [False, True]
    status, single, _ = await evaluate(client, evaluation(OURS), path=path)  # no `evaluations`: the single form
    assert (status, single) == (200, {"decision": True})
    tools = {"subject": AGENT, "action": {"name": "tools/call"},  # COAZ-MCP's mapping: the resource is the tool
             "evaluations": [{"resource": {"type": "tool", "id": "send_email", "properties": RIVAL}}]}
    _, coaz, _ = await evaluate(client, tools, path=path)
    assert coaz["evaluations"][0]["decision"] is False and "rival" in coaz["evaluations"][0]["context"]["reason_user"][
        "403"]


async def test_the_metadata_bad_input_and_keys(api: Worker) -> None:
    client = Client(api, (await new_key(api, "pep")).key)
    status, metadata, _ = await client.call("GET", "/.well-known/authzen-configuration", key="")
    assert status == 200 and metadata == {
        "policy_decision_point": api.url, "access_evaluation_endpoint": f"{api.url}/access/v1/evaluation",
        "access_evaluations_endpoint": f"{api.url}/access/v1/evaluations"}
    cases: list[tuple[str, Any, str]] = [
        ("/access/v1/evaluation", {"subject": AGENT, "resource": {"type": "t", "id": "1"}}, "action"),
        ("/access/v1/evaluation", {**evaluation(OURS), "action": {"name": "no spaces allowed"}}, "action.name"),
        ("/access/v1/evaluation", {**evaluation(OURS), "subject": {"type": "agent"}}, "subject.id"),
        ("/access/v1/evaluation", evaluation(OURS, approval={"id": "nope"}), "context.approval.id"),
        ("/access/v1/evaluation", evaluation(OURS, channel="#sales"), "context.channel"),
        ("/access/v1/evaluations", {"action": {"name": "send_email"}, "resource": {"type": "t", "id": "1"},
                                    "evaluations": [{"subject": AGENT}, {}]}, "evaluations[1].subject"),
        ("/access/v1/evaluations", {**evaluation(OURS), "options": {"evaluations_semantic": "any"}},
         "options.evaluations_semantic"),
    ]
    for path, body, field in cases:
        status, refused, _ = await evaluate(client, body, path=path)
        assert (status, refused["error"]["field"]) == (400, field), (body, refused)
        assert field in refused["error"]["message"], refused
    for key in ("", "aak_" + "x" * 43):
        status, refused, said = await client.call("POST", "/access/v1/evaluation", body=evaluation(OURS), key=key)
        assert status == 401 and refused["error"]["code"] == "unauthorized", refused
        assert said["WWW-Authenticate"] == 'Bearer realm="agent-approvals"'  # how to authenticate (RFC 6750)
