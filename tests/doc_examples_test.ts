/**
 * The public API's `@example`s run (issue 30, Deno std's habit): each main entry point of mod.ts
 * carries one in its JSDoc, and `deno test --doc` executes every example of the files that hold
 * them — so an example that no longer type-checks, throws or names a key that is gone fails here.
 */
import { assert, assertEquals } from "../lib/util/assert.ts";
import * as api from "../mod.ts";
import { TASK_PERMISSIONS } from "./permissions.ts";

const ROOT = new URL("..", import.meta.url);

/** mod.ts's main entry points: a user's first calls, each with a runnable example. */
const MAIN_ENTRY_POINTS = [
  "loadConfig",
  "validateConfig",
  "runExperiment",
  "evaluateRun",
  "loadRun",
  "predictFiles",
  "verifyResults",
  "exportSafetensors",
  "importSafetensors",
  "createNetwork",
  "openRuntime",
] as const;

/** The source file of a mod.ts export, from mod.ts's own `export { … } from "…"` lines. */
function sourceOf(name: string): string {
  const mod = Deno.readTextFileSync(new URL("mod.ts", ROOT));
  for (const m of mod.matchAll(/export\s*\{([^}]*)\}\s*from\s*"([^"]+)"/g)) {
    const names = m[1].split(",").map((s) => s.trim().replace(/^type\s+/, ""));
    if (names.includes(name)) return new URL(m[2], ROOT).pathname;
  }
  throw new Error(`mod.ts does not export ${name}`);
}

/** The JSDoc block right before `export … function name` / `export const name` in `text`. */
function jsdocOf(text: string, name: string): string {
  const at = text.search(new RegExp(`export (async )?(function|const|class) ${name}\\b`));
  assert(at >= 0, `${name} is not declared where mod.ts says`);
  const end = text.lastIndexOf("*/", at);
  const start = text.lastIndexOf("/**", end);
  assert(start >= 0 && text.slice(end + 2, at).trim() === "", `${name} has no JSDoc`);
  return text.slice(start, end);
}

Deno.test("each of mod.ts's main entry points has an @example with a code block", () => {
  for (const name of MAIN_ENTRY_POINTS) {
    assert(name in api, `mod.ts lacks ${name}`);
    const doc = jsdocOf(Deno.readTextFileSync(sourceOf(name)), name);
    assert(/@example[^\n]*\n\s*\*\s*```ts/.test(doc), `${name}'s JSDoc has no @example in ts`);
  }
});

Deno.test("deno test --doc runs every example of those files, and they pass", () => {
  const files = [...new Set(MAIN_ENTRY_POINTS.map(sourceOf))].sort();
  const o = new Deno.Command(Deno.execPath(), {
    args: [
      "test",
      "--doc",
      ...TASK_PERMISSIONS,
      ...files,
    ],
    cwd: ROOT.pathname,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).outputSync();
  const out = new TextDecoder().decode(o.stdout) + new TextDecoder().decode(o.stderr);
  assertEquals(o.code, 0, out.slice(-4000));
  const passed = Number(/ok \| (\d+) passed \| 0 failed/.exec(out)?.[1] ?? 0);
  // At least one example per entry point ran (a file's type-only blocks would not count).
  assert(passed >= MAIN_ENTRY_POINTS.length, `only ${passed} examples ran:\n${out.slice(-2000)}`);
});
