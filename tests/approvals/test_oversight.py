"""How people decide (issue 80, items 2 and 3): each decision's audit entry keeps when the card reached the person,
when they opened its details and when they decided, with its reading time and whether it was fast; the
rubber-stamp signals are counted per person and scraped as metrics (bounded to the top people); a policy's
@require_details refuses an Approve until its person opened the details. Through the local Slack's signed requests
to the real Bolt app, the real API and a real Redis."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import aiohttp
import pytest
import yaml
from agent_approvals.artifacts import command

from bot.core.oversight import quantile
from bot.devslack.server import SlackStandIn
from bot.store.connection import aw
from tests.conftest import ALICE, BOB, CAROL, SALES, StartPolicyWorker, Worker, block_texts, name_admins
from tests.support.api import Client, new_key, tool_ask
from tests.support.hitl import audit_events, buttons, click, current, nth_card, until
from tests.support.homes import home_text, open_homes
from tests.support.policies import READ_FIRST
from tests.support.signin import sign_in

PROMETHEUS = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"


async def scrape(worker: Worker) -> str:
    async with aiohttp.ClientSession() as session, session.get(worker.url + "/metrics") as response:
        assert response.status == 200
        return await response.text()


def sample(text: str, metric: str, **labels: str) -> float | None:
    """The value of `metric` with exactly `labels`, or None."""
    for line in text.splitlines():
        match = re.fullmatch(rf"{metric}\{{(.*)\}} (\S+)", line)
        if match is None:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1)))
        if found == labels:
            return float(match.group(2))
    return None


async def approve_fast(worker: Worker, slack: SlackStandIn, client: Client, n: int, *, user: str) -> list[str]:
    """`n` asks, each approved by `user` as soon as its card is there (well within a second)."""
    ids = []
    for i in range(1, n + 1):
        status, asked = await client.ask(tool_ask(title=f"Tell Bob about the prices ({i})"))
        assert status == 201, asked
        card = await nth_card(slack, i)
        await click(slack, card, "approval_approve", user=user)
        await until(lambda c=card: "Approved" in str(current(slack, c)), what=f"card {i} approved")  # type: ignore[misc]
        ids.append(asked["id"])
    return ids


def rubber_stamping_fires(tmp_path: Path, person: str, streak: float, fast: float) -> subprocess.CompletedProcess[str]:
    """`promtool test rules`: the shipped RubberStamping rule on these scraped values (held 10 minutes; the fast
    approvals from none before them), expected to fire for `person`."""
    shutil.copy(PROMETHEUS / "alerts.yml", tmp_path / "alerts.yml")
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"][0]["rules"]
    [rule] = [r for r in rules if r["alert"] == "RubberStamping"]
    annotations = {k: v.replace("{{ $labels.person }}", person) for k, v in rule["annotations"].items()}
    case = {"rule_files": ["alerts.yml"], "evaluation_interval": "1m", "tests": [{
        "interval": "1m",
        "input_series": [
            {"series": f'hitl_approval_streak{{person="{person}",instance="w1"}}', "values": f"{streak:g}x10"},
            {"series": f'hitl_fast_approvals{{person="{person}",instance="w1"}}', "values": f"0 {fast:g}x10"}],
        "alert_rule_test": [{"eval_time": "7m", "alertname": "RubberStamping", "exp_alerts": [
            {"exp_labels": {"severity": "warning", "person": person}, "exp_annotations": annotations}]}],
    }]}
    (tmp_path / "case.yml").write_text(yaml.safe_dump(case))
    tool = shutil.which("promtool")
    assert tool is not None
    return subprocess.run([tool, "test", "rules", "case.yml"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.mark.slow  # (promtool)
async def test_twenty_quick_approvals_are_flagged_in_the_audit_log_metrics_alert_and_digest(
    emailer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path
) -> None:
    worker, key = emailer
    await name_admins(worker, ALICE, channel=SALES)
    await open_homes(slack, ALICE)  # (a Home is redrawn for those who opened theirs lately)
    ids = await approve_fast(worker, slack, Client(worker, key), 20, user=BOB)
    decisions = {e["approval"]: e for e in await audit_events(worker, "decision") if e["by"] == BOB}
    assert set(decisions) == set(ids)
    for entry in decisions.values():  # when it reached Bob, when he decided, the card's reading time: fast
        assert float(entry["delivered_at"]) <= float(entry["decided_at"]) < float(entry["delivered_at"]) + 1, entry
        assert float(entry["read_seconds"]) >= 2.0 and entry["fast"] == "true", entry
        assert "opened_at" not in entry, entry  # he never opened the details
    said = await scrape(worker)
    assert sample(said, "hitl_fast_approvals", person=BOB) == 20
    assert sample(said, "hitl_approval_streak", person=BOB) == 20
    assert sample(said, "hitl_unopened_high_risk_approvals", person=BOB) is None  # none was high-risk
    times = [float(e["decided_at"]) - float(e["delivered_at"]) for e in decisions.values()]
    for q in ("0.5", "0.9", "0.99"):  # the quantiles are those of the decisions made
        for scope, name in (("person", BOB), ("channel", "C0SALES")):
            got = sample(said, "hitl_time_to_decide_seconds", quantile=q, scope=scope, name=name)
            assert got is not None and abs(got - quantile(times, float(q))) < 0.002, (q, scope, got)
    fired = rubber_stamping_fires(tmp_path, BOB, sample(said, "hitl_approval_streak", person=BOB) or 0,
                                  sample(said, "hitl_fast_approvals", person=BOB) or 0)
    assert fired.returncode == 0, fired.stdout + fired.stderr

    # a week on (the controllable clock of the due work): the digest, in Alice's DM and her Home
    assert await worker.services.digest.sweep(now=time.time() + 3600) == 0  # not due yet
    assert await worker.services.digest.sweep(now=time.time() + 8 * 86400) == 1
    [dm] = await slack.wait_for(lambda: [m for m in slack.messages(slack.dm_channel(ALICE))
                                         if "Oversight this week" in block_texts(m)])
    said_dm = block_texts(dm)
    assert f"<@{BOB}> · 20 approved, 0 rejected or revised, 20 fast, longest run 20" in said_dm, said_dm
    assert "Flagged" in said_dm and "20 of 20 approvals faster than the card's reading time" in said_dm
    assert "20 approvals in a row with no rejection or revision" in said_dm
    await until(lambda: "Oversight this week" in home_text(slack, ALICE), what="the digest in Alice's Home")
    assert "20 of 20 approvals faster than the card's reading time" in home_text(slack, ALICE)
    assert await worker.services.digest.sweep(now=time.time() + 9 * 86400) == 0  # once a week: sent already


ORIGIN = "http://localhost:8999"  # where browsers open the pages (STEP_UP_URL; the worker is on 127.0.0.1)


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_require_details_refuses_an_approve_until_its_page_or_details_were_opened(
    policy_worker: StartPolicyWorker, slack: SlackStandIn
) -> None:
    worker = await policy_worker({"mail.cedar": READ_FIRST}, STEP_UP_URL=ORIGIN)
    client = Client(worker, (await new_key(worker, "mailer")).key)
    status, asked = await client.ask(tool_ask())
    assert status == 201 and asked["status"] == "pending", asked
    card = await nth_card(slack, 1)
    assert "Open the details before approving" in block_texts(card)  # the card says so, with its Details button
    assert "approval_details" in buttons(card)

    await click(slack, card, "approval_approve", user=BOB)  # not opened yet: refused, in those words, and audited
    [told] = await slack.wait_for(lambda: [e for e in slack.ephemerals(BOB) if "Open the details" in e["text"]])
    assert told["text"].startswith("Open the details before approving"), told
    held = await worker.services.store.approvals.get(asked["id"])
    assert held is not None and held.status == "pending"
    [refused] = [e for e in await audit_events(worker, "refused") if e.get("action") == "approve"]
    assert refused["by"] == BOB and refused["approval"] == asked["id"], refused
    assert refused["reason"] == "details not opened: Open the details before approving", refused

    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:  # Bob opens its page
        page = f"/approvals/{asked['id']}"
        called = await sign_in(http, worker.url, page, person=BOB)
        assert called.status == 302
        async with http.get(worker.url + page, allow_redirects=False) as opened:
            text = await opened.text()
            assert opened.status == 200, text
            assert "send_email" in text and "bob@example.com" in text
    await click(slack, card, "approval_approve", user=BOB)  # now it counts
    assert (await client.wait(asked["id"]))["status"] == "approved"
    [decision] = [e for e in await audit_events(worker, "decision") if e["approval"] == asked["id"]]
    assert float(decision["delivered_at"]) < float(decision["opened_at"]) < float(decision["decided_at"]), decision

    status, again = await client.ask(tool_ask(title="Tell Bob again"))  # Details on the card is opening them too
    card = await nth_card(slack, 2)
    await click(slack, card, "approval_details", user=CAROL)
    [modal] = await slack.wait_for(lambda: slack.open_views(CAROL))
    assert "bob@example.com" in str(modal["view"]["blocks"])
    await click(slack, card, "approval_approve", user=CAROL)
    assert (await client.wait(again["id"]))["status"] == "approved"

    change = [command("make deploy", cwd="/srv")]  # the whole change's page is opening them too
    status, third = await client.ask(tool_ask(title="Deploy the prices", artifacts=change))
    card = await nth_card(slack, 3)
    await click(slack, card, "approval_approve", user=BOB)
    await slack.wait_for(lambda: [e for e in slack.ephemerals(BOB) if "Open the details" in e["text"]][1:])
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        page = f"/approvals/{third['id']}/diff"
        await sign_in(http, worker.url, page, person=BOB)
        async with http.get(worker.url + page, allow_redirects=False) as opened:
            assert opened.status == 200 and "make deploy" in await opened.text()
    await click(slack, card, "approval_approve", user=BOB)
    assert (await client.wait(third["id"]))["status"] == "approved"

    decisions = [e for e in await audit_events(worker, "decision")
                 if e["approval"] in (asked["id"], again["id"], third["id"])]
    times = [float(e["decided_at"]) - float(e["delivered_at"]) for e in decisions]
    said = await scrape(worker)  # the policy's quantiles are those of its three decisions
    for q in ("0.5", "0.99"):
        got = sample(said, "hitl_time_to_decide_seconds", quantile=q, scope="policy", name="mail-read-first")
        assert got is not None and abs(got - quantile(times, float(q))) < 0.002, (q, got, times)


async def test_the_details_page_refuses_who_may_not_decide_and_an_unknown_id(
    policy_worker: StartPolicyWorker, slack: SlackStandIn
) -> None:
    worker = await policy_worker({"mail.cedar": READ_FIRST}, STEP_UP_URL=ORIGIN)
    client = Client(worker, (await new_key(worker, "mailer")).key)
    _, asked = await client.ask(tool_ask())  # Alice asked: she may not decide her own
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        page = f"/approvals/{asked['id']}"
        await sign_in(http, worker.url, page, person=ALICE)
        async with http.get(worker.url + page, allow_redirects=False) as opened:
            assert opened.status == 403 and "not waiting for you" in await opened.text()
        async with http.get(worker.url + "/approvals/no-such-approval", allow_redirects=False) as opened:
            assert opened.status == 404
    fields = await aw(worker.services.store.redis.hkeys(worker.services.store.keys.approval(asked["id"])))
    assert fields and not [k for k in fields if str(k).startswith("opened:")]  # nothing noted as opened
    [refused] = [e for e in await audit_events(worker, "refused") if e.get("reason", "").startswith("details:")]
    assert refused["by"] == ALICE and refused["approval"] == asked["id"], refused


async def test_opening_reject_or_revise_and_cancelling_is_not_opening_the_details(
    policy_worker: StartPolicyWorker, slack: SlackStandIn
) -> None:
    """#87: the Reject and Revise forms are not the details: opened and cancelled, an Approve is still refused;
    the Details modal then counts."""
    worker = await policy_worker({"mail.cedar": READ_FIRST}, STEP_UP_URL=ORIGIN)
    client = Client(worker, (await new_key(worker, "mailer")).key)
    status, asked = await client.ask(tool_ask())
    assert status == 201, asked
    card = await nth_card(slack, 1)
    for action in ("approval_reject", "approval_revise"):  # each form opened, then cancelled
        await click(slack, card, action, user=BOB)
        [view] = await slack.wait_for(lambda: slack.open_views(BOB))
        await slack.close_view(user=BOB, view_id=view["id"])
        assert not slack.open_views(BOB)
    await click(slack, card, "approval_approve", user=BOB)
    [told] = await slack.wait_for(lambda: [e for e in slack.ephemerals(BOB) if "Open the details" in e["text"]])
    assert told["text"].startswith("Open the details before approving"), told
    held = await worker.services.store.approvals.get(asked["id"])
    assert held is not None and held.status == "pending" and not held.voters, held
    fields = await aw(worker.services.store.redis.hkeys(worker.services.store.keys.approval(asked["id"])))
    assert not [k for k in fields if str(k).startswith("opened:")]  # nothing noted as opened

    await click(slack, card, "approval_details", user=BOB)  # the Details modal counts
    await slack.wait_for(lambda: slack.open_views(BOB))
    await click(slack, card, "approval_approve", user=BOB)
    assert (await client.wait(asked["id"]))["status"] == "approved"
