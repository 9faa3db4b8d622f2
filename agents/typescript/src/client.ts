/**
 * The client of the Approvals API: ask, wait, use, withdraw (`agent_approvals/client.py` in Python, the same calls
 * in camelCase). It holds an API key, never a Slack token or Redis.
 *
 * ```ts
 * const client = new ApprovalsClient({ title: "Tell Bob" }); // AGENT_APPROVALS_URL, AGENT_APPROVALS_KEY
 * const decided = await client.toolDecision({ tool: "send_email", arguments: { to: "bob@example.com", body: "Hi" } });
 * if (decided.approved) await sendEmail(decided.arguments); // exactly what was approved, once
 * ```
 *
 * Every call is retried through connection errors and 502/503/504, on the next of `url`'s workers if several are
 * given; an ask is retried with the same `Idempotency-Key`, so a retry after a lost answer never makes a second card.
 * A bot that has not answered this client yet is tried only briefly: nothing listening there throws `Unreachable` at
 * once, one line naming the URL. `url` may end in `/` or `/api/v1`.
 *
 * Every call takes an `AbortSignal` (`signal`): it ends the call, in flight or between retries, and throws the
 * signal's `reason`. A wait given `withdraw: true` (as `toolDecision` and the adapters' runners do) also withdraws
 * the card it waited on, so nobody decides a call that will not run.
 */

import { createHash, randomUUID } from "node:crypto";

import type { components } from "./api.js";
import { normalisedArtifacts, type ArtifactInput } from "./artifacts.js";
import { ApprovalsError } from "./errors.js";
import { API_PATH, Wire, type WireOptions } from "./wire.js";

export const LONG_POLL = 50; // seconds per long-poll (the API allows 60)
const KEY_PATTERN = /^[A-Za-z0-9_.:-]{1,128}$/;

type Camel<S extends string> = S extends `${infer Head}_${infer Tail}` ? `${Head}${Capitalize<Camel<Tail>>}` : S;
/** The API's JSON with its (top-level) names in camelCase. */
export type CamelCased<T> = { [K in keyof T as K extends string ? Camel<K> : K]: T[K] };

type ApiApproval = components["schemas"]["Approval"];
type ApiAsk = components["schemas"]["Ask"];

/** An approval as the API shows it (`GET /api/v1/approvals/{id}`), in camelCase, with what it means. */
export type Approval = CamelCased<Omit<ApiApproval, "arguments">> & {
  /** The arguments to run: the edited ones when a reviewer edited them ({} for a message). */
  arguments: Record<string, unknown>;
  /** Whether the agent may go ahead (approved, or timed out where the channel's timeout approves). */
  approved: boolean;
  pending: boolean;
};

/** What `check()` answers: the key's id (the `aud` of its receipts), name and channels. */
export type KeyInfo = components["schemas"]["Key"];

/** What an ask may say beyond its tool or text (the API's `Ask`, camelCase), and its Idempotency-Key. */
export type AskOptions = Partial<CamelCased<Omit<ApiAsk, "kind" | "tool" | "text" | "artifacts">>> & {
  /**
   * The change itself, as it will happen (`artifacts.ts`: file changes, commands, messages, queries): shown on the
   * card and bound by the receipt; one that is not an artefact throws `ArtifactError` before anything is sent.
   */
  artifacts?: readonly ArtifactInput[] | undefined;
  idempotencyKey?: string;
  /** Ends the ask (its reason thrown): see the module's comment. */
  signal?: AbortSignal | undefined;
};

/** What a wait may say: how long at most, and an `AbortSignal` that ends it (withdrawing the card with `withdraw`). */
export interface WaitOptions {
  /** Seconds at most; past them, the approval as it is (pending). */
  atMost?: number | undefined;
  /** Ends the wait when it aborts: its `reason` thrown. */
  signal?: AbortSignal | undefined;
  /** With `signal`: the pending card withdrawn when it aborts (its card says so), before the reason is thrown. */
  withdraw?: boolean | undefined;
}

