/**
 * Mastra (`@mastra/core` 1): the tool calls of an agent whose tools `requireApproval` decided by people in Slack.
 *
 * ```ts
 * import { resume, runWithApprovals } from "agent-approvals/mastra";
 * const client = new ApprovalsClient({ title: "weekly digest" });
 * const result = await runWithApprovals({ agent, messages: "Email the digest to the team", approvals: { client, runId } });
 * // in another process, if this one died while a person decided (the agent's Mastra storage durable):
 * await resume({ agent, approvals: { client, runId } });
 * ```
 *
 * `runWithApprovals` runs `agent.generate`; while the run is suspended on a tool call's approval it asks about that
 * call (the tool's name and arguments, on the bot's usual card) and answers Mastra with the decision: approve
 * (`approveToolCallGenerate`), or decline (`declineToolCallGenerate`) with who refused it and why as the reason the
 * model reads (a timeout, a cancellation or a revision's feedback too). Then the run goes on, until it ends.
 *
 * The tool runs only on the plane's approval of that very call, used once: the run's `beforeToolCall` hook
 * (`approvalsHooks`, Mastra's own seam, composed with the agent's hooks) asks the plane about the call before it runs
 * and lets it through only when approved, using the approval then; else the tool's output is the refusal and it does
 * not run. So a model-written resume value (`resumeData: { approved: true }`, Mastra #21303), a decline Mastra still
 * executes after a resume (#20487), or an approval applied to another suspended call (#19633) never runs a tool. Give
 * the agent `hooks: approvalsHooks({ client, tools })` too, and a resume made outside `runWithApprovals` is held to
 * the same rule (it finds no approval of the plane: nothing runs).
 *
 * Mastra's hooks see every call, from any source, but not the tool: the hook finds it by name in the tools it knows
 * and decides as Mastra does whether the call needs an approval (the tool's `requireApproval` or the AI SDK's
 * `needsApproval`, a function of the call when it is one; the run's `requireToolApproval`). `runWithApprovals` knows
 * every tool Mastra gives the run (`agent.getToolsForExecution`: the agent's own, a dynamic `tools` function's for the
 * call's request context, the run's `toolsets` and `clientTools`, its memory's); the agent's own hooks know the tools
 * they are given (a map, or the agent's dynamic `tools` function). A tool the hook does not know never runs.
 *
 * Mastra resumes the call as the model made it, so the card says the arguments cannot be edited and Revise offers
 * only feedback, which reaches the model as the decline's reason (nothing runs).
 *
 * Durable: Mastra keeps a suspended run in its storage, by its run id (`runId`, passed to `agent.generate`; each
 * ask's idempotency key is made of it and the call's id). With a storage that outlives the process (`LibSQLStore` on
 * a file, Postgres, …), `resume({ agent, approvals: { client, runId } })` in another process finds the run
 * (`agent.listSuspendedRuns`), asks about the call it waits on (the same card) and answers Mastra as above: the model
 * is not asked again for the step that called the tool. Workflows alike: `resumeWorkflowWithApprovals({ workflow,
 * runId, client })` resumes a run suspended in `approvalInStep`, or restarts one its process left running.
 */

import { randomUUID } from "node:crypto";

import type { Agent } from "@mastra/core/agent";
import { RequestContext } from "@mastra/core/request-context";
import type { ToolBeforeHookResult, ToolHookContext, ToolHooks } from "@mastra/core/tools";

import { declaredFor, type DeclaredArtifacts } from "../artifacts.js";
import { idempotencyKey, type Approval, type ApprovalsClient, type ToolAskOptions } from "../client.js";
import { ApprovalsError } from "../errors.js";
import { canonicalJson } from "../json.js";
import { refusal } from "../words.js";

export const FRAMEWORK = "Mastra";
export const NO_APPROVAL = "Not run: the approval plane gave no approval for this call.";
export const UNKNOWN =
  "Not run: the approvals hook does not know this tool, so it cannot tell whether the call needs " +
  "an approval (give approvalsHooks the tools the agent is given).";

