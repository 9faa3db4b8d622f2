/**
 * Receipts: what an approval that allows a call carries, so the executor itself can check it (`agent_approvals.
 * receipts` in Python: the same receipts accepted, the same refused, with the same reasons; shared test vectors
 * keep the two alike).
 *
 * A receipt is a compact JWS, alg EdDSA (Ed25519), signed by the bot with a key from its JWKS
 * (`GET /api/v1/jwks.json`, the `kid` in each header). It is bound to one approval (`sub`), the key that asked
 * (`aud`), one tool and exactly its arguments (`args_sha256`: hex SHA-256 of their RFC 8785 canonical JSON), and is
 * short-lived (`exp`).
 *
 * - `verifyReceipt(receipt, { jwks | jwksUrl, tool, arguments, audience })`: the claims, or `ReceiptError`; spends
 *   nothing.
 * - `new ReceiptChecker(url)`: verifies with the bot's keys (fetched, cached) and spends each receipt through the bot,
 *   once across every process.
 * - `requiresReceipt(checker, { tool })(fn)`: a tool function that runs only with a valid, unspent receipt for
 *   exactly the arguments it is called with.
 *
 * Every failure is a `ReceiptError` and nothing runs: a bot that cannot be reached refuses the call, as a bad
 * signature does (fail closed). The receipt itself is never logged.
 */

import { createHash, randomUUID, timingSafeEqual } from "node:crypto";

import { importJWK, type CryptoKey } from "jose";

import { ALG, JWSError, b64urlDecode, readJws } from "./jws.js";
import { NotJson, canonicalJson } from "./json.js";
import { isKind, markKinds } from "./errors.js";
import { baseUrl } from "./wire.js";

export const TYPE = "approval-receipt+jwt"; // the JWS header's `typ`
export const JWKS_PATH = "/api/v1/jwks.json";
const RETRY_STATUSES = new Set([502, 503, 504]);
const HEX64 = /^[0-9a-f]{64}$/;
const STRINGS = ["iss", "sub", "jti", "tool", "args_sha256"] as const;

export type ReceiptReason =
  | "missing" | "malformed" | "unknown_key" | "bad_signature" | "expired" | "not_yet_valid" | "wrong_tool"
  | "wrong_arguments" | "wrong_audience" | "wrong_issuer" | "used" | "refused" | "unavailable";

/** A call refused for its receipt; nothing was run. `reason` says why, as a code (the Python side's codes). */
export class ReceiptError extends Error {
  static readonly kind: string = "ReceiptError";
  override name = "ReceiptError";
  readonly reason: ReceiptReason;
  readonly said: string;

  /** `cause`: what failed under it (the bot's fetch, jose's error), when something did. */
  constructor(reason: ReceiptReason, message: string, options: { cause?: unknown } = {}) {
    super(`${reason}: ${message}`, options.cause === undefined ? undefined : { cause: options.cause });
    markKinds(this, new.target);
    this.reason = reason;
    this.said = message;
  }

  /** Whether `error` is a `ReceiptError` made by any copy of this package (`instanceof` is not, across copies). */
  static isInstance(error: unknown): error is ReceiptError {
    return isKind(error, ReceiptError.kind);
  }
}

/** The signed claims of a receipt, as the bot writes them. */
export interface ReceiptClaims {
  iss: string;
  sub: string;
  aud: string | string[];
  jti: string;
  iat: number;
  exp: number;
  nbf?: number;
  tool: string;
  args_sha256: string;
  decided_by: unknown[];
  [claim: string]: unknown;
}

/** A JSON Web Key Set, as `GET /api/v1/jwks.json` answers. */
export interface Jwks {
  keys: unknown[];
}

/** Hex SHA-256 of the RFC 8785 (JCS) canonical JSON of `args`: the `args_sha256` claim. */
export function argsSha256(args: unknown): string {
  return createHash("sha256").update(canonicalJson(args), "utf8").digest("hex");
}

