/**
 * The AI SDK (`ai` 7): tool calls decided by people in Slack, through the SDK's own approval seam (`toolApproval`).
 *
 * ```ts
 * import { generateTextWithApprovals, resume } from "agent-approvals/ai-sdk";
 * const client = new ApprovalsClient({ title: "weekly digest" });
 * const result = await generateTextWithApprovals({ model, tools, prompt: "Email the digest", approvals: { client } });
 * // kept while a person decides, and finished in another process if this one dies:
 * const approvals = { client, store: new FileStateStore("runs"), runId };
 * await generateTextWithApprovals({ model, tools, prompt, approvals });
 * await resume({ model, tools, approvals });
 * ```
 *
 * `approvalsToolApproval({ client })` is a `toolApproval` function: each tool call is asked about (the tool's name, its
 * arguments and its JSON schema, on the bot's usual card). When the plane's policies or rules decide at once it
 * answers `approved` (the approval used once, right then) or `denied` with who refused it and why; otherwise
 * `user-approval`, and the SDK stops with a `tool-approval-request`.
 *
 * `generateTextWithApprovals({ ...options, approvals: { client } })` runs `generateText` with `approvalsToolApproval` until no approval
 * request is left: it waits for the people's decision on each one and answers it with a `tool-approval-response` (a
 * refusal's words are the response's reason, which the model reads), then runs on.
 *
 * Durable: give a `store` (a `FileStateStore`, or any `StateStore`) and a `runId`, and the conversation so far (the
 * messages up to the assistant's approval request parts, as `responseMessages` has them) is kept there before
 * anything is asked: each new call stops as a request (the `toolApproval` asks nothing while the SDK runs), the
 * conversation is kept, then each request is asked about (one the plane's policies or rules decide is answered at
 * once, with no card); each ask's idempotency key is the run id and the call's id. If the process dies while a
 * person decides, `resume({ ...options, approvals: { client, store, runId } })` in another process asks about the same calls (the same
 * cards), answers them and calls `generateText` with the kept messages: the model is not asked again for the step
 * that asked, and a call is run only on its approval, used once (one a dead process used may have run: refused).
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

import { AsyncLocalStorage } from "node:async_hooks";
import { randomUUID } from "node:crypto";

import { asSchema, generateText } from "ai";
import type { ModelMessage, ToolApprovalResponse, ToolApprovalStatus, ToolSet } from "ai";

import { declaredFor, type DeclaredArtifacts } from "../artifacts.js";
import { idempotencyKey, type ApprovalsClient, type Approval, type ToolAskOptions } from "../client.js";
import type { StateStore } from "../state.js";
import { refusal, who } from "../words.js";

export { FileStateStore, type StateStore } from "../state.js";

export const FRAMEWORK = "AI SDK";

export interface AiSdkApprovalOptions {
  /** This run's id in the calls' idempotency keys (default the client's `run`): the same call, the same card. */
  run?: string;
  /** Seconds a decision may take (never longer than the channel allows). */
  within?: number;
  /** Which agent asks (shown on the card, with "(AI SDK)"). */
  agent?: string;
  /**
   * The change each tool's call applies, by the tool's name: `artifacts: { write_file: (args) => [fileChange(...)] }`
   * (`DeclaredArtifacts`). Its asks carry them: the card shows the change itself and the receipt binds it.
   */
  artifacts?: DeclaredArtifacts;
}

/** What the SDK hands a generic `toolApproval` function (the part of it this one reads). */
export interface ToolApprovalCall {
  toolCall: { toolCallId: string; toolName: string; input: unknown };
  tools?: unknown;
  messages: ModelMessage[];
}

export const NO_APPROVAL = "Not run: the approval plane gave no approval for this call.";

function argumentsOf(input: unknown): Record<string, unknown> {
  if (typeof input === "string") {
    try {
      return argumentsOf(JSON.parse(input) as unknown);
    } catch {
      return { input };
    }
  }
  return typeof input === "object" && input !== null && !Array.isArray(input)
    ? (input as Record<string, unknown>)
    : { input };
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
  return messages.some(
    (message) =>
      message.role === "tool" &&
      message.content.some((part) => part.type === "tool-approval-response" && approvals.has(part.approvalId)),
  );
}

