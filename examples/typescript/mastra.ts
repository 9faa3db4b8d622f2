/**
 * Mastra (`@mastra/core` 1, Node 22): an agent whose tool `requireApproval`, its calls decided in Slack
 * (`agent-approvals/mastra`).
 *
 *     export AGENT_APPROVALS_URL=https://approvals.example.com AGENT_APPROVALS_KEY=aak_…
 *     node --preserve-symlinks dist/mastra.js "Tell bob@example.com that our Q2 prices change on May 1"
 *
 * The agent needs Mastra storage to resume (here in memory). The model is the AI SDK's mock
 * (`MockLanguageModelV3` of `ai/test`, the model version Mastra runs), scripted: it calls send_email, then says
 * what the tool answered. Outbox and printed lines: see support.ts.
 */

import { Agent } from "@mastra/core/agent";
import { Mastra } from "@mastra/core/mastra";
import { InMemoryStore } from "@mastra/core/storage";
import { createTool } from "@mastra/core/tools";
import { approvalsHooks, runWithApprovals } from "agent-approvals/mastra";
import { MockLanguageModelV3 } from "ai/test";
import { z } from "zod";

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
function scripted(email: Email): MockLanguageModelV3 {
  return new MockLanguageModelV3({
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

await runCli("mastra.js", async (task) => {
  const client = approvalsClient("mastra.ts", task);
  const tools = {
    send_email: createTool({
      id: "send_email",
      description: "Send an email to one recipient.",
      inputSchema: z.object({ to: z.string(), body: z.string() }),
      requireApproval: true,
      execute: async (email: Email) => writeEmail(email),
    }),
  };
  const agent = new Agent({
    id: "mailer", name: "mailer", instructions: SYSTEM, tools,
    model: scripted(scriptedEmail(task)) as never, // ai 7's provider types, not the ones Mastra bundles: the same V3
    hooks: approvalsHooks({ client, tools }), // a resume made outside runWithApprovals runs nothing
  });
  new Mastra({ agents: { mailer: agent }, storage: new InMemoryStore(), logger: false });
  const result = await runWithApprovals({ agent, messages: task, approvals: { client } });
  return result.text;
});
