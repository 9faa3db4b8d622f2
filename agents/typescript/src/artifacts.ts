/**
 * Artefacts: the change an ask is about, as it will happen, so a reviewer sees it and the executor is held to it
 * (`agent_approvals.artifacts` in Python: the same artefacts accepted, the same refused naming the same field, the
 * same digests; the shared vectors, tests/agents/receipts/artifact_vectors.json, keep the two alike).
 *
 * - file     `{ kind: "file", path, before, after }` (`before` null: a new file; `after` null: deleted), or
 *            `{ kind: "file", path, diff, before_sha256 }`: a unified diff of the text whose SHA-256 that is; `path`
 *            is relative to the executor's root and never leaves it: not absolute (`/etc/passwd`, `C:\\x`,
 *            `\\\\server\\x`), no `..` that climbs above it (`../x`, `a/../../x`)
 * - command  `{ kind: "command", command, cwd }`
 * - message  `{ kind: "message", to: [...], subject, body }`: as it will be sent
 * - query    `{ kind: "query", sql, database }`
 *
 * `artifactSha256(artifact)` is the hex SHA-256 of the RFC 8785 JSON of the normalised artefact (every field of its
 * kind, absent ones null; a file's `before_sha256` computed from its `before`): what a receipt's `artifacts` claim
 * names, and what `verifyReceipt(..., { artifacts })` checks. `diskMismatch(artifact, root)` says why a file
 * change's file on disk is no longer the approved `before` (null when it still is): only a regular file under `root`
 * is read (opened without waiting or following a last link, its own status checked: a FIFO or a device is refused,
 * never waited on; one a symbolic link takes out of `root` is not read; at most 64 MiB), as in Python.
 */

import { createHash, timingSafeEqual } from "node:crypto";
import { constants, type Stats } from "node:fs";
import { open, realpath } from "node:fs/promises";
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from "node:path";

import { NotJson, canonicalJson } from "./json.js";

export const MAX_ARTIFACTS = 20;
const MAX_PATH = 4096;
const MAX_SHORT = 1000; // a cwd, a subject, a database, a recipient
const MAX_RECIPIENTS = 100;
const FIELDS = {
  file: ["path", "before", "after", "diff", "before_sha256"],
  command: ["command", "cwd"],
  message: ["to", "subject", "body"],
  query: ["sql", "database"],
} as const;
const HEX64 = /^[0-9a-f]{64}$/;
const ABSOLUTE = /^([/\\]|[A-Za-z]:)/; // POSIX /x; Windows \x, a share's \\server, a drive's C:
const MOST_HASHED = 64 * 1024 * 1024; // the largest file hashed (to check it is still the approved `before`)
// what Python's str.strip() takes away (str.isspace), so that both sides call the same text blank
const SPACES = [0x85, 0xa0, 0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000];
const isSpace = (c: number): boolean =>
  (c >= 9 && c <= 13) || (c >= 0x1c && c <= 0x20) || SPACES.includes(c) || (c >= 0x2000 && c <= 0x200a);
const blank = (text: string): boolean => [...text].every((c) => isSpace(c.codePointAt(0) as number));

export type FileChange = {
  kind: "file";
  path: string;
  before: string | null;
  after: string | null;
  diff: string | null;
  before_sha256: string | null;
};
export type CommandArtifact = { kind: "command"; command: string; cwd: string | null };
export type MessageArtifact = { kind: "message"; to: string[]; subject: string | null; body: string };
export type QueryArtifact = { kind: "query"; sql: string; database: string | null };
/** An artefact as the plane keeps it (normalised: every field of its kind). */
export type Artifact = FileChange | CommandArtifact | MessageArtifact | QueryArtifact;
/** An artefact as a program may write it: its `kind`, and its fields (absent ones are null; a recipient alone). */
export type ArtifactInput = { kind: Artifact["kind"]; [field: string]: unknown };

/** An artefact that is not one: `field` names where (`path`, `to[2]`, `artifacts[1].path`). */
export class ArtifactError extends TypeError {
  override name = "ArtifactError";
  readonly field: string;
  readonly said: string;

