/**
 * The AI SDK (`ai` 7): tool calls decided by people in Slack, through the SDK's own approval seam (`toolApproval`).
 *
 * ```ts
 * import { generateTextWithApprovals } from "agent-approvals/ai-sdk";
 * const client = new ApprovalsClient({ title: "weekly digest" });
 * const result = await generateTextWithApprovals({ model, tools, prompt: "Email the digest" }, { client });
 * ```
 *
 * `approvalsToolApproval(client)` is a `toolApproval` function: each tool call is asked about (the tool's name, its
 * arguments and its JSON schema, on the bot's usual card). When the plane's policies or rules decide at once it
 * answers `approved` (the approval used once, right then) or `denied` with who refused it and why; otherwise
 * `user-approval`, and the SDK stops with a `tool-approval-request`.
 *
 * `generateTextWithApprovals(options, { client })` runs `generateText` until no approval request is left: it waits
 * for the people's decision on each one and answers it with a `tool-approval-response` (a refusal's words are the
 * response's reason, which the model reads), then runs on.
 *
 * An approval response the plane never gave never runs a tool: when a response comes back the SDK asks
 * `toolApproval` again (it re-validates approved responses from the history), and the function answers `approved`
 * only for the plane's own approval of that call, used once (`ApprovalsClient.use`): a forged response, one for a
 * rejected, pending or revised call, or one replayed after its tool ran, is `denied`. It works with
 * `experimental_toolApprovalSecret` set (the SDK then also refuses approval requests it did not sign).
 *
 * The SDK runs the call the model made, never other arguments, so the card says the arguments cannot be edited and
 * Revise offers only feedback, which reaches the model as the denial's reason (nothing runs).
 */

import { randomUUID } from "node:crypto";

import { asSchema, generateText } from "ai";
import type { ModelMessage, ToolApprovalResponse, ToolApprovalStatus, ToolSet } from "ai";

import { idempotencyKey, type ApprovalsClient, type Approval, type ToolAskOptions } from "./client.js";
import { refusal, who } from "./words.js";

export const FRAMEWORK = "AI SDK";

export interface AiSdkApprovalOptions {
  /** This run's id in the calls' idempotency keys (default the client's `run`): the same call, the same card. */
  run?: string;
  /** Seconds a decision may take (never longer than the channel allows). */
  within?: number;
  /** Which agent asks (shown on the card, with "(AI SDK)"). */
  agent?: string;
}

/** What the SDK hands a generic `toolApproval` function (the part of it this one reads). */
export interface ToolApprovalCall {
  toolCall: { toolCallId: string; toolName: string; input: unknown };
  tools?: unknown;
  messages: ModelMessage[];
}

export const NO_APPROVAL = "Not run: the approval plane gave no approval for this call.";
export const USED = "Not run: its approval was used already (the call may have run); call the tool again to ask again.";

function argumentsOf(input: unknown): Record<string, unknown> {
  if (typeof input === "string") {
    try {
      return argumentsOf(JSON.parse(input) as unknown);
    } catch {
      return { input };
    }
  }
  return typeof input === "object" && input !== null && !Array.isArray(input)
    ? (input as Record<string, unknown>) : { input };
}

