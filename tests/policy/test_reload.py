"""Trusting a bundle's lifecycle (#42), with real processes and files: a bundle that does not parse stops
`python -m bot` at start naming the file and line; a running worker picks up a changed file, keeps its last good
bundle through a change that does not load (a warning and a `policy_load_failed` entry) and loads the next good one;
every worker on one POLICY_DIR shows the same hash on /healthz, and nothing secret; a file written in place with
pauses shorter than the settle time, or published by rename after pauses longer, is never loaded half-written."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.devslack.server import SlackStandIn
from bot.policy.bundle import load_bundle
from tests.conftest import BOT_TOKEN, SIGNING_SECRET, Worker, bot_env, free_port, start_worker
from tests.support.api import Client, new_key
from tests.support.hitl import audit_events, until
from tests.support.policies import StartPolicyWorker, quick_reloads, refund, write_bundle

ROOT = Path(__file__).resolve().parents[2]
SMALL = '''// Refunds: small ones are allowed at once.
@id("small-refunds")
permit (principal, action == Action::"refund", resource)
when { context.args.amount_cents < 10000 };
'''
NOT_ORDER_A1 = '''
@id("not-order-a1")
@reason("order A-1 is disputed")
forbid (principal, action == Action::"refund", resource)
when { context.args.order == "A-1" };
'''
TYPO = '''
// a typo below
@id("big-refunds")
forbid (principal, action == Action::"refund", resource)
when { context.args.amount_cents >>= 10000 };
'''


@pytest.mark.slow
def test_a_bundle_that_does_not_parse_stops_a_worker_at_start(
    slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    folder = write_bundle(tmp_path / "policies", {"refunds.cedar": SMALL + TYPO})
    env = {**os.environ, **bot_env(slack=slack, redis_url=redis_url, model_config=None),
           "POLICY_DIR": str(folder), "PORT": str(free_port())}
    done = subprocess.run([sys.executable, "-m", "bot"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 2, done
    assert "error: POLICY_DIR: refunds.cedar:7: unexpected token" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and "listening" not in done.stderr


@pytest.mark.slow  # waits out a real timer or window: over 1 s of the clock (tests/support/slow.py)
async def test_a_running_worker_reloads_changed_files_and_keeps_its_last_good_bundle(
    policy_worker: StartPolicyWorker, caplog: pytest.LogCaptureFixture
) -> None:
    worker = await policy_worker({"refunds.cedar": SMALL})
    engine = quick_reloads(worker.services.approvals.policies)
    folder = Path(engine.bundle.directory)
    client = Client(worker, (await new_key(worker, "support-bot")).key)
    first = engine.bundle.hash
    assert (await client.ask(refund(500)))[1]["status"] == "approved"

    async def changed(files: dict[str, str], *, than: str) -> str:
        write_bundle(folder, files)
        await until(lambda: engine.bundle.hash != than, within=15, what="the worker to reload its policies")
        await until(lambda: loaded(worker, engine.bundle.hash), what="policy_loaded with the new hash")
        return engine.bundle.hash

    second = await changed({"refunds.cedar": SMALL + NOT_ORDER_A1}, than=first)
    assert second == load_bundle(folder).hash
    _, answer = await client.ask(refund(500))
    assert answer["status"] == "rejected" and "order A-1 is disputed" in json.dumps(answer), answer

    with caplog.at_level(logging.WARNING, logger="bot.policy.engine"):
        write_bundle(folder, {"refunds.cedar": SMALL + NOT_ORDER_A1 + TYPO})
        failed = await until(lambda: audit_events(worker, "policy_load_failed"), within=15,
                             what="policy_load_failed audited")
    assert failed[0]["kept"] == second and "refunds.cedar:" in failed[0]["error"], failed
    assert any("policies not reloaded" in r.getMessage() and "refunds.cedar:" in r.getMessage()
               for r in caplog.records), caplog.text
    assert engine.bundle.hash == second  # the last good bundle still decides
    assert (await client.ask(refund(500)))[1]["status"] == "rejected"

    third = await changed({"refunds.cedar": SMALL}, than=second)
    assert third == first  # the first bundle's text again: its hash
    assert (await client.ask(refund(500)))[1]["status"] == "approved"
    assert len(await audit_events(worker, "policy_load_failed")) == 1  # once per distinct error


async def loaded(worker: Worker, bundle: str) -> bool:
    return any(e.get("bundle") == bundle for e in await audit_events(worker, "policy_loaded"))


async def health(worker: Worker) -> tuple[str, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(worker.url + "/healthz") as response:
        text = await response.text()
    return text, json.loads(text)


async def test_every_worker_on_one_policy_dir_shows_the_same_hash_and_nothing_secret(
    slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    folder = write_bundle(tmp_path / "policies", {"refunds.cedar": SMALL + NOT_ORDER_A1})
    env = bot_env(slack=slack, redis_url=redis_url, model_config=None, POLICY_DIR=str(folder))
    workers = [await start_worker(env, worker_id=f"w{n}") for n in range(2)]
    try:
        answers = await asyncio.gather(*(health(worker) for worker in workers))
        expected = {"bundle": load_bundle(folder).hash, "mode": "enforce"}
        assert [body["policy"] for _, body in answers] == [expected, expected]
        for text, _ in answers:
            for secret in (BOT_TOKEN, SIGNING_SECRET, str(folder), "xoxb-"):
                assert secret not in text, secret
        await until(lambda: loaded_by(workers[0], expected["bundle"]), what="both workers' policy_loaded")
    finally:
        for worker in workers:
            await worker.stop()


async def loaded_by(worker: Worker, bundle: str) -> bool:
    entries = [e for e in await audit_events(worker, "policy_loaded") if e.get("bundle") == bundle]
    return sorted(e["worker"] for e in entries) == ["w0", "w1"]


WRITER = r"""
import sys, time
path, first, filler, last = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
with open(path, "w") as out:  # truncated at once: the forbid is gone until the last piece
    out.write(first); out.flush()
    for n in range(filler):
        time.sleep(0.25)
        out.write(f"// note {n}\n"); out.flush()
    time.sleep(0.25)
    out.write(last); out.flush()
