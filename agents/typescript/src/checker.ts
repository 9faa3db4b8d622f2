/**
 * The executor's side of receipts (`receipts.ts`): `ReceiptChecker` verifies a receipt with the bot's keys (fetched,
 * cached), checks the files of the change it binds on disk and spends it through the bot, once across every process;
 * `requiresReceipt(checker, { tool, artifacts })(fn)` is a tool function that runs only with a valid, unspent receipt
 * for exactly the arguments it is called with (and the artefacts it applies). `guards.py` and the `ReceiptChecker` of
 * `receipts.py` in Python. Every failure is a `ReceiptError` and nothing runs.
 */

import { randomUUID } from "node:crypto";

import type { JWTVerifyGetKey } from "jose";

import { offDisk } from "./artifacts.js";
import {
  JWKS_PATH,
  RETRY_STATUSES,
  ReceiptError,
  keysOf,
  remoteKeys,
  retrying,
  verifyReceipt,
  type Jwks,
  type ReceiptClaims,
  type VerifyOptions,
} from "./receipts.js";
import { baseUrl } from "./wire.js";

/** One request to the bot (no API key: the use needs none), retried through no answer and 502/503/504. */
async function send(
  fetcher: typeof fetch,
  url: string,
  init: RequestInit,
  retryFor: number,
  what: string,
): Promise<{ status: number; body: unknown }> {
  let response: Response;
  try {
    response = await retrying(fetcher, retryFor)(url, init);
  } catch (error) {
    const failed = error instanceof Error ? error.name : "no answer";
    throw new ReceiptError("unavailable", `the bot could not be reached to ${what} (${failed}); nothing ran`, {
      cause: error,
    });
  }
  const text = await response.text();
  if (RETRY_STATUSES.has(response.status)) {
    throw new ReceiptError(
      "unavailable",
      `the bot could not be reached to ${what} (HTTP ${response.status}); nothing ran`,
    );
  }
  try {
    return { status: response.status, body: JSON.parse(text) };
  } catch {
    return { status: response.status, body: undefined };
  }
}

export interface CheckerOptions {
  /** The bot's public keys, given instead of fetched (pinned: an unknown `kid` is refused). */
  jwks?: Jwks;
  audience?: string;
  issuer?: string;
  leeway?: number;
  /** Seconds to keep retrying the bot through connection errors and 502/503/504 answers (default 10). */
  retryFor?: number;
  /** An unknown `kid` fetches the keys again, at most once per this many seconds (default 30). */
  refetchAfter?: number;
  /** Seconds the fetched keys are used before they are fetched again (default 3600). */
  maxAge?: number;
  fetch?: typeof fetch;
}

/**
 * A call an executor is about to make: its tool, arguments and the artefacts it applies (which the receipt must
 * bind), each file change's file under `root` (default the working directory; null: not on this disk) still the
 * approved `before` (`disk_mismatch`, nothing spent).
 */
export interface CheckedCall {
  tool: string;
  arguments: unknown;
  artifacts?: readonly unknown[] | undefined;
  root?: string | null | undefined;
}

/**
 * Verifies receipts with the bot's keys and spends each once, through the bot (so a receipt runs one call, whichever
 * process of whichever executor gets it). `url` is the bot's base URL (`AGENT_APPROVALS_URL`); no API key.
 */
export class ReceiptChecker {
  readonly url: string;
  private readonly options: CheckerOptions;
  private readonly keys: JWTVerifyGetKey;

  constructor(url: string, options: CheckerOptions = {}) {
    this.url = baseUrl(url);
    this.options = options;
    const remote = { retryFor: options.retryFor ?? 10 };
    this.keys =
      options.jwks !== undefined
        ? keysOf(options.jwks)
        : remoteKeys(this.url + JWKS_PATH, options.fetch ?? globalThis.fetch, {
            ...remote,
            ...(options.maxAge === undefined ? {} : { maxAge: options.maxAge }),
            ...(options.refetchAfter === undefined ? {} : { refetchAfter: options.refetchAfter }),
          });
  }

  /**
   * The claims of `receipt`, verified for calling `tool` with exactly `arguments` and spent (this call is its one
   * use); else `ReceiptError` and the call must not run.
   */
  async check(receipt: unknown, call: CheckedCall): Promise<ReceiptClaims> {
    if (receipt === undefined || receipt === null || receipt === "") {
      throw new ReceiptError("missing", `calling ${JSON.stringify(call.tool)} needs the receipt of an approval`);
    }
    if (typeof receipt !== "string") throw new ReceiptError("malformed", "a receipt is a compact JWS string");
    const claims = await this.verified(receipt, call);
    const moved = call.root === null ? null : await offDisk(call.artifacts ?? [], call.root ?? ".");
    if (moved !== null) throw new ReceiptError("disk_mismatch", moved); // nothing spent
    await this.spend(receipt, claims);
    return claims;
  }

