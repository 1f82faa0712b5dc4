/**
 * `deno task evaluate --model <run dir> [--model <run dir> …] [--tta] [--data <root>]
 * [--out file.json] [--errors sheet.svg] [--by-field] [--class-weight-power p]
 * [--no-prior-correction]` — re-evaluates a finished run's best model (or the average of several
 * runs' models) on its own validation images, optionally with a contact sheet of its surest
 * mistakes, per-field metrics or a class-weighted decision. `deno task evaluate --cv <sweep>
 * --test` scores every fold model of a cross-validation on the locked test set and publishes
 * the per-image predictions and figures in the sweep folder (lib/results/test_scoring.ts).
 * @module
 */
import {
  type EnsembleEvaluation,
  evaluateEnsemble,
  evaluateRun,
  type RunEvaluation,
  scoreCvOnTest,
} from "../lib/experiment/evaluate.ts";
import type { PriorCorrection } from "../lib/results/prior.ts";
import { formatMetricsMarkdown } from "../lib/metrics/format.ts";
import { numberOption, parseArgs, runMain } from "../lib/util/cli.ts";
import { StarmambaError } from "../lib/util/errors.ts";
import { checkOutputFile, writeFileAtomic, writeJsonAtomic } from "../lib/util/fs.ts";
import { formatGroupsMarkdown, metricsByGroup } from "../lib/metrics/groups.ts";
import { confidentErrors, errorsCsv, errorSheetSvg } from "../lib/results/errors.ts";
import { codeVersion, environment } from "../lib/results/provenance.ts";
import { recordIfPublished } from "../lib/results/manifest.ts";
import { type ProtocolMetrics, protocolMetrics } from "../lib/metrics/operating.ts";
import { formatProtocol } from "../lib/metrics/format.ts";

const USAGE = `usage: deno task evaluate --model <run dir> [options]
       deno task evaluate --cv <sweep folder> --test [--test-set <file>] [--data <root>]

Re-evaluates the best model of a finished run on the validation images listed in its
split.json (checked against the run's data fingerprint) and prints the metrics. With --tta each
image is classified in its 8 flips and quarter turns and the probabilities are averaged.
Given --model more than once, the runs are evaluated as an ensemble: their class probabilities
are averaged image by image (equal weights) and decided as one model; they must share the
validation images (the same seed, data and split settings), and each member's own metrics are
printed and recorded too.

options:
  --model <name|dir>  a released model (deno task models) or a finished run folder (holds
                      result.json, split.json, model/); repeat for an ensemble
  --tta               test-time augmentation (8 dihedral views)
  --data <root>       the ImageFolder root (default: the run's data.root, else STARMAMBA_DATA)
  --out <file.json>   also write the metrics as JSON
  --errors <file.svg> also write the most confident mistakes: a contact sheet (SVG, the
                      images embedded) and, beside it with .csv, every misclassified image
  --top <n>           tiles on the sheet (default 36; the CSV lists all mistakes)
  --by-field          also accuracy and recall per sky field (the grouping of the grouped
                      split): how evenly the model does across the frames
  --class-weight-power <p>
                      decide with the class weights (N/count)^p of the run's training split
                      applied to the probabilities (0 ≤ p ≤ 1; 1 balances the classes, 0 is
                      the plain arg-max): the decision-time counterpart of train.class_balance
                      loss with train.class_weight_power p. Moves the threshold, not the
                      ranking (ROC-AUC unchanged). Fix p before looking at validation results,
                      or the numbers are tuned on the images that score them
  --context single    field-context runs: each cutout's template from the cutout alone (its own
                      median), as when one image is classified by itself; default: its frame
  --runtime onnx      compute the probabilities with onnxruntime running the run's network
                      exported as one ONNX graph (deno task export --format onnx)
  --test              score on the locked test set instead (configs/aries/test_set.json, or
                      --test-set <file>); refused for a run that trained or validated on any
                      of its images. Temperature scaling is fitted on the validation images.
                      Every test score is published (results/README.md)
  --test-set <file>   the locked test set file for --test
  --no-prior-correction
                      a run trained with balanced classes (train.class_balance sampler or
                      loss) is decided by default under its training split's class prior
                      (Bayes' rule, from result.json's training counts), and its uncorrected
                      figures are shown beside; this flag decides with the network's own
                      probabilities (plain arg-max) instead
  --cv <sweep folder> with --test: score every fold model of a cross-validation sweep (the
                      runs its cv.json lists) on the locked test set, by the fixed rule (no
                      TTA, no class weights; prior correction as above), and write
                      test-predictions.csv (per image: file, group, label, P(galaxy) of each
                      fold model and of their mean), test-scores.json and test-scores.md into
                      the sweep folder: every figure with 95% intervals by a bootstrap over
                      images and over sky groups, recomputed from the CSV by verify-results.
                      Refused when the sweep was scored already (a test score stays published)
  -h, --help          this help

example:
  deno task evaluate --model results/improved-cpu/v1 --tta
  deno task evaluate --model results/improved-tiny/v1 --errors scratch/tiny-errors.svg
  deno task evaluate --model results/improved-cpu-context-ema/v1 \\
    --model results/improved-tiny-context/v1 --tta --class-weight-power 0.5`;

