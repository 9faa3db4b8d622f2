/**
 * The AI SDK (`ai` 7, Node 22), its tool calls decided in Slack through the SDK's own `toolApproval`
 * (`agent-approvals/ai-sdk`).
 *
 *     export AGENT_APPROVALS_URL=https://approvals.example.com AGENT_APPROVALS_KEY=aak_…
 *     node --preserve-symlinks dist/ai-sdk.js "Tell bob@example.com that our Q2 prices change on May 1"
 *
 * The model is the SDK's mock (`MockLanguageModelV4` of `ai/test`), scripted: it calls send_email, then says what
 * the tool answered. Outbox and printed lines: see support.ts.
 */

import { generateTextWithApprovals } from "agent-approvals/ai-sdk";
import { isStepCount, jsonSchema, tool } from "ai";
import { MockLanguageModelV4 } from "ai/test";

import { SYSTEM, approvalsClient, finalWords, runCli, scriptedEmail, writeEmail, type Email } from "./support.js";

const usage = {
  inputTokens: { total: 1, noCache: 1, cacheRead: undefined, cacheWrite: undefined },
  outputTokens: { total: 1, text: 1, reasoning: undefined },
};

/** A part of a tool message, as far as the example reads it. */
type ToolPart = { type: string; output?: { type: string; value?: unknown; reason?: string } };

/** What the tool last answered in `prompt` (its result, or why it did not run). */
function lastToolResult(prompt: unknown): string {
  const said: string[] = [];
  for (const message of prompt as Array<{ role: string; content: unknown }>) {
    if (message.role !== "tool" || !Array.isArray(message.content)) continue;
    for (const part of message.content as ToolPart[]) {
      if (part.type !== "tool-result" || part.output === undefined) continue;
      const { value, reason } = part.output;
      said.push(reason ?? (typeof value === "string" ? value : JSON.stringify(value)));
    }
  }
  return said.at(-1) ?? "no answer from send_email";
}

/** The scripted model: a call of send_email with `email`, then what the tool answered, in words. */
function scripted(email: Email): MockLanguageModelV4 {
  return new MockLanguageModelV4({
    doGenerate: async ({ prompt }) => {
      if (!prompt.some((message) => message.role === "tool")) {
        return { content: [{ type: "tool-call", toolCallId: "call-1", toolName: "send_email",
          input: JSON.stringify(email) }], finishReason: { unified: "tool-calls", raw: "tool_calls" }, usage,
          warnings: [] };
      }
      return { content: [{ type: "text", text: finalWords(lastToolResult(prompt)) }],
        finishReason: { unified: "stop", raw: "stop" }, usage, warnings: [] };
    },
  });
}

const sendEmail = tool({
  description: "Send an email to one recipient.",
  inputSchema: jsonSchema<Email>({
    type: "object", properties: { to: { type: "string" }, body: { type: "string" } }, required: ["to", "body"],
    additionalProperties: false,
  }),
  execute: async (email: Email) => writeEmail(email),
});

await runCli("ai-sdk.js", async (task) => {
  const client = approvalsClient("ai-sdk.ts", task);
  const result = await generateTextWithApprovals({
    model: scripted(scriptedEmail(task)), system: SYSTEM, prompt: task, tools: { send_email: sendEmail },
    stopWhen: isStepCount(5), approvals: { client, agent: "mailer" },
  });
  return result.text;
});