/** The plane's approval of one tool call: asked (or found again, by the call's idempotency key). */
async function ask(
  client: ApprovalsClient,
  call: ToolApprovalCall["toolCall"],
  tools: unknown,
  options: AiSdkApprovalOptions,
  signal?: AbortSignal,
): Promise<Approval> {
  const asked: ToolAskOptions = {
    signal,
    editable: false,
    agent: `${options.agent || client.agent || "agent"} (${FRAMEWORK})`.slice(0, 80),
    idempotencyKey: idempotencyKey("ai", options.run || client.run, call.toolCallId),
  };
  const schema = await schemaOf(tools, call.toolName);
  if (schema !== undefined) asked.schema = schema;
  if (options.within !== undefined) asked.timeout = options.within;
  const args = argumentsOf(call.input);
  const artifacts = declaredFor(options.artifacts, call.toolName, args);
  if (artifacts !== undefined) asked.artifacts = artifacts;
  return client.requestTool({ ...asked, tool: call.toolName, arguments: args });
}

/** `approved` only for the plane's approval, used now (once: a fresh use each time, never a retry's). */
async function gate(client: ApprovalsClient, decided: Approval): Promise<ToolApprovalStatus> {
  if (!decided.approved) return { type: "denied", reason: refusal(decided) };
  const spent = await client.spend(decided.id, { token: `use-${randomUUID()}` });
  if (!spent.used) return { type: "denied", reason: spent.refusal }; // the bot's words: used already, may have run
  return { type: "approved", reason: `Approved by ${who(decided) || "the approval plane"}.` };
}

/**
 * What a runner (`generateTextWithApprovals`, `resume`) tells the `approvalsToolApproval` functions its
 * `generateText` calls, however they are given (the runner's own, the user's as written, or wrapped in the user's
 * function): the run (the calls' idempotency keys), whether to ask nothing yet (a store keeps the conversation
 * first), and where to leave what they asked, so that the runner waits on that card instead of asking a second.
 */
interface Running {
  run: string;
  deferred: boolean;
  signal: AbortSignal | undefined; // generateText's abortSignal
  asked: Map<string, Approval>; // a pending approval by the call's toolCallId
}

const running = new AsyncLocalStorage<Running>();

/**
 * A `toolApproval` function for `generateText` / `streamText` / `ToolLoopAgent`: the plane's policies and rules
 * answer `approved` or `denied` at once; otherwise `user-approval` (see the module's comment). Given to
 * `generateTextWithApprovals` (as it is or inside a function of the user's), it is the runner's: one card a call.
 */
export function approvalsToolApproval(
  given: AiSdkApprovalOptions & { client: ApprovalsClient },
): (call: ToolApprovalCall) => Promise<ToolApprovalStatus> {
  const { client, ...options } = given;
  return async ({ toolCall, tools, messages }) => {
    const here = running.getStore();
    const answered = responded(messages, toolCall.toolCallId);
    if (here?.deferred && !answered) return { type: "user-approval", reason: "To be asked in Slack." };
    const decided = await ask(
      client,
      toolCall,
      tools,
      here === undefined ? options : { ...options, run: here.run },
      here?.signal,
    );
    if (answered) {
      // an approval response from the history: only the plane's own decision counts, whatever it says
      if (decided.pending) {
        await client.withdraw(decided.id);
        return { type: "denied", reason: NO_APPROVAL };
      }
      return gate(client, decided);
    }
    if (decided.pending) {
      here?.asked.set(toolCall.toolCallId, decided); // the runner waits on this card
      return { type: "user-approval", reason: `Asked in Slack${decided.cardUrl ? `: ${decided.cardUrl}` : ""}` };
    }
    return gate(client, decided);
  };
}

type Options<TOOLS extends ToolSet> = Parameters<typeof generateText<TOOLS>>[0];
type Result<TOOLS extends ToolSet> = Awaited<ReturnType<typeof generateText<TOOLS>>>;
/** `generateText`'s options for a resumed run: the first run's, without its prompt (the stored messages are it). */
export type ResumeOptions<TOOLS extends ToolSet> = Omit<Options<TOOLS>, "prompt" | "messages">;

/** How `generateTextWithApprovals` and `resume` ask (their options' `approvals`). */
export interface GenerateWithApprovalsOptions extends AiSdkApprovalOptions {
  client: ApprovalsClient;
  /** Where the conversation is kept while a person decides (with `runId`): another process may `resume` it. */
  store?: StateStore;
  /** The run's id in `store`, and the first part of each call's idempotency key (`run` is the same). */
  runId?: string;
}

/** What a store keeps of a run: its format, and the conversation up to the approval requests it waits on. */
const FORMAT = "agent-approvals/ai-sdk/1";