/** The protocol's figures (operating points, calibration, intervals over sky groups) for a
 * galaxy/star evaluation; null for other classes. */
function protocolOf(ev: RunEvaluation): ProtocolMetrics | null {
  if (!ev.classNames.includes("galaxy") || !ev.classNames.includes("star")) return null;
  return protocolMetrics(
    ev.labels,
    ev.probs,
    ev.classNames,
    ev.groups,
    ev.test && ev.test.calib.labels.length ? ev.test.calib : undefined,
  );
}

/** The header's words on the prior correction of the run (or of an ensemble's members). */
function priorNote(ev: RunEvaluation, members: RunEvaluation[] | null): string {
  const words = (c: PriorCorrection) =>
    Object.keys(c.to).map((k) => `${k} ${c.from[k].toFixed(3)}→${c.to[k].toFixed(3)}`).join(", ");
  const c = ev.priorCorrection ?? members?.find((m) => m.priorCorrection)?.priorCorrection;
  if (!c) return "";
  return `, prior-corrected for training with balanced classes (${words(c)}${
    members ? ", per member" : ""
  }; --no-prior-correction for the network's own)`;
}

/** `--cv <sweep> --test`: the fold models on the locked test set, published in the sweep. */
async function scoreCv(values: Record<string, unknown>): Promise<number> {
  const sweep = values.cv as string;
  if (!values.test) {
    throw new StarmambaError(
      `--cv ${sweep}: give --test too (--cv scores a cross-validation's models on the locked ` +
        "test set; a fold's own held-out figures are in its cv.md)",
    );
  }
  const clash = ["model", "tta", "out", "errors", "by-field", "class-weight-power", "runtime"]
    .find((k) => values[k] !== undefined && values[k] !== false);
  if (clash) {
    throw new StarmambaError(
      `--${clash} does not go with --cv: the test scoring's rule is fixed (no TTA, no class ` +
        "weights, starmamba's runtime) and its files go into the sweep folder",
    );
  }
  if (values.context !== undefined && values.context !== "frame") {
    throw new StarmambaError(
      `--context ${values.context} does not go with --cv: the fold models are scored as they ` +
        "trained, each cutout with its frame's context",
    );
  }
  const { written } = await scoreCvOnTest(sweep, {
    tta: false,
    dataRoot: values.data as string | undefined,
    priorCorrection: !values["no-prior-correction"],
    testSet: (values["test-set"] as string | undefined) ?? "configs/aries/test_set.json",
  });
  console.log(Deno.readTextFileSync(written[2])); // test-scores.md
  console.log(`wrote ${written.join(", ")}`);
  return 0;
}

