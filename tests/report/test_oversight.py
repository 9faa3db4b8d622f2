"""The oversight report and the freeze drill (issue 80, item 7), as a user runs them.

Decisions are made through a real worker and the local Slack (approve, reject, revise, an approval confirmed with a
passkey: a step-up, and asks refused by a freeze drill); the entries of the flows other helpers build (attestations,
service levels, the decision times and `fast` of each decision, reroutes, a vote refused for want of an attestation)
are appended through the store's real `audit.append`. `python -m bot report oversight` then writes the period's page
and CSV, and every figure in the CSV is worked out again here from the audit log itself (counts, nearest-rank
quantiles); the page has every section, each naming what it evidences, and its plots are drawn (Chromium). The drill
is run as a process and killed mid-way (kill -9, SIGTERM) to see what the next run does."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import signal
import sys
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from bot.devslack.server import SlackStandIn
from bot.report.oversight import EVIDENCES, compute_oversight
from bot.report.oversight_plots import OVERSIGHT_PLOT_IDS
from bot.store import Store
from tests.conftest import ALICE, BOB, BOT_TOKEN, CAROL, SALES, Worker
from tests.support.api import Client, new_key, tool_ask
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.cli import Ran, bot_command
from tests.support.hitl import click, nth_card, open_modal, reject, until
from tests.support.passkeys import Authenticator
from tests.support.signin import pages_client
from tests.support.signing import signing_worker
from tests.support.stepup import ORIGIN, approve, asked, confirm, enrol, vote_path

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
SECTIONS = tuple(EVIDENCES)


def iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat()


def rank(values: list[float], p: int) -> float:
    """Nearest rank, worked out here: the value at rank ceil(p/100 × n)."""
    ordered = sorted(values)
    k = -(-p * len(ordered) // 100)
    return ordered[max(1, k) - 1]


async def log(store: Store) -> list[dict[str, str]]:
    return [entry async for entry in store.audit.export(since=0)]


def read_csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def figure(rows: list[dict[str, str]], section: str, measure: str, *, channel: str = "", policy: str = "",
           person: str = "") -> str:
    found = [r["value"] for r in rows if (r["section"], r["measure"], r["channel"], r["policy"], r["person"])
             == (section, measure, channel, policy, person)]
    assert len(found) == 1, (section, measure, channel, policy, person, found)
    return found[0]


def drawn_plots(page: Path) -> dict[str, tuple[float, float, int, int]]:
    """Each plot of the page opened offline in Chromium: (width, height, paths, texts) of its <svg>; the page's
    screenshot to artifacts/oversight.png (as docs/oversight.png shows it)."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            context = chromium.new_context(viewport={"width": 1100, "height": 1500}, offline=True)
            tab = context.new_page()
            errors: list[str] = []
            tab.on("pageerror", lambda exc: errors.append(str(exc)))
            tab.goto(page.as_uri())
            found = {}
            for plot_id in OVERSIGHT_PLOT_IDS:
                svg = tab.locator(f"figure#{plot_id} > svg")
                assert svg.count() == 1, plot_id
                box = svg.bounding_box()
                assert box is not None, plot_id
                found[plot_id] = (box["width"], box["height"], svg.locator("path").count(),
                                  svg.locator("text").count())
            ARTIFACTS.mkdir(exist_ok=True)
            tab.screenshot(path=str(ARTIFACTS / "oversight.png"), full_page=True)  # docs/oversight.png
            assert errors == []
            return found
        finally:
            chromium.close()


async def _decide_three(slack: SlackStandIn, worker: Worker) -> None:
    """Three asks (by Alice) through the API decided in Slack: approved by Bob, rejected by Carol, revised by Bob."""
    client = Client(worker, (await new_key(worker, "nightly")).key)
    for n in range(3):
        status, _ = await client.ask(tool_ask(title=f"ask {n}"))
        assert status in (200, 201, 202)
    await click(slack, await nth_card(slack, 1), "approval_approve", user=BOB)
    await reject(slack, await nth_card(slack, 2), user=CAROL, reason="not now")
    view = await open_modal(slack, await nth_card(slack, 3), user=BOB)
    await slack.submit_view(user=BOB, view_id=view["id"], values={"feedback": {"feedback_input": "shorter"}})
    await until(lambda: _decisions(worker, 3), what="the three decisions audited")


