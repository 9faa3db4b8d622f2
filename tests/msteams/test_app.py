"""The SDK's app on a real worker (bot/msteams/app.py) as Teams adds and removes it: the conversation kept (its
reference: id, service URL, tenant, kind) and everyone in it learnt (their Teams user ids, for a card's refresh),
forgotten when the app is removed; another tenant's conversation is never kept, its install refused and audited."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.devmsteams import TeamsStandIn
from bot.devmsteams.simulate import base_activity, deliver
from bot.devslack.server import SlackStandIn
from bot.store import Store
from tests.conftest import BOB, Worker
from tests.support.cluster import Cluster
from tests.support.hitl import audit_events
from tests.support.teams import start_teams_worker, teams_env


@pytest.fixture
async def worker(slack: SlackStandIn, teams: TeamsStandIn, redis_url: str) -> AsyncIterator[Worker]:
    started = await start_teams_worker(slack, teams, redis_url)
    yield started
    await started.stop()


async def test_added_the_conversation_is_kept_and_its_people_learnt_removed_forgotten(
    worker: Worker, teams: TeamsStandIn
) -> None:
    bob = teams.add_member(name="Bob Brown", email="bob@example.com")
    stranger = teams.add_member(name="Sam Stone", email="sam@elsewhere.example")  # no Slack account, no file
    channel = teams.add_conversation("channel", "Approvals", [stranger, bob])
    store = worker.services.store
    assert await teams.install(channel) == 200  # added by Sam: the roster tells of Bob too
    kept = await store.msteams.conversation(channel)
    assert kept is not None and (kept.kind, kept.tenant_id, kept.service_url) == ("channel", teams.tenant_id,
                                                                                 teams.url.rstrip("/"))
    account = await store.msteams.account(BOB)  # Bob is U0BOB in Slack (the same email)
    assert account is not None and account.user_id == bob
    state = teams.state
    removed = base_activity(state, state.conversation(channel), state.members[stranger], teams.url)
    removed.update(type="installationUpdate", action="remove")
    delivery = await deliver(teams.messaging_url, removed, teams.signin.bot_token())
    assert delivery.status == 200
    assert await store.msteams.conversation(channel) is None


async def test_another_tenants_install_is_refused_and_audited(worker: Worker, teams: TeamsStandIn) -> None:
    other_tenant, oid = str(uuid.uuid4()), str(uuid.uuid4())
    olga = teams.add_member(name="Olga", email="olga@fabrikam.example", object_id=oid, tenant_id=other_tenant)
    chat = teams.add_conversation("groupChat", "Fabrikam", [olga], tenant_id=other_tenant)
    await teams.install(chat)
    assert await worker.services.store.msteams.conversation(chat) is None
    refused = [e for e in await audit_events(worker, "refused") if e.get("by") == f"teams:{oid}"]
    assert refused and refused[0]["surface"] == "teams" and refused[0]["tenant"] == other_tenant


@pytest.mark.slow
async def test_a_worker_process_serves_teams_verifying_every_request(
    cluster: Cluster, teams: TeamsStandIn, store: Store
) -> None:
    served = await cluster.start(**teams_env(teams))  # `python -m bot`, TEAMS_* pointing at the local Bot Connector
    teams.messaging_url = served.url + "/teams/messages"
    bob = teams.add_member(name="Bob Brown", email="bob@example.com")
    channel = teams.add_conversation("channel", "Approvals", [bob])
    assert await teams.install(channel) == 200  # signed by the stand-in, verified by the SDK in the worker
    assert await store.msteams.conversation(channel) is not None
    for forgery in ("none", "other_key", "wrong_audience"):
        removed = base_activity(teams.state, teams.state.conversation(channel), teams.state.members[bob], teams.url)
        removed.update(type="installationUpdate", action="remove")
        delivery = await deliver(teams.messaging_url, removed, teams.signin.bot_token(forgery=forgery))
        assert delivery.status == 401, forgery
    assert await store.msteams.conversation(channel) is not None  # nothing done
    async with aiohttp.ClientSession() as http, http.post(teams.messaging_url, data=b"not json") as answer:
        assert answer.status == 400 and "not JSON" in (await answer.json())["error"]


@pytest.mark.slow
async def test_a_flood_of_unauthenticated_requests_is_a_warning_now_and_then_not_an_error_each(
    cluster: Cluster, teams: TeamsStandIn
) -> None:
    """#87: every unauthenticated POST /teams/messages logged an ERROR of the SDK's, unthrottled; now each is answered
    401 and the worker says it in one WARNING now and then, as the API's refusals."""
    served = await cluster.start(**teams_env(teams))
    url = served.url + "/teams/messages"
    bob = teams.add_member(name="Bob Brown", email="bob@example.com")
    channel = teams.add_conversation("channel", "Approvals", [bob])
    activity = base_activity(teams.state, teams.state.conversation(channel), teams.state.members[bob], teams.url)
    activity.update(type="installationUpdate", action="add")
    for n in range(50):  # no token, then tokens signed by a key nobody published
        delivery = await deliver(url, activity, None if n % 2 else teams.signin.bot_token(forgery="other_key"))
        assert delivery.status == 401, n
    log = served.log.read_text()
    refused = [line for line in log.splitlines() if "Teams refused a request" in line]
    assert 1 <= len(refused) <= 4 and all(" WARNING " in line for line in refused), log
    assert " ERROR " not in log and "Traceback" not in log and "validation failed" not in log, log


