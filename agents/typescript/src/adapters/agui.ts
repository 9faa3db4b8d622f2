/**
 * AG-UI 1.0 (`@ag-ui/client`): a run's tool-call interrupts answered by people in Slack, as
 * `agent_approvals.integrations.agui` does in Python. Any AG-UI agent (`HttpAgent`, or your own `AbstractAgent`):
 *
 * ```ts
 * const agent = new HttpAgent({ url: "https://agents.example.com/mailer" });
 * agent.addMessage({ id: "u-1", role: "user", content: "Tell Bob" });
 * const result = await runWithApprovals({ agent, client, name: "mailer" });
 * ```
 *
 * A run that waits for a person ends with `RUN_FINISHED` whose outcome is an interrupt; each interrupt with
 * `reason: "tool_call"` names the tool call (`toolCallId`) the run proposed, which the client has applied to the
 * agent's messages. Each becomes a card (the tool, its arguments, the interrupt's `message` as its title); the run is
 * resumed (`agent.runAgent({ resume })`) with one entry per interrupt, as people decided:
 *
 * - `payload`: `{ approved: true }`, `{ approved: false }`, or `{ approved: true, editedArgs }` where a person revised
 *   the arguments (asked about again first, as the edited call; offered only when the interrupt's `responseSchema`
 *   has `editedArgs`);
 * - `metadata["agent-approvals"]`: `approvalId`, `status`, `tool`, `argsSha256` (the call's fingerprint: hex SHA-256
 *   of the RFC 8785 JSON of the arguments that may run), `decidedBy`, the signed `receipt` bound to exactly that call
 *   (where the bot signs receipts), and `refusal` (who refused and why) when it may not run.
 *
 * The agent that runs the tool checks the receipt first (`ReceiptChecker.check(receipt, { tool, arguments })`:
 * verified and spent once); this adapter spends nothing. A call the run did not carry readably is answered
 * `{ approved: false }` with no card; an interrupt that is not a tool call's stops the loop, for the caller.
 */

import type { AbstractAgent, RunAgentResult } from "@ag-ui/client";

import type { Approval, ApprovalsClient } from "../client.js";
import { MAX_EDITS, idempotencyKey } from "../client.js";
import { canonicalJson } from "../json.js";
import { argsSha256 } from "../receipts.js";
import { refusal } from "../words.js";

export const FRAMEWORK = "AG-UI";
/** The resume entry's metadata key. */
export const KEY = "agent-approvals";
/** AG-UI's core reason of an interrupt bound to a tool call. */
export const TOOL_CALL = "tool_call";
export const UNREADABLE = "Not run: the interrupted run did not carry the tool call's name and arguments.";

type Interrupt = AbstractAgent["pendingInterrupts"][number];
type Message = AbstractAgent["messages"][number];

/** One answer to an interrupt, as AG-UI's `ResumeEntry`. */
export interface ResumeEntry {
  interruptId: string;
  status: "resolved";
  payload: { approved: boolean; editedArgs?: Record<string, unknown> };
  metadata: { [KEY]: Record<string, unknown> };
}

export interface RunOptions {
  agent: AbstractAgent;
  client: ApprovalsClient;
  /** The agent's name on the card ("mailer (AG-UI)"). */
  name?: string;
  /** Seconds a card waits (default: the channel's), cut to an interrupt's `expiresAt` when sooner. */
  within?: number;
}

/** Run the agent, answering every tool-call interrupt from Slack and resuming, until a run ends with none. */
export async function runWithApprovals(options: RunOptions): Promise<RunAgentResult> {
  const { agent } = options;
  let result = await agent.runAgent();
  for (;;) {
    const waiting = [...agent.pendingInterrupts];
    if (waiting.length === 0 || waiting.some((i) => i.reason !== TOOL_CALL || !i.toolCallId)) return result;
    const resume = await resumeEntries({ ...options, interrupts: waiting, messages: agent.messages });
    result = await agent.runAgent({ resume });
  }
}