async def _decisions(worker: Worker, n: int) -> bool:
    return len([e for e in await log(worker.services.store) if e.get("event") == "decision"]) >= n


async def _stamped(store: Store) -> None:
    """The entries the other helpers' flows write, through the real append: attestations (Alice current, Bob revoked,
    Carol expired), refunds decisions with their times and `fast`, service levels, reroutes, a refused vote."""
    now = time.time()
    append = store.audit.append
    await append("attested", by=ALICE, scope="policy:refunds", until=repr(now + 86400))
    await append("attestation_granted", by="U0ADMIN", person=BOB, scope="channel:" + SALES, until=repr(now + 86400))
    await append("attestation_revoked", by="U0ADMIN", person=BOB, scope="channel:" + SALES)
    await append("attested", by=CAROL, scope="policy:refunds", until=repr(now - 1))  # ended already
    waits = {ALICE: [4, 30, 61, 2], BOB: [120, 9], CAROL: [600]}
    for person, seconds in waits.items():
        for n, wait in enumerate(seconds):
            approval = f"refund-{person}-{n}"
            await append("requested", approval=approval, origin_channel=SALES, card_channel=SALES, policy="refunds",
                         kind="tool", tool="refund")
            outcome = "rejected" if person == BOB and n == 1 else "approved"
            extra = {"opened_at": repr(now + 1)} if wait > 5 else {}
            extra |= {"passkey": "pk-1", "amr": "hwk"} if person == CAROL else {}
            await append("decision", approval=approval, origin_channel=SALES, card_channel=SALES, policy="refunds",
                         by=person, outcome=outcome, latency_ms="1000", delivered_at=repr(now),
                         decided_at=repr(now + wait), read_seconds="5", fast="true" if wait < 5 else "false",
                         **extra)
    await append("decision", approval="refund-old", origin_channel=SALES, policy="refunds", by=BOB,
                 outcome="approved", latency_ms="500")  # an older entry: no times, no `fast`
    await append("sla_at_risk", approval=f"refund-{ALICE}-2", channel=SALES, policy="refunds", sla_seconds="60",
                 waited_seconds="48")
    await append("sla_breached", approval=f"refund-{ALICE}-2", channel=SALES, policy="refunds", sla_seconds="60",
                 waited_seconds="61")
    await append("sla_breached", approval="x", channel="C0OPS", policy="", sla_seconds="900", waited_seconds="901")
    await append("rerouted", approval=f"refund-{BOB}-0", from_person=ALICE, to_person=BOB, reason="max_asks_per_hour")
    await append("rerouted", approval=f"refund-{BOB}-1", from_person=ALICE, to_person="",
                 reason="held for the next hour")
    await append("refused", approval=f"refund-{CAROL}-0", by=CAROL, action="vote",
                 reason="the refunds policy asks for a current attestation: /agent attest refunds")


