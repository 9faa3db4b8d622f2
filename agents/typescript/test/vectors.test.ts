/**
 * The shared vectors made by the Python side (tests/support/shared_vectors.py): the TypeScript verifier answers every
 * receipt as the Python one does, computes the same args digests, and says a decision in the same words.
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import {
  ReceiptChecker,
  ReceiptError,
  approvalOf,
  argsSha256,
  refusal,
  verifyReceipt,
  who,
  type Jwks,
} from "agent-approvals";
import { createLocalJWKSet } from "jose";

import { given } from "./env.js";

interface Vector {
  name: string;
  receipt: string;
  tool: string;
  arguments: unknown;
  audience: string | null;
  issuer: string | null;
  expect: string;
}

const made = JSON.parse(readFileSync(given("RECEIPT_VECTORS"), "utf8")) as {
  now: number;
  leeway: number;
  jwks: Jwks;
  vectors: Vector[];
  digests: { arguments: unknown; sha256: string }[];
  decisions: { approval: Record<string, unknown>; who: string; refusal: string }[];
};

async function answer(vector: Vector): Promise<string> {
  try {
    const options: Parameters<typeof verifyReceipt>[1] = {
      jwks: made.jwks,
      tool: vector.tool,
      arguments: vector.arguments,
      now: made.now,
      leeway: made.leeway,
    };
    if (vector.audience !== null) options.audience = vector.audience;
    if (vector.issuer !== null) options.issuer = vector.issuer;
    const claims = await verifyReceipt(vector.receipt, options);
    assert.equal(claims.tool, vector.tool);
    return "ok";
  } catch (error) {
    if (error instanceof ReceiptError) return error.reason;
    throw error;
  }
}

test("every shared vector is answered as the Python verifier answers it", async () => {
  assert.ok(made.vectors.length >= 40, "the vectors are there");
  const answers: Record<string, string> = {};
  const expected: Record<string, string> = {};
  for (const vector of made.vectors) {
    answers[vector.name] = await answer(vector);
    expected[vector.name] = vector.expect;
  }
  assert.deepEqual(answers, expected);
  assert.ok(Object.values(expected).includes("ok") && Object.values(expected).includes("bad_signature"));
});

test("the args digest (RFC 8785) of awkward arguments is the Python side's", () => {
  for (const { arguments: args, sha256 } of made.digests) assert.equal(argsSha256(args), sha256);
});

test("verifyReceipt refuses arguments that are not JSON, and needs keys", async () => {
  const valid = made.vectors.find((v) => v.name === "valid") as Vector;
  const options = { jwks: made.jwks, tool: "send_email", now: made.now };
  await assert.rejects(
    verifyReceipt(valid.receipt, { ...options, arguments: { n: NaN } }),
    (error: unknown) => error instanceof ReceiptError && error.reason === "wrong_arguments",
  );
  await assert.rejects(
    verifyReceipt(valid.receipt, { ...options, arguments: { s: "\uD800" } }),
    (error: unknown) => error instanceof ReceiptError && error.reason === "wrong_arguments",
  );
  await assert.rejects(
    verifyReceipt(42, { ...options, arguments: {} }),
    (error: unknown) => error instanceof ReceiptError && error.reason === "malformed",
  );
  await assert.rejects(verifyReceipt(valid.receipt, { tool: "send_email", arguments: {} }), /jwks, or jwksUrl/);
});

test("a decision is said in the Python client's words: who decided, what a model reads when it does not run", () => {
  assert.ok(made.decisions.length >= 10);
  const said = made.decisions.map((d) => approvalOf(d.approval)).map((a) => ({ who: who(a), refusal: refusal(a) }));
  assert.deepEqual(
    said,
    made.decisions.map((d) => ({ who: d.who, refusal: d.refusal })),
  );
});

test("the bot's keys are fetched once and kept (jose's remote key set); a bot not there is unavailable, with why", async () => {
  const valid = made.vectors.find((v) => v.name === "valid") as Vector;
  const call = { tool: valid.tool, arguments: valid.arguments };
  const seen: string[] = [];
  const serving: typeof fetch = async (input) => {
    seen.push(new URL(String(input)).pathname);
    return new Response(JSON.stringify(made.jwks), { status: 200, headers: { "Content-Type": "application/json" } });
  };
  const checker = new ReceiptChecker("http://bot/api/v1", { fetch: serving, leeway: 1e9 });
  assert.equal((await checker.verified(valid.receipt, call)).tool, "send_email");
  assert.equal((await checker.verified(valid.receipt, call)).tool, "send_email");
  assert.deepEqual(seen, ["/api/v1/jwks.json"]);
  // a jose key set function is taken as the keys too
  const options = { tool: valid.tool, arguments: valid.arguments, now: made.now, audience: "emailer" };
  assert.equal(
    (await verifyReceipt(valid.receipt, { ...options, jwks: createLocalJWKSet(made.jwks as never) })).tool,
    "send_email",
  );
  const down: typeof fetch = async () => {
    throw new TypeError("fetch failed", { cause: Object.assign(new Error("refused"), { code: "ECONNREFUSED" }) });
  };
  const nobody = new ReceiptChecker("http://127.0.0.1:9", { fetch: down, retryFor: 0.3 });
  await assert.rejects(
    nobody.verified(valid.receipt, call),
    (error: unknown) =>
      ReceiptError.isInstance(error) && error.reason === "unavailable" && error.cause instanceof TypeError,
  );
});
