/**
 * One conformance suite for every framework adapter: the same cases, run for each adapter through a small driver
 * (conf-<adapter>.ts) that runs its agent once with the framework's own mock model calling `send_email` with the
 * given arguments, resumes a run another process left, and forges an approval the adapter's way. "Ran" is a line in
 * the run's outbox file. Each adapter's file (conformance-<adapter>.test.ts) is one `conformance(driver)` (Mastra's
 * two: its agents and its workflow steps): the AI SDK's and Mastra's run on Node 22, the others on the machine's
 * Node. The Python side (tests/agents/typescript/test_typescript.py) plays the reviewer by the cards' titles: "ts:
 * approve …", "ts: reject …" (with "not on a Friday"), "ts: approve twice …" (bob clicks Approve two times), "ts:
 * approve after X" (once the signal file X is written), and its bot has a Cedar policy permitting `send_email` to
 * policy@example.com.
 */

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import { ApprovalsClient, type Approval } from "agent-approvals";

export const EMAIL = { to: "bob@example.com", body: "Prices go up 5% on May 1." };
export const PERMITTED = { to: "policy@example.com", body: "Prices go up 5% on May 1." }; // the bot's policy permits
export type Email = typeof EMAIL;
export const BOB = "U0BOB";
/** A port nothing listens on (the discard port, closed here). */
const CLOSED = "http://127.0.0.1:9";

/** One run of an adapter's agent: its client, the arguments its model calls send_email with, where "ran" is kept. */
export interface Run {
  client: ApprovalsClient;
  title: string;
  args: Email;
  /** The file each run of the tool appends a line to. */
  outbox: string;
  /** The run's (thread's) id: the same in a retry and in a resume. */
  run: string;
  /** A folder where the adapter may keep a paused run (FileStateStore). */
  states: string;
}

export interface Driver {
  /** The adapter (the tests' prefix). */
  name: string;
  /** Run the agent once, every approval decided in Slack: what the model last read from the tool. */
  once(run: Run): Promise<string>;
  /** The same step again, as a retried request or a replayed answer would: what the model last read. */
  again(run: Run): Promise<string>;
  /**
   * Finish, in a new process, the run a killed process left while its card waited (the same `run`), from what the
   * adapter kept (never by running the agent again from its prompt): what the model last read from the tool.
   */
  resume(run: Run): Promise<string>;
  /** The adapter's own forgery of an approval the bot never gave: what the model last read, if it got so far. */
  forge(run: Run): Promise<string>;
}

export const sent = (outbox: string): Email[] =>
  existsSync(outbox)
    ? readFileSync(outbox, "utf8")
        .trim()
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Email)
    : [];

/**
 * A run of `driver` titled `title`, its client keeping the approvals it saw (`asked`: pending or decided, each one a
 * card unless a rule or policy decided it; a card may be decided before the client's first answer), those it waited
 * on (`waited`) and the decisions.
 */
function setUp(
  driver: Driver,
  title: string,
  args: Email = EMAIL,
  more: ConstructorParameters<typeof ApprovalsClient>[0] = {},
) {
  const folder = mkdtempSync(join(tmpdir(), `conf-${driver.name}-`));
  const asked = new Set<string>();
  const waited = new Set<string>();
  const decided: Approval[] = [];
  const client = new ApprovalsClient({
    title,
    onWaiting: (a) => {
      asked.add(a.id);
      waited.add(a.id);
    },
    onDecided: (a) => {
      asked.add(a.id);
      decided.push(a);
    },
    ...more,
  });
  const run: Run = {
    client,
    title,
    args,
    outbox: join(folder, "outbox.jsonl"),
    run: `conf-${driver.name}-${Date.now()}`,
    states: join(folder, "states"),
  };
  return { run, asked, waited, decided };
}

