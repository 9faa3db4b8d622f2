/**
 * Receipts: what an approval that allows a call carries, so the executor itself can check it (`agent_approvals.
 * receipts` in Python: the same receipts accepted, the same refused, with the same reasons; shared test vectors
 * keep the two alike).
 *
 * A receipt is a compact JWS (a JWT), alg EdDSA (Ed25519), signed by the bot with a key from its JWKS
 * (`GET /api/v1/jwks.json`, the `kid` in each header). It is bound to one approval (`sub`), the key that asked
 * (`aud`), one tool and exactly its arguments (`args_sha256`: hex SHA-256 of their RFC 8785 canonical JSON), and is
 * short-lived (`exp`). When the ask carried artefacts (the change itself: `artifacts.ts`), it names each one's digest
 * (`artifacts`), and the executor gives the artefacts it is about to apply: any other, another number or order of
 * them, or none is refused (`wrong_artifacts`), and, given a `root`, a file change whose file on disk is no longer the
 * approved `before` (`disk_mismatch`).
 *
 * jose verifies it (`jwtVerify`, with the keys of `createRemoteJWKSet` or `createLocalJWKSet`); around it, the
 * project's own checks: its form, read before any key (the contract's one spelling, which jose lets pass), then the
 * claims' types and meaning in the Python verifier's order (times with its leeway, tool, the arguments' digest,
 * audience, issuer), and, with a `ReceiptChecker`, its single use through the bot.
 *
 * - `verifyReceipt(receipt, { jwks | jwksUrl, tool, arguments, artifacts, root, audience })`: the claims, or
 *   `ReceiptError`; spends nothing.
 * - `new ReceiptChecker(url)` (checker.ts): verifies with the bot's keys (fetched, cached) and spends each receipt
 *   through the bot, once across every process.
 * - `requiresReceipt(checker, { tool, artifacts })(fn)` (checker.ts): a tool function that runs only with a valid,
 *   unspent receipt for exactly the arguments it is called with (and the artefacts `artifacts(args)` says it applies).
 *
 * Every failure is a `ReceiptError` and nothing runs: a bot that cannot be reached refuses the call, as a bad
 * signature does (fail closed). The receipt itself is never logged.
 */

import { createHash, timingSafeEqual } from "node:crypto";

import {
  createLocalJWKSet,
  createRemoteJWKSet,
  customFetch,
  jwtVerify,
  type FetchImplementation,
  type JSONWebKeySet,
  type JWTVerifyGetKey,
} from "jose";

import { offDisk, unbound } from "./artifacts.js";
import { isKind, markKinds } from "./errors.js";
import { NotJson, canonicalJson, strictJson } from "./json.js";

export const TYPE = "approval-receipt+jwt"; // the JWS header's `typ`
export const ALG = "EdDSA";
export const JWKS_PATH = "/api/v1/jwks.json";
const MAX_RECEIPT = 16_384; // characters: what the bot signs is well under 2 KB
const SIGNATURE_BYTES = 64; // Ed25519
const HEADER = new Set(["alg", "kid", "typ"]);
const B64URL = /^[A-Za-z0-9_-]+$/;
export const RETRY_STATUSES = new Set([502, 503, 504]);
const HEX64 = /^[0-9a-f]{64}$/;
const STRINGS = ["iss", "sub", "jti", "tool", "args_sha256"] as const;

export type ReceiptReason =
  | "missing"
  | "malformed"
  | "unknown_key"
  | "bad_signature"
  | "expired"
  | "not_yet_valid"
  | "wrong_tool"
  | "wrong_arguments"
  | "wrong_artifacts"
  | "disk_mismatch"
  | "wrong_audience"
  | "wrong_issuer"
  | "used"
  | "refused"
  | "unavailable";

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
  /** Each artefact's digest (`artifactSha256`), in the ask's order; absent when it had none. */
  artifacts?: string[];
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

/** Keys that verify receipts: a JWKS (pinned), or jose's key set function (`createRemoteJWKSet(url)`, …). */
export type ReceiptKeys = Jwks | JWTVerifyGetKey;

export function keysOf(keys: ReceiptKeys): JWTVerifyGetKey {
  if (typeof keys === "function") return keys;
  const list = typeof keys === "object" && keys !== null ? (keys as { keys?: unknown }).keys : undefined;
  if (!Array.isArray(list)) throw new TypeError("jwks must be a JSON Web Key Set: { keys: [...] }");
  return createLocalJWKSet(keys as JSONWebKeySet);
}