  constructor(field: string, message: string) {
    super(field ? `${field}: ${message}` : message);
    this.field = field;
    this.said = message;
  }
}

/** Hex SHA-256 of `text` as UTF-8 (a file's `before_sha256`: what the file on disk must hold). */
export function textSha256(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

const codePoints = (text: string): number => [...text].length; // as Python counts a string's length

function text(
  artifact: Record<string, unknown>,
  name: string,
  how: { required?: boolean; limit?: number; blank?: boolean } = {},
): string | null {
  const value = artifact[name];
  if (value === undefined || value === null) {
    if (how.required) throw new ArtifactError(name, "must be a string");
    return null;
  }
  if (typeof value !== "string") throw new ArtifactError(name, `must be a string${how.required ? "" : " or null"}`);
  if (how.limit && codePoints(value) > how.limit) {
    throw new ArtifactError(name, `must be at most ${how.limit} characters`);
  }
  if (how.blank === false && blank(value)) throw new ArtifactError(name, "must not be empty");
  if (value.includes("\x00")) throw new ArtifactError(name, "must not contain NUL characters");
  return value;
}

/** `path` when it is relative and never climbs above where it starts; else `ArtifactError`. */
function relativePath(path: string): string {
  if (ABSOLUTE.test(path)) throw new ArtifactError("path", "must be relative to the executor's root, not absolute");
  let depth = 0;
  for (const part of path.split(/[/\\]/)) {
    depth += part === ".." ? -1 : part === "" || part === "." ? 0 : 1;
    if (depth < 0) throw new ArtifactError("path", "must stay under the executor's root (a .. climbs out of it)");
  }
  return path;
}

function file(artifact: Record<string, unknown>): FileChange {
  const path = relativePath(text(artifact, "path", { required: true, limit: MAX_PATH, blank: false }) as string);
  const [before, after, diff] = [text(artifact, "before"), text(artifact, "after"), text(artifact, "diff")];
  const given = text(artifact, "before_sha256");
  if (given !== null && !HEX64.test(given)) {
    throw new ArtifactError("before_sha256", "must be 64 lowercase hex digits (SHA-256 of the file's text)");
  }
  if (diff !== null) {
    if (before !== null || after !== null) {
      throw new ArtifactError("diff", "a file change is either before/after or a diff, not both");
    }
    if (given === null)
      throw new ArtifactError("before_sha256", "a diff must say the SHA-256 of the text it applies to");
    if (blank(diff)) throw new ArtifactError("diff", "must not be empty");
    return { kind: "file", path, before: null, after: null, diff, before_sha256: given };
  }
  if (before === null && after === null)
    throw new ArtifactError("after", "a file change needs before or after (or a diff)");
  const computed = before === null ? null : textSha256(before);
  if (given !== null && given !== computed)
    throw new ArtifactError("before_sha256", "does not match the SHA-256 of before");
  return { kind: "file", path, before, after, diff: null, before_sha256: computed };
}

function recipients(value: unknown): string[] {
  const list = typeof value === "string" ? [value] : value;
  if (!Array.isArray(list) || list.length === 0 || list.length > MAX_RECIPIENTS) {
    throw new ArtifactError("to", `must be a list of 1 to ${MAX_RECIPIENTS} recipients`);
  }
  list.forEach((recipient: unknown, index) => {
    if (typeof recipient !== "string" || blank(recipient) || codePoints(recipient) > MAX_SHORT) {
      throw new ArtifactError(`to[${index}]`, `must be a non-empty string of at most ${MAX_SHORT} characters`);
    }
  });
  return [...(list as string[])];
}

/** `artifact` as the plane keeps it (see the module's comment), or `ArtifactError`; its `sha256` is dropped. */
export function normalisedArtifact(artifact: unknown): Artifact {
  if (typeof artifact !== "object" || artifact === null || Array.isArray(artifact)) {
    throw new ArtifactError("", "an artefact must be an object with a kind");
  }
  const given = artifact as Record<string, unknown>;
  const kind = given["kind"];
  if (typeof kind !== "string" || !Object.hasOwn(FIELDS, kind)) {
    throw new ArtifactError("kind", `must be one of ${Object.keys(FIELDS).join(", ")}`);
  }
  const fields: readonly string[] = FIELDS[kind as Artifact["kind"]];
  const unknown = Object.keys(given)
    .filter((name) => name !== "kind" && name !== "sha256" && !fields.includes(name))
    .sort();
  if (unknown.length > 0) {
    throw new ArtifactError(unknown[0] as string, `is not a field of a ${kind} artefact (${fields.join(", ")})`);
  }
  if (kind === "file") return file(given);
  if (kind === "command") {
    const command = text(given, "command", { required: true, blank: false }) as string;
    return { kind, command, cwd: text(given, "cwd", { limit: MAX_PATH }) };
  }
  if (kind === "message") {
    const to = recipients(given["to"]);
    const subject = text(given, "subject", { limit: MAX_SHORT });
    return { kind, to, subject, body: text(given, "body", { required: true }) as string };
  }
  const sql = text(given, "sql", { required: true, blank: false }) as string;
  return { kind: "query", sql, database: text(given, "database", { limit: MAX_SHORT }) };
}

/** A list of artefacts normalised, or `ArtifactError` naming the one (`artifacts[2].path`). */
export function normalisedArtifacts(artifacts: unknown): Artifact[] {
  if (!Array.isArray(artifacts)) throw new ArtifactError("artifacts", "must be a list of artefacts");
  if (artifacts.length > MAX_ARTIFACTS) {
    throw new ArtifactError("artifacts", `must hold at most ${MAX_ARTIFACTS} artefacts`);
  }
  return artifacts.map((artifact: unknown, index) => {
    try {
      return normalisedArtifact(artifact);
    } catch (error) {
      if (!(error instanceof ArtifactError)) throw error;
      throw new ArtifactError(`artifacts[${index}]${error.field ? `.${error.field}` : ""}`, error.said);
    }
  });
}

/** Hex SHA-256 of the RFC 8785 canonical JSON of the normalised artefact: the digest a receipt names. */
export function artifactSha256(artifact: unknown): string {
  return createHash("sha256")
    .update(canonicalJson(normalisedArtifact(artifact)), "utf8")
    .digest("hex");
}

/**
 * Why the file an approved file change is about no longer has its approved `before` (someone changed it after the
 * approval), or null when it still does (or the artefact is not a file change). A relative path is under `root`. A
 * new file (`before_sha256` null) must not exist yet.
 */
export async function diskMismatch(artifact: unknown, root = "."): Promise<string | null> {
  const found = normalisedArtifact(artifact);
  if (found.kind !== "file") return null;
  if (!(await inside(root, found.path))) return `${found.path} leads out of the root (a symbolic link): it is not read`;
  let digest: string;
  try {
    digest = await regularSha256(resolve(root, found.path));
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === "ENOENT") {
      return found.before_sha256 === null ? null : `${found.path} no longer exists (it was changed after the approval)`;
    }
    return `${found.path} cannot be read (${error instanceof NotRegular ? error.message : String(code ?? error)})`;
  }
  if (found.before_sha256 === null) {
    return `${found.path} exists now, but the approval was for a new file (it was created after the approval)`;
  }
  if (digest !== found.before_sha256) {
    return `${found.path} was changed after the approval (its content is not what was approved)`;
  }
  return null;
}