/** What `toolDecision` may say: an ask's options, `atMost` seconds, and a `signal` that withdraws its card. */
export type ToolDecisionOptions = ToolAskOptions & { atMost?: number | undefined };

/** A tool call: the tool's name and its named arguments. */
export interface ToolCall {
  tool: string;
  arguments: Record<string, unknown>;
}

/** What `requestTool` takes: the call, and what the ask may say. */
export type ToolRequest = ToolCall & ToolAskOptions;
/** What `toolDecision` takes: the call, what the ask may say, `atMost` seconds and a `signal`. */
export type ToolDecisionRequest = ToolCall & ToolDecisionOptions;
/** What `requestMessage` takes: the text, and what the ask may say. */
export type MessageRequest = { text: string } & MessageAskOptions;

/** What `recordAllowed` says beyond the call: what let it through, and the entry's idempotency key. */
export interface AllowedOptions {
  allowedBy: string;
  idempotencyKey?: string;
  channel?: string;
  agent?: string;
  signal?: AbortSignal;
}
export type AllowedRequest = ToolCall & AllowedOptions;

/** The times a reviewer's edit is asked about again as the edited call, at most (as in Python). */
/** `use`'s and `spend`'s options: the use's token (a retry's is the same), and an `AbortSignal`. */
export interface UseOptions {
  token?: string | undefined;
  signal?: AbortSignal | undefined;
}

/**
 * A use's answer (`spend`): `used`, this is the approval's one use (run the call); else another process used it (it
 * may have run) and `refusal` is what a model reads, as the bot says it.
 */
export interface Use {
  used: boolean;
  refusal: string;
}

export const MAX_EDITS = 5;

/** A tool call's request from an options object, or from the deprecated positional form; checked. */
function toolRequest<O extends object>(
  first: string | (ToolCall & O),
  args: Record<string, unknown> | undefined,
  options: O | undefined,
): ToolCall & O {
  const request =
    typeof first === "string" ? ({ ...(options as O), tool: first, arguments: args } as ToolCall & O) : first;
  if (typeof request !== "object" || request === null) throw new TypeError("give the call as { tool, arguments }");
  const { tool, arguments: given } = request;
  if (typeof tool !== "string" || !tool) throw new TypeError("a tool call needs the tool's name");
  if (typeof given !== "object" || given === null || Array.isArray(given)) {
    throw new TypeError(`the arguments of ${tool} must be an object of named arguments`);
  }
  return request;
}

/** Seconds an abort's withdrawal may take (the bot unreachable: the card is left to its timeout). */
const WITHDRAW_FOR = 5;

export interface ToolAskOptions extends AskOptions {
  /** The tool's JSON schema of its arguments (the card checks them against it). */
  schema?: Record<string, unknown>;
  /** false when the program can run only this call as made: no edit is offered on the card. */
  editable?: boolean;
}

export interface MessageAskOptions extends AskOptions {
  kind?: "message" | "code";
}

export interface ClientOptions {
  /** The bot's base URL, or several workers'. Default `AGENT_APPROVALS_URL`. */
  url?: string | readonly string[];
  /** The API key (`aak_…`). Default `AGENT_APPROVALS_KEY`. */
  key?: string;
  /** The channel to ask in (default: the key's first). */
  channel?: string;
  /** The Slack user the program acts for. */
  requester?: string;
  /** Which agent asks (shown on the card). */
  agent?: string;
  /** This program's run or session id (default: one of its own, new for each client). */
  run?: string;
  /** What cards call the task when an ask names none. */
  title?: string;
  /** Seconds a decision may take, for asks that give none. */
  within?: number;
  /** Seconds to keep retrying a call through connection errors and 5xx answers (default 60). */
  retryFor?: number;
  /** The `fetch` to use (default the global one). */
  fetch?: typeof fetch;
  /**
   * The caller's current W3C `traceparent`, asked before each call and sent with it, so that the bot's spans of the
   * approval and of the person's wait are in the agent's own trace. Without it, the current span's is sent when
   * `@opentelemetry/api` is installed (an optional peer), nothing otherwise.
   */
  traceparent?: () => string | undefined;
  /** The environment to read the defaults from (default `process.env`). */
  env?: Readonly<Record<string, string | undefined>>;
  /** Called with each approval this client asked or waited for, once, when it is decided. */
  onDecided?: (approval: Approval) => void;
  /** Called with each approval this client asked or waited for, once, when it first answers pending (`cardUrl`). */
  onWaiting?: (approval: Approval) => void;
}

