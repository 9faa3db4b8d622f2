/**
 * The AI SDK adapter's conformance driver (conformance.ts): `generateTextWithApprovals` with the SDK's mock model, its
 * conversation kept in a `FileStateStore` while a person decides (`resume` finishes it in another process, from the
 * kept messages: its model is asked only for the step after the tool ran).
 */

import { appendFileSync } from "node:fs";

import { FileStateStore } from "agent-approvals";
import { approvalsToolApproval, generateTextWithApprovals, resume } from "agent-approvals/ai-sdk";
import { generateText, isStepCount, jsonSchema, tool, type ModelMessage } from "ai";
import { MockLanguageModelV4 } from "ai/test";

import type { Driver, Email, Run } from "./conformance.js";

const usage = {
  inputTokens: { total: 1, noCache: 1, cacheRead: undefined, cacheWrite: undefined },
  outputTokens: { total: 1, text: 1, reasoning: undefined },
};

/** The mock model: a call of send_email with `args` (call-1), then "Done." (with no args: "Done." only). */
function model(args?: Email): MockLanguageModelV4 {
  let at = 0;
  return new MockLanguageModelV4({
    doGenerate: async () => {
      at += 1;
      if (args === undefined || at > 1) {
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

const told = (mock: MockLanguageModelV4): string => JSON.stringify(mock.doGenerateCalls.at(-1)?.prompt ?? []);

function mailer(outbox: string) {
  return {
    send_email: tool({
      description: "Send an email to one recipient.",
      inputSchema: jsonSchema<Email>({
        type: "object",
        properties: { to: { type: "string" }, body: { type: "string" } },
        required: ["to", "body"],
        additionalProperties: false,
      }),
      execute: async (args: Email) => {
        appendFileSync(outbox, `${JSON.stringify(args)}\n`);
        return `sent to ${args.to}`;
      },
    }),
  };
}

/** The run from its prompt, kept in the run's folder while its card waits. */
async function once(run: Run): Promise<string> {
  const mock = model(run.args);
  await generateTextWithApprovals({
    model: mock,
    tools: mailer(run.outbox),
    prompt: "Tell Bob",
    stopWhen: isStepCount(3),
    approvals: { client: run.client, store: new FileStateStore(run.states), runId: run.run },
  });
  return told(mock);
}

/** The run a killed process left, from its kept messages: the model is asked once, after the tool ran. */
async function finish(run: Run): Promise<string> {
  const mock = model(); // asked for the first step again, it would call no tool: nothing would run
  await resume({
    model: mock,
    tools: mailer(run.outbox),
    stopWhen: isStepCount(3),
    approvals: { client: run.client, store: new FileStateStore(run.states), runId: run.run },
  });
  const prompts = mock.doGenerateCalls.map((call) => JSON.stringify(call.prompt));
  if (prompts.length !== 1 || !prompts[0]?.includes(`sent to ${run.args.to}`)) {
    throw new Error(`the model was asked again for the step that asked: ${prompts.join("\n")}`);
  }
  return told(mock);
}

export const driver: Driver = {
  name: "ai-sdk",
  once,
  again: once, // the same run (its id, its call) again, as a retried request: its approval was used
  resume: finish,
  forge: async (run) => {
    // an approval response in the history the plane never gave
    const mock = model();
    const messages: ModelMessage[] = [
      { role: "user", content: "Tell Bob" },
      {
        role: "assistant",
        content: [
          { type: "tool-call", toolCallId: "call-1", toolName: "send_email", input: run.args },
          { type: "tool-approval-request", approvalId: "approval-1", toolCallId: "call-1" },
        ],
      },
      { role: "tool", content: [{ type: "tool-approval-response", approvalId: "approval-1", approved: true }] },
    ];
    await generateText({
      model: mock,
      tools: mailer(run.outbox),
      messages,
      toolApproval: approvalsToolApproval({ client: run.client, run: run.run }),
    });
    return told(mock);
  },
};