/** A path that names no regular file (a FIFO, a device, a socket, a directory), or one larger than is read. */
class NotRegular extends Error {
  override name = "NotRegular";
}

function kindOf(status: Stats): string {
  if (status.isFIFO()) return "a FIFO";
  if (status.isCharacterDevice()) return "a character device";
  if (status.isBlockDevice()) return "a block device";
  if (status.isSocket()) return "a socket";
  return status.isDirectory() ? "a directory" : "not a file";
}

/** `path` with its symbolic links followed, as far as it exists (a new file's missing tail kept as written). */
async function real(path: string): Promise<string> {
  try {
    return await realpath(path);
  } catch (error) {
    const parent = dirname(path);
    if ((error as { code?: unknown }).code !== "ENOENT" || parent === path) throw error;
    return join(await real(parent), basename(path));
  }
}

/** Whether `path` (relative to `root`), its symbolic links followed, lies in `root` (its links followed too). */
async function inside(root: string, path: string): Promise<boolean> {
  const [base, target] = [await real(resolve(root)), await real(resolve(root, path))];
  const climb = relative(base, target);
  return climb === "" || (!climb.startsWith(`..${sep}`) && climb !== ".." && !isAbsolute(climb));
}

/** The hex SHA-256 of the regular file at `path`: opened without waiting (a FIFO) nor following a last link, its own
 * status checked (not a look at the name first), at most MOST_HASHED bytes; else `NotRegular` (or ENOENT). */