/** A tool call recorded in the bot's audit log as let through by the program's own allow-list (`recordAllowed`). */
export type AllowedCall = CamelCased<components["schemas"]["AllowedCall"]>;

const hex = (bytes: number): string =>
  randomUUID()
    .replace(/-/g, "")
    .slice(0, bytes * 2);
const snake = (name: string): string => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
const camel = (name: string): string => name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/** An approval from the API's JSON: its names in camelCase (nested values as sent: the arguments untouched). */
export function approvalOf(body: Record<string, unknown>): Approval {
  const known: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(body)) {
    if (value !== null || name === "receipt" || name === "decided_at") known[camel(name)] = value;
  }
  const status = String(body["status"] ?? "");
  if (typeof body["id"] !== "string" || !status) {
    throw new ApprovalsError(200, "not_an_approval", "the bot answered without an approval's id and status");
  }
  const args = body["arguments"];
  known["arguments"] = typeof args === "object" && args !== null && !Array.isArray(args) ? args : {};
  known["pending"] = status === "pending";
  known["approved"] = status === "approved" || (status === "timed_out" && body["timeout_outcome"] === "approve");
  return known as Approval;
}

/**
 * An Idempotency-Key made of `parts` joined by "-": as it is when the API takes it (1 to 128 of A-Z a-z 0-9 _ . : -);
 * else its unsafe characters replaced and cut, with a digest of the whole, so two keys stay apart.
 */
export function idempotencyKey(...parts: string[]): string {
  const key = parts.join("-");
  if (KEY_PATTERN.test(key)) return key;
  const safe = key.replace(/[^A-Za-z0-9_.:-]/g, "-");
  return `${safe.slice(0, 111)}-${createHash("sha256").update(key, "utf8").digest("hex").slice(0, 16)}`;
}

/** The idempotency key of a call's ask of `generation` (0: the key itself). */
export function againKey(key: string | undefined, generation: number): string | undefined {
  return key === undefined || generation === 0 ? key : idempotencyKey(key, `again${generation}`);
}

/** The async client (see the module's comment). */
export class ApprovalsClient {
  readonly title: string;
  readonly channel: string;
  readonly requester: string;
  readonly agent: string;
  readonly run: string;
  readonly within: number | undefined;
  private readonly wire: Wire;
  private readonly onDecided: ((approval: Approval) => void) | undefined;
  private readonly onWaiting: ((approval: Approval) => void) | undefined;
  private readonly told = new Set<string>(); // the decided approvals handed to onDecided already
  private readonly waited = new Set<string>(); // the pending ones handed to onWaiting already
  private readonly token = `use-${hex(16)}`; // this client's uses: its retries are the same use

  constructor(options: ClientOptions = {}) {
    const env = options.env ?? process.env;
    const url = options.url ?? env["AGENT_APPROVALS_URL"] ?? "";
    const key = options.key ?? env["AGENT_APPROVALS_KEY"] ?? "";
    if (!key) {
      throw new TypeError("give the API key: key, or AGENT_APPROVALS_KEY (`/agent keys create NAME` makes one)");
    }
    const urls = typeof url === "string" ? (url ? [url] : []) : url;
    this.title = options.title ?? "agent program";
    this.channel = options.channel ?? "";
    this.requester = options.requester ?? "";
    this.agent = options.agent ?? "";
    this.run = options.run || `run-${hex(8)}`;
    this.within = options.within;
    const wire: WireOptions = { retryFor: options.retryFor ?? 60 };
    if (options.fetch) wire.fetch = options.fetch;
    if (options.traceparent) wire.traceparent = options.traceparent;
    this.wire = new Wire(urls, key, wire);
    this.onDecided = options.onDecided;
    this.onWaiting = options.onWaiting;
  }

