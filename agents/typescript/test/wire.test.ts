/** The client's wire with a stand-in `fetch`: retries with the same Idempotency-Key, URLs, long-polls, errors. */

import assert from "node:assert/strict";
import { test } from "node:test";

import * as approvals from "agent-approvals";
import {
  ApprovalsClient,
  ApprovalsError,
  BadKey,
  InvalidRequest,
  LimitReached,
  NotFound,
  OutOfScope,
  ReceiptError,
  Unreachable,
} from "agent-approvals";

interface Sent {
  url: string;
  method: string;
  headers: Headers;
  body: unknown;
}

/** A fetch that answers each request with the next of `answers` (a status and a body, or an error to throw). */
type Answer = readonly [number, unknown, Record<string, string>?] | Error;

function scripted(answers: Answer[]): { fetch: typeof fetch; sent: Sent[] } {
  const sent: Sent[] = [];
  const fake: typeof fetch = async (input, init) => {
    sent.push({
      url: String(input),
      method: init?.method ?? "GET",
      headers: new Headers(init?.headers),
      body: init?.body === undefined ? undefined : JSON.parse(String(init.body)),
    });
    const next = answers.shift();
    if (next === undefined) throw new Error("no more answers scripted");
    if (next instanceof Error) throw next;
    const [status, body, headers] = next;
    return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json", ...headers } });
  };
  return { fetch: fake, sent };
}

const PENDING = { id: "a-1", status: "pending", title: "t", tool: "send_email", arguments: { to: "bob" } };
const refused = (code: string): Error =>
  Object.assign(new TypeError("fetch failed"), { cause: Object.assign(new Error(code), { code }) });

test("502, 503 and 504 are retried with the same Idempotency-Key, and the ask says what was given", async () => {
  const { fetch, sent } = scripted([
    [503, {}],
    [502, "no"],
    [504, {}],
    [201, PENDING],
  ]);
  const given = { url: "http://bot", key: "aak_k", fetch, channel: "C1", run: "run-7", within: 60 };
  const client = new ApprovalsClient(given);
  const options = { editable: false, callbackUrl: "https://x/cb", title: "T" };
  const asked = await client.requestTool({ tool: "send_email", arguments: { to: "bob" }, ...options });
  assert.equal(asked.id, "a-1");
  assert.equal(sent.length, 4);
  assert.equal(new Set(sent.map((s) => s.headers.get("Idempotency-Key"))).size, 1);
  assert.equal(sent[0]?.headers.get("Authorization"), "Bearer aak_k");
  assert.deepEqual(sent[0]?.body, {
    kind: "tool",
    tool: { name: "send_email", arguments: { to: "bob" }, editable: false },
    title: "T",
    channel: "C1",
    timeout: 60,
    run: "run-7",
    callback_url: "https://x/cb",
  });
  assert.equal(sent[0]?.url, "http://bot/api/v1/approvals");
});

