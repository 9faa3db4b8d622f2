"""The TypeScript client says who it is and carries its caller's trace (#67), against a real worker: a `python -m
bot` process with `OTEL_EXPORTER_OTLP_ENDPOINT` set to a receiver of the test's own (tests/support/otlp.py, the real
OTLP payloads decoded). The package built once a session (conftest.py), run by Node: an ask whose client was
given the `traceparent` option, and one made inside an OpenTelemetry span through `@opentelemetry/api` (its optional
peer, installed beside the package; a context manager on AsyncLocalStorage, as the SDK's does it, registered through
the API's public `context.setGlobalContextManager`). The bot's span of each ask is in the caller's trace, a child of
its span, and names the client: `X-Agent-Approvals-Client: typescript/0.1.0`, `User-Agent:
agent-approvals-js/0.1.0`. The ask is counted as the API's way in."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import bot
from bot.core.version import npm_form
from bot.devslack.server import SlackStandIn
from bot.store import Store
from tests.conftest import BOB, SALES
from tests.support.cluster import Cluster
from tests.support.hitl import until
from tests.support.otlp import Receiver, receiving
from tests.support.typescript import PACKAGE, node

pytestmark = pytest.mark.slow  # a worker, node and the package's build as processes

OPTION = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")  # the `traceparent` option's trace and span
SPAN = ("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331")  # the OpenTelemetry span's
SCRIPT = """
import { AsyncLocalStorage } from "node:async_hooks";
import { ROOT_CONTEXT, context, trace } from "@opentelemetry/api";
import { ApprovalsClient } from "agent-approvals";

class Contexts {  // what the SDK's AsyncLocalStorageContextManager does, through the API's public interface
  #store = new AsyncLocalStorage();
  active() { return this.#store.getStore() ?? ROOT_CONTEXT; }
  with(ctx, fn, thisArg, ...args) { return this.#store.run(ctx, () => fn.call(thisArg, ...args)); }
  bind(_ctx, target) { return target; }
  enable() { return this; }
  disable() { return this; }
}
context.setGlobalContextManager(new Contexts());
const [url, key, option, span] = process.argv.slice(2).map((a) => JSON.parse(a));
const traceparent = () => `00-${option[0]}-${option[1]}-01`;
const given = new ApprovalsClient({ url, key, title: "ts trace: option", traceparent });
const first = await given.requestTool("send_email", { to: "bob@example.com" });
const spanned = new ApprovalsClient({ url, key, title: "ts trace: span" });
const inside = trace.setSpanContext(ROOT_CONTEXT, { traceId: span[0], spanId: span[1], traceFlags: 1 });
const second = await context.with(inside, () => spanned.requestTool("send_email", { to: "carol@example.com" }));
console.log(JSON.stringify([first.id, second.id]));
"""


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with receiving() as found:
        yield found


def project(into: Path) -> Path:
    """A program's folder as npm lays it out: `agent-approvals` and `@opentelemetry/api` in its node_modules."""
    api = PACKAGE / "node_modules" / "@opentelemetry" / "api"
    assert (api / "package.json").is_file(), "run npm ci in agents/typescript (@opentelemetry/api, a devDependency)"
    (into / "node_modules" / "@opentelemetry").mkdir(parents=True)
    (into / "node_modules" / "agent-approvals").symlink_to(PACKAGE)
    (into / "node_modules" / "@opentelemetry" / "api").symlink_to(api)
    (into / "ask.mjs").write_text(SCRIPT)
    return into / "ask.mjs"


async def test_the_typescript_client_says_its_version_and_carries_its_callers_trace(
    cluster: Cluster, slack: SlackStandIn, store: Store, receiver: Receiver, tmp_path: Path,
    typescript_built: None,
) -> None:
    worker = await cluster.start(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url)
    slack.events_url = worker.events
    made = await store.api_keys.create("tracer", [SALES], by=BOB)
    assert made is not None
    script = project(tmp_path)
    # (a process of its own, awaited: the local Slack the worker posts the cards to runs on this event loop)
    process = await asyncio.create_subprocess_exec(
        node(), "--preserve-symlinks", "--preserve-symlinks-main", str(script),
        *(json.dumps(a) for a in (worker.url, made.key, OPTION, SPAN)),
        cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, out.decode()[-3000:] + err.decode()[-3000:]
    asked = json.loads(out.decode().strip().splitlines()[-1])

    def asks() -> list[dict[str, Any]]:
        return [s for s in receiver.spans if s["name"] == "POST /api/v1/approvals"]

    async def received() -> bool:
        return len(asks()) >= 2

    await until(received, what="the worker's spans of both asks", within=20)
    by_approval = {s["attributes"].get("approval.id"): s for s in asks()}
    for approval_id, (trace_id, parent) in zip(asked, (OPTION, SPAN), strict=True):
        span = by_approval[approval_id]
        assert (span["trace_id"], span["parent"]) == (trace_id, parent), span
        assert span["attributes"]["agent_approvals.client"] == f"typescript/{npm_form(bot.__version__)}", span
        assert span["attributes"]["user_agent.original"] == f"agent-approvals-js/{npm_form(bot.__version__)}", span
