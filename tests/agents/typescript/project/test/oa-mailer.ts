/**
 * An OpenAI Agents SDK mailer for the tests: an `Agent` whose `send_email` tool has `needsApproval`, driven by the
 * SDK's own `ScriptedModel` (no network). Run as a program (`node oa-mailer.js run|resume ...`), it is the process
 * killed while a person decides, and the one that finishes the run.
 */

import { appendFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

import { Agent, setTracingDisabled, tool, type AgentInputItem } from "@openai/agents";
import { ScriptedModel, assistantMessage, functionCall, type ScriptedModelInput } from "@openai/agents/testing";
import { z } from "zod";

import { ApprovalsClient, FileStateStore } from "agent-approvals";
import { resume, runWithApprovals } from "agent-approvals/openai-agents";

setTracingDisabled(true);

export const EMAIL = { to: "bob@example.com", body: "Prices go up 5% on May 1." };
export type Email = typeof EMAIL;

/** The agent, its model (the calls it got) and what its tool sent: `steps` the model's answers, in order. */
export function mailer(
  sent: Email[] | string,
  ...steps: ScriptedModelInput[]
): { agent: Agent<unknown, "text">; model: ScriptedModel } {
  return hangingMailer(sent, false, ...steps);
}

/** The mailer, whose tool, when `hangs`, never returns once it has sent (the process dies while the call runs). */
function hangingMailer(
  sent: Email[] | string,
  hangs: boolean,
  ...steps: ScriptedModelInput[]
): { agent: Agent<unknown, "text">; model: ScriptedModel } {
  const model = new ScriptedModel(steps);
  const sendEmail = tool({
    name: "send_email",
    description: "Send an email to one recipient.",
    parameters: z.object({ to: z.string(), body: z.string() }),
    needsApproval: true,
    execute: async (args: Email) => {
      if (typeof sent === "string") appendFileSync(sent, `${JSON.stringify(args)}\n`);
      else sent.push({ ...args });
      if (hangs) {
        process.stdout.write("running\n");
        // a timer keeps the process alive until it is killed: a bare pending promise leaves node nothing to wait
        // on, and it exits by itself (code 13, an unsettled top-level await) before the test can kill it
        await new Promise(() => setInterval(() => undefined, 60_000));
      }
      return `sent to ${args.to}`;
    },
  });
  const agent = new Agent({ name: "mailer", instructions: "Send what you are asked.", model, tools: [sendEmail] });
  return { agent, model };
}

/** The model's first answer: a call of send_email with `args`. */
export const calls = (args: Record<string, unknown> = EMAIL, callId = "call-1"): ScriptedModelInput => [
  functionCall("send_email", args, { callId }),
];
export const says = (text: string): ScriptedModelInput => [assistantMessage(text)];

/** What the model last read as the output of a tool call (its last request's last function call result). */
export function lastToolOutput(model: ScriptedModel): string {
  const input = model.lastCall?.request.input ?? [];
  const results = (typeof input === "string" ? [] : input).filter(
    (item: AgentInputItem) => item.type === "function_call_result",
  );
  const last = results.at(-1) as { output?: unknown } | undefined;
  const output = last?.output;
  if (typeof output === "string") return output;
  if (typeof output === "object" && output !== null && "text" in output) return String(output.text);
  return JSON.stringify(output ?? null);
}

async function main(mode: string, states: string, outbox: string, runId: string, title: string): Promise<void> {
  const store = new FileStateStore(states);
  const client = new ApprovalsClient({
    title,
    onWaiting: (a) => process.stdout.write(`waiting ${a.id}\n`),
    onDecided: (a) => process.stdout.write(`decided ${a.id} ${a.status}\n`),
  });
  if (mode === "run" || mode === "hang") {
    const { agent } = hangingMailer(outbox, mode === "hang", calls(), says("Sent."));
    await runWithApprovals({ agent, input: "Tell Bob", client, store, runId });
    process.stdout.write("finished in the first process\n");
  } else {
    const { agent } = mailer(outbox, says("Sent."));
    const result = await resume({ agent, runId, client, store });
    process.stdout.write(`final ${result.finalOutput ?? ""}\n`);
  }
}

const [mode, states, outbox, runId, title] = process.argv.slice(2);
const entry = process.argv[1] === fileURLToPath(import.meta.url); // not when imported (conf-openai-agents.ts)
if (entry && mode !== undefined && states !== undefined && outbox !== undefined && runId !== undefined && title) {
  await main(mode, states, outbox, runId, title);
}