def expected(entries: list[dict[str, str]], since: float, until: float) -> dict[tuple[str, str, str, str, str], str]:
    """The figures the CSV must hold, worked out here from the log: (section, measure, channel, policy, person)."""
    inside = [e for e in entries if since <= float(e["at"]) < until]
    asked = {e["approval"]: e for e in entries if e.get("event") == "requested"}
    acts: dict[tuple[str, str], dict[tuple[str, str], dict[str, str]]] = defaultdict(dict)  # route -> act -> entry
    for e in inside:
        if e.get("event") == "decision" and e.get("by") not in ("", "timeout", "system", "auto"):
            policy = e.get("policy") or asked.get(e["approval"], {}).get("policy", "")
            policy = ",".join(json.loads(policy)["ids"]) if policy.startswith("{") else policy  # a decision's claim
            acts[(e.get("origin_channel") or e.get("card_channel", ""), policy)][(e["approval"], e["by"])] = e
    want: dict[tuple[str, str, str, str, str], str] = {}
    for (channel, policy), made in acts.items():
        want[("routes", "acts", channel, policy, "")] = str(len(made))
        per: Counter[str] = Counter(person for _, person in made)
        for person, n in per.items():
            want[("routes", "acts", channel, policy, person)] = str(n)
        outcomes = Counter(e["outcome"] for e in made.values())
        for outcome in ("approved", "rejected", "revised"):
            want[("overrides", outcome, channel, policy, "")] = str(outcomes[outcome])
        want[("overrides", "stepped_up", channel, policy, "")] = str(sum("passkey" in e for e in made.values()))
        waits = [float(e["decided_at"]) - float(e["delivered_at"]) for e in made.values() if "delivered_at" in e]
        if waits:
            for p in (50, 90, 99):
                want[("time", f"p{p}_seconds", channel, policy, "")] = f"{round(rank(waits, p) * 1000) / 1000:g}"  # ms
            want[("time", "timed", channel, policy, "")] = str(len(waits))
            want[("time", "not_recorded", channel, policy, "")] = str(len(made) - len(waits))
            want[("time", "opened", channel, policy, "")] = str(sum("opened_at" in e for e in made.values()))
        if any("fast" in e for e in made.values()):
            want[("fast", "fast", channel, policy, "")] = str(sum(e.get("fast") == "true" for e in made.values()))
            want[("fast", "recorded", channel, policy, "")] = str(sum("fast" in e for e in made.values()))
    for event, name in (("sla_at_risk", "at_risk"), ("sla_breached", "breached")):
        for (channel, policy), n in Counter((e["channel"], e["policy"]) for e in inside if e["event"] == event).items():
            want[("sla", name, channel, policy, "")] = str(n)
    return want


@pytest.fixture
async def stepup(slack: SlackStandIn, redis_url: str, tmp_path: Path) -> AsyncIterator[Worker]:
    """A worker whose passkey pages are at ORIGIN (step-up votes), as tests/stepup/ start one."""
    worker = await signing_worker(slack, redis_url, tmp_path / "keys.json", STEP_UP_URL=ORIGIN)
    yield worker
    await worker.stop()


async def _stepped_up(slack: SlackStandIn, worker: Worker) -> None:
    """A fourth ask, in SALES where every Approve now needs a passkey: Bob approves and confirms with his passkey."""
    bobs = Authenticator()
    async with pages_client() as http:
        await enrol(worker, http, BOB, bobs)
        client, approval_id, card = await asked(worker, slack, card=4)
        status, said = await confirm(http, worker, vote_path(await approve(slack, BOB, card)), bobs)
        assert (status, said["status"]) == (200, "ok"), said
    assert (await client.wait(approval_id))["status"] == "approved"


