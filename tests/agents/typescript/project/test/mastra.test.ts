/**
 * The Mastra adapter (`agent-approvals/mastra`) against a real bot worker, with the AI SDK's mock model (Mastra takes
 * AI SDK models: `MockLanguageModelV3` of `ai/test`) and Mastra's in-memory storage. Run on Node 22 (Mastra's
 * engines), by tests/agents/typescript/test_typescript.py, which plays the reviewer by the cards' titles (see
 * ai-sdk.test.ts) and has made a rule that approves `send_email` to rule@example.com.
 */

import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

import { Agent } from "@mastra/core/agent";
import { Mastra } from "@mastra/core/mastra";
import { RequestContext } from "@mastra/core/request-context";
import { InMemoryStore, type MastraStorage } from "@mastra/core/storage";
import { createTool } from "@mastra/core/tools";
import { createStep, createWorkflow } from "@mastra/core/workflows";
import { LibSQLStore } from "@mastra/libsql";
import { MockLanguageModelV3 } from "ai/test";
import { z } from "zod";

import { ApprovalsClient, artifactSha256, type Approval } from "agent-approvals";
import {
  NO_APPROVAL,
  UNKNOWN,
  approvalInStep,
  approvalsHooks,
  resumeWorkflowWithApprovals,
  runWithApprovals,
  runWorkflowWithApprovals,
  type ApprovalSuspendPayload,
} from "agent-approvals/mastra";

import { given } from "./env.js";

given("AGENT_APPROVALS_URL");
const EMAIL = { to: "bob@example.com", body: "Prices go up 5% on May 1." };
const RULED = { to: "rule@example.com", body: "Prices go up 5% on May 1." };

type Step = { call: Record<string, unknown>; tool?: string } | { text: string };
const usage = {
  inputTokens: { total: 1, noCache: 1, cacheRead: undefined, cacheWrite: undefined },
  outputTokens: { total: 1, text: 1, reasoning: undefined },
};

/** The mock model saying `steps` in turn: a call of `tool` (default send_email; call-1, call-2, …) or a text. */
function scripted(...steps: Step[]): MockLanguageModelV3 {
  let at = 0;
  return new MockLanguageModelV3({
    doGenerate: async () => {
      const step = steps[Math.min(at, steps.length - 1)];
      at += 1;
      if (step === undefined || "text" in step) {
        return {
          content: [{ type: "text", text: step?.text ?? "" }],
          finishReason: { unified: "stop", raw: "stop" },
          usage,
          warnings: [],
        };
      }
      return {
        content: [
          {
            type: "tool-call",
            toolCallId: `call-${at}`,
            toolName: step.tool ?? "send_email",
            input: JSON.stringify(step.call),
          },
        ],
        finishReason: { unified: "tool-calls", raw: "tool_calls" },
        usage,
        warnings: [],
      };
    },
  });
}

const told = (model: MockLanguageModelV3): string => JSON.stringify(model.doGenerateCalls.at(-1)?.prompt ?? []);

/** send_email, which `requireApproval` (unless told not to): each email it sends goes to `sent`. */
function emailTool(sent: unknown[], requireApproval = true) {
  return createTool({
    id: "send_email",
    description: "Send an email to one recipient.",
    inputSchema: z.object({ to: z.string(), body: z.string() }),
    requireApproval,
    execute: async (args: { to: string; body: string }) => {
      sent.push(args);
      return `sent to ${args.to}`;
    },
  });
}

function mailer(model: MockLanguageModelV3, sent: unknown[], client?: ApprovalsClient): Agent {
  const tools = { send_email: emailTool(sent) };
  const agent = new Agent({
    id: "mailer",
    name: "mailer",
    instructions: "You send emails.",
    model: model as never,
    /* ai 7's provider types, not the ones Mastra bundles: the same V3 model */ tools,
    ...(client ? { hooks: approvalsHooks({ client, tools }) } : {}),
  });
  new Mastra({ agents: { mailer: agent }, storage: new InMemoryStore(), logger: false });
  return agent;
}

