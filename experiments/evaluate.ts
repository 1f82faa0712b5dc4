/**
 * `deno task evaluate --model <run dir> [--tta] [--data <root>] [--out file.json]` — re-evaluates
 * a finished run's best model on its own validation images.
 * @module
 */
import { evaluateRun } from "../lib/experiment/evaluate.ts";
import { formatMetricsMarkdown } from "../lib/metrics/format.ts";
import { parseArgs, runMain } from "../lib/util/cli.ts";
import { StarmambaError } from "../lib/util/errors.ts";
import { writeJsonAtomic } from "../lib/util/fs.ts";
import { codeVersion, environment } from "../lib/results/provenance.ts";

const USAGE = `usage: deno task evaluate --model <run dir> [options]

Re-evaluates the best model of a finished run on the validation images listed in its
split.json (checked against the run's data fingerprint) and prints the metrics. With --tta each
image is classified in its 8 flips and quarter turns and the probabilities are averaged.

options:
  --model <run dir>   a finished run folder (holds result.json, split.json, model/)
  --tta               test-time augmentation (8 dihedral views)
  --data <root>       the ImageFolder root (default: the run's data.root, else STARMAMBA_DATA)
  --out <file.json>   also write the metrics as JSON
  -h, --help          this help

example:
  deno task evaluate --model results/improved-cpu/v1 --tta`;

runMain(async () => {
  const { values } = parseArgs(Deno.args, {
    model: { type: "string" },
    tta: { type: "boolean" },
    data: { type: "string" },
    out: { type: "string" },
    help: { type: "boolean", short: "h" },
  }, USAGE);
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (!values.model) throw new StarmambaError(`--model <run dir> is required\n\n${USAGE}`);
  const ev = await evaluateRun(values.model as string, {
    tta: Boolean(values.tta),
    dataRoot: values.data as string | undefined,
  });
  console.log(
    `${ev.run}: best model on its ${ev.metrics.n} validation images` +
      `${ev.tta ? ", test-time augmentation (8 views)" : ""}\n`,
  );
  console.log(formatMetricsMarkdown(ev.metrics));
  if (values.out) {
    writeJsonAtomic(values.out as string, {
      schema: "starmamba.evaluation/1",
      created: new Date().toISOString(),
      code: codeVersion(new URL("..", import.meta.url).pathname),
      environment: environment(),
      ...ev,
    });
  }
  return 0;
});