test("each call sends the caller's current traceparent (the option's), a malformed one none", async () => {
  const { fetch, sent } = scripted([
    [201, PENDING],
    [200, PENDING],
    [200, PENDING],
  ]);
  const parents = ["00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "00-not-a-trace", undefined];
  const client = new ApprovalsClient({ url: "http://bot", key: "k", fetch, traceparent: () => parents.shift() });
  await client.requestTool({ tool: "send_email", arguments: { to: "bob" } });
  await client.get("a-1");
  await client.get("a-1");
  assert.deepEqual(
    sent.map((s) => s.headers.get("traceparent")),
    ["00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", null, null],
  );
});

test("an answer cut short is retried as no answer", async () => {
  let tries = 0;
  const cut: typeof fetch = async () => {
    tries += 1;
    if (tries > 1) return new Response(JSON.stringify(PENDING), { status: 200 });
    const lost = Object.assign(new Error("terminated"), { code: "UND_ERR_SOCKET" });
    const body = new ReadableStream({ start: (c) => c.error(lost) });
    return new Response(body, { status: 200 });
  };
  assert.equal((await new ApprovalsClient({ url: "http://bot", key: "k", fetch: cut }).get("a-1")).id, "a-1");
  assert.equal(tries, 2);
});

test("a worker that does not answer is passed over for the next URL", async () => {
  const { fetch, sent } = scripted([refused("ECONNREFUSED"), [200, { ...PENDING, status: "approved" }]]);
  const client = new ApprovalsClient({ url: ["http://one/", "http://two/api/v1"], key: "k", fetch });
  const got = await client.get("a-1");
  assert.ok(got.approved && !got.pending);
  assert.deepEqual(
    sent.map((s) => s.url),
    ["http://one/api/v1/approvals/a-1", "http://two/api/v1/approvals/a-1"],
  );
});

test("wait long-polls 50 s at a time and asks again until decided", async () => {
  const decided = { ...PENDING, status: "rejected", reason: "no", decided_by: "U0BOB", decided_by_name: "bob" };
  const { fetch, sent } = scripted([
    [200, PENDING],
    [200, PENDING],
    [200, decided],
  ]);
  const got = await new ApprovalsClient({ url: "http://bot", key: "k", fetch }).wait("a-1", { atMost: 300 });
  assert.deepEqual(
    sent.map((s) => new URL(s.url).searchParams.get("wait")),
    ["50.0", "50.0", "50.0"],
  );
  assert.equal(got.status, "rejected");
  assert.equal(got.decidedBy, "U0BOB");
  assert.equal(got.decidedByName, "bob");
  assert.equal(got.reason, "no");
  assert.equal(got.approved, false);
});

test("a refusal is the error of its status, with the API's code, message and field", async () => {
  const cases: [number, Record<string, unknown>, Record<string, string>, new (...args: never[]) => Error][] = [
    [400, { error: { code: "invalid", message: "not an email", field: "tool.arguments.to" } }, {}, InvalidRequest],
    [403, { error: { code: "refused_by_policy", message: "refused by policy P1: no mass mail" } }, {}, OutOfScope],
    [404, { error: { code: "not_found", message: "no such approval" } }, {}, NotFound],
    [429, { error: { code: "rate_limited", message: "120 a minute" } }, { "Retry-After": "7" }, LimitReached],
  ];
  for (const [status, body, headers, Kind] of cases) {
    const { fetch } = scripted([[status, body, headers]]);
    const error = await new ApprovalsClient({ url: "http://bot", key: "k", fetch }).get("a-1").catch((e: unknown) => e);
    assert.ok(error instanceof Kind, `${status}: ${String(error)}`);
    const said = error as InvalidRequest;
    assert.equal(said.status, status);
    assert.equal(said.code, (body["error"] as { code: string }).code);
    assert.ok(said.message.includes((body["error"] as { message: string }).message));
  }
  const { fetch } = scripted([[400, { error: { code: "invalid", message: "bad", field: "title" } }]]);
  const caught = (e: unknown): unknown => e;
  const bad = new ApprovalsClient({ url: "http://bot", key: "k", fetch });
  const error = (await bad.get("a").catch(caught)) as InvalidRequest;
  assert.equal(error.field, "title");
  assert.equal(error.message, "400 invalid: bad (field title)");
  const limited = scripted([[429, { error: { code: "rate_limited", message: "slow" } }, { "Retry-After": "7" }]]);
  const slow = new ApprovalsClient({ url: "http://bot", key: "k", fetch: limited.fetch });
  const late = (await slow.get("a").catch(caught)) as LimitReached;
  assert.equal(late.retryAfter, 7);
});

test("something else answering at the URL says so", async () => {
  const { fetch } = scripted([
    [404, "<html>"],
    [200, ["not", "an", "object"]],
  ]);
  const client = new ApprovalsClient({ url: "http://bot/slack/events", key: "k", fetch });
  const error = (await client.get("a").catch((e: unknown) => e)) as NotFound;
  assert.ok(error instanceof NotFound && error.code === "not_the_api", String(error));
  assert.match(error.message, /is it the bot's URL/);
  await assert.rejects(client.get("a"), /not as the Approvals API does/);
});

/** A fetch that holds each request until its signal aborts, and answers a DELETE as a withdrawn approval. */
function holding(sent: string[]): typeof fetch {
  return async (input, init) => {
    sent.push(`${init?.method ?? "GET"} ${new URL(String(input)).pathname}`);
    if (init?.method === "DELETE") {
      return new Response(JSON.stringify({ ...PENDING, status: "cancelled" }), { status: 200 });
    }
    if (init?.method === "POST") return new Response(JSON.stringify(PENDING), { status: 201 });
    return new Promise((_, reject) => {
      init?.signal?.addEventListener("abort", () => reject(init.signal?.reason), { once: true });
    });
  };
}

test("an error keeps what caused it, and each kind's isInstance knows it from another copy of the package", async () => {
  const { fetch } = scripted([refused("ECONNREFUSED"), refused("ECONNREFUSED"), refused("ECONNREFUSED")]);
  const client = new ApprovalsClient({ url: "http://bot", key: "k", fetch });
  const error = await client.get("a-1").then(
    () => undefined,
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof Unreachable, String(error));
  assert.ok(error.cause instanceof TypeError && error.cause.message === "fetch failed", String(error.cause));
  assert.equal((error.cause.cause as { code?: unknown }).code, "ECONNREFUSED");
  // the same package loaded again (another version in node_modules): instanceof fails, isInstance does not
  const again = (file: string): Promise<unknown> => import(new URL(`../src/${file}.js?copy`, import.meta.url).href);
  const copy = { ...((await again("errors")) as typeof approvals), ...((await again("receipts")) as typeof approvals) };
  assert.notEqual(copy.Unreachable, Unreachable);
  assert.ok(!(error instanceof copy.Unreachable));
  assert.ok(copy.Unreachable.isInstance(error) && copy.ApprovalsError.isInstance(error));
  assert.ok(Unreachable.isInstance(error) && ApprovalsError.isInstance(error));
  assert.ok(!BadKey.isInstance(error) && !copy.NotFound.isInstance(error) && !ReceiptError.isInstance(error));
  const bad = new copy.BadKey(401, "bad_key", "no");
  assert.ok(BadKey.isInstance(bad) && ApprovalsError.isInstance(bad) && !Unreachable.isInstance(bad));
  const receipt = new copy.ReceiptError("expired", "old");
  assert.ok(ReceiptError.isInstance(receipt) && !ApprovalsError.isInstance(receipt));
  for (const other of [undefined, null, "BadKey", new Error("x"), { name: "BadKey" }]) {
    assert.ok(!BadKey.isInstance(other) && !ApprovalsError.isInstance(other) && !ReceiptError.isInstance(other));
  }
});

test("an AbortSignal ends a call between retries and in flight, with the signal's reason, and retries no more", async () => {
  const stop = new Error("stopped by the caller");
  const controller = new AbortController();
  let tries = 0;
  const failing: typeof fetch = async () => {
    tries += 1;
    if (tries === 2) controller.abort(stop);
    return new Response("{}", { status: 503 });
  };
  const client = new ApprovalsClient({ url: "http://bot", key: "k", fetch: failing });
  await assert.rejects(client.get("a-1", { signal: controller.signal }), (error) => error === stop);
  assert.equal(tries, 2);
  const sent: string[] = [];
  const held = new ApprovalsClient({ url: "http://bot", key: "k", fetch: holding(sent) });
  const later = new AbortController();
  setTimeout(() => later.abort(), 50);
  await assert.rejects(held.wait("a-1", { signal: later.signal }), (error: Error) => error.name === "AbortError");
  assert.deepEqual(sent, ["GET /api/v1/approvals/a-1"]); // a plain wait withdraws nothing
  await assert.rejects(held.get("a-1", { signal: AbortSignal.abort() }), (error: Error) => error.name === "AbortError");
  assert.equal(sent.length, 1); // aborted before: nothing sent
});

test("an aborted toolDecision (or a wait with withdraw) withdraws the pending card and ends the wait", async () => {
  const sent: string[] = [];
  const client = new ApprovalsClient({ url: "http://bot", key: "k", fetch: holding(sent) });
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 50);
  await assert.rejects(
    client.toolDecision({ tool: "send_email", arguments: { to: "bob" }, signal: controller.signal }),
    (error: Error) => error.name === "AbortError",
  );
  assert.deepEqual(sent, ["POST /api/v1/approvals", "GET /api/v1/approvals/a-1", "DELETE /api/v1/approvals/a-1"]);
  sent.length = 0;
  const again = new AbortController();
  setTimeout(() => again.abort(), 50);
  await assert.rejects(client.wait("a-1", { signal: again.signal, withdraw: true }));
  assert.deepEqual(sent, ["GET /api/v1/approvals/a-1", "DELETE /api/v1/approvals/a-1"]);
});
