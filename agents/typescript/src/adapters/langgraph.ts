/**
 * LangGraph (`@langchain/langgraph`): `interrupt()`s answered by people in Slack, as `agent_approvals/langgraph.py`
 * does in Python. In a node, ask with `interrupt(toolCall(...))`, check the answer with `verified`, and run exactly
 * what it says:
 *
 * ```ts
 * async function send(state: State) {
 *   const request = toolCall({ tool: "send_email", arguments: { to: state.to, body: state.draft }, schema: SCHEMA });
 *   const answer = await verified({ answer: interrupt(request), request, client });
 *   if (!answer.approved) return { outcome: answer.message }; // who refused it and why
 *   await sendEmail(answer.arguments); // the approved arguments (a reviewer's edit, approved, included)
 *   return { outcome: "sent" };
 * }
 * ```
 *
 * Run the graph (compiled with a checkpointer) through `invokeWithApprovals({ graph, input, config, client })`: each
 * interrupt made with `toolCall` becomes a card; its decision resumes the graph with
 * `new Command({ resume: { [interrupt id]: answer } })`. A Revise that edits the arguments is asked about again, as
 * the edited call (a call runs only as approved), and its answer then carries the edited arguments.
 *
 * A resume value is only a claim: `verified` reads the approval it names from the bot (the plane), and the call may
 * run only if the bot approved that tool, with the bot's arguments (never the resume value's), and the approval is
 * used now, for the first time (`use`). A resume value the bot never gave (written by a model or by hand), one of
 * another tool, or one used already (a replay, or the node run again after its call ran) never runs the call.
 *
 * Durable with a checkpointer that outlives the process (`SqliteSaver`, `PostgresSaver`; not `MemorySaver`): if the
 * process dies while a person decides, `resumeWithApprovals({ graph, config, client })` in another process asks again
 * for the thread's pending interrupts by the same idempotency keys (the thread id, the interrupt's id and the edit's
 * number: the same card, decided ones answer at once) and resumes the thread. LangGraph runs the node again from its
 * start on resume, so do side effects only after `verified` says approved, and one `toolCall` per node.
 */

import { randomUUID } from "node:crypto";

import { Command, type Interrupt } from "@langchain/langgraph";

import type { Approval, ApprovalsClient } from "../client.js";
import { idempotencyKey } from "../client.js";
import { ApprovalsError } from "../errors.js";
import { canonicalJson } from "../json.js";
import { refusal } from "../words.js";

export const FRAMEWORK = "LangGraph";
export const KIND = "agent_approvals.tool_call";
export const MAX_EDITS = 5;

/** What a node passes to `interrupt()` for one tool call that needs a person's approval. */
export interface ToolCallRequest {
  type: typeof KIND;
  tool: string;
  arguments: Record<string, unknown>;
  schema?: Record<string, unknown>;
  agent?: string;
}

/** What `interrupt()` returns to the node (check it with `verified` before running anything). */
export interface ToolAnswer {
  approved: boolean;
  status: string;
  /** The arguments to run: the approved ones (a reviewer's edit included). */
  arguments: Record<string, unknown>;
  decidedBy: string;
  /** Why it was refused (a reason, a Revise's feedback, the status). */
  reason: string;
  /** What the model should read when the call does not run: who refused it and why. */
  message: string;
  /** The approval this answer is about, checked against the bot by `verified`. */
  approvalId: string;
}

/** The value to `interrupt()` with for one tool call that needs a person's approval. */
export function toolCall(options: {
  tool: string;
  arguments: Record<string, unknown>;
  schema?: Record<string, unknown>;
  agent?: string;
}): ToolCallRequest {
  const { tool: name, arguments: args } = options;
  if (typeof name !== "string" || !name) throw new TypeError("a tool call needs the tool's name");
  const request: ToolCallRequest = { type: KIND, tool: name, arguments: { ...args } };
  if (options.schema !== undefined) request.schema = options.schema;
  if (options.agent) request.agent = options.agent;
  return request;
}