  /**
   * `verifyReceipt` with the bot's keys (jose's remote key set: cached `maxAge` s, fetched again when a `kid` is new
   * to them, at most once per `refetchAfter` s). Spends nothing.
   */
  async verified(receipt: string, call: CheckedCall): Promise<ReceiptClaims> {
    const made: VerifyOptions = { jwks: this.keys, tool: call.tool, arguments: call.arguments };
    if (call.artifacts !== undefined) made.artifacts = call.artifacts;
    made.leeway = this.options.leeway ?? 30;
    if (this.options.audience !== undefined) made.audience = this.options.audience;
    if (this.options.issuer !== undefined) made.issuer = this.options.issuer;
    return verifyReceipt(receipt, made);
  }

  /** The receipt's one use, through the bot: a fresh token for this call, the same token on each retry. */
  private async spend(receipt: string, claims: ReceiptClaims): Promise<void> {
    const token = `exec-${randomUUID().replace(/-/g, "")}`;
    const path = `/api/v1/approvals/${encodeURIComponent(claims.sub)}/use`;
    const init: RequestInit = {
      method: "POST",
      headers: { "Content-Type": "application/json", "User-Agent": "agent-approvals-js-executor/0.1" },
      body: JSON.stringify({ receipt, token }),
    };
    const { status, body } = await send(
      this.options.fetch ?? globalThis.fetch,
      this.url + path,
      init,
      this.options.retryFor ?? 10,
      "spend the receipt",
    );
    const said = typeof body === "object" && body !== null ? (body as Record<string, unknown>) : {};
    if (status === 200) {
      if (said["used"] === true) return;
      throw new ReceiptError("used", "the receipt was used already, by another call");
    }
    const error = said["error"];
    const detail = typeof error === "object" && error !== null ? (error as Record<string, unknown>) : undefined;
    const code = String((detail === undefined ? error : detail["code"]) ?? "").slice(0, 200);
    const message = String((detail === undefined ? said["message"] : detail["message"]) ?? "").slice(0, 200);
    if (status === 409 && code === "used") {
      throw new ReceiptError("used", "the receipt was used already, by another call (that call may have run)");
    }
    if (status >= 400 && status < 500) {
      const why = `${code || status}${message ? `: ${message}` : ""}`;
      throw new ReceiptError("refused", `the bot did not accept the receipt (${why})`);
    }
    throw new ReceiptError("unavailable", `the bot could not spend the receipt (HTTP ${status})`);
  }
}

/** A tool function that runs only with a valid, unspent receipt: `guarded(args, receipt)`. */
export type ReceiptRequired<A, R> = ((args: A, receipt: string | null | undefined) => Promise<R>) & {
  readonly tool: string;
  readonly checker: ReceiptChecker;
};

/**
 * A wrapper: `fn(args)` runs only when called with a valid, unspent receipt for calling `tool` with exactly `args`;
 * else `ReceiptError`, and its body never runs (`requires_receipt` in Python).
 *
 * ```ts
 * const sendEmail = requiresReceipt(checker, { tool: "send_email" })(
 *   async (args: { to: string; body: string }) => mailer.send(args),
 * );
 * await sendEmail(approval.arguments, approval.receipt);
 * ```
 *
 * `artifacts(args)`: the artefacts the call applies, which the receipt must bind; a file change's file under `root`
 * (default the working directory; null: not on this disk) must still hold the approved `before`.
 */
export function requiresReceipt<A = unknown>(
  checker: ReceiptChecker,
  options: { tool: string; artifacts?: (args: A) => readonly unknown[]; root?: string | null },
) {
  if (typeof options?.tool !== "string" || !options.tool) throw new TypeError("requiresReceipt needs the tool's name");
  const { tool, artifacts, root } = options;
  return <B extends A, R>(fn: (args: B) => Promise<R>): ReceiptRequired<B, R> => {
    if (typeof fn !== "function") throw new TypeError("requiresReceipt wraps a function (args) => Promise");
    const guarded = async (args: B, receipt: string | null | undefined): Promise<R> => {
      await checker.check(receipt, { tool, arguments: args, artifacts: artifacts?.(args), root });
      return fn(args);
    };
    return Object.assign(guarded, { tool, checker });
  };
}
