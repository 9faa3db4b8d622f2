"""Parked, everywhere (issue 90, item 4): the weekly digest of parked approvals reaches a channel's admin who has no
Slack (`admins email:ops@example.com`) by e-mail, through a real worker and the local mail catcher: the approval's id,
its task as text (never markup), its channel and who holds it; its Slack admin still gets their direct message."""

from __future__ import annotations

import time

import pytest

from bot.devmail.catcher import MailCatcher
from bot.devslack.server import SlackStandIn
from tests.conftest import ALICE, BOB, SALES, Worker, block_texts
from tests.support.api import Client, new_key, tool_ask
from tests.support.hitl import until

OPS = "ops@example.com"


@pytest.mark.slow  # a worker and the mail catcher
async def test_the_parked_digest_reaches_an_admin_without_slack_by_email(
    mailing: Worker, slack: SlackStandIn, mail: MailCatcher
) -> None:
    store = mailing.services.store
    await store.settings.set(SALES, "approvers", BOB, by="operator")
    await store.settings.set(SALES, "timeout", "0", by="operator")  # never: parked
    await store.settings.set(SALES, "admins", f"{ALICE},email:{OPS}", by="operator")  # (as `config admins` stores)
    settings = await store.settings.get(SALES, default_timeout=60)
    assert settings.admins == (ALICE, f"email:{OPS}")
    status, answer = await Client(mailing, (await new_key(mailing)).key).ask(
        tool_ask(title="Raise <b>the</b> price"))
    assert status == 201, answer
    approval = str(answer["id"])
    await until(lambda: store.redis.zscore(store.keys.digest_due, "parked"), within=10, what="the digest due")
    assert await mailing.services.digest.sweep(now=time.time() + 8 * 86400) == 2  # alice and ops
    [caught] = await until(lambda: mail.inbox(OPS), within=10, what="the parked digest mailed to ops")
    assert caught.subject == "Parked approvals: 1 waiting, never timing out"
    assert approval in caught.text and f"held by {BOB}" in caught.text and SALES in caught.text
    assert "Raise <b>the</b> price" in caught.text  # the plain part: as written
    assert "Raise &lt;b&gt;the&lt;/b&gt; price" in caught.html and "<b>the</b>" not in caught.html  # never markup
    dms = [block_texts(m) for m in slack.messages(slack.dm_channel(ALICE)) if "Parked approvals" in block_texts(m)]
    assert len(dms) == 1 and approval in dms[0]
