// Builds the package into dist/ with tsc (strict: tsconfig.json): the client, the receipts and the package's tests
// always, and each framework's adapter (src/adapters/) whose framework is installed where the package is: in its
// node_modules or in a node_modules folder above it, as npm lays out a project that installs the package and the
// framework together (`npm install ./agents/typescript ai zod` in a clone), or, run through a link with
// `node --preserve-symlinks --preserve-symlinks-main`, above the link (the conformance suite's project does so).
// `npm run build`; npm runs it as `prepare` when it installs the package from its folder. `npm pack` runs it as
// `prepack` with `--all`: a tarball holds every adapter, or none is made (scripts/release.py packs the package
// beside the frameworks of the suite's project, tests/agents/typescript/project: docs/contributors/releasing.md).
import { spawnSync } from "node:child_process";
import process from "node:process";
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
if (process.env.npm_command === "pack" && process.env.npm_lifecycle_event === "prepare") process.exit(0); // prepack built it
/** Each adapter, and the framework it is written against. */
const ADAPTERS = {
  "ai-sdk": "ai",
  mastra: "@mastra/core",
  "openai-agents": "@openai/agents",
  langgraph: "@langchain/langgraph",
  agui: "@ag-ui/client",
};

/** The node_modules folders of the package and above it (the path as given: a link's), nearest first. */
const modules = [];
for (let dir = here; ; dir = dirname(dir)) {
  modules.push(join(dir, "node_modules"));
  if (dirname(dir) === dir) break;
}
const installed = (name) => modules.some((folder) => existsSync(join(folder, name, "package.json")));

const built = Object.keys(ADAPTERS).filter((adapter) => installed(ADAPTERS[adapter]));
const left = Object.keys(ADAPTERS).filter((adapter) => !built.includes(adapter));
if (process.argv.includes("--all") && left.length > 0) {
  process.stderr.write(
    `agent-approvals: a package is packed with every adapter; not installed beside it: ` +
      `${left.map((a) => ADAPTERS[a]).join(", ")} (pack it with python scripts/release.py)\n`,
  );
  process.exit(1);
}
let tsc;
try {
  tsc = createRequire(join(here, "package.json")).resolve("typescript/bin/tsc");
} catch {
  process.stderr.write(
    "agent-approvals: typescript is not installed: run `npm install` in the package's folder first\n",
  );
  process.exit(1);
}
const config = join(here, "tsconfig.build.json"); // written for each pass, then removed
const typeRoots = modules.map((folder) => join(folder, "@types")).filter((folder) => existsSync(folder));
// the sources first, then the tests, which import the package by its name (its dist/ then: a link's path, under a
// node_modules folder, is never mapped back to the sources)
const passes = [
  [join(here, "src", "*.ts"), ...built.map((a) => join(here, "src", "adapters", `${a}.ts`))],
  [join(here, "test")],
];
rmSync(join(here, "dist"), { recursive: true, force: true });
for (const include of passes) {
  writeFileSync(
    config,
    JSON.stringify({ extends: join(here, "tsconfig.json"), compilerOptions: { typeRoots }, include }),
  );
  const done = spawnSync(process.execPath, [tsc, "-p", config, "--preserveSymlinks"], { stdio: "inherit" });
  rmSync(config, { force: true });
  if (done.status !== 0) process.exit(done.status ?? 1);
}
const not = left.map((a) => `${a} (${ADAPTERS[a]})`).join(", ");
process.stdout.write(
  `agent-approvals: built dist/, with the adapters ${built.join(", ") || "(none)"}` +
    (not ? `; not ${not}: not installed beside the package (install the framework, then npm run build)` : "") +
    "\n",
);
