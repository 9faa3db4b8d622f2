/**
 * Where an integration keeps a paused run between asking and deciding, so that another process can finish it after
 * the asking one died: any durable key-value store of text (`StateStore`), or files (`FileStateStore`), as
 * `agent_approvals/state.py` does in Python.
 */

import { randomUUID } from "node:crypto";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";

/** Where paused runs are kept between asking and deciding (any durable key-value store of text). */
export interface StateStore {
  save(runId: string, state: string): Promise<void>;
  load(runId: string): Promise<string | null>;
  delete(runId: string): Promise<void>;
}

/** Paused runs as files in a directory, written atomically (a temporary file renamed): never half a state. */
export class FileStateStore implements StateStore {
  readonly directory: string;

  constructor(directory: string) {
    if (typeof directory !== "string" || !directory) throw new TypeError("give FileStateStore a directory");
    this.directory = directory;
  }

  /** The file of a run: its id with anything but letters, digits, `-`, `_` and `.` as `_`, cut to 120 characters. */
  path(runId: string): string {
    const safe = [...runId]
      .map((c) => (/^[\p{L}\p{N}._-]$/u.test(c) ? c : "_"))
      .join("")
      .slice(0, 120);
    return join(this.directory, `${safe}.json`);
  }

  async save(runId: string, state: string): Promise<void> {
    await mkdir(this.directory, { recursive: true });
    const temporary = join(this.directory, `.${randomUUID()}.partial`);
    try {
      await writeFile(temporary, state, { encoding: "utf8", flag: "wx" });
      await rename(temporary, this.path(runId));
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
  }

  async load(runId: string): Promise<string | null> {
    try {
      return await readFile(this.path(runId), "utf8");
    } catch (error) {
      if ((error as { code?: unknown }).code === "ENOENT") return null;
      throw error;
    }
  }

  async delete(runId: string): Promise<void> {
    await rm(this.path(runId), { force: true });
  }
}
