"""Review-and-decide links (bot/email/links.py, issue 88) against the tests' redis-server: made, checked by a GET
(nothing taken), taken once by a POST (a second take refused, two at once: one wins), given back when the core's
answer may be tried again; a tampered, unknown, expired, another person's or another approval's link refused, each
with its own word and status; keys derived from SECRETS_KEY (another deployment's key refuses the link)."""

from __future__ import annotations

import asyncio
import base64
import time

import pytest

from bot.email.links import Checked, LinkKeys, Links, Refused
from bot.store import Store
from tests.conftest import TEST_SECRETS_KEY

CAROL = "email:carol@example.com"
DAVE = "email:dave@example.com"
APPROVAL = "a1b2c3d4-0000"
OTHER_KEY = base64.b64encode(bytes(range(1, 33))).decode()


def links_of(store: Store, secrets_key: str = TEST_SECRETS_KEY) -> Links:
    return Links(store.email, LinkKeys.from_secrets_key(secrets_key), public_url="https://approvals.example.com/")


def token_of(link: str) -> str:
    return link.rsplit("/", 1)[1]


async def made(store: Store, *, person: str = CAROL, deadline: float | None = None) -> tuple[Links, str]:
    links = links_of(store)
    link = await links.make(approval=APPROVAL, person=person, deadline=time.time() + 600 if deadline is None
                            else deadline)
    return links, link


async def test_a_link_is_checked_without_being_taken_then_taken_once(store: Store) -> None:
    links, link = await made(store)
    assert link.startswith(f"https://approvals.example.com/email/{APPROVAL}/")
    token = token_of(link)
    for _ in range(3):  # a scanner's GETs, a preview's, the person's: nothing taken
        checked = await links.check(APPROVAL, token, person=CAROL)
        assert isinstance(checked, Checked) and checked.record.person == CAROL
    taken = await links.take(APPROVAL, token, person=CAROL)
    assert isinstance(taken, Checked)
    again = await links.take(APPROVAL, token, person=CAROL)
    assert again == Refused("used") and again.status == 410
    assert await links.check(APPROVAL, token, person=CAROL) == Refused("used")


async def test_a_retryable_answer_gives_the_link_back_for_one_more_use(store: Store) -> None:
    links, link = await made(store)
    taken = await links.take(APPROVAL, token_of(link), person=CAROL)
    assert isinstance(taken, Checked)
    assert await links.release(taken) is True  # the core said step_up: the same person may come back
    assert isinstance(await links.take(APPROVAL, token_of(link), person=CAROL), Checked)
    assert await links.take(APPROVAL, token_of(link), person=CAROL) == Refused("used")


async def test_two_posts_at_once_take_the_link_once(store: Store, other_store: Store) -> None:
    _, link = await made(store)
    takers = [links_of(s) for s in (store, other_store) for _ in range(5)]
    found = await asyncio.gather(*(t.take(APPROVAL, token_of(link), person=CAROL) for t in takers))
    assert sum(isinstance(f, Checked) for f in found) == 1
    assert [f for f in found if not isinstance(f, Checked)] == [Refused("used")] * 9


async def test_a_tampered_or_unknown_link_is_refused_as_not_found(store: Store) -> None:
    links, link = await made(store)
    token = token_of(link)
    nonce, mac = token.split(".")
    flipped = mac[:-1] + ("A" if mac[-1] != "A" else "B")
    assert await links.check(APPROVAL, f"{nonce}.{flipped}", person=CAROL) == Refused("tampered")
    assert await links.take(APPROVAL, f"{nonce}.{flipped}", person=CAROL) == Refused("tampered")
    assert await links.check(APPROVAL, "x" * 22 + "." + mac, person=CAROL) == Refused("unknown")
    for bad in ("", "nonce", token + "x", "../../etc/passwd", token.replace(".", "/")):
        assert await links.check(APPROVAL, bad, person=CAROL) == Refused("tampered")
    assert Refused("tampered").status == Refused("unknown").status == 404
    # the link is still good for its person: a forged attempt took nothing
    assert isinstance(await links.take(APPROVAL, token, person=CAROL), Checked)


async def test_another_deployments_key_refuses_the_link(store: Store) -> None:
    _, link = await made(store)
    assert await links_of(store, OTHER_KEY).check(APPROVAL, token_of(link), person=CAROL) == Refused("tampered")
    with pytest.raises(ValueError, match="SECRETS_KEY"):
        LinkKeys.from_secrets_key("")


async def test_another_person_or_approval_is_refused(store: Store) -> None:
    links, link = await made(store)
    token = token_of(link)
    refused = await links.check(APPROVAL, token, person=DAVE)
    assert refused == Refused("wrong_person") and refused.status == 403
    assert await links.take(APPROVAL, token, person=DAVE) == Refused("wrong_person")
    other = await links.take("ffffffff-0000", token, person=CAROL)
    assert other == Refused("wrong_approval") and other.status == 404
    assert isinstance(await links.take(APPROVAL, token, person=CAROL), Checked)  # still Carol's, once


async def test_a_link_expires_with_its_approval(store: Store) -> None:
    links, link = await made(store, deadline=time.time() + 60)
    token = token_of(link)
    later = time.time() + 61
    assert await links.check(APPROVAL, token, person=CAROL, now=later) == Refused("expired")
    taken = await links.take(APPROVAL, token, person=CAROL, now=later)
    assert taken == Refused("expired") and taken.status == 410
    assert isinstance(await links.check(APPROVAL, token, person=CAROL), Checked)  # (before its end it was good)


async def test_a_link_to_an_approval_without_a_deadline_lasts_a_week(store: Store) -> None:
    _, link = await made(store, deadline=0)
    record = await store.email.link(token_of(link).split(".")[0])
    assert record is not None and 7 * 86400 - 5 < record.expires - time.time() <= 7 * 86400
