/**
 * The OpenAI Agents SDK (`@openai/agents`): tools with `needsApproval` decided by people in Slack, as
 * `agent_approvals/openai_agents.py` does in Python.
 *
 * ```ts
 * import { runWithApprovals } from "agent-approvals/openai-agents";
 * const result = await runWithApprovals({ agent, input: "Email the digest to the team", client });
 * ```
 *
 * `runWithApprovals` runs the agent (`run`); while the result has `interruptions`, it asks for each one (the tool's
 * name, its arguments and its JSON schema, on the bot's usual card) and applies the decision to the paused `RunState`:
 * `approve`, or `reject` with the reviewer's reason as the message the model reads (a timeout or a cancellation too,
 * saying so). Then it resumes the run, until the run ends.
 *
 * The SDK runs the call the model made, never other arguments, so the card says the arguments cannot be edited and
 * Revise offers only feedback, which reaches the model as the tool's output (nothing runs); the model may call the
 * tool again (that call is asked about again, as a new card).
 *
 * Durable: give a `store` and a `runId`, and the paused state (`state.toString()`) is kept there before anything is
 * asked; every ask carries an idempotency key made of the run id and the call id. If the process dies while a person
 * decides, `resume({ agent, runId, client, store })` in another process asks again (the same approvals: decided ones
 * answer at once), applies the decisions and finishes the run.
 *
 * Each approved call is used once (`ApprovalsClient.toolDecision`, right before the run goes on to it): if the process
 * died after that, perhaps while the call ran, the resumed run finds the approval used and asks about the call again,
 * as one that may have run (only a person may approve it): an approval never runs a call twice by itself.
 */

import { RunState, RunToolApprovalItem, run, type Agent, type RunResult } from "@openai/agents";

import type { Approval, ApprovalsClient } from "../client.js";
import { idempotencyKey } from "../client.js";
import type { StateStore } from "../state.js";
import { refusal } from "../words.js";

export { FileStateStore, type StateStore } from "../state.js";

export const FRAMEWORK = "OpenAI Agents SDK";

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- an agent of any context and output
type AnyAgent = Agent<any, any>;
type Input = Parameters<typeof run>[1];
type Options = Parameters<typeof run>[2];

export interface ApprovalsOptions {
  client: ApprovalsClient;
  /** Where the paused run is kept while a person decides (with `runId`): another process may `resume` it. */
  store?: StateStore;
  /** The run's id in `store`, and the first part of each ask's idempotency key. */
  runId?: string;
  /** Seconds a decision may take (never longer than the channel allows). */
  within?: number;
  /** What else to hand the SDK's `run` (not `stream`). */
  runOptions?: Omit<NonNullable<Options>, "stream">;
  /**
   * Ends the run: handed to the SDK's `run` (as its `signal`) and to each wait for a decision, whose card is withdrawn
   * (the signal's reason thrown). Default `runOptions.signal`.
   */
  signal?: AbortSignal;
}

function signalOf(options: ApprovalsOptions): AbortSignal | undefined {
  return options.signal ?? options.runOptions?.signal;
}

function runOptionsOf(options: ApprovalsOptions): Omit<NonNullable<Options>, "stream"> {
  const signal = signalOf(options);
  return signal === undefined ? { ...options.runOptions } : { ...options.runOptions, signal };
}

/** Run `agent` on `input`, every tool call that needs approval decided in Slack (see the module's comment). */
export async function runWithApprovals<TAgent extends AnyAgent>(
  given: ApprovalsOptions & { agent: TAgent; input: string | Exclude<Input, string | RunState<unknown, AnyAgent>> },
): Promise<RunResult<unknown, TAgent>> {
  const { agent, input, ...options } = given;
  if (options.store !== undefined && !options.runId) {
    throw new TypeError("a store keeps paused runs by runId: give one");
  }
  const result = (await run(agent, input, runOptionsOf(options))) as RunResult<unknown, TAgent>;
  return untilDone(agent, result, options);
}

/**
 * Finish a run whose process died while a person decided: from the paused state kept in `store`. A call that was
 * approved and running when it died is asked about again, as one that may have run.
 */
export async function resume<TAgent extends AnyAgent>(
  given: ApprovalsOptions & { agent: TAgent; runId: string; store: StateStore },
): Promise<RunResult<unknown, TAgent>> {
  const { agent, runId, ...options } = given;
  const text = await options.store.load(runId);
  if (text === null) {
    throw new Error(`no paused run ${JSON.stringify(runId)} in the store (it ended, or was never paused)`);
  }
  const state = await RunState.fromString<unknown, TAgent>(agent, text);
  const result = await step(agent, state, interruptionsOf(state, { agent }), { ...options, runId });
  return untilDone(agent, result, { ...options, runId });
}

