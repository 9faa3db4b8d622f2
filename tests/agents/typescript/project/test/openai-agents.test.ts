/**
 * The OpenAI Agents SDK adapter (`agent-approvals/openai-agents`) against a real bot worker, driven by the SDK's own
 * `ScriptedModel`. The Python side plays the reviewer by the cards' titles (see bot.test.ts; here also "ts: revise
 * then approve X": Revise with feedback once, then approve; "ts: approve after X": approve once the test writes the
 * signal X; a "[fixed]" card must say its arguments cannot be edited, and its Revise offers only feedback).
 */

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import { RunState, RunToolApprovalItem, run } from "@openai/agents";

import { ApprovalsClient, FileStateStore, type Approval } from "agent-approvals";
import { interruptionsOf, runWithApprovals } from "agent-approvals/openai-agents";

import { given } from "./env.js";
import { EMAIL, calls, lastToolOutput, mailer, says, type Email } from "./oa-mailer.js";

const BOB = "U0BOB";

test("oa: the call runs once, after bob approves, with the model's arguments (a card of fixed ones)", async () => {
  const sent: Email[] = [];
  const decided: Approval[] = [];
  const client = new ApprovalsClient({ title: "ts: approve oa once [fixed]", onDecided: (a) => decided.push(a) });
  const { agent, model } = mailer(sent, calls(), says("Sent."));
  const result = await runWithApprovals({ agent, input: "Tell Bob", client });
  assert.deepEqual(sent, [EMAIL]);
  assert.equal(result.finalOutput, "Sent.");
  assert.equal(lastToolOutput(model), "sent to bob@example.com");
  assert.equal(decided.length, 1);
  assert.equal(decided[0]?.decidedBy, BOB);
  assert.equal(decided[0]?.tool, "send_email");
  assert.deepEqual(decided[0]?.arguments, EMAIL);
  assert.equal(await client.use(decided[0]?.id ?? "", { token: "a-second-use" }), false); // used once, by the run
});

test("oa: a rule's approval runs the call once, with no card", async () => {
  const sent: Email[] = [];
  const ruled = { ...EMAIL, to: "ruled@example.com" }; // the Python side made an "always allow" rule of it
  const decided: Approval[] = [];
  const waited: Approval[] = [];
  const client = new ApprovalsClient({
    title: "ts: ruled oa",
    onDecided: (a) => decided.push(a),
    onWaiting: (a) => waited.push(a),
  });
  const { agent } = mailer(sent, calls(ruled), says("Sent."));
  await runWithApprovals({ agent, input: "Tell Bob", client });
  assert.deepEqual(sent, [ruled]);
  assert.deepEqual(waited, []); // no card
  assert.match(decided[0]?.decidedBy ?? "", /^rule /);
});

test("oa: a rejection runs nothing and the model reads who refused it and why", async () => {
  const sent: Email[] = [];
  const { agent, model } = mailer(sent, calls(), says("Not sent."));
  const client = new ApprovalsClient({ title: "ts: reject oa [fixed]" });
  const result = await runWithApprovals({ agent, input: "Tell Bob", client });
  assert.deepEqual(sent, []);
  assert.equal(result.finalOutput, "Not sent.");
  assert.match(lastToolOutput(model), /^Not run: rejected by (@bob|U0BOB): not on a Friday$/);
});

test("oa: a timeout runs nothing and the model is told nobody decided in time", async () => {
  const sent: Email[] = [];
  const { agent, model } = mailer(sent, calls(), says("Not sent."));
  const client = new ApprovalsClient({ title: "ts: wait oa timeout [fixed]", within: 1 });
  await runWithApprovals({ agent, input: "Tell Bob", client });
  assert.deepEqual(sent, []);
  assert.match(lastToolOutput(model), /^Not run: nobody decided in time/);
});

test("oa: a cancellation runs nothing and the model is told it was cancelled", async () => {
  const sent: Email[] = [];
  const { agent, model } = mailer(sent, calls(), says("Not sent."));
  const other = new ApprovalsClient({});
  const onWaiting = (a: Approval): void => void other.withdraw(a.id);
  const client = new ApprovalsClient({ title: "ts: wait oa cancel [fixed]", onWaiting });
  await runWithApprovals({ agent, input: "Tell Bob", client });
  assert.deepEqual(sent, []);
  assert.match(lastToolOutput(model), /^Not run: cancelled/);
});

test("oa: Revise's feedback reaches the model, whose new call is asked about again and runs as approved", async () => {
  const sent: Email[] = [];
  const carol = { ...EMAIL, to: "carol@example.com" };
  const { agent, model } = mailer(sent, calls(), calls(carol, "call-2"), says("Sent to Carol."));
  const told: Approval[] = [];
  const client = new ApprovalsClient({ title: "ts: revise then approve oa [fixed]", onDecided: (a) => told.push(a) });
  const result = await runWithApprovals({ agent, input: "Tell Bob", client });
  assert.deepEqual(
    told.map((a) => a.status),
    ["revised", "approved"],
  );
  const input = JSON.stringify(model.calls[1]?.request.input);
  assert.ok(input.includes("asked for a revision. Send it to Carol instead"), input);
  assert.deepEqual(sent, [carol]); // only the call the model made after the feedback
  assert.equal(result.finalOutput, "Sent to Carol.");
});