/** The Ed25519 keys of a JWKS that may verify a receipt, by kid (imported on first use). */
export class KeySet {
  private readonly jwks = new Map<string, string>(); // kid -> x
  private readonly imported = new Map<string, CryptoKey>();

  constructor(jwks: unknown) {
    const keys = typeof jwks === "object" && jwks !== null ? (jwks as { keys?: unknown }).keys : undefined;
    for (const jwk of Array.isArray(keys) ? keys : []) {
      if (typeof jwk !== "object" || jwk === null || Array.isArray(jwk)) continue;
      const { kid, kty, crv, alg, use, x } = jwk as Record<string, unknown>;
      if (typeof kid !== "string" || !kid || this.jwks.has(kid)) continue;
      if (kty !== "OKP" || crv !== "Ed25519" || (alg ?? ALG) !== ALG || (use ?? "sig") !== "sig") continue;
      if (typeof x !== "string") continue;
      try {
        if (b64urlDecode(x).length !== 32) continue;
      } catch {
        continue;
      }
      this.jwks.set(kid, x);
    }
  }

  async key(kid: string): Promise<CryptoKey | undefined> {
    const x = this.jwks.get(kid);
    if (x === undefined) return undefined;
    let key = this.imported.get(kid);
    if (key === undefined) {
      try {
        key = (await importJWK({ kty: "OKP", crv: "Ed25519", x }, ALG)) as CryptoKey;
      } catch {
        return undefined;
      }
      this.imported.set(kid, key);
    }
    return key;
  }
}

export interface VerifyOptions {
  /** The bot's public keys (pinned), or */
  jwks?: Jwks | KeySet;
  /** where to fetch them (`https://approvals.example.com/api/v1/jwks.json`). */
  jwksUrl?: string;
  tool: string;
  arguments: unknown;
  /** The id of the API key whose approvals this executor runs (`check()`'s `id`): the receipt must name it. */
  audience?: string;
  issuer?: string;
  /** Seconds since the epoch (default the clock). */
  now?: number;
  /** Seconds of clock skew allowed on `exp`, `iat` and `nbf` (default 30). */
  leeway?: number;
  fetch?: typeof fetch;
}

/**
 * The claims of `receipt` when it is a receipt the bot's keys signed for calling `tool` with exactly `arguments` (key
 * order does not matter: RFC 8785), and still valid; else `ReceiptError`. Spends nothing.
 *
 * ```ts
 * const claims = await verifyReceipt(receipt, { jwks, tool: "send_email", arguments: { to: "bob@example.com" } });
 * ```
 */
export async function verifyReceipt(receipt: unknown, options: VerifyOptions): Promise<ReceiptClaims> {
  if ((options.jwks === undefined) === (options.jwksUrl === undefined)) {
    throw new TypeError("give verifyReceipt the bot's keys: jwks, or jwksUrl (not both)");
  }
  const keys = options.jwks instanceof KeySet ? options.jwks
    : new KeySet(options.jwks ?? await fetchKeys(options.jwksUrl as string, options.fetch ?? globalThis.fetch, 10));
  let read: { value: Record<string, unknown>; integers: Set<string> };
  try {
    read = await readJws(receipt, (kid) => keys.key(kid), { typ: TYPE, whose: "the bot's keys" });
  } catch (error) {
    if (error instanceof JWSError) throw new ReceiptError(error.reason, error.message, { cause: error });
    throw error;
  }
  const claims = typed(read.value, read.integers);
  const clock = options.now ?? Date.now() / 1000;
  const leeway = options.leeway ?? 30;
  if (clock > claims.exp + leeway) {
    throw new ReceiptError("expired", `the receipt expired ${Math.trunc(clock - claims.exp)} s ago`);
  }
  if (claims.iat > clock + leeway || (claims.nbf !== undefined && claims.nbf > clock + leeway)) {
    throw new ReceiptError("not_yet_valid", "the receipt is dated ahead of this clock");
  }
  if (claims.tool !== options.tool) {
    const [is, not] = [JSON.stringify(claims.tool), JSON.stringify(options.tool)];
    throw new ReceiptError("wrong_tool", `the receipt is for ${is}, not ${not}`);
  }
  if (!timingSafeEqual(Buffer.from(claims.args_sha256), Buffer.from(digest(options.arguments)))) {
    throw new ReceiptError("wrong_arguments", "the arguments are not the ones approved");
  }
  const audiences = typeof claims.aud === "string" ? [claims.aud] : claims.aud;
  if (options.audience !== undefined && !audiences.includes(options.audience)) {
    const [is, not] = [JSON.stringify(claims.aud), JSON.stringify(options.audience)];
    throw new ReceiptError("wrong_audience", `the receipt is for ${is}, not ${not}`);
  }
  if (options.issuer !== undefined && claims.iss !== options.issuer) {
    const [is, not] = [JSON.stringify(claims.iss), JSON.stringify(options.issuer)];
    throw new ReceiptError("wrong_issuer", `the receipt was issued by ${is}, not ${not}`);
  }
  return claims;
}