async function untilDone<TAgent extends AnyAgent>(
  agent: TAgent,
  first: RunResult<unknown, TAgent>,
  options: ApprovalsOptions,
): Promise<RunResult<unknown, TAgent>> {
  let result = first;
  while (result.interruptions.length > 0) {
    const state = result.state;
    if (options.store !== undefined && options.runId) {
      await options.store.save(options.runId, state.toString()); // before anyone is asked: a crash can resume
    }
    result = await step(agent, state, interruptionsOf(state, { agent }), options);
  }
  if (options.store !== undefined && options.runId) await options.store.delete(options.runId);
  return result;
}

/** Ask for each paused call, apply its decision to `state` (approve, or reject saying why) and run on. */
async function step<TAgent extends AnyAgent>(
  agent: TAgent,
  state: RunState<unknown, TAgent>,
  items: RunToolApprovalItem[],
  options: ApprovalsOptions,
): Promise<RunResult<unknown, TAgent>> {
  for (const item of items) {
    const decided = await ask(agent, item, options);
    if (decided.approved) state.approve(item);
    else state.reject(item, { message: refusal(decided) });
  }
  return (await run(agent, state, runOptionsOf(options))) as RunResult<unknown, TAgent>;
}

type Raw = Record<string, unknown>;

/**
 * The paused calls of `state`, each a `RunToolApprovalItem`: a state read back by an SDK that leaves them as plain
 * JSON (openai-agents-js #993) has them rebuilt from their raw call and agent, so their name and arguments are the
 * call's; one that is neither is refused, never guessed at.
 */
export function interruptionsOf(
  state: RunState<unknown, AnyAgent>,
  options: { agent: AnyAgent },
): RunToolApprovalItem[] {
  const { agent } = options;
  return state.getInterruptions().map((item: unknown) => {
    if (item instanceof RunToolApprovalItem) return item;
    const plain = (typeof item === "object" && item !== null ? item : {}) as Raw;
    const raw = plain["rawItem"] as Raw | undefined;
    if (
      plain["type"] !== "tool_approval_item" ||
      typeof raw !== "object" ||
      raw === null ||
      typeof raw["type"] !== "string"
    ) {
      throw new TypeError("a paused run's interruption is not a tool approval item: it cannot be asked about");
    }
    const named = (plain["agent"] as Raw | undefined)?.["name"];
    const owner = typeof named === "string" && named !== agent.name ? findAgent(agent, named) : agent;
    if (owner === undefined) throw new TypeError(`a paused call belongs to an unknown agent ${JSON.stringify(named)}`);
    const toolName = typeof plain["toolName"] === "string" ? plain["toolName"] : undefined;
    return new RunToolApprovalItem(raw as unknown as RunToolApprovalItem["rawItem"], owner, toolName);
  });
}

function findAgent(root: AnyAgent, name: string): AnyAgent | undefined {
  const seen = new Set<AnyAgent>();
  const queue: AnyAgent[] = [root];
  while (queue.length > 0) {
    const agent = queue.shift() as AnyAgent;
    if (seen.has(agent)) continue;
    seen.add(agent);
    if (agent.name === name) return agent;
    for (const handoff of agent.handoffs as unknown[]) {
      const next = (handoff as { agent?: AnyAgent }).agent ?? handoff;
      if (typeof next === "object" && next !== null && "handoffs" in next) queue.push(next as AnyAgent);
    }
  }
  return undefined;
}

function callId(item: RunToolApprovalItem): string {
  const raw = item.rawItem as unknown as Raw;
  return String(raw["callId"] ?? raw["id"] ?? "");
}

function argumentsOf(item: RunToolApprovalItem): Record<string, unknown> {
  const text = (item.rawItem as unknown as Raw)["arguments"];
  if (typeof text === "object" && text !== null && !Array.isArray(text)) return text as Record<string, unknown>;
  if (typeof text !== "string" || !text.trim()) return {};
  const parsed: unknown = JSON.parse(text);
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return { arguments: parsed };
  return parsed as Record<string, unknown>;
}

async function ask(agent: AnyAgent, item: RunToolApprovalItem, options: ApprovalsOptions): Promise<Approval> {
  const raw = item.rawItem as unknown as Raw;
  const name = String(item.toolName ?? raw["name"] ?? "tool") || "tool";
  const id = callId(item);
  const who = item.agent?.name || agent.name;
  const schema = schemaOf(item.agent ?? agent, name) ?? schemaOf(agent, name);
  return options.client.toolDecision({
    tool: name,
    arguments: argumentsOf(item),
    agent: `${who} (${FRAMEWORK})`.slice(0, 80),
    editable: false, // the SDK runs the model's call: the card says its arguments cannot be edited
    signal: signalOf(options), // an abort withdraws the card
    ...(schema === undefined ? {} : { schema }),
    ...(options.within === undefined ? {} : { timeout: options.within }),
    ...(options.runId && id ? { idempotencyKey: idempotencyKey("oa", options.runId, id) } : {}),
  });
}

function schemaOf(agent: AnyAgent, name: string): Record<string, unknown> | undefined {
  for (const tool of agent.tools) {
    if (tool.type === "function" && tool.name === name) return { ...tool.parameters } as Record<string, unknown>;
  }
  return undefined;
}
