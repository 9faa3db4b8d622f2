/**
 * The Mastra adapter's conformance driver for agents (conformance.ts): `runWithApprovals` with the AI SDK's mock model,
 * the agent's Mastra storage a `LibSQLStore` on a file in the run's folder: the run a killed process left suspended is
 * finished by `resume` in another (Mastra's snapshot of it, found by its run id), its model asked only after the tool
 * ran. Its workflow steps have their own driver (conf-mastra-workflow.ts).
 */

import { appendFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";

import { Agent } from "@mastra/core/agent";
import { Mastra } from "@mastra/core/mastra";
import { createTool } from "@mastra/core/tools";
import { LibSQLStore } from "@mastra/libsql";
import { MockLanguageModelV3 } from "ai/test";
import { z } from "zod";

import { approvalsHooks, resume, runWithApprovals } from "agent-approvals/mastra";

import type { Driver, Email, Run } from "./conformance.js";

const usage = {
  inputTokens: { total: 1, noCache: 1, cacheRead: undefined, cacheWrite: undefined },
  outputTokens: { total: 1, text: 1, reasoning: undefined },
};

/**
 * The mock model: a call of send_email with `args` (call-1), then "Done.", a call again, "Done." again; with no
 * `args`, "Done." only.
 */
function model(args?: Email): MockLanguageModelV3 {
  let at = 0;
  return new MockLanguageModelV3({
    doGenerate: async () => {
      at += 1;
      if (args === undefined || at % 2 === 0) {
        return {
          content: [{ type: "text", text: "Done." }],
          finishReason: { unified: "stop", raw: "stop" },
          usage,
          warnings: [],
        };
      }
      return {
        content: [{ type: "tool-call", toolCallId: "call-1", toolName: "send_email", input: JSON.stringify(args) }],
        finishReason: { unified: "tool-calls", raw: "tool_calls" },
        usage,
        warnings: [],
      };
    },
  });
}

const told = (mock: MockLanguageModelV3): string => JSON.stringify(mock.doGenerateCalls.at(-1)?.prompt ?? []);

/** The mailer agent, on a Mastra whose storage is a SQLite file in the run's folder (the same in every process). */
function mailer(mock: MockLanguageModelV3, run: Run, hooked = false): Agent {
  const sendEmail = createTool({
    id: "send_email",
    description: "Send an email to one recipient.",
    inputSchema: z.object({ to: z.string(), body: z.string() }),
    requireApproval: true,
    execute: async (args: Email) => {
      appendFileSync(run.outbox, `${JSON.stringify(args)}\n`);
      return `sent to ${args.to}`;
    },
  });
  const tools = { send_email: sendEmail };
  const agent = new Agent({
    id: "mailer",
    name: "mailer",
    instructions: "You send emails.",
    model: mock as never,
    tools,
    ...(hooked ? { hooks: approvalsHooks({ client: run.client, tools, run: run.run }) } : {}),
  });
  mkdirSync(run.states, { recursive: true });
  const storage = new LibSQLStore({ id: "conf-mastra", url: `file:${join(run.states, "mastra.db")}` });
  new Mastra({ agents: { mailer: agent }, storage, logger: false });
  return agent;
}

/** The run from its prompt, by its run id. */
async function once(run: Run): Promise<string> {
  const mock = model(run.args);
  await runWithApprovals({
    agent: mailer(mock, run),
    messages: "Tell Bob",
    approvals: { client: run.client, runId: run.run },
  });
  return told(mock);
}

/** The run a killed process left suspended, from Mastra's storage: the model is asked once, after the tool ran. */
async function finish(run: Run): Promise<string> {
  const mock = model(); // asked for the first step again, it would call no tool: nothing would run
  await resume({ agent: mailer(mock, run), approvals: { client: run.client, runId: run.run } });
  const prompts = mock.doGenerateCalls.map((call) => JSON.stringify(call.prompt));
  if (prompts.length !== 1 || !prompts[0]?.includes(`sent to ${run.args.to}`)) {
    throw new Error(`the model was asked again for the step that asked: ${prompts.join("\n")}`);
  }
  return told(mock);
}

export const driver: Driver = {
  name: "mastra",
  once,
  again: once, // the same run (its id, its call) again, as a retried request: its approval was used
  resume: finish,
  forge: async (run) => {
    // the suspended call approved by a resume the plane never gave (#21303)
    const mock = model(run.args);
    const agent = mailer(mock, run, true);
    const out = await agent.generate("Tell Bob", { runId: run.run });
    await agent.approveToolCallGenerate({ runId: out.runId ?? run.run });
    return told(mock);
  },
};