  /** Hand an approval to `onWaiting` (pending) or `onDecided` (decided), once per client each. */
  private tell(approval: Approval): Approval {
    const [seen, call] = approval.pending ? [this.waited, this.onWaiting] : [this.told, this.onDecided];
    if (call === undefined || seen.has(approval.id)) return approval;
    if (seen.size >= 10_000) seen.clear();
    seen.add(approval.id);
    call(approval);
    return approval;
  }

  /** The bot's base URLs, as the client uses them (`baseUrl`). */
  get urls(): string[] {
    return [...this.wire.urls];
  }

  // asking ------------------------------------------------------------------------------------------------------

  /**
   * Ask whether to call `tool` with `arguments` (shown on the card, checked against `schema`): the approval, pending
   * (its card posted) or decided at once by a rule or a policy.
   */
  async requestTool(request: ToolRequest): Promise<Approval>;
  /** @deprecated Give one object: `requestTool({ tool, arguments, ...options })`. */
  async requestTool(name: string, args: Record<string, unknown>, options?: ToolAskOptions): Promise<Approval>;
  async requestTool(
    first: string | ToolRequest,
    args?: Record<string, unknown>,
    options?: ToolAskOptions,
  ): Promise<Approval> {
    const { tool: name, arguments: given, schema, editable, ...rest } = toolRequest(first, args, options);
    const tool: Record<string, unknown> = { name, arguments: given };
    if (schema !== undefined) tool["schema"] = schema;
    if (editable === false) tool["editable"] = false;
    return this.ask({ kind: "tool", tool }, rest);
  }

  /** Ask about a message (or, with `kind: "code"`, code about to run). */
  async requestMessage(request: MessageRequest): Promise<Approval>;
  /** @deprecated Give one object: `requestMessage({ text, ...options })`. */
  async requestMessage(text: string, options?: MessageAskOptions): Promise<Approval>;
  async requestMessage(first: string | MessageRequest, options: MessageAskOptions = {}): Promise<Approval> {
    const { text, kind, ...rest } = typeof first === "string" ? { ...options, text: first } : first;
    if (typeof text !== "string" || !text) throw new TypeError("a message to approve needs its text");
    return this.ask({ kind: kind ?? "message", text }, rest);
  }

  /**
   * The decision on calling `tool(arguments)`: asked (as `requestTool`), waited for, and, approved, used once: a call
   * whose approval a dead process used already is asked about again, as one that may have run (only a person may
   * approve it). A reviewer's edit is asked about again as the edited call (up to `MAX_EDITS` times, as the Python
   * integrations do): approved, its `.arguments` are the edited ones. Run the call only when `.approved`, with
   * `.arguments`. `atMost` seconds: past them, the approval as it is (pending); the same `idempotencyKey` then finds
   * the same card. `signal` ends the wait and withdraws the pending card.
   */
  async toolDecision(request: ToolDecisionRequest): Promise<Approval>;
  /** @deprecated Give one object: `toolDecision({ tool, arguments, ...options })`. */
  async toolDecision(name: string, args: Record<string, unknown>, options?: ToolDecisionOptions): Promise<Approval>;
  async toolDecision(
    first: string | ToolDecisionRequest,
    args?: Record<string, unknown>,
    options?: ToolDecisionOptions,
  ): Promise<Approval> {
    const { atMost, idempotencyKey: key, ...request } = toolRequest(first, args, options);
    const deadline = atMost === undefined ? undefined : Date.now() + atMost * 1000;
    let decided = await this.usedOnce(request, key, deadline);
    for (let edit = 1; edit <= MAX_EDITS && decided.status === "revised" && decided.edited; edit += 1) {
      const edited = key === undefined ? undefined : idempotencyKey(key, `edit${edit}`);
      decided = await this.usedOnce({ ...request, arguments: { ...decided.arguments } }, edited, deadline);
    }
    return decided;
  }