function answerOf(decided: Approval, args: Record<string, unknown>): ToolAnswer {
  return {
    approved: decided.approved,
    status: decided.status,
    arguments: decided.approved ? decided.arguments : args,
    decidedBy: decided.decidedBy ?? "",
    reason: decided.reason || decided.feedback || decided.status.replace(/_/g, " "),
    message: decided.approved ? "" : refusal(decided),
    approvalId: decided.id,
  };
}

const NEVER_GIVEN = "Not run: this answer is not an approval the approvals bot gave.";

/**
 * The decisions the runner (`invokeWithApprovals`, `resumeWithApprovals`) got from the bot and resumed the graph
 * with, by client and approval id, each kept until `verified` takes it (once): the node's check, run right after the
 * resume, reads the bot's decision from here instead of asking the bot for it again. Only the bot's own answers are
 * kept, by the id the bot gave, so a resume value (a claim) cannot put one here; the approval is still used once, by
 * the bot, and one not found here is read from the bot as before.
 */
const decisions = new WeakMap<ApprovalsClient, Map<string, Approval>>();

function keep(client: ApprovalsClient, decided: Approval): void {
  let kept = decisions.get(client);
  if (kept === undefined) decisions.set(client, (kept = new Map()));
  if (kept.size >= 1000) kept.clear();
  kept.set(decided.id, decided);
}

function taken(client: ApprovalsClient, id: string): Approval | undefined {
  const kept = decisions.get(client);
  const decided = kept?.get(id);
  kept?.delete(id);
  return decided;
}

function refused(request: ToolCallRequest, message: string, id = ""): ToolAnswer {
  return {
    approved: false,
    status: "rejected",
    arguments: request.arguments,
    decidedBy: "",
    reason: message,
    message,
    approvalId: id,
  };
}

/**
 * The answer to `request` as the bot says it, used once: approved only if the bot approved the approval `answer`
 * names, for `request`'s tool, and this is its first use; then with the bot's arguments. Anything else is refused,
 * with what the model should read (`message`).
 */
export async function verified(options: {
  answer: unknown;
  request: ToolCallRequest;
  client: ApprovalsClient;
}): Promise<ToolAnswer> {
  const { answer, request } = options;
  const id = typeof answer === "object" && answer !== null ? (answer as Record<string, unknown>)["approvalId"] : "";
  if (typeof id !== "string" || !id) return refused(request, NEVER_GIVEN);
  let approval: Approval;
  try {
    approval = taken(options.client, id) ?? (await options.client.get(id));
  } catch (error) {
    if (error instanceof ApprovalsError && error.status >= 400 && error.status < 500) {
      return refused(request, NEVER_GIVEN, id); // not this key's, or no such approval
    }
    throw error;
  }
  if (approval.tool !== request.tool) {
    return refused(request, `Not run: approval ${id} is about ${approval.tool ?? "no tool"}, not ${request.tool}.`, id);
  }
  if (!approval.approved) return { ...answerOf(approval, request.arguments), approved: false };
  const token = `lg-${randomUUID()}`; // this check's own use: a replay is another use
  const spent = await options.client.spend(id, { token });
  if (!spent.used) return refused(request, spent.refusal, id); // the bot's words: used already, may have run
  return answerOf(approval, request.arguments);
}

/** A compiled graph, as far as this module uses it. */
export interface Graph {
  invoke(input: unknown, config?: Record<string, unknown>): Promise<unknown>;
  getState(config: Record<string, unknown>): Promise<{ tasks: readonly { interrupts?: readonly Interrupt[] }[] }>;
  name?: string;
}

export interface ApprovalsOptions {
  client: ApprovalsClient;
  /** Seconds a decision may take (never longer than the channel allows). */
  within?: number;
  /**
   * Ends the run: each wait for a decision (its card withdrawn, the signal's reason thrown) and the graph's `invoke`
   * (as the config's `signal`). Default the config's `signal`.
   */
  signal?: AbortSignal;
}

type Config = Record<string, unknown> & { configurable?: Record<string, unknown> };