@pytest.mark.slow
async def test_the_oversight_report_of_a_period_matches_the_audit_log(
    slack: SlackStandIn, stepup: Worker, tmp_path: Path, redis_url: str
) -> None:
    api, store = stepup, stepup.services.store
    since = time.time() - 1
    await _decide_three(slack, api)
    await _stepped_up(slack, api)
    await _stamped(store)
    env = {"REDIS_URL": redis_url}
    drilled = await bot_command("freeze", "drill", "--scope", "key", "nightly", environ=env)
    assert drilled.returncode == 0, drilled.stderr
    assert "freeze:" in drilled.stdout and "unfreeze:" in drilled.stdout, drilled.stdout
    until_at = time.time() + 3600
    out = tmp_path / "oversight.html"
    process = await asyncio.create_subprocess_exec(  # as an operator runs it: a process of its own
        sys.executable, "-m", "bot", "report", "oversight", "--since", iso(since), "--until", iso(until_at),
        "--out", str(out), cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "REDIS_URL": redis_url, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'agents'}",
             "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_API_URL": slack.api_url})  # people named on the page
    said, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, err.decode()
    assert f"wrote {out} and {out.with_suffix('.csv')}" in said.decode()

    rows = read_csv(out.with_suffix(".csv"))
    entries = await log(store)
    want = expected(entries, since, until_at)
    got = {(r["section"], r["measure"], r["channel"], r["policy"], r["person"]): r["value"] for r in rows}
    assert {k: got.get(k) for k in want} == want
    # the four decided in Slack: their route is the ask's channel, no policy; the overrides counted
    assert [want[("overrides", name, SALES, "", "")] for name in ("approved", "rejected", "revised", "stepped_up")] \
        == ["2", "1", "1", "1"]  # Bob's passkey-confirmed approval: a step-up
    # the refunds route: Alice's 4 acts all fit (a current attestation), Bob's not (revoked), Carol's not (ended)
    assert figure(rows, "routes", "acts_fit", channel=SALES, policy="refunds", person=ALICE) == "4"
    assert figure(rows, "routes", "acts_fit", channel=SALES, policy="refunds", person=BOB) == "0"
    assert figure(rows, "routes", "acts_fit", channel=SALES, policy="refunds", person=CAROL) == "0"
    assert figure(rows, "routes", "refused_without_attestation", channel=SALES, policy="refunds") == "1"
    # time to decide: 2, 4, 9, 30, 61, 120, 600 s (7; the older entry not recorded): p50 rank 4 -> 30, p90 rank 7
    assert figure(rows, "time", "p50_seconds", channel=SALES, policy="refunds") == "30"
    assert figure(rows, "time", "p90_seconds", channel=SALES, policy="refunds") == "600"
    assert figure(rows, "time", "not_recorded", channel=SALES, policy="refunds") == "1"
    assert figure(rows, "fast", "fast", channel=SALES, policy="refunds", person=ALICE) == "2"
    assert figure(rows, "fatigue", "rerouted", channel=SALES, policy="refunds") == "2"
    assert figure(rows, "fatigue", "rerouted_from", person=ALICE) == "2"
    [drill] = [e for e in entries if e.get("event") == "freeze_drill"]
    assert drill["scope"] == "key:nightly" and drill["refused_during"] == "true"
    shown = {r["measure"]: r["value"] for r in rows if r["section"] == "drills"}
    assert shown == {"freeze_seconds": f"{float(drill['freeze_seconds']):g}",
                     "unfreeze_seconds": f"{float(drill['unfreeze_seconds']):g}", "refused_during": "true"}
    assert not [r for r in rows if r["measure"] == "no data in this period"]  # every section has data
    assert {r["section"] for r in rows} == set(SECTIONS)
    assert all(r["evidences"] == EVIDENCES[r["section"]] for r in rows)

    page = out.read_text(encoding="utf-8")
    for section, evidences in EVIDENCES.items():
        assert f'id="section-{section}"' in page, section
        assert evidences.replace("'", "&#39;") in page or evidences in page, section
    assert "No data in this period" not in page
    assert f"bob ({BOB})" in page and f"alice ({ALICE})" in page  # named as Slack names them; the CSV keeps ids
    for article in ("14(4)(a)", "14(4)(b)", "(c)", "14(4)(d)", "14(4)(e)", "26(2)", "26(5)", "A.6.2.8", "Measure"):
        assert article in page, article
    plots = await asyncio.to_thread(drawn_plots, out)
    for plot_id, (width, height, paths, texts) in plots.items():
        assert width > 300 and height > 60 and paths > 10 and texts == 0, (plot_id, plots[plot_id])