export interface MastraApprovalOptions {
  /** This run's id in the calls' idempotency keys (default: the client's `run` for hooks, a new one per run). */
  run?: string;
  /** Seconds a decision may take (never longer than the channel allows). */
  within?: number;
  /** Which agent asks (shown on the card, with "(Mastra)"; default the agent's name). */
  agent?: string;
  /**
   * The change each tool's call applies, by the tool's name: `artifacts: { write_file: (args) => [fileChange(...)] }`
   * (`DeclaredArtifacts`). Its asks carry them: the card shows the change itself and the receipt binds it.
   */
  artifacts?: DeclaredArtifacts;
}

/**
 * Tools by name, for a call's request context (and the name of the tool called): an agent's dynamic `tools` function,
 * `agent.getToolsForExecution`.
 */
export type ToolsFor = (context: {
  requestContext: RequestContext;
  toolName?: string;
}) => Record<string, unknown> | Promise<Record<string, unknown>>;

/**
 * The tools a hook knows, by name: a map (the agent's `tools`), or a function giving them for a call's request context
 * (the agent's dynamic `tools` function). A call of a tool it does not know never runs.
 */
export type GuardedTools = Record<string, unknown> | ToolsFor;

/** What says whether a tool's call needs an approval: Mastra's flag or function, the AI SDK's, an MCP client's. */
interface Approvable {
  requireApproval?: unknown;
  needsApproval?: unknown;
  needsApprovalFn?: unknown;
}

type Predicate = (input: unknown, context: object) => unknown;

const GATE = Symbol.for("agent-approvals.mastra.gate");
const RUN_WIDE = "__mastra_requireToolApproval"; // where Mastra keeps a run's `requireToolApproval` (request context)

function argumentsOf(input: unknown): Record<string, unknown> {
  return typeof input === "object" && input !== null && !Array.isArray(input)
    ? (input as Record<string, unknown>)
    : { input };
}

/** The name the model calls a tool given as `key` (Mastra's `formatTools`). */
function modelName(key: string): string {
  const name = key.replace(/[^a-zA-Z0-9_-]/g, "_");
  return (/^[a-zA-Z_]/.test(name) ? name : `_${name}`).slice(0, 63);
}

/** The tool the model calls `name` among `tools`, if any. */
function named(tools: Record<string, unknown>, name: string): Approvable | undefined {
  const key = Object.hasOwn(tools, name) ? name : Object.keys(tools).find((k) => modelName(k) === name);
  const tool = key === undefined ? undefined : tools[key];
  return typeof tool === "object" && tool !== null ? (tool as Approvable) : undefined;
}

/** True when `decide` says so or fails (as Mastra: an approval function that fails asks). */
async function asks(decide: () => unknown): Promise<boolean> {
  try {
    return Boolean(await decide());
  } catch {
    return true;
  }
}

/** The call's request context (Mastra hands the tool its run's; a copy of Mastra's class from another bundle too). */
function contextOf(call: ToolHookContext): RequestContext {
  const given = (call.context as { requestContext?: Partial<RequestContext> } | undefined)?.requestContext;
  return typeof given?.get === "function" && typeof given.entries === "function"
    ? (given as RequestContext)
    : new RequestContext();
}

/**
 * Whether `call` needs the plane's approval, as Mastra decides it: the tool's own function when it has one, else the
 * run's `requireToolApproval` or the tool's flag; `undefined` when the hook does not know the tool.
 */
async function needsApproval(tools: GuardedTools, call: ToolHookContext): Promise<boolean | undefined> {
  const requestContext = contextOf(call);
  let known: Record<string, unknown>;
  try {
    known = typeof tools === "function" ? await tools({ requestContext, toolName: call.toolName }) : tools;
  } catch {
    return undefined;
  }
  const tool = named(known ?? {}, call.toolName);
  if (tool === undefined) return undefined;
  const plain = { requestContext: Object.fromEntries([...requestContext.entries()].filter(([k]) => k !== RUN_WIDE)) };
  const own = [tool.needsApprovalFn, tool.requireApproval, tool.needsApproval].find((f) => typeof f === "function");
  if (own !== undefined) return asks(() => (own as Predicate)(call.input, plain));
  const runWide = requestContext.get(RUN_WIDE);
  if (typeof runWide === "function") {
    const context = { toolName: call.toolName, args: call.input, ...plain };
    if (await asks(() => (runWide as (context: object) => unknown)(context))) return true;
  }
  return runWide === true || tool.requireApproval === true || tool.needsApproval === true;
}

