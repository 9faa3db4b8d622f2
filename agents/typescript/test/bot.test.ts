/**
 * The client and the receipts against a real bot worker (started by tests/agents/typescript/test_typescript.py with
 * Redis and the Slack stand-in). The Python side plays the reviewer: it approves as bob each card whose title starts
 * "ts: approve", rejects with the reason "not on a Friday" each "ts: reject", and leaves the others pending.
 */

import assert from "node:assert/strict";
import { createServer } from "node:net";
import { test } from "node:test";

import {
  ApprovalsClient,
  ApprovalsError,
  BadKey,
  ReceiptChecker,
  ReceiptError,
  Unreachable,
  refusal,
  requiresReceipt,
  type Approval,
  verifyReceipt,
} from "agent-approvals";

import { given } from "./env.js";

const URL = given("AGENT_APPROVALS_URL");
const KEY = given("AGENT_APPROVALS_KEY");
const BOB = "U0BOB";
const EMAIL = { to: "bob@example.com", body: "Prices go up 5% on May 1." };
const EDITED = { to: "carol@example.com", body: "Prices go up 5% on May 1." }; // what "ts: edit" cards become

const client = (title: string): ApprovalsClient => new ApprovalsClient({ title }); // url and key from the environment

test("check() names the key, from a URL ending in /api/v1/", async () => {
  const key = await new ApprovalsClient({ url: `${URL}/api/v1/`, key: KEY }).check();
  assert.equal(key.name, "emailer");
  assert.ok(key.id && key.channels.length === 1);
});

test("toolDecision asks, waits for bob's approval and uses it once: a second use is refused", async () => {
  const told: string[] = [];
  const onDecided = (a: Approval): number => told.push(`${a.id} ${a.status}`);
  const asker = new ApprovalsClient({ title: "ts: approve the decision", onDecided });
  const decided = await asker.toolDecision({ tool: "send_email", arguments: EMAIL, atMost: 60 });
  assert.deepEqual(told, [`${decided.id} approved`]); // once
  assert.equal(decided.status, "approved");
  assert.ok(decided.approved && !decided.pending);
  assert.equal(decided.decidedBy, BOB);
  assert.deepEqual(decided.arguments, EMAIL);
  assert.equal(decided.tool, "send_email");
  assert.equal(await asker.use(decided.id, { token: "another-use" }), false); // used by toolDecision already
  // spend says so in the bot's words, which an adapter prints as they are (it composes none of its own)
  const spent = await asker.spend(decided.id, { token: "another-use" });
  assert.equal(spent.used, false);
  assert.equal(
    spent.refusal,
    `Not run: approval ${decided.id} was used already (the call may have run); call again to be asked again.`,
  );
});

test("toolDecision asks about bob's edit as the edited call, and returns the edited arguments once approved", async () => {
  const asked = new Map<string, Approval>(); // each card, seen pending or (bob being quick) decided at once
  const seen = (a: Approval): void => void asked.set(a.id, a);
  const asker = new ApprovalsClient({ title: "ts: edit then approve toolDecision", onWaiting: seen, onDecided: seen });
  const decided = await asker.toolDecision({ tool: "send_email", arguments: EMAIL, atMost: 60 });
  assert.equal(decided.status, "approved");
  assert.ok(decided.approved);
  assert.deepEqual(decided.arguments, EDITED); // what bob edited it into, and approved
  // two cards: the call, revised with bob's edit, then the edited call, approved
  const [first, second] = [...asked.values()];
  assert.equal(asked.size, 2);
  assert.ok(first?.status === "revised" && first.edited === true, JSON.stringify(first));
  assert.equal(second?.id, decided.id);
  assert.equal(await asker.use(decided.id, { token: "another-use" }), false); // used by toolDecision already
});

test("an approval carries a receipt the executor verifies, and a guarded tool runs once with it", async () => {
  const asker = client("ts: approve with a receipt");
  const asked = await asker.requestTool({ tool: "send_email", arguments: EMAIL }); // (bob may have approved it already)
  const decided = await asker.wait(asked.id, { atMost: 60 });
  assert.ok(decided.approved, decided.status);
  assert.equal(typeof decided.receipt, "string");
  const audience = (await asker.check()).id;
  const jwksUrl = `${URL}/api/v1/jwks.json`;
  const claims = await verifyReceipt(decided.receipt, { jwksUrl, tool: "send_email", arguments: EMAIL, audience });
  assert.equal(claims.sub, decided.id);
  assert.equal(claims.aud, audience);
  const other = { ...EMAIL, to: "x" };
  await assert.rejects(
    verifyReceipt(decided.receipt, { jwksUrl, tool: "send_email", arguments: other }),
    (error: unknown) => error instanceof ReceiptError && error.reason === "wrong_arguments",
  );
  const elsewhere = { jwksUrl, tool: "send_email", arguments: EMAIL, audience: "k-other" };
  await assert.rejects(
    verifyReceipt(decided.receipt, elsewhere),
    (error: unknown) => error instanceof ReceiptError && error.reason === "wrong_audience",
  );

  const sent: unknown[] = [];
  const sendEmail = requiresReceipt(new ReceiptChecker(URL, { audience }), { tool: "send_email" })(async (args: {
    to: string;
    body: string;
  }) => {
    sent.push(args);
    return `sent to ${args.to}`;
  });
  const refused = (reason: string) => (error: unknown) => error instanceof ReceiptError && error.reason === reason;
  await assert.rejects(sendEmail(EMAIL, undefined), refused("missing"));
  assert.equal(await sendEmail({ body: EMAIL.body, to: EMAIL.to }, decided.receipt), "sent to bob@example.com");
  await assert.rejects(sendEmail(EMAIL, decided.receipt), refused("used"));
  assert.deepEqual(sent, [EMAIL]);
});

