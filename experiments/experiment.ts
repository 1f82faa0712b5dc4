/**
 * `deno task experiment <config.yaml> [--set key=value ...] [--publish] [--resume <run dir>]`
 * — the thin CLI over {@link runExperiment}.
 * @module
 */
import { loadConfig } from "../lib/config/load.ts";
import { configReference } from "../lib/config/reference.ts";
import { configJsonSchema } from "../lib/config/json_schema.ts";
import { resumableRunOf, runExperiment } from "../lib/experiment/run.ts";
import { parseArgs, runMain, stopOnSignals } from "../lib/util/cli.ts";
import { StarmambaError } from "../lib/util/errors.ts";
import { DiskFullError } from "../lib/util/fs.ts";
import { formatMetricsMarkdown } from "../lib/metrics/format.ts";
import type { Metrics } from "../lib/metrics/metrics.ts";
import { relative } from "node:path";

const USAGE = `usage: deno task experiment <config.yaml> [options]

Trains and evaluates one experiment described by a YAML config and writes a versioned result
folder (result.json, metrics.md, metrics.csv, history.csv, plots, the best model).

options:
  --set key=value     override a config key (repeatable), e.g. --set train.epochs=5
  --publish           write to the citable results/ folder instead of scratch/
  --resume <run dir>  continue an interrupted run (same config and --set overrides)
  --quiet             no progress output
  --keys              list every config key with its type, default and meaning
  --json-schema       print the config schema as JSON Schema (configs/schema.json)
  -h, --help          this help

examples:
  deno task experiment configs/quickstart.yaml
  deno task experiment configs/aries/best.yaml --set seed=2 --publish`;

await runMain(async () => {
  const { values, positionals } = parseArgs(
    Deno.args,
    {
      set: { type: "string", multiple: true },
      publish: { type: "boolean" },
      resume: { type: "string" },
      quiet: { type: "boolean" },
    },
    USAGE,
    {
      keys: () => configReference().trimEnd(),
      "json-schema": () => JSON.stringify(configJsonSchema(), null, 2),
    },
  );
  if (positionals.length !== 1) {
    throw new StarmambaError(
      `expected exactly one config file, got ${positionals.length}\n\n${USAGE}`,
    );
  }
  const overrides = (values.set as string[] | undefined) ?? [];
  const loaded = loadConfig(positionals[0], overrides);

  const stop = stopOnSignals();
  const resumeCommand = (runDir: string) =>
    `deno task experiment ${positionals[0]}${
      overrides.map((o) => ` --set ${o}`).join("")
    } --resume ${relative(Deno.cwd(), runDir)}`;
  const summary = await runExperiment(loaded, {
    publish: values.publish ? true : undefined,
    resumeDir: values.resume as string | undefined,
    quiet: Boolean(values.quiet),
    shouldStop: stop.requested,
  }).catch((e) => {
    // A full disk mid-run leaves the run resumable (every write is atomic): say how.
    const runDir = e instanceof DiskFullError ? resumableRunOf(e.path) : null;
    throw runDir ? new DiskFullError(e.path, `continue with: ${resumeCommand(runDir)}`) : e;
  });
  stop.dispose();
  const dir = relative(Deno.cwd(), summary.runDir);
  if (summary.interrupted) {
    console.log(`\nstopped; state saved in ${dir}/state`);
    console.log(`resume with: ${resumeCommand(summary.runDir)}`);
    return stop.exitCode();
  }
  const r = summary.result!;
  const best = r.best as { epoch: number; metrics: Metrics } | null;
  const last = r.last as { epoch: number; metrics: Metrics } | null;
  console.log(`\nresult: ${dir}/result.json  (metrics: ${dir}/metrics.md)`);
  if (!best || !last) {
    // predict asks field-context models which context to use (frame or single).
    const ctx = (r.config as { data?: { field_context?: unknown } }).data?.field_context
      ? " --context frame"
      : "";
    console.log(
      `\ntrained on every labelled image (data.split: all): no validation metrics; the model ` +
        `is the last epoch's weights (${dir}/model). Classify with:\n  deno task predict ` +
        `--model ${dir}${ctx} <images>;  wall time ${(r.wall_seconds as number).toFixed(0)} s`,
    );
    return 0;
  }
  console.log(`\nbest validation epoch ${best.epoch} (reference protocol):\n`);
  console.log(formatMetricsMarkdown(best.metrics));
  console.log(
    `\nlast epoch ${last.epoch}: accuracy ${(100 * last.metrics.accuracy).toFixed(2)}%, ` +
      `balanced ${(100 * last.metrics.balancedAccuracy).toFixed(2)}%`,
  );
  const b = r.baselines as { majority_accuracy: number; logistic_regression: { accuracy: number } };
  console.log(
    `baselines: majority ${(100 * b.majority_accuracy).toFixed(2)}%, logistic regression ` +
      `${(100 * b.logistic_regression.accuracy).toFixed(2)}%;  wall time ${
        (r.wall_seconds as number).toFixed(0)
      } s`,
  );
  return 0;
});