/** The signed claims, each of the type the contract gives it (the times integer literals, as Python's `int`). */
function typed(claims: Record<string, unknown>, integers: Set<string>): ReceiptClaims {
  const wrong: string[] = STRINGS.filter((name) => typeof claims[name] !== "string" || !claims[name]);
  wrong.push(...["iat", "exp"].filter((name) => !integers.has(name)));
  if ("nbf" in claims && !integers.has("nbf")) wrong.push("nbf");
  const aud = claims["aud"];
  if (!(typeof aud === "string" || (Array.isArray(aud) && aud.every((a) => typeof a === "string")))) wrong.push("aud");
  if (!Array.isArray(claims["decided_by"])) wrong.push("decided_by");
  if (!wrong.includes("args_sha256") && !HEX64.test(claims["args_sha256"] as string)) wrong.push("args_sha256");
  if (wrong.length > 0) throw new ReceiptError("malformed", `missing or mistyped claims: ${wrong.join(", ")}`);
  return claims as ReceiptClaims;
}

function digest(args: unknown): string {
  try {
    return argsSha256(args);
  } catch (error) {
    if (error instanceof NotJson || error instanceof TypeError || error instanceof RangeError) {
      throw new ReceiptError("wrong_arguments", "the arguments are not JSON, so no receipt is for them");
    }
    throw error;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** One request to the bot (no API key: the keys and the use need none), retried through no answer and 502/503/504. */
async function send(
  fetcher: typeof fetch, url: string, init: RequestInit, retryFor: number, what: string,
): Promise<{ status: number; body: unknown }> {
  const giveUp = Date.now() + retryFor * 1000;
  let delay = 100;
  for (;;) {
    let failed: string;
    let cause: unknown;
    try {
      const response = await fetcher(url, { ...init, signal: AbortSignal.timeout(10_000) });
      const text = await response.text();
      if (!RETRY_STATUSES.has(response.status)) {
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          body = undefined;
        }
        return { status: response.status, body };
      }
      failed = `HTTP ${response.status}`;
    } catch (error) {
      failed = error instanceof Error ? error.name : "no answer";
      cause = error;
    }
    if (Date.now() >= giveUp) {
      throw new ReceiptError("unavailable", `the bot could not be reached to ${what} (${failed}); nothing ran`,
        { cause });
    }
    await sleep(delay * (0.5 + Math.random() / 2));
    delay = Math.min(delay * 2, 2000);
  }
}

async function fetchKeys(url: string, fetcher: typeof fetch, retryFor: number): Promise<Jwks> {
  const { status, body } = await send(fetcher, url, { method: "GET" }, retryFor, "fetch its keys");
  if (status !== 200 || typeof body !== "object" || body === null || !Array.isArray((body as Jwks).keys)) {
    throw new ReceiptError("unavailable", `the bot's keys could not be read (HTTP ${status})`);
  }
  return body as Jwks;
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
 * Verifies receipts with the bot's keys and spends each once, through the bot (so a receipt runs one call, whichever
 * process of whichever executor gets it). `url` is the bot's base URL (`AGENT_APPROVALS_URL`); no API key.
 */
export class ReceiptChecker {
  readonly url: string;
  private readonly options: CheckerOptions;
  private readonly pinned: boolean;
  private keys: KeySet | undefined;
  private fetchedAt = -Infinity;
  private refreshedAt = -Infinity;
  private fetching: Promise<KeySet> | undefined;

  constructor(url: string, options: CheckerOptions = {}) {
    this.url = baseUrl(url);
    this.options = options;
    this.pinned = options.jwks !== undefined;
    this.keys = options.jwks === undefined ? undefined : new KeySet(options.jwks);
  }

  /**
   * The claims of `receipt`, verified for calling `tool` with exactly `arguments` and spent (this call is its one
   * use); else `ReceiptError` and the call must not run.
   */
  async check(receipt: unknown, call: { tool: string; arguments: unknown }): Promise<ReceiptClaims> {
    if (receipt === undefined || receipt === null || receipt === "") {
      throw new ReceiptError("missing", `calling ${JSON.stringify(call.tool)} needs the receipt of an approval`);
    }
    if (typeof receipt !== "string") throw new ReceiptError("malformed", "a receipt is a compact JWS string");
    const claims = await this.verified(receipt, call);
    await this.spend(receipt, claims);
    return claims;
  }

  /** `verifyReceipt` with the bot's keys (fetched again once when the `kid` is new to them). Spends nothing. */
  async verified(receipt: string, call: { tool: string; arguments: unknown }): Promise<ReceiptClaims> {
    const options = (jwks: KeySet): VerifyOptions => {
      const made: VerifyOptions = { jwks, tool: call.tool, arguments: call.arguments };
      made.leeway = this.options.leeway ?? 30;
      if (this.options.audience !== undefined) made.audience = this.options.audience;
      if (this.options.issuer !== undefined) made.issuer = this.options.issuer;
      return made;
    };
    try {
      return await verifyReceipt(receipt, options(await this.keySet()));
    } catch (error) {
      if (!(error instanceof ReceiptError) || error.reason !== "unknown_key" || this.pinned) throw error;
    }
    return verifyReceipt(receipt, options(await this.keySet(true)));
  }

  /** The bot's keys: given, or fetched and kept `maxAge` s; `refresh` (a new kid) at most once per `refetchAfter` s. */
  async keySet(refresh = false): Promise<KeySet> {
    if (this.pinned && this.keys !== undefined) return this.keys;
    if (this.fetching !== undefined) return this.fetching;
    const now = Date.now() / 1000;
    const stale = refresh ? now - this.refreshedAt >= (this.options.refetchAfter ?? 30)
      : now - this.fetchedAt >= (this.options.maxAge ?? 3600);
    if (this.keys !== undefined && !stale) return this.keys;
    this.fetching = (async () => {
      const fetcher = this.options.fetch ?? globalThis.fetch;
      const jwks = await fetchKeys(this.url + JWKS_PATH, fetcher, this.options.retryFor ?? 10);
      this.keys = new KeySet(jwks);
      this.fetchedAt = Date.now() / 1000;
      if (refresh) this.refreshedAt = this.fetchedAt;
      return this.keys;
    })();
    try {
      return await this.fetching;
    } finally {
      this.fetching = undefined;
    }
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
    const { status, body } = await send(this.options.fetch ?? globalThis.fetch, this.url + path, init,
      this.options.retryFor ?? 10, "spend the receipt");
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
 */
export function requiresReceipt(checker: ReceiptChecker, options: { tool: string }) {
  if (typeof options?.tool !== "string" || !options.tool) throw new TypeError("requiresReceipt needs the tool's name");
  const tool = options.tool;
  return <A, R>(fn: (args: A) => Promise<R>): ReceiptRequired<A, R> => {
    if (typeof fn !== "function") throw new TypeError("requiresReceipt wraps a function (args) => Promise");
    const guarded = async (args: A, receipt: string | null | undefined): Promise<R> => {
      await checker.check(receipt, { tool, arguments: args });
      return fn(args);
    };
    return Object.assign(guarded, { tool, checker });
  };
}