test("a rejection reaches the caller with who and why", async () => {
  const asker = client("ts: reject this one");
  const decided = await asker.toolDecision({ tool: "send_email", arguments: EMAIL, atMost: 60 });
  assert.equal(decided.status, "rejected");
  assert.ok(!decided.approved);
  assert.equal(decided.decidedBy, BOB);
  assert.equal(decided.reason, "not on a Friday");
  assert.match(refusal(decided), /^Not run: rejected by @?\w+: not on a Friday$/);
  assert.equal(decided.receipt ?? null, null);
});

test("notify is an ask's option: on a plane that sends no e-mail it is refused, 400 naming it", async () => {
  const asker = client("ts: notify");
  await assert.rejects(
    asker.requestTool({ tool: "send_email", arguments: EMAIL, notify: ["email:dana@example.com"] }),
    (error: unknown) =>
      error instanceof ApprovalsError &&
      error.status === 400 &&
      error.field === "notify" &&
      error.said.includes("SMTP_URL"),
  );
});

test("a message is asked, waited for a moment and withdrawn", async () => {
  const waiting: string[] = [];
  const asker = new ApprovalsClient({ title: "ts: leave the message", onWaiting: (a) => waiting.push(a.id) });
  const asked = await asker.requestMessage({ text: "Shall I post the release notes?" });
  assert.ok((await asker.wait(asked.id, { atMost: 0.2 })).pending);
  assert.deepEqual(waiting, [asked.id]); // once, though it was seen pending twice
  const withdrawn = await asker.withdraw(asked.id);
  assert.equal(withdrawn.status, "cancelled");
  assert.equal((await asker.get(asked.id)).status, "cancelled");
});

test("a retry after a lost answer, with the same Idempotency-Key, gives the same approval", async () => {
  const keys: string[] = [];
  let lost = false;
  const losing: typeof fetch = async (input, init) => {
    const headers = new Headers(init?.headers);
    if (init?.method === "POST") keys.push(headers.get("Idempotency-Key") ?? "");
    const response = await fetch(input, init);
    if (init?.method === "POST" && !lost) {
      lost = true;
      await response.text();
      const cause = Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
      throw new TypeError("fetch failed", { cause });
    }
    return response;
  };
  const asker = new ApprovalsClient({ url: URL, key: KEY, title: "ts: leave the retried ask", fetch: losing });
  const asked = await asker.requestTool({ tool: "send_email", arguments: EMAIL });
  assert.equal(keys.length, 2);
  assert.equal(keys[0], keys[1]);
  const again = await asker.requestTool({ tool: "send_email", arguments: EMAIL, idempotencyKey: keys[0] as string });
  assert.equal(again.id, asked.id);
  const other = await asker.requestTool({ tool: "send_email", arguments: EMAIL, idempotencyKey: `${keys[0]}-other` });
  assert.notEqual(other.id, asked.id);
  await Promise.all([asker.withdraw(asked.id), asker.withdraw(other.id)]);
});

/** A port nothing listens on (it was free a moment ago). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

test("a call the program's allow-list lets through is recorded once per Idempotency-Key", async () => {
  const asker = client("ts: leave (nothing is asked)");
  const options = { allowedBy: "--allow list_*", idempotencyKey: "ts-allowed-1" };
  const recorded = await asker.recordAllowed({ tool: "list_files", arguments: { dir: "/srv" }, ...options });
  assert.equal(recorded.status, "allowed");
  assert.equal(recorded.tool, "list_files");
  assert.equal(recorded.allowedBy, "--allow list_*");
  assert.equal(
    (await asker.recordAllowed("list_files", { dir: "/srv" }, options)).id /* (the deprecated form) */,
    recorded.id,
  );
  await assert.rejects(asker.recordAllowed({ tool: "list_files", arguments: {}, allowedBy: "" }), /needs allowedBy/);
});

function oneLine(error: unknown, url: string): ApprovalsError {
  assert.ok(error instanceof ApprovalsError, String(error));
  assert.ok(!error.message.includes("\n"), error.message);
  assert.ok(error.message.includes(url), error.message);
  assert.ok(!error.message.includes("aak_"), "the key is never in an error");
  assert.ok(!String(error.stack).includes("undici"), String(error.stack));
  return error;
}

test("an unreachable bot is one line naming the URL, after a few tries", async () => {
  const url = `http://127.0.0.1:${await closedPort()}`;
  let tries = 0;
  const counting: typeof fetch = (input, init) => {
    tries += 1;
    return fetch(input, init);
  };
  const asker = new ApprovalsClient({ url: `${url}/`, key: "aak_secret_never_shown", fetch: counting });
  const error = await asker.check().then(
    () => undefined,
    (caught: unknown) => caught,
  );
  const said = oneLine(error, url);
  assert.ok(said instanceof Unreachable && said.url === url && said.status === 0 && said.code === "unreachable");
  const words = `the approvals bot at ${url} is unreachable (ECONNREFUSED): is it running, and is this its URL?`;
  assert.equal(said.message, words);
  assert.equal(tries, 3);
  // what fetch threw is kept as its cause (ES2022), under the one line
  assert.ok(said.cause instanceof TypeError, String(said.cause));
  assert.equal((said.cause.cause as { code?: unknown } | undefined)?.code, "ECONNREFUSED");
});

test("a wrong key is one line naming the URL, never the key", async () => {
  const asker = new ApprovalsClient({ url: URL, key: "aak_wrong_secret_never_shown" });
  const error = await asker.requestTool({ tool: "send_email", arguments: EMAIL }).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  const said = oneLine(error, URL);
  assert.ok(said instanceof BadKey && said.status === 401, said.message);
});
