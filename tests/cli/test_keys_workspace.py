"""`python -m bot keys create NAME --team T… [--enterprise E…]` (issue 65): a key bound to a workspace; without
`--team`, the home workspace, said in the output. Parsed and run as `python -m bot` does, on a real Redis."""

from __future__ import annotations

import asyncio

import pytest

from bot.__main__ import main
from bot.core.key_records import ApiKey
from bot.core.workspaces import WorkspaceRef
from bot.store import Store, connect


def stored(redis_url: str, name: str) -> ApiKey | None:
    async def read() -> ApiKey | None:
        store = Store(connect(redis_url))
        try:
            return await store.api_keys.get(name)
        finally:
            await store.close()

    return asyncio.run(read())


def learn_home(redis_url: str, home: WorkspaceRef) -> None:
    async def learn() -> None:
        store = Store(connect(redis_url))
        try:
            await store.tenants.learn_home(home)
        finally:
            await store.close()

    asyncio.run(learn())


def test_a_key_is_bound_to_the_workspace_named_or_to_the_home_one(
    redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {"REDIS_URL": redis_url}
    assert main(["keys", "create", "eu", "--channel", "C0EU", "--team", "T0EU", "--enterprise", "E0ORG"],
                environ=env) == 0
    assert "workspace:      T0EU of E0ORG" in capsys.readouterr().out
    eu = stored(redis_url, "eu")
    assert eu is not None and (eu.team, eu.enterprise) == ("T0EU", "E0ORG")

    assert main(["keys", "create", "early", "--channel", "C0SALES"], environ=env) == 0  # no worker has run yet
    assert "the home workspace (no --team given; no worker has learnt its team yet)" in capsys.readouterr().out
    early = stored(redis_url, "early")
    assert early is not None and early.team == ""  # read as the home workspace's, whichever it turns out to be

    learn_home(redis_url, WorkspaceRef("T0DEV"))
    assert main(["keys", "create", "home", "--channel", "C0SALES"], environ=env) == 0
    assert "workspace:      T0DEV (the home workspace: no --team given)" in capsys.readouterr().out
    home = stored(redis_url, "home")
    assert home is not None and home.team == "T0DEV"
    main(["keys", "list"], environ=env)
    assert '"team": "T0EU", "enterprise": "E0ORG"' in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        (["--team", "x"], "a workspace is a team id (T…)"),
        (["--team", "T0EU", "--enterprise", "T0EU"], "its organisation an enterprise id (E…)"),
        (["--enterprise", "E0ORG"], "--enterprise goes with --team"),
    ],
)
def test_a_workspace_that_is_not_one_is_refused_and_nothing_is_made(
    redis_url: str, capsys: pytest.CaptureFixture[str], extra: list[str], said: str
) -> None:
    assert main(["keys", "create", "eu", "--channel", "C0EU", *extra], environ={"REDIS_URL": redis_url}) == 2
    assert said in capsys.readouterr().err
    assert stored(redis_url, "eu") is None


def test_a_grid_workspace_installed_org_wide_needs_its_organisation_named(
    redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A key made with `--team` alone for a workspace of an organisation installed org-wide would name a workspace the
    app is not installed in on its own (every ask a 403): refused at creation, with the words to use (issue 76)."""

    async def served() -> None:  # a worker served the organisation's workspace T0GRIDA (org-wide), as a worker does
        store = Store(connect(redis_url))
        try:
            await store.tenants.remember(WorkspaceRef("T0GRIDA", "E0GRID", org_wide=True))
        finally:
            await store.close()

    asyncio.run(served())
    env = {"REDIS_URL": redis_url}
    assert main(["keys", "create", "grid", "--channel", "C2APPROVALS", "--team", "T0GRIDA"], environ=env) == 2
    assert ("workspace T0GRIDA is of the Enterprise Grid organisation E0GRID, where the app is installed org-wide:"
            " name it too (--team T0GRIDA --enterprise E0GRID)") in capsys.readouterr().err
    assert stored(redis_url, "grid") is None
    assert main(["keys", "create", "grid", "--channel", "C2APPROVALS", "--team", "T0GRIDA", "--enterprise",
                 "E0GRID"], environ=env) == 0
    made = stored(redis_url, "grid")
    assert made is not None and (made.team, made.enterprise) == ("T0GRIDA", "E0GRID")
