/**
 * The project's layering (docs/architecture.md): imports flow one way, util → config →
 * data / frames / metrics / ops → model / interchange → backends → train → results / registry →
 * experiment. A module
 * may import its own layer and those below; a lib/<area>/mod.ts (an entry point) may re-export
 * anything. lib/train, although above lib/backends, imports none of it (openRuntime sets the
 * backend up; training calls its ops by kernel name). And the house's three single doors (issue
 * 30): networks are built through the registry, images go through the one data pipeline, and the
 * compute is set up by openRuntime alone.
 */
import { assertEquals } from "../lib/util/assert.ts";
import { dirname, join, normalize, relative } from "node:path";

const LIB = new URL("../lib/", import.meta.url).pathname;
const LEVEL: Record<string, number> = {
  util: 0,
  config: 1,
  data: 2,
  frames: 2,
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

const ROOT = new URL("../", import.meta.url).pathname;

/** Every .ts file under the given top-level folders (lib, experiments, bench), relative to ROOT. */
function sourceFiles(...tops: string[]): string[] {
  return tops.flatMap((t) => [...tsFiles(join(ROOT, t))]).map((f) => relative(ROOT, f)).sort();
}

/** `file:line` of each line of `files` where `pattern` matches, but for the files `allowed` lists. */
function uses(files: string[], pattern: RegExp, allowed: readonly string[]): string[] {
  const found: string[] = [];
  for (const f of files) {
    if (allowed.includes(f)) continue;
    const lines = Deno.readTextFileSync(join(ROOT, f)).split("\n");
    lines.forEach((l, i) => {
      if (pattern.test(l) && !/^\s*(\*|\/\/)/.test(l)) found.push(`${f}:${i + 1}`);
    });
  }
  return found;
}

// Networks by name (lib/model/registry.ts): a network is built through createNetwork, so a
// second architecture touches one file and one registry line. Only the registry's own entry and
// the two interchange formats, which are MedMamba's layout (state_dict, ONNX graph), build
// MedMamba by its own function.
Deno.test("networks are built through the registry: buildMedMamba only in lib/model and the MedMamba interchange", () => {
  const allowed = ["lib/experiment/interchange.ts", "bench/onnx_runtime.ts"];
  const files = sourceFiles("lib", "experiments", "bench").filter((f) =>
    !f.startsWith("lib/model/")
  );
  assertEquals(uses(files, /\bbuildMedMamba\(/, allowed), []);
});

// One data pipeline (lib/data/pipeline.ts, sources.ts): training, evaluate, predict and
// lock-test get their images through it; none of them decodes, crops, stretches or builds the
// field context by hand (that is how predict and training once drifted apart).
Deno.test("one data pipeline: no runner, CLI or bench decodes, stretches, crops or builds field context itself", () => {
  const steps =
    /\b(withFieldContext|centerCrop|applyStretch|decodeFitsInto|readFits|decodeImage|decodeCutout|toChannels)\b/;
  assertEquals(uses(sourceFiles("lib/experiment", "experiments", "bench"), steps, []), []);
});

// One runtime (lib/backends/runtime.ts): the backend and the scan kernel are set up by
// openRuntime alone, in its order; no caller repeats the two steps.
Deno.test("one runtime: only openRuntime sets up the backend and chooses the scan kernel", () => {
  const steps = /\b(setupBackend|selectScanKernel)\b|backends\/(setup|select)\.ts"/;
  const files = sourceFiles("lib", "experiments", "bench").filter((f) =>
    !f.startsWith("lib/backends/")
  );
  assertEquals(uses(files, steps, []), []);
});
