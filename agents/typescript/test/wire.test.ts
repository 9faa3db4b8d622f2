/** The client's wire with a stand-in `fetch`: retries with the same Idempotency-Key, URLs, long-polls, errors. */

import assert from "node:assert/strict";
import { test } from "node:test";

import { ApprovalsClient, InvalidRequest, LimitReached, NotFound, OutOfScope } from "agent-approvals";

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
    sent.push({ url: String(input), method: init?.method ?? "GET", headers: new Headers(init?.headers),
      body: init?.body === undefined ? undefined : JSON.parse(String(init.body)) });
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
  const { fetch, sent } = scripted([[503, {}], [502, "no"], [504, {}], [201, PENDING]]);
  const given = { url: "http://bot", key: "aak_k", fetch, channel: "C1", run: "run-7", within: 60 };
  const client = new ApprovalsClient(given);
  const options = { editable: false, callbackUrl: "https://x/cb", title: "T" };
  const asked = await client.requestTool("send_email", { to: "bob" }, options);
  assert.equal(asked.id, "a-1");
  assert.equal(sent.length, 4);
  assert.equal(new Set(sent.map((s) => s.headers.get("Idempotency-Key"))).size, 1);
  assert.equal(sent[0]?.headers.get("Authorization"), "Bearer aak_k");
  assert.deepEqual(sent[0]?.body, {
    kind: "tool", tool: { name: "send_email", arguments: { to: "bob" }, editable: false }, title: "T", channel: "C1",
    timeout: 60, run: "run-7", callback_url: "https://x/cb",
  });
  assert.equal(sent[0]?.url, "http://bot/api/v1/approvals");
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
  assert.deepEqual(sent.map((s) => s.url), ["http://one/api/v1/approvals/a-1", "http://two/api/v1/approvals/a-1"]);
});

test("wait long-polls 50 s at a time and asks again until decided", async () => {
  const decided = { ...PENDING, status: "rejected", reason: "no", decided_by: "U0BOB", decided_by_name: "bob" };
  const { fetch, sent } = scripted([[200, PENDING], [200, PENDING], [200, decided]]);
  const got = await new ApprovalsClient({ url: "http://bot", key: "k", fetch }).wait("a-1", { atMost: 300 });
  assert.deepEqual(sent.map((s) => new URL(s.url).searchParams.get("wait")), ["50.0", "50.0", "50.0"]);
  assert.equal(got.status, "rejected");
  assert.equal(got.decidedBy, "U0BOB");
  assert.equal(got.decidedByName, "bob");
  assert.equal(got.reason, "no");
  assert.equal(got.approved, false);
});

test("a refusal is the error of its status, with the API's code, message and field", async () => {
  const cases: [number, Record<string, unknown>, Record<string, string>, Function][] = [
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
  const { fetch } = scripted([[404, "<html>"], [200, ["not", "an", "object"]]]);
  const client = new ApprovalsClient({ url: "http://bot/slack/events", key: "k", fetch });
  const error = (await client.get("a").catch((e: unknown) => e)) as NotFound;
  assert.ok(error instanceof NotFound && error.code === "not_the_api", String(error));
  assert.match(error.message, /is it the bot's URL/);
  await assert.rejects(client.get("a"), /not as the Approvals API does/);
});