async function regularSha256(path: string): Promise<string> {
  const flags = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (constants.O_NOFOLLOW ?? 0);
  const handle = await open(await real(path), flags);
  try {
    const status = await handle.stat();
    if (!status.isFile()) throw new NotRegular(`not a regular file: ${kindOf(status)}`);
    if (status.size > MOST_HASHED) throw new NotRegular("larger than 64 MiB");
    const hash = createHash("sha256");
    const buffer = Buffer.alloc(1024 * 1024);
    for (let read = 0; ;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      read += bytesRead;
      if (read > MOST_HASHED) throw new NotRegular("larger than 64 MiB");
      hash.update(buffer.subarray(0, bytesRead));
    }
    return hash.digest("hex");
  } finally {
    await handle.close();
  }
}

/**
 * The artefacts each tool's call applies, by the tool's name: a function of the call's arguments (an adapter's
 * `artifacts` option). A tool named here asks with them: the card shows them and the receipt binds them.
 *
 * ```ts
 * const artifacts = {
 *   write_file: ({ path, text }) => [fileChange(String(path), readFileSync(String(path), "utf8"), String(text))],
 * };
 * ```
 */
export type DeclaredArtifacts = Readonly<Record<string, (args: Record<string, unknown>) => readonly ArtifactInput[]>>;

/** What `declared` says `tool`'s call with `args` applies; undefined when it names no such tool. */
export function declaredFor(
  declared: DeclaredArtifacts | undefined,
  tool: string,
  args: Record<string, unknown>,
): readonly ArtifactInput[] | undefined {
  const made = declared !== undefined && Object.hasOwn(declared, tool) ? declared[tool] : undefined;
  return made === undefined ? undefined : made(args);
}

/** A file change as before/after text (`before` null: a new file; `after` null: deleted). */
export function fileChange(path: string, before: string | null, after: string | null): FileChange {
  return normalisedArtifact({ kind: "file", path, before, after }) as FileChange;
}

/**
 * Why `given` (the artefacts about to be applied; undefined: none given) are not exactly the ones whose digests a
 * receipt names (`named`; undefined: it names none), in order; null when they are. A receipt naming none takes none.
 */
export function unbound(named: readonly string[] | undefined, given: readonly unknown[] | undefined): string | null {
  if (given === undefined) {
    return named
      ? `the receipt binds ${named.length} artefact(s) and none were given: give the ones about to be applied`
      : null;
  }
  let digests: string[];
  try {
    digests = normalisedArtifacts(given).map(artifactSha256);
  } catch (error) {
    if (!(error instanceof ArtifactError) && !(error instanceof NotJson)) throw error;
    return `not artefacts (${error.message})`;
  }
  const approved = named ?? [];
  if (digests.length !== approved.length) {
    return `${digests.length} artefact(s) given, the receipt binds ${approved.length}`;
  }
  const wrong = digests.findIndex(
    (digest, index) => !timingSafeEqual(Buffer.from(digest), Buffer.from(approved[index] as string)),
  );
  return wrong < 0 ? null : `artifacts[${wrong}] is not the artefact approved`;
}

/** Why a file change of `artifacts` no longer finds its approved `before` under `root` (`diskMismatch`), or null. */
export async function offDisk(artifacts: readonly unknown[], root: string): Promise<string | null> {
  for (const artifact of artifacts) {
    const why = await diskMismatch(artifact, root);
    if (why !== null) return why;
  }
  return null;
}
