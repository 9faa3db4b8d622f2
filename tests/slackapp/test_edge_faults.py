"""Faults at the HTTP edge, with real parts: whatever a client sends is answered 4xx (never 500) and
logged at WARNING without a traceback; a slow body does not hold a connection; requests from another
workspace change nothing; replayed clicks on a decided card stay cheap."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import urllib.parse
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.approvals.service import REFUSAL_QUIET
from bot.devslack.server import APP_ID, TEAM_ID, SlackStandIn
from tests.conftest import (
    ALICE,
    APPROVALS,
    BOB,
    CAROL,
    SALES,
    Worker,
    bot_env,
    card_of,
    reply_text,
    start_worker,
)
from tests.support.flow import pending_card, start_run
from tests.support.hitl import audit_events, bot, call, nth_card, open_modal, replay, start, until

OTHER_TEAM = "T0ELSEWHERE"


async def raw_request(url: str, head: list[tuple[str, bytes]], body: bytes, *, within: float = 10) -> tuple[int, bytes]:
    """POST `body` to `url` over a plain socket with exactly these headers (bytes, so a client library
    cannot refuse or re-encode them). Returns the status and the response body."""
    parts = urllib.parse.urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        lines = [f"POST {parts.path} HTTP/1.1".encode(), f"Host: {parts.netloc}".encode()]
        lines += [name.encode() + b": " + value for name, value in head]
        lines += [f"Content-Length: {len(body)}".encode(), b"Connection: close"]
        writer.write(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        await writer.drain()
        async with asyncio.timeout(within):
            answer = await reader.read()
    finally:
        writer.close()
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


def signed_head(slack: SlackStandIn, body: bytes, *, content_type: bytes | None = None) -> list[tuple[str, bytes]]:
    headers = slack.sign(body)
    head = [(name, value.encode()) for name, value in headers.items() if name != "Content-Type"]
    return [*head, ("Content-Type", content_type or headers["Content-Type"].encode())]


def no_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    loud = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not loud, [(r.name, r.levelname, r.getMessage()[:200]) for r in loud]


def warned(caplog: pytest.LogCaptureFixture, count: int) -> None:
    refusals = [r for r in caplog.records if r.name == "bot.slackapp.app" and r.levelno == logging.WARNING]
    assert len(refusals) >= count, [r.getMessage() for r in refusals]


def form(payload: Any) -> bytes:
    return urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()


# 1. 400, never 500 -----------------------------------------------------------------------------
async def test_unparseable_headers_and_bodies_get_4xx_and_a_warning_without_traceback(
    slack: SlackStandIn, worker: Worker, caplog: pytest.LogCaptureFixture
) -> None:
    url = worker.url + "/slack/events"
    command = urllib.parse.urlencode({"command": "/agent", "text": "help", "user_id": ALICE, "channel_id": SALES})
    good = command.encode()
    now = str(int(time.time())).encode()
    form_type = b"application/x-www-form-urlencoded"
    signature = slack.sign(good)["X-Slack-Signature"].encode()
    cases: dict[str, tuple[list[tuple[str, bytes]], bytes, tuple[int, ...]]] = {
        "non-numeric timestamp": (
            [("X-Slack-Request-Timestamp", b"soon"), ("X-Slack-Signature", signature), ("Content-Type", form_type)],
            good,
            (400,),
        ),
        "5,000-digit timestamp": (
            [("X-Slack-Request-Timestamp", b"9" * 5000), ("X-Slack-Signature", signature), ("Content-Type", form_type)],
            good,
            (400,),
        ),
        "non-ASCII signature": (
            [("X-Slack-Request-Timestamp", now), ("X-Slack-Signature", "v0=é".encode()), ("Content-Type", form_type)],
            good,
            (400,),
        ),
        "signed body that is not UTF-8": (signed_head(slack, b"text=\xff\xfe\xfa"), b"text=\xff\xfe\xfa", (400,)),
        "unsigned body that is not UTF-8": (
            [
                ("X-Slack-Request-Timestamp", now),
                ("X-Slack-Signature", b"v0=" + b"0" * 64),
                ("Content-Type", form_type),
            ],
            b"text=\xff\xfe\xfa",
            (401,),
        ),
        "bogus charset": (signed_head(slack, good, content_type=form_type + b"; charset=klingon"), good, (400,)),
        "bogus charset, unsigned": (
            [("Content-Type", form_type + b"; charset=klingon")],
            good,
            (400, 401),
        ),
    }
    with caplog.at_level(logging.INFO):
        for name, (head, body, wanted) in cases.items():
            status, _ = await raw_request(url, head, body)
            assert status in wanted, (name, status)
    no_tracebacks(caplog)
    warned(caplog, len(cases) - 1)  # each refusal is logged at WARNING (an unsigned request may be a 401 quietly)
    assert await worker.services.store.runs.recent(SALES) == []
    ok = await slack.send_command(user=ALICE, channel=SALES, text="help")
    assert ok.status == 200 and "Start a run" in reply_text(ok)  # the worker is fine


async def test_signed_but_malformed_payloads_get_400(
    slack: SlackStandIn, worker: Worker, caplog: pytest.LogCaptureFixture
) -> None:
    await start_run(slack)
    card = await pending_card(slack)
    approval_id = card["blocks"][-1]["elements"][0]["value"]
    user = {"id": BOB, "username": "bob", "name": "bob", "team_id": TEAM_ID}
    untyped_view = {
        "type": "view_submission",
        "user": user,
        "team": {"id": TEAM_ID, "domain": "dev"},
        "api_app_id": APP_ID,
        "view": {"id": "V0X", "callback_id": "approval_revise_modal", "state": {"values": {}}},
    }
    view = {**untyped_view["view"], "private_metadata": "LONE"}
    deep = "[" * 1500 + "]" * 1500
    almost_deep = "[" * 900 + "]" * 900
    bodies = {
        "view_submission whose view has no type": form(untyped_view),
        "JSON nested 1,500 levels": urllib.parse.urlencode({"payload": '{"type": "block_actions", "x": ' + deep + "}"}),
        "JSON nested 900 levels": urllib.parse.urlencode(
            {"payload": '{"type": "block_actions", "x": ' + almost_deep + "}"}
        ),
        "a whole JSON body nested 1,500 levels": '{"type": "event_callback", "event": ' + deep + "}",
        "a lone surrogate": urllib.parse.urlencode(
            {"payload": '{"type": "block_actions", "user": {"id": "U0BOB\\ud800"}, "actions": [{"action_id": "x"}]}'}
        ),
        "a lone surrogate in a view": urllib.parse.urlencode(
            {"payload": json.dumps({**untyped_view, "view": {**view, "type": "modal"}}).replace('"LONE"', '"\\udfff"')}
        ),
        "a click with no actions": form({"type": "block_actions", "user": user, "actions": []}),
    }
    with caplog.at_level(logging.INFO):
        for name, text in bodies.items():
            body = text.encode() if isinstance(text, str) else text
            status, _ = await raw_request(worker.url + "/slack/events", signed_head(slack, body), body)
            assert status == 400, (name, status)
    no_tracebacks(caplog)
    warned(caplog, len(bodies))
    approval = await worker.services.store.approvals.get(approval_id)
    assert approval is not None and approval.pending


EMAIL = {"to": "bob@example.com", "subject": "Price change", "body": "Prices change on May 1."}


async def test_deeply_nested_edited_arguments_are_refused_in_the_modal(
    slack: SlackStandIn, redis_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with bot(slack, redis_url, tmp_path, replay(call("send_email", EMAIL), "unused")) as worker:
        run_id = await start(slack, "--team email Tell bob@example.com about the price change")
        card = await nth_card(slack, 1)
        view = await open_modal(slack, card, user=BOB)
        with caplog.at_level(logging.INFO):
            for depth in (1400, 200):
                nested = {**EMAIL, "body": None}
                text = json.dumps(nested).replace("null", "[" * depth + "]" * depth)
                answer = await slack.submit_view(
                    user=BOB, view_id=view["id"], values={"arguments": {"arguments_input": text}}
                )
                assert answer.status == 200 and answer.json is not None, (depth, answer.status)
                assert answer.json["response_action"] == "errors"
                assert "nested" in answer.json["errors"]["arguments"], answer.json
                assert "Nothing was run" in answer.json["errors"]["arguments"]
        no_tracebacks(caplog)
        (approval,) = await worker.services.store.approvals.of_run(run_id)
        assert approval.pending and slack.open_views(BOB)


# 2. a slow body does not hold a connection ------------------------------------------------------
@pytest.mark.slow  # waits out a real timer or window: over 1 s of the clock (tests/support/slow.py)
async def test_a_slow_request_body_is_cut_off(slack: SlackStandIn, redis_url: str, model_config: Path) -> None:
    env = bot_env(slack=slack, redis_url=redis_url, model_config=model_config, REQUEST_READ_TIMEOUT="1")
    worker = await start_worker(env)
    port = int(worker.url.rsplit(":", 1)[1])

    answered: list[str] = []

    async def slow_client(name: str, headers: dict[str, str]) -> tuple[bytes, float]:
        """Send the headers of a 100-byte body and one byte of it, then nothing: what comes back, after how long."""
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        started = time.monotonic()
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        writer.write(f"POST /slack/events HTTP/1.1\r\nHost: x\r\n{head}Content-Length: 100\r\n\r\nc".encode())
        await writer.drain()
        try:
            async with asyncio.timeout(60):  # the deadline of this test, not the server's
                answer = await reader.read()  # until the server closes the connection
        finally:
            writer.close()
        answered.append(name)
        return answer, time.monotonic() - started

    try:
        (signed, waited), (unsigned, _) = await asyncio.gather(
            slow_client("signed", slack.sign(b"c" * 100)),  # signed: its body is waited for, then cut off
            slow_client("unsigned", {"Content-Type": "application/x-www-form-urlencoded"}),  # refused at once
        )
        assert signed.startswith(b"HTTP/1.1 408"), signed[:100]
        assert waited >= 0.9, waited  # REQUEST_READ_TIMEOUT (1 s): the body was waited for
        assert unsigned.startswith(b"HTTP/1.1 401"), unsigned[:100]
        assert answered == ["unsigned", "signed"]  # the unsigned one was not waited for
        slack.events_url = worker.url + "/slack/events"
        ok = await slack.send_command(user=ALICE, channel=SALES, text="help")
        assert ok.status == 200 and "Start a run" in reply_text(ok)  # an ordinary request is not affected
    finally:
        await worker.stop()


# 3. another workspace ---------------------------------------------------------------------------
async def test_requests_from_another_workspace_change_nothing(
    slack: SlackStandIn, worker: Worker, caplog: pytest.LogCaptureFixture
) -> None:
    await start_run(slack)
    card = await pending_card(slack)
    approval_id = card["blocks"][-1]["elements"][0]["value"]
    url = worker.url + "/slack/events"
    command = urllib.parse.urlencode(
        {
            "command": "/agent",
            "text": "Draft a note to everyone",
            "team_id": OTHER_TEAM,
            "user_id": CAROL,
            "channel_id": SALES,
            "trigger_id": "1.2.x",
            "response_url": "http://127.0.0.1:9/none",
        }
    ).encode()
    click = {
        "type": "block_actions",
        "user": {"id": BOB, "username": "bob", "name": "bob", "team_id": OTHER_TEAM},
        "team": {"id": OTHER_TEAM, "domain": "elsewhere"},
        "api_app_id": APP_ID,
        "trigger_id": "1.2.3",
        "container": {"type": "message", "channel_id": APPROVALS, "message_ts": card["ts"]},
        "channel": {"id": APPROVALS},
        "actions": [{"action_id": "approval_approve", "value": approval_id, "type": "button"}],
    }
    audit_before = len(await worker.services.store.audit.entries())
    with caplog.at_level(logging.INFO):
        status, answer = await raw_request(url, signed_head(slack, command), command)
        assert status == 200 and "installed in another workspace" in json.loads(answer)["text"]
        for action in ("approval_approve", "approval_reject", "approval_revise"):
            body = form({**click, "actions": [{**click["actions"][0], "action_id": action}]})
            status, answer = await raw_request(url, signed_head(slack, body), body)
            assert status == 200 and answer.strip() == b"", (action, status, answer)
    foreign = [r for r in caplog.records if r.levelno == logging.WARNING and OTHER_TEAM in r.getMessage()]
    assert len(foreign) == 4
    assert len(await worker.services.store.runs.recent(SALES)) == 1
    approval = await worker.services.store.approvals.get(approval_id)
    assert approval is not None and approval.pending
    assert len(await worker.services.store.audit.entries()) == audit_before
    assert not slack.calls("chat.postEphemeral") and not slack.calls("views.open")  # nothing said, no modal
    assert not [c for c in slack.calls("chat.update") if c.args.get("ts") == card["ts"]]  # the card unchanged
    # and our own workspace still works
    await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
    decided = await worker.services.store.approvals.get(approval_id)
    assert decided is not None and decided.status == "approved" and decided.decided_by == BOB


# 4. replayed clicks ------------------------------------------------------------------------------
@pytest.fixture
async def patient_worker(slack: SlackStandIn, redis_url: str, model_config: Path) -> AsyncIterator[Worker]:
    """A worker whose Redis calls may take 10 s: 800 replayed clicks on a machine busy with other tests must not
    read as Redis being down (the default 2 s; Redis outages are tests/scenarios/test_redis_faults.py's)."""
    bot = await start_worker(bot_env(slack=slack, redis_url=redis_url, model_config=model_config, REDIS_TIMEOUT="10"))
    slack.events_url = bot.url + "/slack/events"
    yield bot
    await bot.stop()


@pytest.mark.slow  # more than 1 s of CPU on its own (tests/support/slow.py)
async def test_replayed_clicks_on_a_decided_card_are_cheap(slack: SlackStandIn, patient_worker: Worker) -> None:
    worker = patient_worker
    await start_run(slack)
    card = await pending_card(slack)
    approval_id = card["blocks"][-1]["elements"][0]["value"]
    await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
    await slack.wait_for(lambda: not card_of(slack, pending=True) and card_of(slack))  # redrawn as decided
    updates = len([c for c in slack.calls("chat.update") if c.args.get("ts") == card["ts"]])

    async def replays(user: str, count: int, **click: str) -> None:
        for _ in range(count // 50):
            results = await asyncio.gather(
                *(
                    slack.click(user=user, channel=APPROVALS, ts=card["ts"], as_seen=card, **click)  # type: ignore[arg-type]
                    for _ in range(50)
                )
            )
            assert all(r.status == 200 for r in results)

    began = time.monotonic()
    await replays(CAROL, 500, action_id="approval_reject")
    await replays(CAROL, 100, action_id="approval_revise")
    carol_took = time.monotonic() - began
    await start_run(slack, user=BOB)  # a second card: its approval id on the first card is a forged click
    other = await pending_card(slack, count=2)
    forged = other["blocks"][-1]["elements"][0]["value"]
    began = time.monotonic()
    await replays(ALICE, 200, action_id="approval_approve", value=forged)
    alice_took = time.monotonic() - began
    # a different person's first click is still answered; wait for it, then count

    def answers(user: str) -> list[dict[str, Any]]:
        return [e for e in slack.ephemerals(user) if e["channel"] == APPROVALS]

    await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_reject", as_seen=card)
    await slack.wait_for(lambda: answers(BOB))
    await until(lambda: not worker.services.cards.queued, what="redraws done")
    # answered once per REFUSAL_QUIET seconds the replays lasted (once, unless a loaded machine made them slow)
    said = {e["text"] for e in answers(CAROL)}
    assert said == {f"This approval was already approved by <@{BOB}>. Nothing changed."}, said
    assert len(answers(CAROL)) <= 1 + int(carol_took // REFUSAL_QUIET), (len(answers(CAROL)), carol_took)
    said = {e["text"] for e in answers(ALICE)}
    assert said == {"This button does not belong to this card. Nothing changed."}, said
    assert len(answers(ALICE)) <= 1 + int(alice_took // REFUSAL_QUIET), (len(answers(ALICE)), alice_took)
    redraws = len([c for c in slack.calls("chat.update") if c.args.get("ts") == card["ts"]]) - updates
    assert redraws <= 1, redraws
    refused = await audit_events(worker, "refused")
    assert len(refused) <= 1 + int(alice_took // REFUSAL_QUIET), refused[:3]  # the forged clicks, once per answer
    assert not slack.open_views(CAROL)
    approval = await worker.services.store.approvals.get(approval_id)
    assert approval is not None and approval.status == "approved" and approval.decided_by == BOB