function keyOf(client: ApprovalsClient, toolCallId: string, options: MastraApprovalOptions): string {
  return idempotencyKey("mastra", options.run || client.run, toolCallId);
}

/**
 * The decisions a runner (`runWithApprovals`, `resume`) got from the plane and answered Mastra with, by client and
 * idempotency key, each kept until the run's hook takes it (once): the hook, called as Mastra runs the approved call
 * right after, need not ask the plane for the same decision again. It still uses the approval once, by the plane, and
 * a call it does not find here (another call, other arguments, a resume made elsewhere) is asked about as before.
 */
const answered = new WeakMap<ApprovalsClient, Map<string, Approval>>();

function keep(client: ApprovalsClient, key: string, decided: Approval): void {
  let kept = answered.get(client);
  if (kept === undefined) answered.set(client, (kept = new Map()));
  if (kept.size >= 1000) kept.clear();
  kept.set(key, decided);
}

/** The runner's decision on this very call (its tool, its arguments), taken: once. */
function taken(
  client: ApprovalsClient,
  key: string,
  name: string,
  args: Record<string, unknown>,
): Approval | undefined {
  const kept = answered.get(client);
  const decided = kept?.get(key);
  if (decided === undefined) return undefined;
  kept?.delete(key);
  try {
    return decided.tool === name && canonicalJson(decided.arguments) === canonicalJson(args) ? decided : undefined;
  } catch {
    return undefined; // arguments JSON cannot say: asked about as before
  }
}

async function ask(
  client: ApprovalsClient,
  name: string,
  args: Record<string, unknown>,
  toolCallId: string,
  options: MastraApprovalOptions,
): Promise<Approval> {
  const asked: ToolAskOptions = {
    editable: false,
    agent: `${options.agent || client.agent || "agent"} (${FRAMEWORK})`.slice(0, 80),
    idempotencyKey: keyOf(client, toolCallId, options),
  };
  if (options.within !== undefined) asked.timeout = options.within;
  const artifacts = declaredFor(options.artifacts, name, args);
  if (artifacts !== undefined) asked.artifacts = artifacts;
  return client.requestTool({ ...asked, tool: name, arguments: args });
}

/**
 * Mastra tool hooks whose `beforeToolCall` lets a call that needs an approval (its tool found in `tools`: the agent's
 * tools, or its dynamic `tools` function) run only on the plane's approval of that very call (found by its tool call
 * id), used once; else its output is the refusal. A call of a tool not in `tools` never runs.
 */
export function approvalsHooks(
  options: MastraApprovalOptions & { client: ApprovalsClient; tools: GuardedTools },
): ToolHooks {
  const { client, tools, ...asking } = options;
  const hooks: ToolHooks = {
    beforeToolCall: async (call: ToolHookContext): Promise<ToolBeforeHookResult | undefined> => {
      const needed = await needsApproval(tools, call);
      if (needed === undefined) return { proceed: false, output: UNKNOWN };
      if (!needed) return undefined;
      const toolCallId = (call.context as { toolCallId?: unknown } | undefined)?.toolCallId;
      if (typeof toolCallId !== "string" || !toolCallId) return { proceed: false, output: NO_APPROVAL };
      const args = argumentsOf(call.input);
      const decided =
        taken(client, keyOf(client, toolCallId, asking), call.toolName, args) ??
        (await ask(client, call.toolName, args, toolCallId, asking));
      if (decided.pending) {
        await client.withdraw(decided.id); // nobody approved it: asked only now, by a resume the plane never gave
        return { proceed: false, output: NO_APPROVAL };
      }
      if (!decided.approved) return { proceed: false, output: refusal(decided) };
      const spent = await client.spend(decided.id, { token: `use-${randomUUID()}` });
      if (!spent.used) return { proceed: false, output: spent.refusal }; // the bot's words: used already
      return undefined;
    },
  };
  Object.defineProperty(hooks, GATE, { value: true });
  return hooks;
}