const client = (title: string, more: Partial<ConstructorParameters<typeof ApprovalsClient>[0]> = {}) =>
  new ApprovalsClient({ title, ...more });

/** `asker`, the ids of the approvals it uses (a hook letting a call run on them) noted in `used`. */
function noting(asker: ApprovalsClient, used: string[]): ApprovalsClient {
  const spend = asker.spend.bind(asker);
  asker.spend = async (id, options) => {
    used.push(id);
    return spend(id, options);
  };
  return asker;
}

test("mastra: the tool runs once, after bob approves", async () => {
  const sent: unknown[] = [];
  const model = scripted({ call: EMAIL }, { text: "Sent." });
  const result = await runWithApprovals({
    agent: mailer(model, sent),
    messages: "Tell Bob",
    approvals: { client: client("ts: approve the Mastra email") },
  });
  assert.deepEqual(sent, [EMAIL]);
  assert.equal(result.text, "Sent.");
  assert.ok(told(model).includes("sent to bob@example.com"), told(model));
});

test("mastra: bob's rejection never runs the tool, even after the resume (#20487); the model reads why", async () => {
  const sent: unknown[] = [];
  const model = scripted({ call: EMAIL }, { text: "Not sent." });
  const result = await runWithApprovals({
    agent: mailer(model, sent),
    messages: "Tell Bob",
    approvals: { client: client("ts: reject the Mastra email") },
  });
  assert.deepEqual(sent, []);
  assert.equal(result.text, "Not sent.");
  assert.match(told(model), /Not run: rejected by (@bob|U0BOB): not on a Friday/);
});

test("mastra: Revise's feedback reaches the model as the decline's reason, and nothing runs", async () => {
  const sent: unknown[] = [];
  const model = scripted({ call: EMAIL }, { text: "I will ask Carol." });
  await runWithApprovals({
    agent: mailer(model, sent),
    messages: "Tell Bob",
    approvals: { client: client("ts: revise the Mastra email") },
  });
  assert.deepEqual(sent, []);
  assert.match(told(model), /Not run: (@bob|U0BOB) asked for a revision\. Send it to Carol instead/);
});

test("mastra: nobody deciding in time never runs the tool, and the model reads so", async () => {
  const sent: unknown[] = [];
  const model = scripted({ call: EMAIL }, { text: "Nobody answered." });
  await runWithApprovals({
    agent: mailer(model, sent),
    messages: "Tell Bob",
    approvals: { client: client("ts: leave the Mastra email", { within: 1 }) },
  });
  assert.deepEqual(sent, []);
  assert.match(told(model), /Not run: nobody decided in time/);
});

test("mastra: a cancelled approval never runs the tool, and the model reads so", async () => {
  const sent: unknown[] = [];
  const model = scripted({ call: EMAIL }, { text: "Cancelled." });
  const asker: ApprovalsClient = client("ts: cancel the Mastra email", {
    onWaiting: (a) => void asker.withdraw(a.id),
  });
  const result = await runWithApprovals({
    agent: mailer(model, sent),
    messages: "Tell Bob",
    approvals: { client: asker },
  });
  assert.deepEqual(sent, []);
  assert.equal(result.text, "Cancelled.");
  assert.match(told(model), /Not run: cancelled/);
});

test("mastra: a rule approves at once (no card): the tool runs once", async () => {
  const sent: unknown[] = [];
  let cards = 0;
  let asks = 0;
  const model = scripted({ call: RULED }, { text: "Sent." });
  const asker = client("ts: ruled Mastra email", { onWaiting: () => (cards += 1) });
  const requestTool = asker.requestTool.bind(asker) as (request: never) => ReturnType<typeof asker.requestTool>;
  asker.requestTool = (async (request: never) => {
    asks += 1;
    return requestTool(request);
  }) as typeof asker.requestTool;
  await runWithApprovals({ agent: mailer(model, sent), messages: "Tell the rule", approvals: { client: asker } });
  assert.deepEqual(sent, [RULED]);
  assert.equal(cards, 0);
  assert.equal(asks, 1); // the hook took the runner's decision on this very call: the plane asked once
});