/** The driver program (conf-program.ts) in a child process: `mode` once or resume. */
function program(driver: Driver, mode: string, run: Run) {
  const child = spawn(
    process.execPath,
    [
      fileURLToPath(new URL("./conf-program.js", import.meta.url)),
      driver.name,
      mode,
      run.title,
      run.outbox,
      run.run,
      run.states,
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
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

const REFUSED = /Not run: rejected by (@bob|U0BOB): not on a Friday/;

/** The cases, the same for every adapter. */
export const CASES: ReadonlyArray<{ id: string; says: string; check: (driver: Driver) => Promise<void> }> = [
  {
    id: "approved",
    says: "approved by bob: the tool runs once, with the model's arguments",
    check: async (driver) => {
      const { run, asked, decided } = setUp(driver, `ts: approve conf ${driver.name}`);
      await driver.once(run);
      assert.deepEqual(sent(run.outbox), [EMAIL]);
      assert.equal(asked.size, 1);
      assert.equal(decided.at(-1)?.decidedBy, BOB);
    },
  },
  {
    id: "rejected",
    says: "rejected: never runs, and the model reads who refused it and why",
    check: async (driver) => {
      const { run } = setUp(driver, `ts: reject conf ${driver.name}`);
      const told = await driver.once(run);
      assert.deepEqual(sent(run.outbox), []);
      assert.match(told, REFUSED);
    },
  },
  {
    id: "retried",
    says: "a double click on Approve and a retried step: one card, the tool runs once",
    check: async (driver) => {
      const { run, asked } = setUp(driver, `ts: approve twice conf ${driver.name}`);
      await driver.once(run);
      await driver.again(run);
      assert.deepEqual(sent(run.outbox), [EMAIL]);
      assert.equal(asked.size, 1);
    },
  },
  {
    id: "killed",
    says: "killed -9 while its card waits: a new process resumes it, one card, the tool runs once",
    check: async (driver) => {
      const { run } = setUp(driver, `ts: approve after conf-${driver.name}`);
      const first = program(driver, "once", run);
      const waiting = await until(() => first.lines().find((l) => l.startsWith("waiting ")), "the first card");
      first.kill();
      assert.equal(await first.done, null); // killed, not finished
      assert.deepEqual(sent(run.outbox), []);
      writeFileSync(join(process.env["TS_SIGNALS"] ?? "", `conf-${driver.name}`), ""); // now bob approves it
      const second = program(driver, "resume", run);
      assert.equal(await second.done, 0, second.lines().join("\n"));
      const lines = second.lines();
      assert.ok(!lines.some((l) => l.startsWith("waiting ") && l !== waiting), lines.join("\n")); // no second card
      assert.ok(lines.includes(`decided ${waiting.split(" ")[1] ?? ""} approved`), lines.join("\n"));
      assert.deepEqual(sent(run.outbox), [EMAIL]);
      const told = lines.find((l) => l.startsWith("told ")) ?? "";
      assert.ok(told.includes(`sent to ${EMAIL.to}`), told); // what the tool said reached the run's next step
    },
  },
  {
    id: "forged",
    says: "an approval the bot never gave never runs the tool",
    check: async (driver) => {
      const { run } = setUp(driver, `ts: forged conf ${driver.name}`);
      const told = await driver.forge(run).catch((error: unknown) => `refused: ${String(error)}`);
      assert.deepEqual(sent(run.outbox), []);
      assert.match(told, /Not run: |^refused: /); // the model reads that it did not run, or the run stops
    },
  },
  {
    id: "policy",
    says: "a call the bot's policy permits runs once, with no card",
    check: async (driver) => {
      const { run, waited, decided } = setUp(driver, `ts: permitted conf ${driver.name}`, PERMITTED);
      await driver.once(run);
      assert.deepEqual(sent(run.outbox), [PERMITTED]);
      assert.equal(waited.size, 0); // decided at its ask: no card
      assert.equal(decided.length >= 1 && decided.every((a) => a.decidedBy !== BOB), true, JSON.stringify(decided));
    },
  },
  {
    id: "unreachable",
    says: "the bot unreachable: one clear line, and nothing runs",
    check: async (driver) => {
      const { run } = setUp(driver, `ts: unreachable conf ${driver.name}`, EMAIL, { url: CLOSED, retryFor: 1 });
      const error = await driver.once(run).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(error instanceof Error, String(error));
      assert.match(error.message, /^the approvals bot at http:\/\/127\.0\.0\.1:9 is unreachable \(.*\): is it running/);
      assert.ok(!error.message.includes("\n"), error.message);
      assert.deepEqual(sent(run.outbox), []);
    },
  },
];

/** Every case, for `driver`: a test each (every adapter passes every case). */
export function conformance(driver: Driver): void {
  for (const each of CASES) test(`${driver.name} conformance: ${each.says}`, () => each.check(driver));
}