test("oa: an approval the plane never gave (a forged answer) never runs the tool", async () => {
  const sent: Email[] = [];
  const { agent } = mailer(sent, calls(), says("Sent."));
  const forging: typeof fetch = async (input, init) => {
    const url = String(input instanceof Request ? input.url : input);
    if ((init?.method ?? "GET") === "POST" && url.endsWith("/api/v1/approvals")) {
      const body = { id: "apv_forged", status: "approved", decided_by: BOB, tool: "send_email", arguments: EMAIL };
      return new Response(JSON.stringify(body), { status: 201, headers: { "content-type": "application/json" } });
    }
    return fetch(input, init); // its use goes to the real bot, which never gave it
  };
  const client = new ApprovalsClient({ title: "ts: forged oa", fetch: forging, retryFor: 1 });
  await assert.rejects(runWithApprovals({ agent, input: "Tell Bob", client }));
  assert.deepEqual(sent, []);
});

test("oa: interruptions an SDK leaves as plain JSON (openai-agents-js #993) are rebuilt, or refused", async () => {
  const sent: Email[] = [];
  const { agent } = mailer(sent, calls(), says("Sent."));
  const paused = await run(agent, "Tell Bob");
  const state = await RunState.fromString(agent, paused.state.toString());
  const plain = state.getInterruptions().map((item) => JSON.parse(JSON.stringify(item)) as RunToolApprovalItem);
  state.getInterruptions = () => plain; // as the SDKs before #993 read a state back
  const items = interruptionsOf(state, { agent });
  assert.equal(items.length, 1);
  assert.ok(items[0] instanceof RunToolApprovalItem);
  assert.equal(items[0].name, "send_email");
  assert.deepEqual(JSON.parse(items[0].arguments ?? "{}"), EMAIL);
  state.approve(items[0]); // the SDK takes the rebuilt item for the call it paused
  const done = await run(agent, state);
  assert.deepEqual(sent, [EMAIL]);
  assert.equal(done.finalOutput, "Sent.");

  const odd = await RunState.fromString(agent, paused.state.toString());
  odd.getInterruptions = () => [{ type: "message_output_item" } as unknown as RunToolApprovalItem];
  assert.throws(() => interruptionsOf(odd, { agent }), /not a tool approval item/);
});

function program(...args: string[]): { done: Promise<number | null>; kill: () => void; lines: () => string[] } {
  const child = spawn(process.execPath, [fileURLToPath(new URL("./oa-mailer.js", import.meta.url)), ...args], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
  const done = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { done, kill: () => child.kill("SIGKILL"), lines: () => out.split("\n").filter(Boolean) };
}

async function until<T>(check: () => T | undefined, what: string, seconds = 60): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test("oa: a run killed -9 while bob decides is finished by resume in another process: one card, one send", async () => {
  const folder = mkdtempSync(join(tmpdir(), "oa-kill-"));
  const states = join(folder, "states");
  const outbox = join(folder, "outbox.jsonl");
  const runId = "oa-kill-run";
  const title = "ts: approve after oa-killed [fixed]";
  const first = program("run", states, outbox, runId, title);
  const waiting = await until(() => first.lines().find((l) => l.startsWith("waiting ")), "the first card");
  const asked = waiting.split(" ")[1] ?? "";
  assert.notEqual(await new FileStateStore(states).load(runId), null); // kept before anyone was asked
  first.kill();
  assert.equal(await first.done, null); // killed, not finished
  assert.ok(!first.lines().some((l) => l.startsWith("decided ")));
  writeFileSync(join(given("TS_SIGNALS"), "oa-killed"), ""); // now bob approves the card
  const second = program("resume", states, outbox, runId, title);
  assert.equal(await second.done, 0);
  const lines = second.lines();
  assert.ok(lines.includes(`decided ${asked} approved`), lines.join("\n")); // the same card, no second one
  assert.ok(!lines.some((l) => l.startsWith("waiting ") && l !== `waiting ${asked}`), lines.join("\n"));
  assert.ok(lines.includes("final Sent."), lines.join("\n"));
  assert.deepEqual(
    readFileSync(outbox, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Email),
    [EMAIL],
  );
  assert.equal(await new FileStateStore(states).load(runId), null); // the finished run is no longer kept
  assert.ok(!existsSync(join(states, `${runId}.json`)));
});

test("oa: a run killed -9 while its approved call runs: never again by that approval, a person is asked", async () => {
  const folder = mkdtempSync(join(tmpdir(), "oa-hang-"));
  const states = join(folder, "states");
  const outbox = join(folder, "outbox.jsonl");
  const runId = "oa-hang-run";
  const title = "ts: approve oa hang [fixed]"; // the same in both processes: the same asks
  const first = program("hang", states, outbox, runId, title);
  await until(() => first.lines().find((l) => l === "running"), "the approved call to run");
  const used =
    first
      .lines()
      .find((l) => l.startsWith("decided "))
      ?.split(" ")[1] ?? "";
  first.kill();
  assert.equal(await first.done, null);
  const second = program("resume", states, outbox, runId, title);
  assert.equal(await second.done, 0);
  const lines = second.lines();
  const again = lines.filter((l) => l.startsWith("decided ") && l.endsWith(" approved")).map((l) => l.split(" ")[1]);
  assert.equal(again.length, 2, lines.join("\n")); // the used approval, then a person's on a new card
  assert.equal(again[0], used);
  assert.notEqual(again[1], used);
  const decided = await new ApprovalsClient({}).get(again[1] ?? "");
  assert.equal(decided.decidedBy, BOB); // only a person may approve a call that may have run
  assert.equal(readFileSync(outbox, "utf8").trim().split("\n").length, 2); // once per approval, never twice by one
});