runMain(async () => {
  const { values } = parseArgs(Deno.args, {
    model: { type: "string", multiple: true },
    tta: { type: "boolean" },
    data: { type: "string" },
    out: { type: "string" },
    errors: { type: "string" },
    top: { type: "string" },
    "by-field": { type: "boolean" },
    "class-weight-power": { type: "string" },
    context: { type: "string" },
    runtime: { type: "string" },
    test: { type: "boolean" },
    "test-set": { type: "string" },
    "no-prior-correction": { type: "boolean" },
    cv: { type: "string" },
  }, USAGE);
  if (values.cv !== undefined) return await scoreCv(values);
  const models = (values.model ?? []) as string[];
  if (models.length === 0) throw new StarmambaError(`--model <run dir> is required\n\n${USAGE}`);
  const top = values.top === undefined ? 36 : Number(values.top);
  if (!(Number.isInteger(top) && top >= 1)) {
    throw new StarmambaError(`--top ${values.top}: give a whole number ≥ 1`);
  }
  if (values.errors !== undefined && !String(values.errors).endsWith(".svg")) {
    throw new StarmambaError(`--errors ${values.errors}: give an .svg file name`);
  }
  const classWeightPower = numberOption("class-weight-power", values["class-weight-power"], 0, 1);
  const context = (values.context as string | undefined) ?? "frame";
  if (context !== "frame" && context !== "single") {
    throw new StarmambaError(`--context ${context}: choose frame or single`);
  }
  const runtime = (values.runtime as string | undefined) ?? "starmamba";
  if (runtime !== "starmamba" && runtime !== "onnx") {
    throw new StarmambaError(`--runtime ${runtime}: choose starmamba or onnx`);
  }
  const opts = {
    tta: Boolean(values.tta),
    dataRoot: values.data as string | undefined,
    classWeightPower,
    context: context as "frame" | "single",
    onnx: runtime === "onnx",
    testSet: values.test
      ? ((values["test-set"] as string | undefined) ?? "configs/aries/test_set.json")
      : undefined,
    priorCorrection: !values["no-prior-correction"],
  };
  if (values["test-set"] !== undefined && !values.test) {
    throw new StarmambaError("--test-set names the file for --test: give --test too");
  }
  // Output paths are checked before the models load and score (minutes on a large set).
  if (values.out) checkOutputFile(values.out as string, "--out");
  if (values.errors) checkOutputFile(values.errors as string, "--errors");
  const ensemble: EnsembleEvaluation | null = models.length > 1
    ? await evaluateEnsemble(models, opts)
    : null;
  const ev: RunEvaluation = ensemble ?? await evaluateRun(models[0], opts);
  const members = ensemble?.members ?? null;
  const rule = ev.decision
    ? `, decided with class weights ${
      Object.entries(ev.decision.weights).map(([c, w]) => `${c} ${w.toFixed(3)}`).join(", ")
    } ((N/count)^${ev.decision.class_weight_power})`
    : "";
  if (members) {
    for (const m of members) {
      console.log(`member ${m.run}:\n`);
      console.log(formatMetricsMarkdown(m.metrics));
      console.log("");
    }
  }
  console.log(
    `${members ? `ensemble of ${members.length} (mean of class probabilities) ` : ""}` +
      `${ev.run}: kept model${members ? "s" : ""} (train.keep) on ${ev.metrics.n} ` +
      `${
        ev.scoredOn === "test"
          ? `images of the locked test set ${ev.test!.file}`
          : "validation images"
      }` +
      `${ev.tta ? ", test-time augmentation (8 views)" : ""}${rule}` +
      `${context === "single" ? ", each cutout's context from itself alone" : ""}` +
      `${runtime === "onnx" ? ", computed by onnxruntime" : ""}` +
      `${priorNote(ev, members)}\n`,
  );
  console.log(formatMetricsMarkdown(ev.metrics));
  if (ev.uncorrectedMetrics) {
    const u = ev.uncorrectedMetrics;
    console.log(
      `\nuncorrected (the network's own probabilities, plain arg-max): accuracy ` +
        `${(100 * u.accuracy).toFixed(2)}%, balanced ${(100 * u.balancedAccuracy).toFixed(2)}%, ` +
        `ROC-AUC ${u.rocAuc.toFixed(4)}`,
    );
  }
  const protocol = protocolOf(ev);
  if (protocol) console.log(`\n${formatProtocol(protocol).join("\n")}`);
  const byField = values["by-field"]
    ? metricsByGroup(ev.groups, ev.labels, ev.probs, ev.classNames, (g) => g)
    : null;
  if (byField) {
    console.log(`\nper sky field (${byField.length}; fields that share a position are one):\n`);
    console.log(formatGroupsMarkdown(byField, ev.classNames));
  }
  if (values.out) {
    writeJsonAtomic(values.out as string, {
      schema: "starmamba.evaluation/1",
      created: new Date().toISOString(),
      // results/ and scratch/ are outputs (SHA256SUMS changes as runs publish), not code.
      code: codeVersion(new URL("..", import.meta.url).pathname, ["results", "scratch"]),
      environment: environment(),
      run: ev.run,
      ...(members
        ? {
          ensemble: {
            combine: "mean of class probabilities, equal weights",
            members: members.map((m) => ({
              run: m.run,
              metrics: m.metrics,
              ...(m.priorCorrection
                ? { prior_correction: m.priorCorrection, uncorrected_metrics: m.uncorrectedMetrics }
                : {}),
            })),
          },
        }
        : {}),
      tta: ev.tta,
      context,
      runtime,
      ...(ev.decision ? { decision: ev.decision } : {}),
      ...(ev.priorCorrection ? { prior_correction: ev.priorCorrection } : {}),
      ...(ev.uncorrectedMetrics ? { uncorrected_metrics: ev.uncorrectedMetrics } : {}),
      fingerprint: ev.fingerprint,
      scored_on: ev.scoredOn === "test" ? "locked test set" : "validation split",
      ...(ev.test ? { test_set: { file: ev.test.file, sha256: ev.test.sha256 } } : {}),
      metrics: ev.metrics,
      ...(protocol ? { protocol } : {}),
      ...(byField ? { by_field: byField } : {}),
    });
    // Into results/evaluations/: a published file, recorded in the manifest above it (if any).
    recordIfPublished([values.out as string]);
  }
  if (values.errors) {
    const svgPath = values.errors as string;
    const rows = confidentErrors(ev.files, ev.labels, ev.probs, ev.classNames);
    const title = `${ev.run}: the ${Math.min(top, rows.length)} surest of ${rows.length} ` +
      `mistakes on ${ev.labels.length} validation images${
        ev.tta ? " (TTA)" : ""
      }; true → predicted P`;
    writeFileAtomic(svgPath, await errorSheetSvg(rows.slice(0, top), ev.dataRoot, { title }));
    const csvPath = svgPath.replace(/\.svg$/, ".csv");
    writeFileAtomic(csvPath, errorsCsv(rows, ev.classNames));
    recordIfPublished([svgPath, csvPath]);
    console.log(
      `\n${rows.length} mistakes: ${svgPath} (surest ${Math.min(top, rows.length)}), ${csvPath}`,
    );
  }
  return 0;
});