  /** One ask of `toolDecision`: asked, waited for (until `deadline`), and, approved, used once. */
  private async usedOnce(
    request: ToolRequest,
    key: string | undefined,
    deadline: number | undefined,
  ): Promise<Approval> {
    const token = `use-${hex(16)}`;
    const signal = request.signal;
    let generation = 0;
    let mayHaveRun = false;
    for (;;) {
      const again: ToolRequest = { ...request };
      const keyed = againKey(key, generation);
      if (keyed !== undefined) again.idempotencyKey = keyed;
      if (mayHaveRun) again.mayHaveRun = true;
      let decided = await this.requestTool(again);
      if (decided.pending) {
        const left = deadline === undefined ? undefined : Math.max(0, (deadline - Date.now()) / 1000);
        decided = await this.wait(decided.id, { atMost: left, signal, withdraw: true });
      }
      if (!decided.approved) return decided;
      try {
        if (await this.use(decided.id, { token, signal })) return decided;
        mayHaveRun = true;
      } catch (error) {
        if (!ApprovalsError.isInstance(error) || error.code !== "rule_revoked") throw error;
      }
      generation += 1;
    }
  }

  private async ask(body: Record<string, unknown>, options: AskOptions): Promise<Approval> {
    const { idempotencyKey: key, title, signal, artifacts, ...rest } = options;
    body["title"] = title || this.title;
    if (artifacts !== undefined && artifacts.length > 0) body["artifacts"] = normalisedArtifacts(artifacts);
    const mine: Record<string, unknown> = {
      channel: this.channel,
      requester: this.requester,
      agent: this.agent,
      timeout: this.within,
      run: this.run,
    };
    for (const [name, value] of Object.entries(mine)) if (value) body[name] = value;
    for (const [name, value] of Object.entries(rest)) {
      if (value !== undefined && value !== null) body[snake(name)] = value;
    }
    const headers = { "Idempotency-Key": key ?? hex(16) }; // the same for every retry
    return this.tell(approvalOf(await this.wire.call("POST", `${API_PATH}/approvals`, { body, headers, signal })));
  }

  /**
   * Record in the bot's audit log that `tool(arguments)` runs without a card because the program's own allow-list
   * lets it through (`allowedBy` says what, e.g. "--allow list_*"). Nothing is asked or decided; a retry with the
   * same `idempotencyKey` adds no second entry.
   */
  async recordAllowed(request: AllowedRequest): Promise<AllowedCall>;
  /** @deprecated Give one object: `recordAllowed({ tool, arguments, allowedBy, ... })`. */
  async recordAllowed(name: string, args: Record<string, unknown>, options: AllowedOptions): Promise<AllowedCall>;
  async recordAllowed(
    first: string | AllowedRequest,
    args?: Record<string, unknown>,
    options?: AllowedOptions,
  ): Promise<AllowedCall> {
    const request = toolRequest(first, args, options);
    if (typeof request.allowedBy !== "string" || !request.allowedBy) {
      throw new TypeError("recordAllowed needs allowedBy: what in the program's allow-list let the call through");
    }
    const body: Record<string, unknown> = {
      tool: { name: request.tool, arguments: request.arguments },
      allowed_by: request.allowedBy,
    };
    const mine: Record<string, unknown> = {
      channel: request.channel || this.channel,
      requester: this.requester,
      agent: request.agent || this.agent,
    };
    for (const [field, value] of Object.entries(mine)) if (value) body[field] = value;
    const headers = { "Idempotency-Key": request.idempotencyKey ?? hex(16) };
    const answer = await this.wire.call("POST", `${API_PATH}/audit/allowed`, { body, headers, signal: request.signal });
    const made: Record<string, unknown> = {};
    for (const [field, value] of Object.entries(answer)) made[camel(field)] = value;
    return made as AllowedCall;
  }