export interface VerifyOptions {
  /** The bot's public keys (pinned, or jose's key set function), or */
  jwks?: ReceiptKeys;
  /** where to fetch them (`https://approvals.example.com/api/v1/jwks.json`). */
  jwksUrl?: string;
  tool: string;
  arguments: unknown;
  /** The artefacts about to be applied: exactly the ones the receipt binds (none, or `[]`, when it binds none). */
  artifacts?: readonly unknown[] | undefined;
  /** Each file change's file (a relative path under `root`) must still hold the approved `before`. */
  root?: string | undefined;
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
  const keys =
    options.jwks !== undefined
      ? keysOf(options.jwks)
      : remoteKeys(options.jwksUrl as string, options.fetch ?? globalThis.fetch, { retryFor: 10 });
  const parts = form(receipt);
  const clock = options.now ?? Date.now() / 1000;
  const leeway = options.leeway ?? 30;
  try {
    await jwtVerify(receipt as string, keys, {
      algorithms: [ALG],
      typ: TYPE,
      currentDate: new Date(clock * 1000),
      clockTolerance: leeway,
    });
  } catch (error) {
    // a claim jose refuses (a time, a type) comes after the signature verified: said below, in the contract's order
    const code = (error as { code?: unknown }).code;
    if (code !== "ERR_JWT_CLAIM_VALIDATION_FAILED" && code !== "ERR_JWT_EXPIRED") throw refusalOf(error);
  }
  const payload = jsonObject(b64url(parts[1]), "payload");
  const claims = typed(payload.value, payload.integers);
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
  const wrong = unbound(claims.artifacts, options.artifacts);
  if (wrong !== null) throw new ReceiptError("wrong_artifacts", wrong);
  const audiences = typeof claims.aud === "string" ? [claims.aud] : claims.aud;
  if (options.audience !== undefined && !audiences.includes(options.audience)) {
    const [is, not] = [JSON.stringify(claims.aud), JSON.stringify(options.audience)];
    throw new ReceiptError("wrong_audience", `the receipt is for ${is}, not ${not}`);
  }
  if (options.issuer !== undefined && claims.iss !== options.issuer) {
    const [is, not] = [JSON.stringify(claims.iss), JSON.stringify(options.issuer)];
    throw new ReceiptError("wrong_issuer", `the receipt was issued by ${is}, not ${not}`);
  }
  const moved = options.root === undefined ? null : await offDisk(options.artifacts ?? [], options.root);
  if (moved !== null) throw new ReceiptError("disk_mismatch", moved);
  return claims;
}

/**
 * The receipt's three parts when its form is the contract's (as `agent_approvals/jws.py` reads it), checked before
 * any key is: what jose would let pass is refused here, so both languages refuse alike. At most MAX_RECEIPT
 * characters in three parts, each canonical unpadded base64url (one spelling per value); a header that is a JSON
 * object with no repeated name, of exactly `alg` EdDSA, this `typ` and a `kid` (so no `crit`, no `jwk`); a 64-byte
 * signature.
 */
function form(receipt: unknown): [string, string, string] {
  if (typeof receipt !== "string" || receipt.length === 0 || receipt.length > MAX_RECEIPT) {
    throw new ReceiptError("malformed", "not a compact JWS string");
  }
  const parts = receipt.split(".");
  if (parts.length !== 3) throw new ReceiptError("malformed", "a compact JWS has three parts");
  const [head, body, signature] = parts as [string, string, string];
  const header = jsonObject(b64url(head), "header").value;
  b64url(body);
  if (header["alg"] !== ALG) throw new ReceiptError("malformed", `its alg is not ${ALG}`);
  if (header["typ"] !== TYPE) throw new ReceiptError("malformed", `its typ is not ${TYPE}`);
  if (Object.keys(header).some((name) => !HEADER.has(name))) {
    throw new ReceiptError("malformed", "its header has members this signer never writes (crit, ...)");
  }
  if (typeof header["kid"] !== "string" || !header["kid"]) {
    throw new ReceiptError("malformed", "its header names no key (kid)");
  }
  if (b64url(signature).length !== SIGNATURE_BYTES) {
    throw new ReceiptError("bad_signature", `its signature is not ${SIGNATURE_BYTES} bytes (Ed25519)`);
  }
  return [head, body, signature];
}

