/**
 * `deno task compare` — writes results/comparison.md (lib/results/comparison.ts): the published
 * ARIES runs beside the reference study.
 * @module
 */
import { join } from "node:path";
import { parseArgs, runMain } from "../lib/util/cli.ts";
import { writeFileAtomic } from "../lib/util/fs.ts";
import { comparisonMarkdown } from "../lib/results/comparison.ts";
import { recordIfPublished } from "../lib/results/manifest.ts";

const USAGE = `usage: deno task compare [--results <dir>]

Regenerates <dir>/comparison.md (default results/) from the published ARIES runs
(baseline and every improved-* recipe) and the test-time-augmentation re-evaluations
written by deno task evaluate --out into <dir>/evaluations/.`;

runMain(() => {
  const { values } = parseArgs(Deno.args, {
    results: { type: "string" },
  }, USAGE);
  const root = (values.results as string | undefined) ??
    new URL("../results", import.meta.url).pathname;
  const md = comparisonMarkdown(root);
  writeFileAtomic(join(root, "comparison.md"), md);
  // results/comparison.md is a published file: keep its checksum manifest entry current.
  recordIfPublished([join(root, "comparison.md")]);
  console.log(md);
  return Promise.resolve(0);
});
