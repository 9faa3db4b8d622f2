/** What needs no bot: base URLs, the state store's atomic files, the client's refusal of bad input. */

import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { inspect } from "node:util";
import { join } from "node:path";
import { test } from "node:test";

import { ApprovalsClient, FileStateStore, baseUrl, canonicalJson, idempotencyKey } from "agent-approvals";

test("a base URL is the bot's address, with or without / or /api/v1", () => {
  const cases: [string, string][] = [
    ["http://127.0.0.1:3000", "http://127.0.0.1:3000"],
    ["http://127.0.0.1:3000/", "http://127.0.0.1:3000"],
    ["http://127.0.0.1:3000/api/v1", "http://127.0.0.1:3000"],
    ["http://127.0.0.1:3000/api/v1/", "http://127.0.0.1:3000"],
    [" https://approvals.example.com/API/V1/ ", "https://approvals.example.com"],
    ["https://example.com/approvals/api/v1/", "https://example.com/approvals"],
  ];
  for (const [given, base] of cases) {
    assert.equal(baseUrl(given), base);
    assert.deepEqual(new ApprovalsClient({ url: given, key: "aak_x" }).urls, [base]);
  }
  for (const given of ["localhost:3000", "127.0.0.1:3000", "ftp://example.com", "http://"]) {
    assert.throws(() => new ApprovalsClient({ url: given, key: "aak_x" }), /must start with http:\/\/ or https:\/\//);
  }
});

test("a client without a URL or a key says which to give", () => {
  assert.throws(() => new ApprovalsClient({ url: "http://127.0.0.1:3000", env: {} }), /AGENT_APPROVALS_KEY/);
  assert.throws(() => new ApprovalsClient({ key: "aak_x", env: {} }), /AGENT_APPROVALS_URL/);
  const fromEnv = new ApprovalsClient({ env: { AGENT_APPROVALS_URL: "http://h:1/api/v1", AGENT_APPROVALS_KEY: "k" } });
  assert.deepEqual(fromEnv.urls, ["http://h:1"]);
});

test("the key is never shown when a client is logged", () => {
  const client = new ApprovalsClient({ url: "http://127.0.0.1:9", key: "aak_secret_never_shown" });
  assert.ok(!inspect(client, { depth: 10, showHidden: true }).includes("aak_secret"));
  assert.ok(!JSON.stringify(client).includes("aak_secret"));
});

test("bad input to an ask is refused before anything is sent", async () => {
  const client = new ApprovalsClient({ url: "http://127.0.0.1:9", key: "aak_x" });
  await assert.rejects(client.requestTool({ tool: "", arguments: {} }), /tool's name/);
  await assert.rejects(
    client.toolDecision({ tool: "send_email", arguments: [] as unknown as Record<string, unknown> }),
    /object of named/,
  );
  await assert.rejects(client.requestMessage({ text: "" }), /needs its text/);
  // the deprecated positional forms check alike
  await assert.rejects(client.requestTool("", {}), /tool's name/);
  await assert.rejects(client.requestTool("send_email", [] as unknown as Record<string, unknown>), /object of named/);
  await assert.rejects(client.requestMessage(""), /needs its text/);
});

test("idempotency keys are kept as the API takes them, else made safe and kept apart", () => {
  assert.equal(idempotencyKey("run-1", "send_email"), "run-1-send_email");
  const long = idempotencyKey("x".repeat(200));
  assert.match(long, /^[A-Za-z0-9_.:-]{1,128}$/);
  assert.notEqual(idempotencyKey("a b"), idempotencyKey("a/b"));
});

test("canonical JSON sorts names by UTF-16 code units and writes numbers as ECMAScript does", () => {
  const awkward = { b: 2.0, a: [1e21, 1.5e-7, -0], "\u20ac": "é" };
  assert.equal(canonicalJson(awkward), '{"a":[1e+21,1.5e-7,0],"b":2,"€":"é"}');
  assert.throws(() => canonicalJson({ f: () => 1 }), /not JSON/);
});

test("FileStateStore writes atomically, reads, overwrites and removes", async () => {
  const directory = join(await mkdtemp(join(tmpdir(), "states-")), "nested");
  const store = new FileStateStore(directory);
  assert.equal(await store.load("run-1"), null);
  await store.save("run-1", '{"step": 1}');
  assert.equal(await store.load("run-1"), '{"step": 1}');
  const states = Array.from({ length: 20 }, (_, i) => JSON.stringify({ step: i, pad: "x".repeat(50_000) }));
  await Promise.all(states.map((state) => store.save("run-1", state)));
  assert.ok(states.includes((await store.load("run-1")) as string), "one whole state, never a mix");
  assert.deepEqual(await readdir(directory), ["run-1.json"]); // no temporary file left
  await store.save("a/../b c", "x");
  assert.equal(await readFile(join(directory, "a_.._b_c.json"), "utf8"), "x");
  assert.equal(await store.load("a/../b c"), "x");
  await store.delete("run-1");
  await store.delete("run-1"); // gone already: nothing to do
  assert.equal(await store.load("run-1"), null);
  await writeFile(join(directory, "blocker"), "");
  await assert.rejects(new FileStateStore(join(directory, "blocker")).save("r", "x"), /EEXIST|ENOTDIR/);
});