/** The conversation as JSON text, its binary parts (file and image data) as base64 strings. */
function kept(messages: readonly ModelMessage[]): string {
  return JSON.stringify({ format: FORMAT, messages }, function (this: Record<string, unknown>, key, value: unknown) {
    const raw = this[key];
    if (raw instanceof Uint8Array) return Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString("base64");
    if (raw instanceof ArrayBuffer) return Buffer.from(raw).toString("base64");
    return value;
  });
}

function read(text: string, runId: string): ModelMessage[] {
  const said = JSON.parse(text) as { format?: unknown; messages?: unknown };
  if (said.format !== FORMAT || !Array.isArray(said.messages)) {
    throw new TypeError(`the run ${JSON.stringify(runId)} in the store is not a paused AI SDK conversation`);
  }
  return said.messages as ModelMessage[];
}

/** A tool call's approval request that no response answers yet (none the SDK answered itself). */
interface Request {
  approvalId: string;
  toolCallId: string;
  toolName: string;
  input: unknown;
}

/** The approval requests of `messages` awaiting a person: neither automatic nor answered, in order. */
export function waitingRequests(messages: readonly ModelMessage[]): Request[] {
  const calls = new Map<string, { toolName: string; input: unknown }>();
  const asked: Array<{ approvalId: string; toolCallId: string }> = [];
  const answered = new Set<string>();
  for (const message of messages) {
    if (message.role === "assistant" && typeof message.content !== "string") {
      for (const part of message.content) {
        if (part.type === "tool-call") calls.set(part.toolCallId, { toolName: part.toolName, input: part.input });
        if (part.type === "tool-approval-request" && part.isAutomatic !== true) asked.push(part);
      }
    } else if (message.role === "tool") {
      for (const part of message.content) if (part.type === "tool-approval-response") answered.add(part.approvalId);
    }
  }
  return asked
    .filter((request) => !answered.has(request.approvalId))
    .flatMap(({ approvalId, toolCallId }) => {
      const call = calls.get(toolCallId);
      return call === undefined ? [] : [{ approvalId, toolCallId, ...call }];
    });
}

/** One run of `generateTextWithApprovals` or `resume`: how it asks, where it keeps the conversation, its step. */
interface Loop<TOOLS extends ToolSet> {
  client: ApprovalsClient;
  asking: AiSdkApprovalOptions & { run: string };
  store: StateStore | undefined;
  tools: unknown;
  /** What its `approvalsToolApproval` functions asked about and left pending (see `Running`). */
  asked: Map<string, Approval>;
  /** `generateText`'s `abortSignal`: it ends the wait, and the pending cards are withdrawn. */
  signal: AbortSignal | undefined;
  step: (messages: ModelMessage[]) => Promise<Result<TOOLS>>;
}

/** `run`, and when `generateText`'s `abortSignal` ends it, every card of the run still pending withdrawn. */
async function aborting<TOOLS extends ToolSet, R>(loop: Loop<TOOLS>, run: () => Promise<R>): Promise<R> {
  try {
    return await run();
  } catch (error) {
    if (loop.signal?.aborted) {
      // aborted: the cards asked and not waited on yet are withdrawn too (the one waited on was, by `wait`)
      await Promise.all([...loop.asked.values()].map((approval) => loop.client.withdrawOnAbort(approval.id)));
    }
    throw error;
  }
}

/**
 * From `history`, a conversation the SDK stopped on approval requests: keep it (before anything is asked), answer
 * each request with the people's decision and run on, until no request is left. The last `generateText` result.
 */
async function finish<TOOLS extends ToolSet>(loop: Loop<TOOLS>, start: ModelMessage[]): Promise<Result<TOOLS>> {
  const signal = loop.signal;
  let history = start;
  for (;;) {
    if (loop.store !== undefined) await loop.store.save(loop.asking.run, kept(history));
    const answers: ToolApprovalResponse[] = [];
    for (const request of waitingRequests(history)) {
      const call = { toolCallId: request.toolCallId, toolName: request.toolName, input: request.input };
      let decided =
        loop.asked.get(request.toolCallId) ?? (await ask(loop.client, call, loop.tools, loop.asking, signal));
      loop.asked.delete(request.toolCallId);
      if (decided.pending) decided = await loop.client.wait(decided.id, { signal, withdraw: true });
      answers.push({
        type: "tool-approval-response",
        approvalId: request.approvalId,
        approved: decided.approved,
        reason: decided.approved ? `Approved by ${who(decided)}.` : refusal(decided),
      });
    }
    history = [...history, { role: "tool", content: answers }];
    const result = await loop.step(history);
    history = [...history, ...(result.responseMessages as ModelMessage[])];
    if (waitingRequests(history).length === 0) {
      if (loop.store !== undefined) await loop.store.delete(loop.asking.run);
      return result;
    }
  }
}