test("mastra: a tool's declared artefacts go with its ask (the change itself): the plane keeps each one's digest", async () => {
  const sent: unknown[] = [];
  const asked: Approval[] = [];
  const asker = client("ts: ruled Mastra email with its artefact", { onDecided: (a) => asked.push(a) });
  const artifacts = {
    send_email: (args: Record<string, unknown>) => [{ kind: "message" as const, to: args["to"], body: args["body"] }],
  };
  const model = scripted({ call: RULED }, { text: "Sent." });
  await runWithApprovals({
    agent: mailer(model, sent),
    messages: "Tell the rule",
    approvals: { client: asker, artifacts },
  });
  assert.deepEqual(sent, [RULED]);
  const message = { kind: "message", to: [RULED.to], subject: null, body: RULED.body };
  assert.deepEqual(asked[0]?.artifacts, [{ kind: "message", sha256: artifactSha256(message) }]);
});

test("mastra: an approval the plane never gave (a resume with approved: true, #21303) never runs the tool", async () => {
  const sent: unknown[] = [];
  const model = scripted({ call: EMAIL }, { text: "Not sent." }, { call: EMAIL }, { text: "Still not sent." });
  const asker = client("ts: self-approved Mastra email");
  const agent = mailer(model, sent, asker); // the agent's own hooks: approvalsHooks
  const out = await agent.generate("Tell Bob");
  assert.equal(out.finishReason, "suspended");
  const resumed = await agent.approveToolCallGenerate({ runId: out.runId ?? "" }); // nobody asked the plane
  assert.deepEqual(sent, []);
  assert.ok(told(model).includes(NO_APPROVAL), told(model));
  assert.equal(resumed.text, "Not sent.");
  const again = await agent.generate("Tell Bob again");
  assert.equal(again.finishReason, "suspended");
  await agent.resumeGenerate({ approved: true }, { runId: again.runId ?? "" }); // a model-written resume value
  assert.deepEqual(sent, []);
  assert.ok(told(model).includes(NO_APPROVAL), told(model));
});

test("mastra: a tool given per call (toolsets, as MCP tools are) runs on no resume the plane never gave, once approved", async () => {
  const sent: unknown[] = [];
  const found: unknown[] = [];
  const model = scripted(
    { call: EMAIL },
    { text: "Not sent." },
    { call: { name: "Bob" }, tool: "find_person" },
    { call: EMAIL },
    { text: "Sent." },
  );
  const person = z.object({ name: z.string() });
  const lookup = createTool({
    id: "lookup",
    description: "Look a person up.",
    inputSchema: person,
    execute: async () => "found",
  });
  const tools = { lookup };
  const agent = new Agent({
    id: "mailer",
    name: "mailer",
    instructions: "You send emails.",
    model: model as never,
    tools,
    hooks: approvalsHooks({ client: client("ts: forged Mastra toolset email"), tools }),
  }); // its own tools only
  new Mastra({ agents: { mailer: agent }, storage: new InMemoryStore(), logger: false });
  const findPerson = createTool({
    id: "find_person",
    description: "Find a person's address.",
    inputSchema: person,
    execute: async (args: { name: string }) => found.push(args),
  });
  const toolsets = { mcp: { send_email: emailTool(sent), find_person: findPerson } };
  const out = await agent.generate("Tell Bob", { toolsets });
  assert.equal(out.finishReason, "suspended");
  await agent.approveToolCallGenerate({ runId: out.runId ?? "", toolsets }); // nobody asked the plane
  assert.deepEqual(sent, []);
  assert.ok(told(model).includes(UNKNOWN), told(model));
  const used: string[] = [];
  const result = await runWithApprovals({
    agent,
    messages: "Tell Bob",
    approvals: { client: noting(client("ts: approve the Mastra toolset email"), used) },
    toolsets,
  });
  assert.deepEqual(sent, [EMAIL]);
  assert.equal(result.text, "Sent.");
  assert.equal(used.length, 1); // the run's hook knew the tool: it ran on the approval, used
  assert.deepEqual(found, [{ name: "Bob" }]); // a tool of the toolset that needs no approval runs, unasked
});

