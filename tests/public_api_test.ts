/**
 * The public API: mod.ts stays small and documented, every sub-path export exists, and
 * `deno doc --lint` finds nothing in our own code (its only reports are inside tfjs-core's
 * declarations of Tensor, which the signatures have to name).
 */
import { assert, assertEquals } from "../lib/util/assert.ts";
import * as api from "../mod.ts";

const ROOT = new URL("..", import.meta.url);

Deno.test("mod.ts is a curated API: config, run, evaluate, predict, models, the ops", () => {
  const names = Object.keys(api).sort();
  assert(names.length <= 30, `mod.ts exports ${names.length} values: ${names.join(", ")}`);
  for (
    const n of [
      "loadConfig",
      "runExperiment",
      "evaluateRun",
      "loadRun",
      "predictFiles",
      "buildMedMamba",
      "modelConfig",
      "PRESETS",
      "selectiveScan",
      "selectiveScanReference",
      "ss2dCore",
      "ss2dCoreReference",
      "StarmambaError",
    ]
  ) assert(names.includes(n), `mod.ts lacks ${n}`);
});

Deno.test("deno.json's sub-path exports exist; deno doc --lint reports nothing in our code", () => {
  const cfg = JSON.parse(Deno.readTextFileSync(new URL("deno.json", ROOT)));
  const files = Object.values(cfg.exports as Record<string, string>);
  assertEquals(cfg.exports["."], "./mod.ts");
  for (const f of files) Deno.statSync(new URL(f, ROOT));
  // Each entry point alone, as a user importing that sub-path sees it: a type its signatures use
  // must be exported from that entry point itself, not merely from another one.
  for (const f of files) {
    const out = new Deno.Command(Deno.execPath(), {
      args: ["doc", "--lint", f],
      cwd: ROOT,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).outputSync();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    const ours = text.split("\n").filter((l) => /^\s*-->/.test(l) && !l.includes("node_modules"));
    assertEquals(ours, [], `${f}:\n${text.slice(0, 3000)}`);
  }
});