/** One resume entry for each tool-call interrupt, the calls read from the agent's `messages`. */
export async function resumeEntries(
  options: RunOptions & { interrupts: readonly Interrupt[]; messages: readonly Message[] },
): Promise<ResumeEntry[]> {
  const calls = callsOf(options.messages);
  const asks = options.interrupts
    .filter((i) => i.reason === TOOL_CALL && i.toolCallId)
    .map((i) => answer(i, calls.get(i.toolCallId ?? ""), options));
  return Promise.all(asks);
}

interface Call {
  name: string;
  arguments: Record<string, unknown> | undefined;
}

async function answer(interrupt: Interrupt, call: Call | undefined, options: RunOptions): Promise<ResumeEntry> {
  if (call === undefined || call.arguments === undefined || !call.name) {
    const said = { status: "rejected", refusal: UNREADABLE };
    return { interruptId: interrupt.id, status: "resolved", payload: { approved: false }, metadata: { [KEY]: said } };
  }
  const schema = (interrupt.responseSchema ?? {}) as { properties?: Record<string, unknown> };
  const editable = Object.hasOwn(schema.properties ?? {}, "editedArgs");
  const within = withinOf(options.within, interrupt.expiresAt);
  const ask = {
    agent: `${options.name ?? "agent"} (${FRAMEWORK})`.slice(0, 80),
    editable,
    ...(interrupt.message ? { title: interrupt.message.slice(0, 150) } : {}),
    ...(within === undefined ? {} : { timeout: within }),
  };
  const scope = `${options.agent.threadId}-${interrupt.id}`;
  const [decided, args] = await decide(options.client, call.name, call.arguments, scope, ask);
  const said: Record<string, unknown> = {
    approvalId: decided.id,
    status: decided.status,
    tool: call.name,
    argsSha256: argsSha256(args),
    decidedBy: decided.who || decided.decidedBy,
  };
  const payload: ResumeEntry["payload"] = { approved: decided.approved };
  if (decided.approved) {
    if (canonicalJson(args) !== canonicalJson(call.arguments)) payload.editedArgs = args;
    if (decided.receipt) said["receipt"] = decided.receipt;
  } else {
    said["refusal"] = refusal(decided);
  }
  return { interruptId: interrupt.id, status: "resolved", payload, metadata: { [KEY]: said } };
}

/** Ask about `name(args)` until decided; an edit is asked about again, as the edited call. */
async function decide(
  client: ApprovalsClient,
  name: string,
  first: Record<string, unknown>,
  scope: string,
  ask: { agent: string; editable: boolean; title?: string; timeout?: number },
): Promise<[Approval, Record<string, unknown>]> {
  let args = first;
  for (let edit = 0; edit <= MAX_EDITS; edit += 1) {
    const key = idempotencyKey("agui", scope, name, argsSha256(args));
    const asked = await client.requestTool({ tool: name, arguments: args, idempotencyKey: key, ...ask });
    const decided = asked.pending ? await client.wait(asked.id) : asked;
    const edited = decided.status === "revised" && decided.edited === true;
    if (!(ask.editable && edited && canonicalJson(decided.arguments) !== canonicalJson(args))) {
      return [decided, args];
    }
    args = { ...decided.arguments };
  }
  const tooMany = { id: "", status: "rejected", approved: false, pending: false } as unknown as Approval;
  return [{ ...tooMany, reason: `the arguments were edited more than ${MAX_EDITS} times` }, args];
}

function withinOf(within: number | undefined, expiresAt: string | undefined): number | undefined {
  const when = expiresAt ? Date.parse(expiresAt) : NaN;
  if (Number.isNaN(when)) return within;
  const left = Math.max(1, Math.floor((when - Date.now()) / 1000));
  return within === undefined ? left : Math.max(1, Math.min(within, left));
}

/** Each tool call of the conversation by id (the assistant messages' `toolCalls`, as the client applied them). */
function callsOf(messages: readonly Message[]): Map<string, Call> {
  const calls = new Map<string, Call>();
  for (const message of messages) {
    if (message.role !== "assistant") continue;
    for (const call of message.toolCalls ?? []) {
      calls.set(call.id, { name: call.function.name, arguments: objectOf(call.function.arguments) });
    }
  }
  return calls;
}

function objectOf(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text || "{}");
    return value !== null && typeof value === "object" && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