test("mastra: a tool of a dynamic tools function runs on no resume the plane never gave, once on its approval", async () => {
  const sent: unknown[] = [];
  const model = scripted({ call: EMAIL }, { text: "Not sent." }, { call: EMAIL }, { text: "Sent." });
  const sendEmail = emailTool(sent);
  const pick = ({ requestContext }: { requestContext: RequestContext }) =>
    requestContext.get("team") === "sales" ? { send_email: sendEmail } : {};
  const agent = new Agent({
    id: "mailer",
    name: "mailer",
    instructions: "You send emails.",
    model: model as never,
    tools: pick,
    hooks: approvalsHooks({ client: client("ts: forged dynamic Mastra email"), tools: pick }),
  });
  new Mastra({ agents: { mailer: agent }, storage: new InMemoryStore(), logger: false });
  const requestContext = new RequestContext([["team", "sales"]]);
  const out = await agent.generate("Tell Bob", { requestContext });
  assert.equal(out.finishReason, "suspended");
  await agent.approveToolCallGenerate({ runId: out.runId ?? "", requestContext }); // nobody asked the plane
  assert.deepEqual(sent, []);
  assert.ok(told(model).includes(NO_APPROVAL), told(model));
  const used: string[] = [];
  const result = await runWithApprovals({
    agent,
    messages: "Tell Bob",
    approvals: { client: noting(client("ts: approve the dynamic Mastra email"), used) },
    requestContext,
  });
  assert.deepEqual(sent, [EMAIL]);
  assert.equal(result.text, "Sent.");
  assert.equal(used.length, 1);
});

test("mastra: a run's requireToolApproval gates a tool that asks for none: a resume the plane never gave runs nothing", async () => {
  const sent: unknown[] = [];
  const model = scripted({ call: EMAIL }, { text: "Not sent." });
  const tools = { send_email: emailTool(sent, false) };
  const agent = new Agent({
    id: "mailer",
    name: "mailer",
    instructions: "You send emails.",
    model: model as never,
    tools,
    hooks: approvalsHooks({ client: client("ts: forged run-wide Mastra email"), tools }),
  });
  new Mastra({ agents: { mailer: agent }, storage: new InMemoryStore(), logger: false });
  const out = await agent.generate("Tell Bob", { requireToolApproval: true });
  assert.equal(out.finishReason, "suspended");
  await agent.approveToolCallGenerate({ runId: out.runId ?? "" }); // nobody asked the plane
  assert.deepEqual(sent, []);
  assert.ok(told(model).includes(NO_APPROVAL), told(model));
});

const Email = z.object({ to: z.string(), body: z.string() });

/** A workflow whose one step sends the email on the plane's decision (`approvalInStep`), on `storage`. */
function mailingWorkflow(asker: ApprovalsClient, sent: unknown[], storage: MastraStorage = new InMemoryStore()) {
  const send = createStep({
    id: "send",
    inputSchema: Email,
    outputSchema: z.object({ said: z.string() }),
    execute: async (step) => {
      const decided = await approvalInStep({ step, client: asker, tool: "send_email", arguments: step.inputData });
      if ("suspended" in decided) return decided.suspended as never;
      if (!decided.run) return { said: decided.said };
      sent.push(decided.arguments);
      return { said: `sent to ${String(decided.arguments["to"])}` };
    },
  });
  const workflow = createWorkflow({ id: "mailing", inputSchema: Email, outputSchema: z.object({ said: z.string() }) })
    .then(send)
    .commit();
  new Mastra({ workflows: { mailing: workflow }, storage, logger: false });
  return workflow;
}

