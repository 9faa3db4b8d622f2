"""The page a Review-and-decide link opens (bot/email/page.py, issue 88), served by a real aiohttp server with the
tests' redis-server: GET, HEAD and a scanner's GET with `?verb=approved` decide nothing; a POST with the page's CSRF
token decides once through the `decide` given (recorded here: the core's entry is wired later), a second POST is
refused (410); a retryable answer gives the link back; a missing or wrong token, a bad verb, another signed-in
person, a tampered link: refused with their status, and told to `refused` (the audit's, later)."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer

from bot.core.records import ApprovalRecord
from bot.email.links import LinkKeys, Links
from bot.email.page import Answer, add_email_routes
from bot.store import Store
from tests.conftest import TEST_SECRETS_KEY
from tests.support.records import approval

CAROL = "email:carol@example.com"
DAVE = "email:dave@example.com"
HOSTILE = "Pay <script>alert(1)</script>"


@dataclass
class Core:
    """What the page is given: who is signed in (a cookie here), the approvals, and a `decide` that records."""

    answer: str = "ok"
    calls: list[dict[str, Any]] = field(default_factory=list)
    refusals: list[tuple[str, str, str]] = field(default_factory=list)
    record: ApprovalRecord = field(default_factory=lambda: replace(approval(), task=HOSTILE))

    async def who(self, request: web.Request) -> str:
        if "person" not in request.cookies:
            raise web.HTTPFound("/signin/start")  # (as the pages' sign-in answers)
        return request.cookies["person"]

    async def load(self, approval_id: str) -> ApprovalRecord | None:
        return self.record if approval_id == self.record.id else None

    async def decide(self, person: str, **how: Any) -> Answer:
        self.calls.append({"person": person, **how})
        return Answer(self.answer, f"said {self.answer}")

    async def refused(self, person: str, approval_id: str, why: str) -> None:
        self.refusals.append((person, approval_id, why))


@dataclass
class Served:
    core: Core
    link: str  # the link's path
    base: str


@pytest.fixture
async def served(store: Store) -> AsyncIterator[Served]:
    core = Core()
    links = Links(store.email, LinkKeys.from_secrets_key(TEST_SECRETS_KEY), public_url="http://x")
    app = web.Application()
    add_email_routes(app, links=links, who=core.who, load=core.load, decide=core.decide, refused=core.refused)
    made = await links.make(approval=core.record.id, person=CAROL, deadline=time.time() + 600)
    async with TestServer(app) as server:
        yield Served(core, made.removeprefix("http://x"), str(server.make_url("")))


def as_(person: str) -> ClientSession:
    return ClientSession(cookies={"person": person})


async def form_of(http: ClientSession, url: str) -> str:
    async with http.get(url) as got:
        assert got.status == 200, await got.text()
        page = await got.text()
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found is not None
    return found[1]


async def test_get_and_head_show_the_change_and_never_decide(served: Served) -> None:
    url = served.base + served.link
    async with as_(CAROL) as http:
        for method, query in (("GET", ""), ("HEAD", ""), ("GET", "?verb=approved"), ("GET", "?verb=approved&csrf=x")):
            async with http.request(method, url + query) as got:
                assert got.status == 200 and got.headers["Cache-Control"] == "no-store"
                page = await got.text()
                assert method == "HEAD" or ("&lt;script&gt;" in page and "<script>" not in page)
    assert served.core.calls == []
    async with ClientSession() as nobody, nobody.get(url, allow_redirects=False) as got:
        assert got.status == 302 and got.headers["Location"] == "/signin/start"


async def test_a_post_with_its_token_decides_once(served: Served) -> None:
    url = served.base + served.link
    async with as_(CAROL) as http:
        token = await form_of(http, url)
        async with http.post(url, data={"verb": "approved", "csrf": token}) as got:
            assert got.status == 200 and "Thank you" in await got.text()
        async with http.post(url, data={"verb": "approved", "csrf": token}) as again:
            assert again.status == 410
    assert served.core.calls == [{"person": CAROL, "surface": "email", "verb": "approved",
                                  "approval": served.core.record.id}]
    assert served.core.refusals == [(CAROL, served.core.record.id, "email link: used")]


async def test_a_retryable_answer_gives_the_link_back(served: Served) -> None:
    url = served.base + served.link
    served.core.answer = "step_up"
    async with as_(CAROL) as http:
        token = await form_of(http, url)
        async with http.post(url, data={"verb": "approved", "csrf": token}) as got:
            assert got.status == 409 and "step_up" in await got.text()
        served.core.answer = "ok"
        async with http.post(url, data={"verb": "approved", "csrf": token}) as got:
            assert got.status == 200
    assert [c["verb"] for c in served.core.calls] == ["approved", "approved"]


async def test_bad_posts_and_other_people_are_refused(served: Served) -> None:
    url = served.base + served.link
    async with as_(CAROL) as http:
        token = await form_of(http, url)
        for data, status in (({"verb": "approved"}, 400), ({"verb": "maybe", "csrf": token}, 400),
                             ({"verb": "approved", "csrf": token[:-1] + "x"}, 403), ({}, 400)):
            async with http.post(url, data=data) as got:
                assert got.status == status
        _, mac = served.link.rsplit("/", 1)[1].split(".")
        async with http.get(url.replace(mac, mac[::-1])) as got:
            assert got.status == 404
        async with http.get(served.base + "/email/..%2F..%2Fetc/x.y") as got:
            assert got.status == 404
    async with as_(DAVE) as dave:
        async with dave.get(url) as got:
            assert got.status == 403 and "someone else" in await got.text()
        async with dave.post(url, data={"verb": "approved", "csrf": token}) as got:
            assert got.status == 403
    assert served.core.calls == []
    assert ("email:dave@example.com", served.core.record.id, "email link: wrong_person") in served.core.refusals


async def test_the_triage_models_reading_is_shown_escaped_under_the_change(served: Served) -> None:
    """#92: the model's reading, labelled as the model's, after the proposal, before the form; escaped."""
    served.core.record = replace(served.core.record, triage="The triage model (m) escalated: high risk. " + HOSTILE)
    async with as_(CAROL) as http, http.get(served.base + served.link) as got:
        page = await got.text()
    assert "The triage model's reading (a model's, not a person's)" in page
    assert "high risk. Pay &lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>" not in page
    assert page.index('data-testid="arguments"') < page.index('data-testid="triage"') < page.index("<form")