/** The bytes of canonical unpadded base64url text (one text per value); ReceiptError (malformed) else. */
function b64url(part: string): Uint8Array {
  const value = Buffer.from(part, "base64url");
  if (!B64URL.test(part) || part.length % 4 === 1 || value.toString("base64url") !== part) {
    throw new ReceiptError("malformed", "each part is canonical base64url, without padding");
  }
  return new Uint8Array(value);
}

/** A UTF-8 JSON object with no repeated names, and its top-level integer members (`strictJson`); malformed else. */
function jsonObject(raw: Uint8Array, what: string): { value: Record<string, unknown>; integers: Set<string> } {
  try {
    const { value, integers } = strictJson(new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(raw));
    if (typeof value === "object" && value !== null && !Array.isArray(value)) {
      return { value: value as Record<string, unknown>, integers };
    }
  } catch (error) {
    if (!(error instanceof NotJson) && !(error instanceof TypeError)) throw error;
  }
  throw new ReceiptError("malformed", `its ${what} is not a JSON object`);
}

/** What jose's refusal means as a receipt's reason (its error kept as the cause). */
function refusalOf(error: unknown): ReceiptError {
  const code = String((error as { code?: unknown }).code ?? "");
  const said = error instanceof Error ? error.message : String(error);
  if (code === "ERR_JWS_SIGNATURE_VERIFICATION_FAILED") {
    return new ReceiptError("bad_signature", "its signature does not verify", { cause: error });
  }
  if (code === "ERR_JWKS_NO_MATCHING_KEY" || code === "ERR_JWKS_MULTIPLE_MATCHING_KEYS") {
    return new ReceiptError("unknown_key", "its kid is not one of the bot's keys", { cause: error });
  }
  if (["ERR_JWT_INVALID", "ERR_JWS_INVALID", "ERR_JOSE_ALG_NOT_ALLOWED", "ERR_JOSE_NOT_SUPPORTED"].includes(code)) {
    return new ReceiptError("malformed", `not a receipt jose reads (${said})`, { cause: error });
  }
  if (ReceiptError.isInstance(error)) return error;
  const what = code === "ERR_JWKS_TIMEOUT" ? "TimeoutError" : error instanceof Error ? error.name : "no answer";
  return new ReceiptError("unavailable", `the bot's keys could not be read (${what}); nothing ran`, { cause: error });
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
  const named = claims["artifacts"];
  const digests =
    Array.isArray(named) && named.length > 0 && named.every((d) => typeof d === "string" && HEX64.test(d));
  if ("artifacts" in claims && !digests) wrong.push("artifacts");
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

/**
 * A `fetch` that retries through no answer and 502/503/504 for `retryFor` seconds, each try at most 10 s: the bot's
 * answer once it is not one of those (jose's remote key set and the receipt's use read it); else the last failure.
 */
export function retrying(fetcher: typeof fetch, retryFor: number): typeof fetch {
  return async (input, init) => {
    const giveUp = Date.now() + retryFor * 1000;
    let delay = 100;
    for (;;) {
      const limit = AbortSignal.timeout(10_000);
      const signal = init?.signal ? AbortSignal.any([init.signal, limit]) : limit;
      try {
        const response = await fetcher(input, { ...init, signal });
        if (!RETRY_STATUSES.has(response.status) || Date.now() >= giveUp) return response;
        await response.body?.cancel();
      } catch (error) {
        if (init?.signal?.aborted || Date.now() >= giveUp) throw error;
      }
      await sleep(delay * (0.5 + Math.random() / 2));
      delay = Math.min(delay * 2, 2000);
    }
  };
}

/** jose's key set of the bot's JWKS at `url`, fetched through `retrying`. */
export function remoteKeys(
  url: string,
  fetcher: typeof fetch,
  options: { retryFor: number; maxAge?: number; refetchAfter?: number },
): JWTVerifyGetKey {
  const fetchKeys = retrying(fetcher, options.retryFor) as unknown as FetchImplementation;
  return createRemoteJWKSet(new URL(url), {
    timeoutDuration: (options.retryFor + 10) * 1000, // (each try has its own 10 s)
    cacheMaxAge: (options.maxAge ?? 3600) * 1000,
    cooldownDuration: (options.refetchAfter ?? 30) * 1000, // an unknown kid fetches the keys again, at most this often
    [customFetch]: fetchKeys,
  });
}
