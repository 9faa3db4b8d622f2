/**
 * The AG-UI adapter (`agent-approvals/agui`) against a real bot worker that signs receipts, driven by AG-UI's own
 * client (`@ag-ui/client` 1.0: `AbstractAgent.runAgent`, which applies the events, keeps the run's
 * `pendingInterrupts` and sends the `resume`). The agent is scripted: its first run proposes `send_email` and ends
 * with a tool-call interrupt whose `message` is the card's title (the Python side decides by it: "ts: approve",
 * "ts: reject", "ts: edit then approve X"); the run that resumes it is the executor, and sends only with a receipt
 * that `ReceiptChecker` verifies for exactly the call that runs, spent once.
 */

import assert from "node:assert/strict";
import { test } from "node:test";

import { AbstractAgent } from "@ag-ui/client";
import { EventType, type BaseEvent, type RunAgentInput } from "@ag-ui/core";
import { Observable } from "rxjs";

import { ApprovalsClient, ReceiptChecker, ReceiptError, argsSha256, verifyReceipt } from "agent-approvals";
import { KEY, type ResumeEntry, runWithApprovals } from "agent-approvals/agui";

import { given } from "./env.js";

const EMAIL = { to: "bob@example.com", body: "Prices go up 5% on May 1." };
const EDITED = { to: "carol@example.com", body: "Prices go up 5% on May 1." }; // what "ts: edit" cards become
const SCHEMA = { type: "object", properties: { approved: { type: "boolean" }, editedArgs: { type: "object" } } };
type Email = typeof EMAIL;

/** A scripted AG-UI agent: proposes `send_email(EMAIL)` and interrupts; resumed, runs it only with a valid receipt. */
class Mailer extends AbstractAgent {
  readonly sent: Email[] = [];
  readonly told: string[] = [];
  readonly resumes: ResumeEntry[] = [];

  constructor(
    private readonly title: string,
    private readonly checker = new ReceiptChecker(given("AGENT_APPROVALS_URL")),
  ) {
    super({
      threadId: `agui-${title.replaceAll(" ", "-")}`,
      initialMessages: [{ id: "u-1", role: "user", content: "Tell Bob" }],
    });
  }

  run(input: RunAgentInput): Observable<BaseEvent> {
    return new Observable<BaseEvent>((out) => {
      this.events(input).then(
        (events) => {
          for (const event of events) out.next(event);
          out.complete();
        },
        (error: unknown) => out.error(error),
      );
    });
  }

  private async events(input: RunAgentInput): Promise<BaseEvent[]> {
    const started = { type: EventType.RUN_STARTED, threadId: input.threadId, runId: input.runId } as BaseEvent;
    const finished = (outcome: object): BaseEvent =>
      ({ type: EventType.RUN_FINISHED, threadId: input.threadId, runId: input.runId, outcome }) as BaseEvent;
    if (!input.resume?.length) {
      const asking = {
        id: "int-1",
        reason: "tool_call",
        toolCallId: "tc-1",
        message: this.title,
        responseSchema: SCHEMA,
      };
      return [
        started,
        { type: EventType.TOOL_CALL_START, toolCallId: "tc-1", toolCallName: "send_email", parentMessageId: "a-1" },
        { type: EventType.TOOL_CALL_ARGS, toolCallId: "tc-1", delta: JSON.stringify(EMAIL) },
        { type: EventType.TOOL_CALL_END, toolCallId: "tc-1" },
        finished({ type: "interrupt", interrupts: [asking] }),
      ] as BaseEvent[];
    }
    const entry = input.resume[0] as unknown as ResumeEntry;
    this.resumes.push(entry);
    const result = await this.execute(entry);
    this.told.push(result);
    const told = {
      type: EventType.TOOL_CALL_RESULT,
      messageId: `m-${this.told.length}`,
      toolCallId: "tc-1",
      content: result,
    };
    return [started, told as BaseEvent, finished({ type: "success" })];
  }

  private async execute(entry: ResumeEntry): Promise<string> {
    const said = entry.metadata[KEY];
    if (entry.payload.approved !== true) return String(said["refusal"] ?? "Not run: not approved.");
    const args = (entry.payload.editedArgs ?? EMAIL) as Email;
    try {
      await this.checker.check(said["receipt"], { tool: "send_email", arguments: args });
    } catch (error) {
      if (error instanceof ReceiptError) return `Not run: ${error.reason}`;
      throw error;
    }
    this.sent.push(args);
    return `sent to ${args.to}`;
  }
}

/** The entry's receipt, verified offline with the bot's keys for `send_email(args)`: its claims. */
async function verified(entry: ResumeEntry, args: Email): Promise<Record<string, unknown>> {
  const said = entry.metadata[KEY];
  const jwksUrl = `${given("AGENT_APPROVALS_URL")}/api/v1/jwks.json`;
  const claims = await verifyReceipt(said["receipt"] as string, { jwksUrl, tool: "send_email", arguments: args });
  assert.equal(claims.sub, said["approvalId"]);
  assert.equal(said["argsSha256"], argsSha256(args));
  return claims as unknown as Record<string, unknown>;
}

test("agui: approved in Slack, the run resumes with a receipt that verifies and sends once", async () => {
  const agent = new Mailer("ts: approve agui");
  const result = await runWithApprovals({ agent, client: new ApprovalsClient({}), name: "mailer" });
  assert.deepEqual(agent.sent, [EMAIL]);
  assert.deepEqual(agent.told, ["sent to bob@example.com"]);
  const [entry] = agent.resumes;
  assert.ok(entry);
  assert.deepEqual([entry.interruptId, entry.status, entry.payload], ["int-1", "resolved", { approved: true }]);
  assert.equal((await verified(entry, EMAIL))["tool"], "send_email");
  assert.deepEqual(agent.pendingInterrupts, []);
  assert.ok(result.newMessages.some((m) => m.role === "tool" && m.content === "sent to bob@example.com"));
});

test("agui: rejected in Slack, the run resumes refused with who and why, and nothing is sent", async () => {
  const agent = new Mailer("ts: reject agui");
  await runWithApprovals({ agent, client: new ApprovalsClient({}), name: "mailer" });
  const [entry] = agent.resumes;
  assert.ok(entry);
  const said = entry.metadata[KEY];
  assert.deepEqual(entry.payload, { approved: false });
  assert.equal(said["receipt"], undefined);
  assert.match(String(said["refusal"]), /not on a Friday/);
  assert.deepEqual(agent.told, [said["refusal"]]);
  assert.deepEqual(agent.sent, []);
});

test("agui: revised with edited arguments, the edited call is approved and resumed with them and their receipt", async () => {
  const agent = new Mailer("ts: edit then approve agui");
  await runWithApprovals({ agent, client: new ApprovalsClient({}), name: "mailer" });
  const [entry] = agent.resumes;
  assert.ok(entry);
  assert.deepEqual(entry.payload, { approved: true, editedArgs: EDITED });
  assert.equal((await verified(entry, EDITED))["args_sha256"], argsSha256(EDITED));
  assert.deepEqual(agent.sent, [EDITED]);
  assert.deepEqual(agent.told, ["sent to carol@example.com"]);
});