"""


@pytest.mark.slow
async def test_a_file_rewritten_slowly_is_never_loaded_half_written(policy_worker: StartPolicyWorker) -> None:
    """#51.5: a file rewritten piece by piece (a writer process, over about 5 s: several of the worker's looks)
    parses at every line, and once was loaded half written: its forbid gone, asks it refuses were approved at once.
    A bundle is loaded only once it has settled."""
    worker = await policy_worker({"refunds.cedar": SMALL + NOT_ORDER_A1})
    engine = worker.services.approvals.policies
    before = engine.bundle.hash
    client = Client(worker, (await new_key(worker, "support-bot")).key)
    path = Path(engine.bundle.directory) / "refunds.cedar"
    writer = await asyncio.create_subprocess_exec(sys.executable, "-c", WRITER, str(path), SMALL, "20", NOT_ORDER_A1)
    answers = []
    while writer.returncode is None:  # ask all along the rewrite
        answers.append((await client.ask(refund(500)))[1])
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(writer.wait()), 0.2)
    assert await writer.wait() == 0 and len(answers) >= 10
    allowed = [a for a in answers if a["status"] != "rejected"]
    assert allowed == [], f"{len(allowed)} of {len(answers)} asks the forbid refuses were not refused"
    assert engine.bundle.hash == before  # never a half-written bundle
    final = load_bundle(path.parent).hash
    await until(lambda: engine.bundle.hash == final, within=15, what="the whole file loaded once stable")
    assert (await client.ask(refund(500)))[1]["status"] == "rejected"


PAUSED = r"""
import sys, time
path, first, pause, pieces, last = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
with open(path, "w") as out:  # in place: the forbid is gone until the last piece
    out.write(first); out.flush()
    for n in range(pieces):
        time.sleep(pause)
        out.write(f"// note {n}\n"); out.flush()
    time.sleep(pause)
    out.write(last); out.flush()
"""
PUBLISHED = r"""
import os, sys, time
path, text, pause = sys.argv[1], sys.argv[2], float(sys.argv[3])
draft = path + ".draft"  # beside it, not a *.cedar file: not part of the bundle
with open(draft, "w") as out:
    third = len(text) // 3 + 1
    for n in range(3):
        out.write(text[n * third:(n + 1) * third]); out.flush()
        time.sleep(pause)