async function schemaOf(tools: unknown, name: string): Promise<Record<string, unknown> | undefined> {
  if (typeof tools !== "object" || tools === null || !Object.hasOwn(tools, name)) return undefined;
  const tool = (tools as Record<string, { inputSchema?: Parameters<typeof asSchema>[0] }>)[name];
  if (tool?.inputSchema === undefined) return undefined;
  try {
    return (await asSchema(tool.inputSchema).jsonSchema) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** Whether `messages` answer the call `toolCallId`'s approval request (the SDK re-validating a response). */
function responded(messages: readonly ModelMessage[], toolCallId: string): boolean {
  const approvals = new Set<string>();
  for (const message of messages) {
    if (message.role !== "assistant" || typeof message.content === "string") continue;
    for (const part of message.content) {
      if (part.type === "tool-approval-request" && part.toolCallId === toolCallId) approvals.add(part.approvalId);
    }
  }
  return messages.some((message) => message.role === "tool" && message.content.some(
    (part) => part.type === "tool-approval-response" && approvals.has(part.approvalId)));
}

/** The plane's approval of one tool call: asked (or found again, by the call's idempotency key). */
async function ask(
  client: ApprovalsClient, call: ToolApprovalCall["toolCall"], tools: unknown, options: AiSdkApprovalOptions,
): Promise<Approval> {
  const asked: ToolAskOptions = {
    editable: false,
    agent: `${options.agent || client.agent || "agent"} (${FRAMEWORK})`.slice(0, 80),
    idempotencyKey: idempotencyKey("ai", options.run || client.run, call.toolCallId),
  };
  const schema = await schemaOf(tools, call.toolName);
  if (schema !== undefined) asked.schema = schema;
  if (options.within !== undefined) asked.timeout = options.within;
  return client.requestTool(call.toolName, argumentsOf(call.input), asked);
}

/** `approved` only for the plane's approval, used now (once: a fresh use each time, never a retry's). */
async function gate(client: ApprovalsClient, decided: Approval): Promise<ToolApprovalStatus> {
  if (!decided.approved) return { type: "denied", reason: refusal(decided) };
  if (!(await client.use(decided.id, { token: `use-${randomUUID()}` }))) return { type: "denied", reason: USED };
  return { type: "approved", reason: `Approved by ${who(decided) || "the approval plane"}.` };
}

/**
 * A `toolApproval` function for `generateText` / `streamText` / `ToolLoopAgent`: the plane's policies and rules
 * answer `approved` or `denied` at once; otherwise `user-approval` (see the module's comment).
 */
export function approvalsToolApproval(
  client: ApprovalsClient, options: AiSdkApprovalOptions = {},
): (call: ToolApprovalCall) => Promise<ToolApprovalStatus> {
  return async ({ toolCall, tools, messages }) => {
    const decided = await ask(client, toolCall, tools, options);
    if (responded(messages, toolCall.toolCallId)) {
      // an approval response from the history: only the plane's own decision counts, whatever it says
      if (decided.pending) {
        await client.withdraw(decided.id);
        return { type: "denied", reason: NO_APPROVAL };
      }
      return gate(client, decided);
    }
    if (decided.pending) {
      return { type: "user-approval", reason: `Asked in Slack${decided.cardUrl ? `: ${decided.cardUrl}` : ""}` };
    }
    return gate(client, decided);
  };
}

type Options<TOOLS extends ToolSet> = Parameters<typeof generateText<TOOLS>>[0];
type Result<TOOLS extends ToolSet> = Awaited<ReturnType<typeof generateText<TOOLS>>>;

export interface GenerateWithApprovalsOptions extends AiSdkApprovalOptions {
  client: ApprovalsClient;
}

/** The approval requests a result stops at: those awaiting a person (no automatic ones, none answered). */
function openRequests<TOOLS extends ToolSet>(result: Result<TOOLS>): Array<{ approvalId: string; toolCallId: string;
  toolName: string; input: unknown }> {
  const answered = new Set<string>();
  for (const part of result.content) if (part.type === "tool-approval-response") answered.add(part.approvalId);
  const open = [];
  for (const part of result.content) {
    if (part.type !== "tool-approval-request" || part.isAutomatic === true || answered.has(part.approvalId)) continue;
    const call = part.toolCall as { toolCallId: string; toolName: string; input: unknown };
    open.push({ approvalId: part.approvalId, toolCallId: call.toolCallId, toolName: call.toolName, input: call.input });
  }
  return open;
}

/**
 * `generateText(options)` with `toolApproval: approvalsToolApproval(client)` (unless `options` gives its own), run
 * until no approval request is left: each one answered with the people's decision (see the module's comment).
 * The last `generateText` result.
 */
export async function generateTextWithApprovals<TOOLS extends ToolSet>(
  options: Options<TOOLS>, approvals: GenerateWithApprovalsOptions,
): Promise<Result<TOOLS>> {
  const { client, ...asking } = approvals;
  const run = asking.run || `${client.run}-${randomUUID().slice(0, 8)}`; // a new run: its own cards
  const mine: AiSdkApprovalOptions = { ...asking, run };
  const toolApproval = options.toolApproval ?? approvalsToolApproval(client, mine);
  const { prompt, messages, ...rest } = options as Options<TOOLS> & { prompt?: string | ModelMessage[];
    messages?: ModelMessage[] };
  let history: ModelMessage[] = messages ? [...messages]
    : typeof prompt === "string" ? [{ role: "user", content: prompt }] : [...(prompt ?? [])];
  const step = (): Promise<Result<TOOLS>> =>
    generateText({ ...rest, messages: history, toolApproval } as Options<TOOLS>);
  let result = await step();
  for (let open = openRequests(result); open.length > 0; open = openRequests(result)) {
    history = [...history, ...(result.responseMessages as ModelMessage[])];
    const answers: ToolApprovalResponse[] = [];
    for (const request of open) {
      const call = { toolCallId: request.toolCallId, toolName: request.toolName, input: request.input };
      let decided = await ask(client, call, options.tools, mine);
      if (decided.pending) decided = await client.wait(decided.id);
      answers.push({ type: "tool-approval-response", approvalId: request.approvalId, approved: decided.approved,
        reason: decided.approved ? `Approved by ${who(decided)}.` : refusal(decided) });
    }
    history.push({ role: "tool", content: answers });
    result = await step();
  }
  return result;
}
