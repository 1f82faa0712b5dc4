/**
 * The project's layering (docs/architecture.md): imports flow one way, util → config →
 * data / metrics / ops → model / interchange → backends → train → results / registry →
 * experiment. A module
 * may import its own layer and those below; a lib/<area>/mod.ts (an entry point) may re-export
 * anything. lib/train, although above lib/backends, imports none of it (openRuntime sets the
 * backend up; training calls its ops by kernel name).
 */
import { assertEquals } from "../lib/util/assert.ts";
import { dirname, join, normalize, relative } from "node:path";

const LIB = new URL("../lib/", import.meta.url).pathname;
const LEVEL: Record<string, number> = {
  util: 0,
  config: 1,
  data: 2,
  metrics: 2,
  ops: 2,
  model: 3,
  interchange: 3,
  backends: 4,
  train: 5,
  results: 6,
  registry: 6,
  experiment: 7,
};

function* tsFiles(dir: string): Generator<string> {
  for (const e of Deno.readDirSync(dir)) {
    const p = join(dir, e.name);
    if (e.isDirectory) yield* tsFiles(p);
    else if (e.name.endsWith(".ts")) yield p;
  }
}

/** The lib/ paths `file` imports (relative imports only; type imports included). */
function importsOf(file: string): string[] {
  const text = Deno.readTextFileSync(file);
  return [...text.matchAll(/(?:from\s+|import\s+|import\()"(\.{1,2}\/[^"]+)"/g)].map((m) =>
    relative(LIB, normalize(join(dirname(file), m[1])))
  );
}

Deno.test("no module imports from a layer above its own", () => {
  const wrong: string[] = [];
  for (const file of tsFiles(LIB)) {
    const area = relative(LIB, file).split("/")[0];
    if (!(area in LEVEL)) throw new Error(`lib/${area}/ has no layer: add it to LEVEL and docs`);
    if (file.endsWith("/mod.ts")) continue;
    for (const target of importsOf(file)) {
      const to = target.split("/")[0];
      if (to in LEVEL && LEVEL[to] > LEVEL[area]) {
        wrong.push(`lib/${relative(LIB, file)} → lib/${target}`);
      }
    }
  }
  assertEquals(wrong, []);
});

// Training sits above the backends but must not reach into them: the optimiser and the moving
// average call their ops by kernel name (lib/ops/adam.ts, lib/ops/ema.ts) and each backend
// registers those kernels in its own list, so a new backend never touches lib/train.
Deno.test("lib/train imports no lib/backends module (its ops are called by kernel name)", () => {
  const wrong: string[] = [];
  for (const file of tsFiles(join(LIB, "train"))) {
    for (const target of importsOf(file)) {
      if (target.split("/")[0] === "backends") {
        wrong.push(`lib/${relative(LIB, file)} → lib/${target}`);
      }
    }
  }
  assertEquals(wrong, []);
});
