/**
 * The receipt binds the artefacts (#79): the shared vectors (tests/agents/receipts/artifact_vectors.json, its path in
 * ARTIFACT_VECTORS) answered as the Python side answers them, and, against a real bot, a receipt for a change A
 * verifies for A and is refused for B, and for A once its file changed on disk (nothing runs, nothing is spent).
 */

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, readFile, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";

import {
  ApprovalsClient,
  ArtifactError,
  ReceiptChecker,
  ReceiptError,
  artifactSha256,
  diskMismatch,
  fileChange,
  normalisedArtifact,
  requiresReceipt,
  textSha256,
  verifyReceipt,
  type Jwks,
} from "agent-approvals";

import { given } from "./env.js";

interface ReceiptVector {
  name: string;
  receipt: string;
  tool: string;
  arguments: unknown;
  artifacts: unknown[] | null;
  files: Record<string, string> | null;
  expect: string;
}

const made = JSON.parse(await readFile(given("ARTIFACT_VECTORS"), "utf8")) as {
  now: number;
  leeway: number;
  jwks: Jwks;
  artifacts: { name: string; artifact: unknown; sha256: string }[];
  invalid: { artifact: unknown; field: string }[];
  receipts: ReceiptVector[];
};

const refused = (reason: string) => (error: unknown) => ReceiptError.isInstance(error) && error.reason === reason;

async function answer(vector: ReceiptVector, root: string): Promise<string> {
  for (const [path, text] of Object.entries(vector.files ?? {})) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), text, "utf8");
  }
  const options: Parameters<typeof verifyReceipt>[1] = {
    jwks: made.jwks,
    tool: vector.tool,
    arguments: vector.arguments,
    now: made.now,
    leeway: made.leeway,
  };
  if (vector.artifacts !== null) options.artifacts = vector.artifacts;
  if (vector.files !== null) options.root = root;
  try {
    await verifyReceipt(vector.receipt, options);
    return "ok";
  } catch (error) {
    if (ReceiptError.isInstance(error)) return error.reason;
    throw error;
  }
}

test("every shared artefact vector is answered as the Python side answers it", async () => {
  assert.ok(made.artifacts.length >= 10 && made.receipts.length >= 20, "the vectors are there");
  assert.deepEqual(
    made.artifacts.map((v) => artifactSha256(v.artifact)),
    made.artifacts.map((v) => v.sha256),
  );
  for (const { artifact, field } of made.invalid) {
    assert.throws(
      () => normalisedArtifact(artifact),
      (error: unknown) => error instanceof ArtifactError && error.field === field,
      JSON.stringify(artifact),
    );
  }
  const root = await mkdtemp(join(tmpdir(), "artifact-vectors-"));
  const answers: Record<string, string> = {};
  for (const [n, vector] of made.receipts.entries()) answers[vector.name] = await answer(vector, join(root, `${n}`));
  assert.deepEqual(answers, Object.fromEntries(made.receipts.map((v) => [v.name, v.expect])));
});

const BEFORE = Array.from({ length: 40 }, (_, n) => `PRICE_${n + 1} = ${(n + 1) * 10}\n`).join("");
const AFTER = BEFORE.replace("PRICE_7 = 70\n", "PRICE_7 = 75\n");
const ARGS = { path: "prices.py", old_string: "PRICE_7 = 70", new_string: "PRICE_7 = 75" };