function loopOf<TOOLS extends ToolSet>(
  options: ResumeOptions<TOOLS>,
  approvals: GenerateWithApprovalsOptions,
  run: string,
): Loop<TOOLS> {
  const { client, store, runId: _, ...rest } = approvals;
  const asking = { ...rest, run };
  // with a store, a new call is `user-approval` at once, asked about only after the conversation is kept (`finish`);
  // an approval response from the history is checked with the plane (approved only by its own approval, used once)
  const signal = (options as { abortSignal?: AbortSignal }).abortSignal;
  const here: Running = { run, deferred: store !== undefined, signal, asked: new Map() };
  const toolApproval = options.toolApproval ?? approvalsToolApproval({ ...asking, client });
  const step = (messages: ModelMessage[]): Promise<Result<TOOLS>> =>
    running.run(here, () => generateText({ ...options, messages, toolApproval } as Options<TOOLS>));
  return { client, asking, store, tools: options.tools, asked: here.asked, signal, step };
}

/**
 * `generateText(options)` (without `approvals`, how it asks) with `toolApproval: approvalsToolApproval({ client })`
 * (unless `options` gives its own), run until no approval request is left, each one answered with the people's
 * decision (see the module's comment). With `approvals.store` and `approvals.runId`, the conversation up to the requests (the messages with the assistant's approval request
 * parts) is kept there before anything is asked, so that `resume` may finish the run in another process. The last
 * `generateText` result.
 */
export async function generateTextWithApprovals<TOOLS extends ToolSet>(
  options: Options<TOOLS> & { approvals: GenerateWithApprovalsOptions },
): Promise<Result<TOOLS>> {
  const { approvals, prompt, messages, ...rest } = options as Options<TOOLS> & {
    approvals: GenerateWithApprovalsOptions;
    prompt?: string | ModelMessage[];
    messages?: ModelMessage[];
  };
  if (approvals === undefined || typeof approvals !== "object") {
    throw new TypeError("generateTextWithApprovals asks with `approvals: { client }` among generateText's options");
  }
  const run = approvals.runId || approvals.run;
  if (approvals.store !== undefined && !run) throw new TypeError("a store keeps paused runs by runId: give one");
  const loop = loopOf(
    rest as ResumeOptions<TOOLS>,
    approvals,
    run || `${approvals.client.run}-${randomUUID().slice(0, 8)}`,
  ); // a new run: its own cards
  const history: ModelMessage[] = messages
    ? [...messages]
    : typeof prompt === "string"
      ? [{ role: "user", content: prompt }]
      : [...(prompt ?? [])];
  return aborting(loop, async () => {
    const result = await loop.step(history);
    const stopped = [...history, ...(result.responseMessages as ModelMessage[])];
    return waitingRequests(stopped).length === 0 ? result : finish(loop, stopped);
  });
}

/**
 * Finish, in any process, a run of `generateTextWithApprovals` whose process died while a person decided: from the
 * conversation kept in `approvals.store` under `approvals.runId`. It asks about the same calls (the same idempotency keys: the same
 * cards, decided ones answering at once), answers them and calls `generateText` with the kept messages: the model
 * is never asked for the step that asked again. The options are the first run's, without `prompt` or `messages`.
 */
export async function resume<TOOLS extends ToolSet>(
  given: ResumeOptions<TOOLS> & { approvals: GenerateWithApprovalsOptions & { store: StateStore; runId: string } },
): Promise<Result<TOOLS>> {
  if (Object.hasOwn(given, "prompt") || Object.hasOwn(given, "messages")) {
    throw new TypeError("resume goes on from the kept conversation: give the first run's options without its prompt");
  }
  const { approvals, ...options } = given;
  const runId = approvals.runId;
  if (!runId) throw new TypeError("resume finds the paused run by `approvals.runId`: give it");
  const text = await approvals.store.load(runId);
  if (text === null) {
    throw new Error(`no paused run ${JSON.stringify(runId)} in the store (it ended, or was never paused)`);
  }
  const history = read(text, runId);
  if (waitingRequests(history).length === 0) {
    throw new Error(`the run ${JSON.stringify(runId)} in the store waits on no approval`);
  }
  const loop = loopOf(options as unknown as ResumeOptions<TOOLS>, approvals, runId);
  return aborting(loop, () => finish(loop, history));
}