/** Our gate first, then the agent's own hooks (a run's hooks replace the agent's: they are composed here). */
function composed(gate: ToolHooks, own: ToolHooks | undefined): ToolHooks {
  if (own === undefined || (own as Record<symbol, unknown>)[GATE] === true) return gate;
  const before = own.beforeToolCall;
  const hooks: ToolHooks = {
    beforeToolCall: async (call) => (await gate.beforeToolCall?.(call)) ?? (await before?.(call)),
  };
  if (own.afterToolCall) hooks.afterToolCall = own.afterToolCall;
  return hooks;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- an agent of any tools, model and output
type AnyAgent = Agent<any, any, any>;
type Input = Parameters<AnyAgent["generate"]>[0];
type Output = Awaited<ReturnType<AnyAgent["approveToolCallGenerate"]>>;

interface Suspended {
  toolCallId: string;
  toolName: string;
  args: Record<string, unknown>;
}

function suspendedCall(output: Output): Suspended | undefined {
  if (output.finishReason !== "suspended") return undefined;
  const payload = (output as { suspendPayload?: unknown }).suspendPayload as Record<string, unknown> | undefined;
  if (typeof payload?.["toolCallId"] !== "string" || typeof payload["toolName"] !== "string") return undefined;
  return { toolCallId: payload["toolCallId"], toolName: payload["toolName"], args: argumentsOf(payload["args"]) };
}

/** How `runWithApprovals` and `resume` ask (their options' `approvals`): the client, the run's id (Mastra's). */
export type RunApprovals = MastraApprovalOptions & { client: ApprovalsClient; runId?: string };

/**
 * `runWithApprovals`' options: the agent, its messages and how it asks (`approvals`); the rest are `agent.generate`'s
 * (its `abortSignal` also ends each wait for a decision, the card withdrawn, the signal's reason thrown).
 */
export type AgentRunOptions = { agent: AnyAgent; messages: Input; approvals: RunApprovals } & Record<string, unknown>;

/** `resume`'s options: `runWithApprovals`' without the messages, `approvals.runId` the run to finish. */
export type AgentResumeOptions = { agent: AnyAgent; approvals: RunApprovals & { runId: string } } & Record<
  string,
  unknown
>;

/** The approvals' options and `agent.generate`'s, in one object (as the loop reads them). */
type Flat = RunApprovals & Record<string, unknown>;

function flat(options: Record<string, unknown>): Flat {
  const { agent: _agent, messages: _messages, approvals, ...generating } = options;
  if (typeof approvals !== "object" || approvals === null) {
    throw new TypeError("runWithApprovals and resume ask with `approvals: { client }`: give it");
  }
  return { ...generating, ...(approvals as RunApprovals) };
}

/** One run of `runWithApprovals` or `resume`: how it asks, and what each of its Mastra calls is handed. */
interface AgentLoop {
  client: ApprovalsClient;
  signal: AbortSignal | undefined;
  asking: MastraApprovalOptions & { run: string };
  more: Record<string, unknown>;
}

/**
 * Every tool Mastra gives `agent` on a run with `generating` (its own, the run's toolsets and client tools, …), for a
 * request context: found once for each, and again for a tool they lack (one a processor loaded since).
 */
function everyTool(agent: AnyAgent, generating: Record<string, unknown>): ToolsFor {
  if (typeof agent.getToolsForExecution !== "function") {
    throw new TypeError(
      "runWithApprovals knows a run's tools by Agent.getToolsForExecution, which this @mastra/core " +
        "lacks: update it",
    );
  }
  const found = new WeakMap<RequestContext, Record<string, unknown>>();
  return async ({ requestContext, toolName }) => {
    const known = found.get(requestContext);
    if (known !== undefined && (toolName === undefined || named(known, toolName) !== undefined)) return known;
    const tools: Record<string, unknown> = await agent.getToolsForExecution({ ...generating, requestContext } as never);
    found.set(requestContext, tools);
    return tools;
  };
}

async function loopOf(agent: AnyAgent, options: Flat, run: string): Promise<AgentLoop> {
  const { client, run: _run, runId: _runId, within, agent: label, artifacts, ...generating } = options;
  const asking: MastraApprovalOptions & { run: string } = { run, agent: label || agent.name };
  if (within !== undefined) asking.within = within;
  if (artifacts !== undefined) asking.artifacts = artifacts;
  const tools = everyTool(agent, generating);
  const hooks = composed(
    approvalsHooks({ ...asking, client, tools }),
    (generating["hooks"] as ToolHooks | undefined) ?? agent.getConfiguredToolHooks(),
  );
  const signal = generating["abortSignal"] instanceof AbortSignal ? generating["abortSignal"] : undefined;
  return { client, signal, asking, more: { ...generating, hooks } };
}

/** Ask about `call`, wait for the decision and answer Mastra with it: approve, or decline saying why. */
async function answer(agent: AnyAgent, loop: AgentLoop, runId: string, call: Suspended): Promise<Output> {
  let decided = await ask(loop.client, call.toolName, call.args, call.toolCallId, loop.asking);
  if (decided.pending) decided = await loop.client.wait(decided.id, { signal: loop.signal, withdraw: true });
  if (decided.approved) keep(loop.client, keyOf(loop.client, call.toolCallId, loop.asking), decided);
  const resume = { ...loop.more, runId, toolCallId: call.toolCallId };
  return decided.approved
    ? agent.approveToolCallGenerate(resume as never)
    : agent.declineToolCallGenerate({ ...resume, reason: refusal(decided) } as never);
}

async function untilDone(agent: AnyAgent, loop: AgentLoop, first: Output): Promise<Output> {
  let output = first;
  for (let call = suspendedCall(output); call !== undefined; call = suspendedCall(output)) {
    output = await answer(agent, loop, output.runId || loop.asking.run, call);
  }
  return output;
}

/**
 * Run `agent` on `messages`, each tool call that needs approval decided in Slack (see the module's comment): the run's
 * last output. `approvals.runId` is Mastra's run id and the first part of each ask's idempotency key (default a new
 * one); the options beyond `agent`, `messages` and `approvals` are `agent.generate`'s (and each resume's).
 */
export async function runWithApprovals(given: AgentRunOptions): Promise<Output> {
  const { agent, messages } = given;
  const options = flat(given);
  const run = options.runId || options.run || `${options.client.run}-${randomUUID().slice(0, 8)}`;
  const loop = await loopOf(agent, options, run);
  const first = (await agent.generate(messages, { ...loop.more, runId: run } as never)) as Output;
  return untilDone(agent, loop, first);
}

/**
 * Finish, in any process, a run of `runWithApprovals` whose process died while a person decided: Mastra keeps the
 * suspended run in its storage (give the `Mastra` instance a durable one, such as `LibSQLStore` on a file), found by
 * `runId` (`agent.listSuspendedRuns`). The call it waits on is asked about again (the same idempotency key: the same
 * card, a decided one answering at once) and answered as `runWithApprovals` does; the model is not asked again for
 * the step that called the tool. The options are as `runWithApprovals`' (the same hooks, `within`, `agent`), without
 * `messages`; `approvals.runId` is the run's.
 */
export async function resume(given: AgentResumeOptions): Promise<Output> {
  const { agent } = given;
  const options = flat(given);
  const runId = options.runId ?? "";
  if (!runId) throw new TypeError("resume finds the suspended run by `approvals.runId`: give it");
  if (typeof agent.listSuspendedRuns !== "function") {
    throw new TypeError("resume finds a run with Agent.listSuspendedRuns, which this @mastra/core lacks: update it");
  }
  const { runs } = await agent.listSuspendedRuns();
  const found = runs.find((run) => run.runId === runId);
  if (found === undefined) {
    throw new Error(
      `no suspended run ${JSON.stringify(runId)} of the agent ${JSON.stringify(agent.name)} in its ` +
        "Mastra storage (it ended, was never paused, or the storage does not outlive a process: use a durable one)",
    );
  }
  const waiting = found.toolCalls.find((call) => call.requiresApproval && typeof call.toolCallId === "string");
  if (waiting === undefined || typeof waiting.toolName !== "string") {
    throw new Error(`the run ${JSON.stringify(runId)} waits on no tool call's approval`);
  }
  const loop = await loopOf(agent, options, runId);
  const call = { toolCallId: String(waiting.toolCallId), toolName: waiting.toolName, args: argumentsOf(waiting.args) };
  return untilDone(agent, loop, await answer(agent, loop, runId, call));
}

// workflows ---------------------------------------------------------------------------------------------------------

/**
 * `approvalInStep`'s options: the step's context, the client, the call (`tool`, `arguments`); `key` names the call in
 * its idempotency key when a step asks about more than one (default the tool's name).
 */
export interface StepApprovalOptions extends MastraApprovalOptions {
  step: StepContext;
  client: ApprovalsClient;
  tool: string;
  arguments: Record<string, unknown>;
  key?: string;
}

/** What a workflow step's `execute` is handed that the approval needs: its run, its resume value, `suspend`. */
export interface StepContext {
  runId: string;
  resumeData?: unknown;
  suspend: (payload: ApprovalSuspendPayload) => unknown;
}

/** What a step suspends with while a person decides: the approval's id and card. */
export interface ApprovalSuspendPayload {
  approvalId: string;
  cardUrl: string;
  tool: string;
  arguments: Record<string, unknown>;
}

/** A step's decision: suspended (return `suspended` from `execute`), run with `arguments` (once), or not run. */
export type StepDecision =
  | { suspended: unknown }
  | { run: true; arguments: Record<string, unknown>; approval: Approval }
  | { run: false; said: string; approval: Approval };

/**
 * The approvals errors (the bot unreachable, the key refused, …) that failed a step of a run, by the run's id, for
 * `runWorkflowWithApprovals` to throw as they are (Mastra keeps a failed step's error only as plain data).
 */
const failures = new Map<string, ApprovalsError>();

function failing(runId: string, error: unknown): never {
  if (error instanceof ApprovalsError) {
    if (failures.size >= 1000) failures.clear();
    failures.set(runId, error);
  }
  throw error;
}

/**
 * In a workflow step's `execute`: the plane's decision on `name(args)`, or the step's suspension until it is made.
 * The resume value is never read as a decision (a model- or program-written `{ approved: true }` runs nothing): the
 * step asks the plane again on resume (the same card, by the run's id and `key`) and suspends again while it is
 * pending. Approved, it is used once: run the call with `arguments` (a reviewer's edited ones: an edit is asked
 * about again, as a new card, with the edited arguments). Else `said` is who refused it and why. A step that runs
 * again (a run restarted after its process died) asks again too: the same card, and an approval used already
 * (the call may have run) is `said`, never run twice.
 */
export async function approvalInStep(options: StepApprovalOptions): Promise<StepDecision> {
  const { step, client, tool, arguments: args, ...asking } = options;
  try {
    return await decideInStep(step, client, tool, args, asking);
  } catch (error) {
    return failing(step.runId, error);
  }
}

async function decideInStep(
  step: StepContext,
  client: ApprovalsClient,
  name: string,
  args: Record<string, unknown>,
  options: MastraApprovalOptions & { key?: string },
): Promise<StepDecision> {
  let current = args;
  for (let generation = 0; ; generation += 1) {
    const asked: ToolAskOptions = {
      agent: `${options.agent || client.agent || "workflow"} (${FRAMEWORK})`.slice(0, 80),
      idempotencyKey: idempotencyKey("mastra-step", step.runId, options.key ?? name, String(generation)),
    };
    if (options.within !== undefined) asked.timeout = options.within;
    const artifacts = declaredFor(options.artifacts, name, current);
    if (artifacts !== undefined) asked.artifacts = artifacts;
    const decided = await client.requestTool({ ...asked, tool: name, arguments: current });
    if (decided.pending) {
      const payload = { approvalId: decided.id, cardUrl: decided.cardUrl ?? "", tool: name, arguments: current };
      return { suspended: await step.suspend(payload) };
    }
    if (decided.status === "revised" && decided.edited) {
      current = decided.arguments; // the reviewer's edit: asked about again, as the call that would run
      continue;
    }
    if (!decided.approved) return { run: false, said: refusal(decided), approval: decided };
    const spent = await client.spend(decided.id, { token: `use-${randomUUID()}` });
    if (!spent.used) return { run: false, said: spent.refusal, approval: decided }; // the bot's words: used already
    return { run: true, arguments: decided.arguments, approval: decided };
  }
}

/** The part of a Mastra workflow run (`await workflow.createRun()`) that `runWorkflowWithApprovals` drives. */
export interface WorkflowRun<R> {
  readonly runId: string;
  start(options: { inputData: never }): Promise<R>;
  resume(options: { step: string[]; resumeData: unknown }): Promise<R>;
}

/** The part of a Mastra workflow (committed, on a `Mastra` with storage) that `resumeWorkflowWithApprovals` needs. */
export interface ResumableWorkflow<R> {
  getWorkflowRunById(runId: string): Promise<{ status: string; steps?: Record<string, unknown> } | null>;
  createRun(options: { runId: string }): Promise<WorkflowRun<R> & { restart(): Promise<R> }>;
}

/** What the workflow runners take: the client, and an `AbortSignal` that ends the wait (the card withdrawn). */
export interface WorkflowOptions {
  client: ApprovalsClient;
  signal?: AbortSignal;
}

/** The approval a suspended step waits on: its path and the approval's id (from `approvalInStep`'s payload). */
function waitingStep(result: { status: string }): { path: string[]; approvalId: string } | undefined {
  if (result.status !== "suspended") return undefined;
  const suspended = result as unknown as {
    suspended?: string[][];
    steps?: Record<string, { suspendPayload?: { approvalId?: unknown } }>;
  };
  const path = suspended.suspended?.[0];
  const approvalId = path && suspended.steps?.[path.at(-1) ?? ""]?.suspendPayload?.approvalId;
  return path !== undefined && typeof approvalId === "string" ? { path, approvalId } : undefined;
}

/** While a step waits on an approval, wait for the decision and resume the step; then the result (see below). */
async function untilDecided<R extends { status: string }>(
  run: WorkflowRun<R>,
  first: R,
  options: WorkflowOptions,
): Promise<R> {
  let result = first;
  for (let waiting = waitingStep(result); waiting !== undefined; waiting = waitingStep(result)) {
    await options.client.wait(waiting.approvalId, { signal: options.signal, withdraw: true });
    result = await run.resume({ step: waiting.path, resumeData: { approvalId: waiting.approvalId } });
  }
  const error = failures.get(run.runId);
  failures.delete(run.runId);
  if (result.status === "failed" && error !== undefined) throw error; // the bot unreachable, …: as the client said
  return result;
}

/**
 * Start `run` with `inputData` and, while a step is suspended on an approval (`approvalInStep`), wait for the plane's
 * decision and resume that step; the run's result once no step waits on an approval. A step that failed because the
 * bot could not be asked (unreachable, the key refused) throws the client's error (one line), nothing run.
 */
export async function runWorkflowWithApprovals<R extends { status: string }>(
  options: WorkflowOptions & { run: WorkflowRun<R>; inputData: unknown },
): Promise<R> {
  const { run, inputData } = options;
  failures.delete(run.runId);
  return untilDecided(run, await run.start({ inputData: inputData as never }), options);
}

/**
 * Finish, in any process, a run of `runWorkflowWithApprovals` whose process died while a person decided: Mastra keeps
 * the run's snapshot in its storage (give the `Mastra` instance a durable one, such as `LibSQLStore` on a file). A
 * run suspended on an approval waits for the decision and resumes that step; a run its process left running (it died
 * while a step asked) is restarted (`run.restart()`), and the step asks again: the same card, by the run's id. The
 * run's result as `runWorkflowWithApprovals` gives it (one that ended already: as it ended, nothing run again).
 */
export async function resumeWorkflowWithApprovals<R extends { status: string }>(
  options: WorkflowOptions & { workflow: ResumableWorkflow<R>; runId: string },
): Promise<R> {
  const { workflow, runId } = options;
  const state = await workflow.getWorkflowRunById(runId);
  if (state === null) {
    throw new Error(
      `no run ${JSON.stringify(runId)} of the workflow in its Mastra storage (it was never started, ` +
        "or the storage does not outlive a process: use a durable one)",
    );
  }
  const run = await workflow.createRun({ runId });
  failures.delete(runId);
  if (state.status !== "suspended") return untilDecided(run, await run.restart(), options);
  let waiting: { path: string[]; approvalId: string } | undefined;
  for (const [id, step] of Object.entries(state.steps ?? {})) {
    const { status, suspendPayload } = (step ?? {}) as { status?: unknown; suspendPayload?: { approvalId?: unknown } };
    const approvalId = suspendPayload?.approvalId;
    if (status === "suspended" && typeof approvalId === "string") waiting ??= { path: [id], approvalId };
  }
  if (waiting === undefined) {
    throw new Error(`the run ${JSON.stringify(runId)} is suspended on no approval of approvalInStep`);
  }
  await options.client.wait(waiting.approvalId, { signal: options.signal, withdraw: true });
  const resumed = await run.resume({ step: waiting.path, resumeData: { approvalId: waiting.approvalId } });
  return untilDecided(run, resumed, options);
}