async def test_a_period_without_data_says_so_in_every_section(store: Store, redis_url: str, tmp_path: Path) -> None:
    await store.audit.append("requested", approval="a-now", origin_channel=SALES, kind="message")  # a log, not then
    out = tmp_path / "empty.html"
    ran = await bot_command("report", "oversight", "--since", "2020-01-01", "--until", "2020-02-01", "--out",
                            str(out), "--csv", str(tmp_path / "figures.csv"), environ={"REDIS_URL": redis_url})
    assert ran.returncode == 0, ran.stderr
    rows = read_csv(tmp_path / "figures.csv")
    assert [(r["section"], r["measure"]) for r in rows] == [(s, "no data in this period") for s in SECTIONS]
    page = out.read_text(encoding="utf-8")
    assert page.count("No data in this period.") == len(SECTIONS) and "<svg" not in page


async def test_bad_arguments_are_refused_and_nothing_is_written(redis_url: str, tmp_path: Path) -> None:
    env = {"REDIS_URL": redis_url}
    out = str(tmp_path / "o.html")
    for argv, words in ((["--until", "2026-01-01"], "--since DATE is needed"),
                        (["--since", "30d"], "not an ISO 8601 date"),
                        (["--since", "2026-02-01", "--until", "2026-01-01"], "must be after --since"),
                        (["--since", "2026-01-01", "--channel", "#sales"], "not a channel id"),
                        (["--since", "2026-01-01", "--csv", str(tmp_path / "nowhere" / "x.csv")], "does not exist")):
        ran = await bot_command("report", "oversight", *argv, "--out", out, environ=env)
        assert ran.returncode == 2 and words in ran.stderr, (argv, ran.stderr)
    assert not await asyncio.to_thread(lambda: list(tmp_path.iterdir()))


def test_older_entries_without_the_new_fields_are_unknown_never_an_error() -> None:
    now = time.time()
    entries = [{"event": "decision", "at": repr(now), "approval": "a", "by": ALICE, "outcome": "approved"},
               {"event": "decision", "at": repr(now), "approval": "b", "by": BOB, "outcome": "rejected",
                "delivered_at": "soon", "decided_at": "", "fast": "maybe"},
               {"event": "attested", "at": repr(now - 5), "by": ALICE, "scope": "channel:(no channel)"},  # no until
               {"event": "sla_breached", "at": repr(now)}, {"event": "rerouted", "at": repr(now)},
               {"event": "freeze_drill", "at": repr(now)}, {"event": "vote", "at": "x"}]
    o = compute_oversight(entries, since=now - 60, until=now + 60)
    [route] = [r for r in o.routes if r.acts]
    assert (route.acts, route.decide.decided, route.untimed, route.fast_known) == (2, 0, 2, 0)
    assert [p.fit for p in route.people] == [0, 0]  # an attestation without a readable end is not current
    assert sum(r.breached for r in o.routes) == 1 and sum(r.rerouted for r in o.routes) == 1
    [drill] = o.drills
    assert (drill.freeze_seconds, drill.refused_during) == (None, "")


async def _frozen(store: Store, scope: str) -> bool:
    return scope in await store.freezes.all()