  // reading -----------------------------------------------------------------------------------------------------

  async get(id: string, options: { signal?: AbortSignal } = {}): Promise<Approval> {
    return approvalOf(
      await this.wire.call("GET", `${API_PATH}/approvals/${encodeURIComponent(id)}`, { signal: options.signal }),
    );
  }

  /**
   * The approval once decided (long-polls of 50 s, on any worker), or as it is after `atMost` seconds. `signal` ends
   * the wait (its reason thrown); with `withdraw`, the card is withdrawn first.
   */
  async wait(id: string, options: WaitOptions = {}): Promise<Approval> {
    const { signal } = options;
    const deadline = options.atMost === undefined ? undefined : Date.now() + options.atMost * 1000;
    try {
      for (;;) {
        const left =
          deadline === undefined ? LONG_POLL : Math.min(LONG_POLL, Math.max(0, (deadline - Date.now()) / 1000));
        const path = `${API_PATH}/approvals/${encodeURIComponent(id)}?wait=${left.toFixed(1)}`;
        const approval = this.tell(approvalOf(await this.wire.call("GET", path, { holds: left, signal })));
        if (!approval.pending || (deadline !== undefined && Date.now() >= deadline)) return approval;
      }
    } catch (error) {
      if (options.withdraw && signal?.aborted) await this.withdrawOnAbort(id);
      throw error;
    }
  }

  /**
   * Withdraw `id` after an abort, for at most `WITHDRAW_FOR` seconds: a bot that cannot be reached leaves the card to
   * its timeout (nothing runs on it: the call was never used).
   */
  async withdrawOnAbort(id: string): Promise<void> {
    try {
      await this.withdraw(id, { signal: AbortSignal.timeout(WITHDRAW_FOR * 1000) });
    } catch {
      // the abort's reason is what the caller hears; the card times out as any undecided one does
    }
  }

  /**
   * Use an approved call, right before running it: true the first time (and for a retry with the same `token`: one
   * use of one decision, default this client's), false when it was used already (that use may have run it: do not
   * run it on this approval). `spend` says the same with the bot's words for a model.
   */
  async use(id: string, options: UseOptions = {}): Promise<boolean> {
    return (await this.spend(id, options)).used;
  }

  /**
   * `use`, answered as a `Use`: `used`, and when it was used already the bot's words for a model (`refusal`: "Not
   * run: approval … was used already (the call may have run) …"), which an adapter prints as they are.
   */
  async spend(id: string, options: UseOptions = {}): Promise<Use> {
    const body = { token: options.token || this.token };
    const answer = await this.wire.call("POST", `${API_PATH}/approvals/${encodeURIComponent(id)}/use`, {
      body,
      signal: options.signal,
    });
    const used = answer["used"] === true;
    const said = answer["refusal"];
    return { used, refusal: used ? "" : typeof said === "string" && said ? said : "Not run: used" };
  }

  /** Withdraw a pending approval (its card says so). A decided one is returned as it is. */
  async withdraw(id: string, options: { signal?: AbortSignal } = {}): Promise<Approval> {
    return approvalOf(
      await this.wire.call("DELETE", `${API_PATH}/approvals/${encodeURIComponent(id)}`, { signal: options.signal }),
    );
  }

  /**
   * Whether the bot answers at this client's URL and takes its key, before anything is asked: the key's `id` (the
   * `aud` of its receipts), `name` and `channels`. Throws `Unreachable` or `BadKey`, each one line naming the URL.
   */
  async check(options: { signal?: AbortSignal } = {}): Promise<KeyInfo> {
    return (await this.wire.call("GET", `${API_PATH}/key`, { signal: options.signal })) as KeyInfo;
  }
}
