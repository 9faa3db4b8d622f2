/**
 * The OpenAI Agents SDK (`@openai/agents`), its `needsApproval` tool calls decided in Slack
 * (`agent-approvals/openai-agents`).
 *
 *     export AGENT_APPROVALS_URL=https://approvals.example.com AGENT_APPROVALS_KEY=aak_…
 *     node --preserve-symlinks dist/openai-agents.js "Tell bob@example.com that our Q2 prices change on May 1"
 *
 * The paused run is kept in STATE_DIR (default ./states) under RUN_ID (default a new one), so another process may
 * finish it with `resume` (docs/agents/typescript-openai-agents.md). The model is the SDK's `ScriptedModel`: it
 * calls send_email, then says what the tool answered. Outbox and printed lines: see support.ts.
 */

import { randomUUID } from "node:crypto";

import { Agent, setTracingDisabled, tool, type AgentInputItem } from "@openai/agents";
import { ScriptedModel, assistantMessage, functionCall, modelResponder } from "@openai/agents/testing";
import { FileStateStore } from "agent-approvals";
import { runWithApprovals } from "agent-approvals/openai-agents";
import { z } from "zod";

import { SYSTEM, approvalsClient, finalWords, runCli, scriptedEmail, writeEmail } from "./support.js";

setTracingDisabled(true); // no trace export

/** What the tool last answered in the model's input (its output, or why it did not run). */
function lastToolOutput(input: string | AgentInputItem[]): string {
  const results = (typeof input === "string" ? [] : input).filter((item) => item.type === "function_call_result");
  const output = (results.at(-1) as { output?: unknown } | undefined)?.output;
  if (output === undefined) return "no answer from send_email";
  if (typeof output === "string") return output;
  if (typeof output === "object" && output !== null && "text" in output) return String(output.text);
  return JSON.stringify(output);
}

await runCli("openai-agents.js", async (task) => {
  const model = new ScriptedModel([
    [functionCall("send_email", scriptedEmail(task), { callId: "call-1" })],
    modelResponder((call) => [assistantMessage(finalWords(lastToolOutput(call.request.input)))]),
  ]);
  const sendEmail = tool({
    name: "send_email",
    description: "Send an email to one recipient.",
    parameters: z.object({ to: z.string(), body: z.string() }),
    needsApproval: true,
    execute: async (email) => writeEmail(email),
  });
  const agent = new Agent({ name: "mailer", instructions: SYSTEM, model, tools: [sendEmail] });
  const client = approvalsClient("openai-agents.ts", task);
  const store = new FileStateStore(process.env["STATE_DIR"] || "states");
  const runId = process.env["RUN_ID"] || `mailer-${randomUUID().slice(0, 8)}`;
  const result = await runWithApprovals({ agent, input: task, client, store, runId });
  return String(result.finalOutput ?? "");
});