@pytest.mark.slow
async def test_a_drill_killed_mid_way_is_undone_by_the_next_run_and_sigterm_unfreezes(
    slack: SlackStandIn, api: Worker, redis_url: str
) -> None:
    store = api.services.store
    client = Client(api, (await new_key(api, "nightly")).key)
    env = {**os.environ, "REDIS_URL": redis_url, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'agents'}"}

    async def held_drill() -> asyncio.subprocess.Process:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "freeze", "drill", "--scope", "key", "nightly", "--hold", "5m", cwd=ROOT,
            env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        await until(lambda: _frozen(store, "key:nightly"), within=60, what="the drill's freeze")
        return process

    process = await held_drill()
    _, answer = await client.ask(tool_ask(title="during the drill"))  # the worker refuses it: the stop works
    assert answer["status"] == "rejected" and answer["code"] == "frozen", answer
    process.kill()  # kill -9, mid-way
    await process.wait()
    assert await _frozen(store, "key:nightly")  # it could not undo itself

    async def drilled_again() -> Ran | None:  # refused while the killed drill's lease lasts (#87.10), then it runs
        again = await bot_command("freeze", "drill", "--scope", "key", "nightly", environ={"REDIS_URL": redis_url})
        assert again.returncode == 0 or "one drill at a time" in again.stderr, (again.stdout, again.stderr)
        if again.returncode:
            await asyncio.sleep(0.5)  # (paced: a drill is a whole command)
        return again if again.returncode == 0 else None

    again = await until(drilled_again, within=30, what="the next drill, once the killed one's lease expired")
    assert "was interrupted and left key:nightly frozen: unfrozen now" in again.stdout, again.stdout
    assert not await _frozen(store, "key:nightly")
    _, answer = await client.ask(tool_ask(title="after"))
    assert answer["status"] == "pending", answer
    entries = await log(store)
    assert next(e.get("interrupted") for e in entries if e["event"] == "unfrozen") == "true"
    assert len([e for e in entries if e["event"] == "freeze_drill"]) == 1  # the second drill's only

    process = await held_drill()
    process.send_signal(signal.SIGTERM)
    out, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 1 and "stopped (SIGTERM): key:nightly unfrozen" in out.decode(), out
    assert not await _frozen(store, "key:nightly")
    assert len([e for e in await log(store) if e["event"] == "freeze_drill"]) == 1  # not recorded as a drill


async def test_a_drill_on_a_scope_an_admin_froze_is_refused_and_changes_nothing(store: Store, redis_url: str) -> None:
    env = {"REDIS_URL": redis_url}
    assert (await bot_command("freeze", "key", "nightly", "--reason", "leaked", environ=env)).returncode == 0
    ran = await bot_command("freeze", "drill", "--scope", "key", "nightly", environ=env)
    assert ran.returncode == 1 and "a drill would unfreeze it. Nothing changed" in ran.stderr, ran.stderr
    ran = await bot_command("freeze", "drill", "--scope", "key", "other", environ=env)  # refused anyway? no: drilled
    assert ran.returncode == 0, ran.stderr
    assert (await bot_command("freeze", "all", environ=env)).returncode == 0
    ran = await bot_command("freeze", "drill", "--scope", "key", "other", environ=env)  # all frozen: proves nothing
    assert ran.returncode == 1 and "is refused already" in ran.stderr, ran.stderr
    assert set(await store.freezes.all()) == {"key:nightly", "all"}
    assert (await store.freezes.all())["key:nightly"].reason == "leaked"
    events = [e["event"] for e in await log(store) if e["event"] in ("frozen", "unfrozen", "freeze_drill")]
    assert events == ["frozen", "frozen", "unfrozen", "freeze_drill", "frozen"]
    for argv in (["--scope", "everything"], ["--hold", "2h"]):
        ran = await bot_command("freeze", "drill", *argv, environ=env)
        assert ran.returncode == 2, (argv, ran.stderr)


async def test_no_audit_log_or_no_redis_writes_nothing_and_never_shows_the_url(redis_url: str, tmp_path: Path) -> None:
    out = str(tmp_path / "o.html")
    ran = await bot_command("report", "oversight", "--since", "2026-01-01", "--out", out,
                            environ={"REDIS_URL": redis_url})  # an empty Redis: no audit log under the prefix
    assert ran.returncode == 1 and "no audit log found under REDIS_KEY_PREFIX" in ran.stderr, ran.stderr
    secret = "redis://:hunter2@127.0.0.1:9/0"  # nothing listens there
    ran = await bot_command("report", "oversight", "--since", "2026-01-01", "--out", out, environ={"REDIS_URL": secret})
    assert ran.returncode == 1 and "cannot read the audit log" in ran.stderr and "hunter2" not in ran.stderr
    ran = await bot_command("freeze", "drill", environ={"REDIS_URL": secret})
    assert ran.returncode == 1 and "python -m bot unfreeze all" in ran.stderr and "hunter2" not in ran.stderr
    assert not await asyncio.to_thread(lambda: list(tmp_path.iterdir()))