NO_SDK = """
import sys
sys.modules["microsoft_teams"] = None  # the `teams` extra not installed: any import of the SDK fails
import bot.root
from bot.core.settings import Settings, SettingsError
from bot.root import create_services
env = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "REDIS_URL": "redis://127.0.0.1:1/0",
       "APPROVALS_CHANNEL": "C0APPROVALS"}
create_services(Settings.from_env(env))  # a worker without Teams: built, the SDK never imported
try:
    create_services(Settings.from_env({**env, "TEAMS_APP_ID": "%s", "TEAMS_TENANT_ID": "%s",
                                       "TEAMS_APP_PASSWORD": "p"}))
except SettingsError as exc:
    print(exc)
"""


@pytest.mark.slow
def test_a_worker_without_the_teams_extra_runs_and_one_with_teams_on_says_which_to_install() -> None:
    import subprocess
    import sys

    code = NO_SDK % (uuid.uuid4(), uuid.uuid4())
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "TEAMS_APP_ID is set but the Teams SDK is not installed" in done.stdout
    assert "pip install 'slack-agent-approvals[teams]'" in done.stdout


@pytest.mark.slow
@pytest.mark.parametrize("turned_off", [True, False])
def test_the_teams_sdk_reads_no_dotenv_file_once_the_bot_imports_it(tmp_path: Path, turned_off: bool) -> None:
    """The SDK loads a `.env` from the working directory into the environment when imported; the bot turns that off
    first (`without_dotenv`, called by `create_teams`), so no variable reaches a worker behind its settings' back.
    (`turned_off` False shows the check can fail: the SDK alone reads the file.)"""
    (tmp_path / ".env").write_text("DOTENV_PROBE=read\n")
    first = "from bot.core.environment import without_dotenv; without_dotenv(); " if turned_off else ""
    script = f"{first}import os, microsoft_teams.apps; print(os.environ.get('DOTENV_PROBE', 'unset'))"
    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHON_DOTENV_DISABLED", "DOTENV_PROBE")}
    said = subprocess.run([sys.executable, "-W", "ignore", "-c", script], cwd=tmp_path, capture_output=True, text=True,
                          env={**env, "PYTHONPATH": f"{root}{os.pathsep}{root / 'agents'}"}, timeout=120, check=False)
    assert said.returncode == 0, said.stderr
    assert said.stdout.strip() == ("unset" if turned_off else "read")
    assert "without_dotenv()" in (root / "bot" / "msteams" / "__init__.py").read_text()  # create_teams calls it
