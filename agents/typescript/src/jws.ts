/**
 * The one strict reader of what the bot signs: compact JWS (RFC 7515) with EdDSA over Ed25519 keys (RFC 8037), as
 * `agent_approvals/jws.py` reads it. jose checks the signature; this is the contract's strictness around it, read
 * before any key is: a string of at most MAX_JWS characters in three parts, each canonical unpadded base64url (one
 * spelling per value); a JSON header (no repeated names) of exactly `alg` EdDSA, the expected `typ` and a `kid` (so
 * no `crit`); a 64-byte signature; a payload that is a JSON object. Every refusal is a `JWSError` with a `reason`:
 * malformed, unknown_key (its `kid` is none of the keys) or bad_signature.
 */

import { compactVerify, errors, type CryptoKey } from "jose";

import { NotJson, strictJson } from "./json.js";

export const ALG = "EdDSA";
export const MAX_JWS = 16_384; // characters: what the bot signs is well under 2 KB
export const SIGNATURE_BYTES = 64;
const HEADER = new Set(["alg", "kid", "typ"]);
const B64URL = /^[A-Za-z0-9_-]+$/;

export type JwsReason = "malformed" | "unknown_key" | "bad_signature";

export class JWSError extends Error {
  override name = "JWSError";
  readonly reason: JwsReason;

  constructor(reason: JwsReason, message: string) {
    super(message);
    this.reason = reason;
  }
}

/** The bytes of canonical unpadded base64url text (one text per value); JWSError (malformed) else. */
export function b64urlDecode(part: unknown): Uint8Array {
  if (typeof part !== "string" || !B64URL.test(part)) {
    throw new JWSError("malformed", "each part is base64url without padding");
  }
  const value = Buffer.from(part, "base64url");
  if (part.length % 4 === 1 || value.toString("base64url") !== part) {
    throw new JWSError("malformed", "a part is not canonical base64url");
  }
  return new Uint8Array(value);
}

/** A JSON object with no repeated names, and its top-level integer members; JWSError (malformed) else. */
export function jsonObject(raw: Uint8Array, what: string): { value: Record<string, unknown>; integers: Set<string> } {
  let parsed: { value: unknown; integers: Set<string> };
  try {
    parsed = strictJson(new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(raw));
  } catch (error) {
    if (error instanceof NotJson || error instanceof TypeError) {
      throw new JWSError("malformed", `its ${what} is not a JSON object`);
    }
    throw error;
  }
  const value = parsed.value;
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new JWSError("malformed", `its ${what} is not a JSON object`);
  }
  return { value: value as Record<string, unknown>, integers: parsed.integers };
}

export type KeyOf = (kid: string) => Promise<CryptoKey | undefined>;

/**
 * The claims of `token` when it is a compact JWS of ours with this `typ`, signed by the key `keyOf(kid)` gives
 * (undefined: no such key; `whose` names the keys in that refusal). JWSError says why not; the claims' own meaning
 * (their types, times, audience) is the caller's to check.
 */
export async function readJws(
  token: unknown,
  keyOf: KeyOf,
  options: { typ: string; whose?: string },
): Promise<{ value: Record<string, unknown>; integers: Set<string> }> {
  if (typeof token !== "string" || token.length === 0 || token.length > MAX_JWS) {
    throw new JWSError("malformed", "not a compact JWS string");
  }
  const parts = token.split(".");
  if (parts.length !== 3) throw new JWSError("malformed", "a compact JWS has three parts");
  const header = jsonObject(b64urlDecode(parts[0]), "header").value; // what it says is refused by name
  if (header["alg"] !== ALG) throw new JWSError("malformed", `its alg is not ${ALG}`);
  if (header["typ"] !== options.typ) throw new JWSError("malformed", `its typ is not ${options.typ}`);
  if (Object.keys(header).some((name) => !HEADER.has(name))) {
    throw new JWSError("malformed", "its header has members this signer never writes (crit, ...)");
  }
  const kid = header["kid"];
  if (typeof kid !== "string" || !kid) throw new JWSError("malformed", "its header names no key (kid)");
  const payload = b64urlDecode(parts[1]);
  const signature = b64urlDecode(parts[2]);
  if (signature.length !== SIGNATURE_BYTES) {
    throw new JWSError("bad_signature", `its signature is not ${SIGNATURE_BYTES} bytes (Ed25519)`);
  }
  const key = await keyOf(kid);
  if (key === undefined) throw new JWSError("unknown_key", `its kid is not one of ${options.whose ?? "the keys"}`);
  try {
    await compactVerify(token, key, { algorithms: [ALG] });
  } catch (error) {
    if (error instanceof errors.JWSSignatureVerificationFailed) {
      throw new JWSError("bad_signature", "its signature does not verify");
    }
    const kind = error instanceof Error ? error.name : typeof error;
    throw new JWSError("malformed", `not a JWS jose reads (${kind})`);
  }
  return jsonObject(payload, "payload");
}