/**
 * `graph.invoke(input, config)`, every interrupt made with `toolCall` answered from Slack, until the graph ends or
 * stops at another interrupt (returned as the graph left it, for the caller to answer).
 */
export async function invokeWithApprovals(
  given: ApprovalsOptions & { graph: Graph; input: unknown; config: Config },
): Promise<unknown> {
  const { graph, input, config, ...options } = given;
  const signal = options.signal ?? config["signal"];
  return untilDone(
    graph,
    await graph.invoke(input, signal === undefined ? config : { ...config, signal }),
    config,
    options,
  );
}

/** Finish a thread whose process died while a person decided (see the module's comment). */
export async function resumeWithApprovals(
  given: ApprovalsOptions & { graph: Graph; config: Config },
): Promise<unknown> {
  const { graph, config, ...options } = given;
  const snapshot = await graph.getState(config);
  const pending = snapshot.tasks.flatMap((task) => task.interrupts ?? []);
  if (pending.length === 0) throw new Error("this thread waits for no interrupt (it ended, or never paused)");
  return untilDone(graph, { __interrupt__: pending }, config, options);
}

function interruptsOf(result: unknown): Interrupt[] {
  if (typeof result !== "object" || result === null) return [];
  const found = (result as Record<string, unknown>)["__interrupt__"];
  return Array.isArray(found) ? (found as Interrupt[]) : [];
}

function isOurs(value: unknown): value is ToolCallRequest {
  if (typeof value !== "object" || value === null) return false;
  const request = value as Record<string, unknown>;
  const args = request["arguments"];
  return (
    request["type"] === KIND &&
    typeof request["tool"] === "string" &&
    typeof args === "object" &&
    args !== null &&
    !Array.isArray(args)
  );
}

async function untilDone(graph: Graph, first: unknown, config: Config, given: ApprovalsOptions): Promise<unknown> {
  const signal = given.signal ?? (config["signal"] as AbortSignal | undefined);
  const options = signal === undefined ? given : { ...given, signal };
  const thread = String(config.configurable?.["thread_id"] ?? "");
  let result = first;
  for (;;) {
    const ours = interruptsOf(result).filter((item) => isOurs(item.value) && typeof item.id === "string");
    if (ours.length === 0) return result; // ended, or someone else's interrupt: the caller answers it
    const resume: Record<string, ToolAnswer> = {};
    for (const item of ours) resume[item.id as string] = await ask(item, thread, options);
    result = await graph.invoke(new Command({ resume }), signal === undefined ? config : { ...config, signal });
  }
}

/** Ask about one interrupt's call until decided; an edit is asked about again, as the edited call. */
async function ask(item: Interrupt, thread: string, options: ApprovalsOptions): Promise<ToolAnswer> {
  const request = item.value as ToolCallRequest;
  let args = { ...request.arguments };
  for (let edit = 0; edit <= MAX_EDITS; edit += 1) {
    const asked = await options.client.requestTool({
      tool: request.tool,
      arguments: args,
      agent: `${request.agent || "graph"} (${FRAMEWORK})`.slice(0, 80),
      ...(request.schema === undefined ? {} : { schema: request.schema }),
      ...(options.within === undefined ? {} : { timeout: options.within }),
      ...(thread ? { idempotencyKey: idempotencyKey("lg", thread, item.id ?? "", String(edit)) } : {}),
      signal: options.signal,
    });
    const decided = asked.pending
      ? await options.client.wait(asked.id, { signal: options.signal, withdraw: true })
      : asked;
    const edited =
      decided.status === "revised" &&
      Object.keys(decided.arguments).length > 0 &&
      canonicalJson(decided.arguments) !== canonicalJson(args);
    if (!edited) {
      if (!decided.pending) keep(options.client, decided); // read by the node's `verified` (once), not asked again
      return answerOf(decided, args); // used once by the node (`verified`), right before it runs
    }
    args = { ...decided.arguments };
  }
  return refused(request, `Not run: the arguments were edited more than ${MAX_EDITS} times.`);
}