os.replace(draft, path)  # published whole, at once
"""


async def asked_all_along(client: Client, writer: asyncio.subprocess.Process) -> list[dict[str, Any]]:
    """The answers to a refund of A-1 asked again and again while `writer` runs (it ends with 0)."""
    answers = []
    while writer.returncode is None:
        answers.append((await client.ask(refund(500)))[1])
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(writer.wait()), 0.2)
    assert await writer.wait() == 0 and len(answers) >= 10
    return answers


@pytest.mark.slow
async def test_a_file_written_in_place_with_pauses_longer_than_a_look_is_not_loaded_half_written(
    policy_worker: StartPolicyWorker,
) -> None:
    """#63.9: a file written in place with pauses of 4 s (two of the worker's looks, 2 s apart, saw the same half:
    13 of 24 asks its forbid refuses were approved). A bundle is loaded once its content, its files' times and the
    folder have stayed the same for the settle time (5 s), so a pause shorter than that never loads a half."""
    worker = await policy_worker({"refunds.cedar": SMALL + NOT_ORDER_A1})
    engine = worker.services.approvals.policies
    before = engine.bundle.hash
    client = Client(worker, (await new_key(worker, "support-bot")).key)
    path = Path(engine.bundle.directory) / "refunds.cedar"
    writer = await asyncio.create_subprocess_exec(sys.executable, "-c", PAUSED, str(path), SMALL, "4", "2",
                                                  NOT_ORDER_A1)
    answers = await asked_all_along(client, writer)
    allowed = [a for a in answers if a["status"] != "rejected"]
    assert allowed == [], f"{len(allowed)} of {len(answers)} asks the forbid refuses were not refused"
    assert engine.bundle.hash == before  # never a half-written bundle
    final = load_bundle(path.parent).hash
    await until(lambda: engine.bundle.hash == final, within=20, what="the whole file loaded once settled")
    assert (await client.ask(refund(500)))[1]["status"] == "rejected"


@pytest.mark.slow
async def test_a_file_published_by_rename_is_never_loaded_half_written_however_slow_its_writer(
    policy_worker: StartPolicyWorker,
) -> None:
    """What docs/operators/policies.md says is safe whatever the writer's pauses: write the new file beside the
    bundle (a name that is not `*.cedar`) or elsewhere on the same file system, then rename it over the old one.
    Here the writer pauses 6 s (longer than the settle time) after each third; only the whole file is ever loaded."""
    worker = await policy_worker({"refunds.cedar": SMALL + NOT_ORDER_A1})
    engine = worker.services.approvals.policies
    before = engine.bundle.hash
    client = Client(worker, (await new_key(worker, "support-bot")).key)
    path = Path(engine.bundle.directory) / "refunds.cedar"
    text = SMALL + NOT_ORDER_A1 + NOT_ORDER_A1.replace("A-1", "A-2").replace("a1", "a2")
    writer = await asyncio.create_subprocess_exec(sys.executable, "-c", PUBLISHED, str(path), text, "6")
    answers = await asked_all_along(client, writer)
    assert [a for a in answers if a["status"] != "rejected"] == []
    assert engine.bundle.hash == before  # the draft, however long it paused, was never part of the bundle
    final = load_bundle(path.parent).hash
    assert final != before
    await until(lambda: engine.bundle.hash == final, within=20, what="the published file loaded")
    loaded_hashes = [e.get("bundle") for e in await audit_events(worker, "policy_loaded")]
    assert loaded_hashes.count(final) == 1 and set(loaded_hashes) == {before, final}, loaded_hashes


@pytest.mark.slow  # waits out a real timer or window: over 1 s of the clock (tests/support/slow.py)
async def test_an_edit_that_keeps_size_and_time_and_a_swapped_folder_are_loaded(
    policy_worker: StartPolicyWorker, tmp_path: Path
) -> None:
    """#51.5: reloads compare content: an edit of the same size restored to the same modification time, and a
    symbolic link to the folder swapped for one to another folder with files of the same names, sizes and times,
    are each loaded (/healthz then shows the hash `policy check` computes)."""
    worker = await policy_worker({"refunds.cedar": SMALL + NOT_ORDER_A1})
    engine = quick_reloads(worker.services.approvals.policies)
    path = Path(engine.bundle.directory) / "refunds.cedar"
    stat = path.stat()
    path.write_text((SMALL + NOT_ORDER_A1).replace('"A-1"', '"A-2"'))  # same size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    edited = load_bundle(path.parent).hash
    await until(lambda: engine.bundle.hash == edited, within=15, what="the same-size, same-time edit loaded")
    assert await health_hash(worker) == edited

    # a worker on a symbolic link to a folder; the link swapped to another folder, files alike but for content
    first, second = tmp_path / "v1", tmp_path / "v2"
    write_bundle(first, {"refunds.cedar": SMALL + NOT_ORDER_A1})
    write_bundle(second, {"refunds.cedar": (SMALL + NOT_ORDER_A1).replace('"A-1"', '"A-3"')})
    made = (first / "refunds.cedar").stat()
    os.utime(second / "refunds.cedar", ns=(made.st_atime_ns, made.st_mtime_ns))
    link = tmp_path / "current"
    link.symlink_to(first)
    linked = await policy_worker({}, POLICY_DIR=str(link))
    other = quick_reloads(linked.services.approvals.policies)
    swapped = tmp_path / "next"
    swapped.symlink_to(second)
    os.replace(swapped, link)  # an atomic swap, as deploy tools do
    wanted = load_bundle(link).hash
    await until(lambda: other.bundle.hash == wanted, within=15, what="the swapped folder loaded")
    assert await health_hash(linked) == wanted


async def health_hash(worker: Worker) -> str:
    async with aiohttp.ClientSession() as session, session.get(worker.url + "/healthz") as response:
        return str((await response.json())["policy"]["bundle"])