test("a receipt for change A verifies for A, is refused for B, and for A once its file changed", async () => {
  const root = await mkdtemp(join(tmpdir(), "artifacts-"));
  const file = join(root, "prices.py");
  await writeFile(file, BEFORE, "utf8");
  const change = fileChange("prices.py", BEFORE, AFTER);
  const asker = new ApprovalsClient({ title: "ts: approve the change to prices.py" });
  await assert.rejects(
    asker.requestTool({ tool: "apply_change", arguments: ARGS, artifacts: [{ kind: "file", path: "prices.py" }] }),
    (error: unknown) => error instanceof ArtifactError && error.field === "artifacts[0].after", // nothing asked
  );
  const asked = await asker.requestTool({ tool: "apply_change", arguments: ARGS, artifacts: [change] });
  assert.deepEqual(asked.artifacts?.[0], {
    kind: "file",
    sha256: artifactSha256(change),
    path: "prices.py",
    before_sha256: change.before_sha256,
  });
  const decided = await asker.wait(asked.id, { atMost: 60 });
  assert.ok(decided.approved && typeof decided.receipt === "string", decided.status);
  const jwksUrl = `${given("AGENT_APPROVALS_URL")}/api/v1/jwks.json`;
  const call = { jwksUrl, tool: "apply_change", arguments: ARGS };
  const claims = await verifyReceipt(decided.receipt, { ...call, artifacts: [change], root });
  assert.deepEqual(claims.artifacts, [artifactSha256(change)]);
  const other = fileChange("prices.py", BEFORE, AFTER.replace("75", "57")); // B: what bob never saw
  for (const artifacts of [[other], undefined, [], [change, change]]) {
    await assert.rejects(verifyReceipt(decided.receipt, { ...call, artifacts }), refused("wrong_artifacts"));
  }

  const applied: string[] = [];
  const checker = new ReceiptChecker(given("AGENT_APPROVALS_URL"), { audience: (await asker.check()).id });
  const applying = (artifacts: (args: typeof ARGS) => unknown[]) =>
    requiresReceipt(checker, { tool: "apply_change", artifacts, root })(async (args: typeof ARGS) => {
      const text = await readFile(join(root, args.path), "utf8");
      await writeFile(join(root, args.path), text.replace(args.old_string, args.new_string), "utf8");
      applied.push(args.path);
    });
  const applyChange = applying((args) => [fileChange(args.path, BEFORE, AFTER)]);
  await assert.rejects(applying(() => [other])(ARGS, decided.receipt), refused("wrong_artifacts"));
  await writeFile(file, BEFORE.replace("PRICE_9 = 90", "PRICE_9 = 99"), "utf8"); // changed after the approval
  await assert.rejects(
    verifyReceipt(decided.receipt, { ...call, artifacts: [change], root }),
    refused("disk_mismatch"),
  );
  await assert.rejects(applyChange(ARGS, decided.receipt), (error: unknown) => {
    return refused("disk_mismatch")(error) && /prices\.py was changed after the approval/.test(String(error));
  });
  assert.deepEqual(applied, []); // nothing ran, nothing was spent: with the file as approved, it runs, once
  await writeFile(file, BEFORE, "utf8");
  await applyChange(ARGS, decided.receipt);
  assert.deepEqual(applied, ["prices.py"]);
  assert.equal(await readFile(file, "utf8"), AFTER);
  await assert.rejects(applyChange(ARGS, decided.receipt), refused("disk_mismatch")); // the file is `after` now
  const spent = { tool: "apply_change", arguments: ARGS, artifacts: [change], root: null };
  await assert.rejects(checker.check(decided.receipt, spent), refused("used"));
});

test("a FIFO, a device or a link out of the root is never read, and says so at once (#87)", async () => {
  const [root, elsewhere] = [await mkdtemp(join(tmpdir(), "root-")), await mkdtemp(join(tmpdir(), "elsewhere-"))];
  execFileSync("mkfifo", [join(root, "pipe")]); // no writer: a read of it would wait for ever
  await symlink("/dev/zero", join(root, "zero"));
  await writeFile(join(elsewhere, "token.txt"), "xoxb-secret\n", "utf8");
  await symlink(join(elsewhere, "token.txt"), join(root, "link.txt"));
  const approved = (path: string) => ({
    kind: "file",
    path,
    diff: "@@ -1 +1 @@\n-a\n+b\n",
    before_sha256: textSha256("a\n"),
  });
  assert.equal(await diskMismatch(approved("pipe"), root), "pipe cannot be read (not a regular file: a FIFO)");
  for (const path of ["zero", "link.txt"]) {
    assert.equal(
      await diskMismatch(approved(path), root),
      `${path} leads out of the root (a symbolic link): it is not read`,
    );
  }
  await writeFile(join(root, "in.txt"), "a\n", "utf8");
  assert.equal(await diskMismatch(approved("in.txt"), root), null);
});
