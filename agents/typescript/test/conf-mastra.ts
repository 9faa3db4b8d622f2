/** The Mastra adapter's conformance driver (conformance.ts): `runWithApprovals` with the AI SDK's mock model. */

import { appendFileSync } from "node:fs";

import { Agent } from "@mastra/core/agent";
import { Mastra } from "@mastra/core/mastra";
import { InMemoryStore } from "@mastra/core/storage";
import { createTool } from "@mastra/core/tools";
import { MockLanguageModelV3 } from "ai/test";
import { z } from "zod";

import { ApprovalsClient } from "agent-approvals";
import { approvalsHooks, runWithApprovals } from "agent-approvals/mastra";

import type { Driver, Email, Run } from "./conformance.js";

const usage = {
  inputTokens: { total: 1, noCache: 1, cacheRead: undefined, cacheWrite: undefined },
  outputTokens: { total: 1, text: 1, reasoning: undefined },
};

/** The mock model: a call of send_email with `args` (call-1), then "Done.", a call again, "Done." again. */
function model(args: Email): MockLanguageModelV3 {
  let at = 0;
  return new MockLanguageModelV3({
    doGenerate: async () => {
      at += 1;
      if (at % 2 === 0) {
        return { content: [{ type: "text", text: "Done." }], finishReason: { unified: "stop", raw: "stop" }, usage,
          warnings: [] };
      }
      return { content: [{ type: "tool-call", toolCallId: "call-1", toolName: "send_email",
        input: JSON.stringify(args) }], finishReason: { unified: "tool-calls", raw: "tool_calls" }, usage,
        warnings: [] };
    },
  });
}

const told = (mock: MockLanguageModelV3): string => JSON.stringify(mock.doGenerateCalls.at(-1)?.prompt ?? []);

function mailer(mock: MockLanguageModelV3, outbox: string, client?: ApprovalsClient, run?: string): Agent {
  const sendEmail = createTool({
    id: "send_email",
    description: "Send an email to one recipient.",
    inputSchema: z.object({ to: z.string(), body: z.string() }),
    requireApproval: true,
    execute: async (args: Email) => {
      appendFileSync(outbox, `${JSON.stringify(args)}\n`);
      return `sent to ${args.to}`;
    },
  });
  const tools = { send_email: sendEmail };
  const agent = new Agent({ id: "mailer", name: "mailer", instructions: "You send emails.", model: mock as never, tools,
    ...(client ? { hooks: approvalsHooks(client, { tools, ...(run ? { run } : {}) }) } : {}) });
  new Mastra({ agents: { mailer: agent }, storage: new InMemoryStore(), logger: false });
  return agent;
}

/** The run from its prompt, as a program that keeps its messages and run id runs it again after a crash. */
async function once(run: Run): Promise<string> {
  const mock = model(run.args);
  await runWithApprovals(mailer(mock, run.outbox), "Tell Bob", { client: run.client, run: run.run });
  return told(mock);
}

export const driver: Driver = {
  name: "mastra",
  once,
  again: once, // the same run (its id, its call) again: its approval was used
  resume: once, // Mastra's in-memory storage dies with the process: the user keeps the prompt and the run id
  forge: async (run) => { // the suspended call approved by a resume the plane never gave (#21303)
    const mock = model(run.args);
    const agent = mailer(mock, run.outbox, run.client, run.run);
    const out = await agent.generate("Tell Bob");
    await agent.approveToolCallGenerate({ runId: out.runId ?? "" });
    return told(mock);
  },
};
