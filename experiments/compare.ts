/**
 * `deno task compare` — writes results/comparison.md (lib/results/comparison.ts): the published
 * ARIES runs beside the reference study; and results/architectures.md with
 * architectures.json (lib/results/architectures.ts, issue 31): MedMamba `cpu`, its two branch
 * switches, the ConvNet and ResNet-18 under one protocol, each against MedMamba `cpu`.
 *
 * The architecture table is a file of its own, not a section of comparison.md: comparison.md
 * answers "how far from the reference study's 91.45%?" across recipes and protocols, the table
 * answers "does the Mamba help?" across networks under one protocol, and its JSON twin holds
 * every number it shows so a reader can check them.
 * @module
 */
import { join } from "node:path";
import { parseArgs, runMain } from "../lib/util/cli.ts";
import { isFolder, writeFileAtomic } from "../lib/util/fs.ts";
import { StarmambaError } from "../lib/util/errors.ts";
import { comparisonMarkdown } from "../lib/results/comparison.ts";
import {
  architectureTable,
  writeArchitectures,
  writeArchitecturesFigure,
} from "../lib/results/architectures.ts";
import { recordIfPublished } from "../lib/results/manifest.ts";
import { openRuntime } from "../lib/backends/runtime.ts";
import { createNetwork } from "../lib/model/registry.ts";
import type { NetworkDescription } from "../lib/model/network.ts";
import { benchNetwork } from "../bench/networks.ts";

const USAGE = `usage: deno task compare [--results <dir>] [--bench <dir>]

Regenerates <dir>/comparison.md (default results/) from the published ARIES runs
(baseline and every improved-* recipe) and the test-time-augmentation re-evaluations
written by deno task evaluate --out into <dir>/evaluations/.

Writes <dir>/architectures.md, architectures.json and architectures.svg (issue 31): one row per network
(MedMamba cpu, its conv-only and SS2D-only blocks, ConvNet, ResNet-18) from its published
cross-validation sweep (ablations/cv-<network>-grouped-aries/v<N>: cv.json, the folds'
predictions.csv, test-scores.json and test-predictions.csv where scored): parameters,
forward FLOPs, bench speeds beside PyTorch, CV figures over folds and pooled with 95%
intervals over sky groups, test-set figures; then each network against MedMamba cpu
(paired fold differences, McNemar out of fold and on the test set); the svg plots the
accuracies with their intervals. A sweep not yet published is a row saying so, with the
command that runs it.

options:
  --results <dir>   the results folder (default results/)
  --bench <dir>     the bench JSON folder for the speeds (default bench/results/)`;

/** Trainable parameters of a network, built once on the CPU backend (weights never used). */
function countParams(description: NetworkDescription): number {
  const net = createNetwork(description, 1);
  try {
    return net.params.countTrainable();
  } finally {
    net.params.dispose();
  }
}

runMain(async () => {
  const { values } = parseArgs(Deno.args, {
    results: { type: "string" },
    bench: { type: "string" },
  }, USAGE);
  const root = (values.results as string | undefined) ??
    new URL("../results", import.meta.url).pathname;
  const benchDir = (values.bench as string | undefined) ??
    new URL("../bench/results", import.meta.url).pathname;
  // A mistyped --results would otherwise be created and filled with empty reports.
  if (!isFolder(root)) {
    throw new StarmambaError(
      `--results ${root}: no such folder; give the results folder (default results/)`,
    );
  }
  const md = comparisonMarkdown(root);
  writeFileAtomic(join(root, "comparison.md"), md);
  // results/comparison.md is a published file: keep its checksum manifest entry current.
  recordIfPublished([join(root, "comparison.md")]);
  console.log(md);
  // Counting an unpublished network's parameters builds it: the CPU backend and the loop scan
  // need no native library and no permission beyond the task's.
  const runtime = await openRuntime({ backend: "cpu", model: { scan_kernel: "loop" } }, {
    quiet: true,
  });
  try {
    const table = architectureTable(root, {
      benchDir,
      network: (name) => {
        const b = benchNetwork(name);
        return { description: b.description, forwardFlops: b.flops.forward };
      },
      countParams,
    });
    // writeArchitectures records both files in the manifest, as comparison.md is above.
    const [archMd] = writeArchitectures(root, table);
    await writeArchitecturesFigure(root, table);
    console.log(Deno.readTextFileSync(archMd));
  } finally {
    runtime.close();
  }
  return 0;
});