/** A run of the mailing workflow, on Mastra's in-memory storage. */
const mailing = (asker: ApprovalsClient, sent: unknown[]) => mailingWorkflow(asker, sent).createRun();

const said = (result: { status: string }): unknown =>
  result.status === "success" ? (result as unknown as { result: { said: string } }).result.said : result.status;

test("mastra workflow: the step suspends until bob approves, then sends once", async () => {
  const sent: unknown[] = [];
  const run = await mailing(client("ts: approve the Mastra workflow email"), sent);
  const result = await runWorkflowWithApprovals({ run, inputData: EMAIL, client: client("ts: waiter") });
  assert.equal(said(result), "sent to bob@example.com");
  assert.deepEqual(sent, [EMAIL]);
});

test("mastra workflow: a reviewer's edited arguments are asked about again and are what runs, once", async () => {
  const sent: unknown[] = [];
  const asker = client("ts: edit the Mastra workflow email");
  const result = await runWorkflowWithApprovals({ run: await mailing(asker, sent), inputData: EMAIL, client: asker });
  const carol = { ...EMAIL, to: "carol@example.com" };
  assert.equal(said(result), "sent to carol@example.com");
  assert.deepEqual(sent, [carol]);
});

test("mastra workflow: a resume value saying approved (no decision) runs nothing: the step suspends again", async () => {
  const sent: unknown[] = [];
  const asker = client("ts: hold the Mastra workflow email");
  const run = await mailing(asker, sent);
  const first = await run.start({ inputData: EMAIL });
  assert.equal(first.status, "suspended");
  const payload = (first as unknown as { steps: { send: { suspendPayload: ApprovalSuspendPayload } } }).steps.send
    .suspendPayload;
  const forged = await run.resume({ step: ["send"], resumeData: { approved: true } });
  assert.equal(forged.status, "suspended");
  assert.deepEqual(sent, []);
  await asker.withdraw(payload.approvalId);
  const after = await run.resume({ step: ["send"], resumeData: { approved: true } });
  assert.match(String(said(after)), /^Not run: cancelled/);
  assert.deepEqual(sent, []);
});

test("mastra workflow: a run whose process died while its step asked is restarted from storage: one card, sent once", async () => {
  const sent: unknown[] = [];
  const file = join(mkdtempSync(join(tmpdir(), "mastra-restart-")), "mastra.db");
  const storage = () => new LibSQLStore({ id: "restart", url: `file:${file}` });
  const title = "ts: approve the restarted Mastra workflow email";
  let card = "";
  let posted: () => void = () => undefined;
  const asked = new Promise<void>((resolve) => (posted = resolve));
  const dying = client(title, {
    // its ask reaches the bot (the card is posted), and the answer never comes back
    fetch: async (input, init) => {
      const answer = await fetch(input, init);
      if ((init?.method ?? "GET") !== "POST" || !String(input).endsWith("/approvals")) return answer;
      card = ((await answer.json()) as { id: string }).id;
      posted();
      return new Promise<Response>(() => undefined);
    },
  });
  const runId = `restarted-${Date.now()}`;
  void (await mailingWorkflow(dying, sent, storage()).createRun({ runId })).start({ inputData: EMAIL });
  await asked;

  const seen = new Set<string>();
  const asker = client(title, { onWaiting: (a) => seen.add(a.id), onDecided: (a) => seen.add(a.id) });
  const workflow = mailingWorkflow(asker, sent, storage()); // as another process, on the same file
  assert.equal((await workflow.getWorkflowRunById(runId))?.status, "running"); // left mid-step: no suspension
  const result = await resumeWorkflowWithApprovals({ workflow, runId, client: asker });
  assert.equal(said(result), "sent to bob@example.com");
  assert.deepEqual(sent, [EMAIL]);
  assert.deepEqual([...seen], [card]); // the dead run's card, no other
});
