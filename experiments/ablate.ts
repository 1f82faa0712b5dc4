/**
 * `deno task ablate configs/ablations/<name>.yaml [options]` — runs an ablation sweep (every
 * variant × seed of a base config) and writes its summary; the thin CLI over
 * {@link runSweep}. Rerunning the same command resumes a killed or stopped sweep.
 * @module
 */
import { relative } from "node:path";
import { checkSeeds, loadSweep, runSweep } from "../lib/experiment/sweep.ts";
import { parseArgs, runMain, stopOnSigint } from "../lib/util/cli.ts";
import { sweepJsonSchema } from "../lib/config/json_schema.ts";
import { StarmambaError } from "../lib/util/errors.ts";

const USAGE = `usage: deno task ablate <sweep.yaml> [options]

Runs every variant × seed of an ablation sweep through the experiment runner and writes
<scratch|results>/ablations/<name>/v<N>/summary.{md,csv,json} and bars.svg: mean ± std over
seeds per variant, the paired difference from the implicit "base" variant, and McNemar's test
on the same validation images. Individual runs are ordinary result folders under
<sweep folder>/runs/. Rerun the same command to resume a stopped sweep: finished runs are
skipped, an interrupted run continues from its last saved step.

sweep file:
  name: directions                 # output folder name
  description: ...                 # optional
  base: ../quickstart.yaml         # experiment config, relative to the sweep file
  seeds: [1, 2, 3]
  set: { train.epochs: 2 }         # optional, applied to every run
  publish: false                   # optional: true = results/ (citable), false = scratch/
  variants:
    - { name: k1, set: { model.directions: 1 } }

options:
  --set key=value     extra override for every run (repeatable), e.g. --set train.epochs=1
  --seeds 1,2         use these seeds instead of the file's
  --publish           write to the citable results/ folder instead of scratch/
  --new               start a new sweep version even if a matching one exists
  --quiet             no progress output
  --json-schema       print the sweep file's JSON Schema (configs/ablations/schema.json)
  -h, --help          this help

example:
  deno task ablate configs/ablations/directions.yaml --seeds 1,2 --set train.epochs=2`;

/** "1,2, 3" → [1, 2, 3] (validated like the sweep file's seeds). */
function parseSeeds(s: string): number[] {
  const parts = s.split(",").map((x) => x.trim()).filter((x) => x !== "");
  return checkSeeds(parts.map((x) => (/^\d+$/.test(x) ? Number(x) : x)), `--seeds ${s}`);
}

await runMain(async () => {
  const { values, positionals } = parseArgs(
    Deno.args,
    {
      set: { type: "string", multiple: true },
      seeds: { type: "string" },
      publish: { type: "boolean" },
      new: { type: "boolean" },
      quiet: { type: "boolean" },
    },
    USAGE,
    { "json-schema": () => JSON.stringify(sweepJsonSchema(), null, 2) },
  );
  if (positionals.length !== 1) {
    throw new StarmambaError(
      `expected exactly one sweep file, got ${positionals.length}\n\n${USAGE}`,
    );
  }
  const spec = loadSweep(positionals[0]);

  const sigint = stopOnSigint();
  const out = await runSweep(spec, {
    set: (values.set as string[] | undefined) ?? [],
    seeds: values.seeds ? parseSeeds(values.seeds as string) : undefined,
    publish: values.publish ? true : undefined,
    fresh: Boolean(values.new),
    quiet: Boolean(values.quiet),
    shouldStop: sigint.requested,
  });
  sigint.dispose();
  const dir = relative(Deno.cwd(), out.sweepDir) || ".";
  if (out.interrupted) {
    console.log(`\nstopped; progress saved in ${dir}/sweep.json`);
    console.log(`resume with the same command: deno task ablate ${Deno.args.join(" ")}`);
    return 130;
  }
  const s = out.summary!;
  console.log(
    `\n${out.executed} runs trained, ${out.resumed} resumed, ${out.skipped} already finished`,
  );
  if (out.written.length === 0) console.log("sweep was already complete; summary unchanged");
  console.log(`summary: ${dir}/summary.md  (chart: ${dir}/bars.svg)\n`);
  console.log("variant          accuracy best        accuracy last        Δ acc last vs base");
  const fmt = (m: number | null, sd: number | null, signed = false) =>
    m === null
      ? "n/a"
      : `${signed && m >= 0 ? "+" : ""}${m.toFixed(4)}${sd === null ? "" : ` ± ${sd.toFixed(4)}`}`;
  for (const v of s.variants) {
    const d = v.delta_last?.accuracy;
    console.log(
      `${v.name.padEnd(16)} ${fmt(v.best.accuracy.mean, v.best.accuracy.std).padEnd(20)} ${
        fmt(v.last.accuracy.mean, v.last.accuracy.std).padEnd(20)
      } ${d ? fmt(d.mean, d.std, true) : "—"}`,
    );
  }
  return 0;
});
