/**
 * `deno task verify-results [dir]` — checks every result.json under `dir` (default results/):
 * its layout against the result schema ("starmamba.result/1": required fields and their
 * types), its config hash against its config, and the sha256 of every file its `files` map
 * lists (paths relative to the run folder). Prints each problem; exit code 1 if there is any,
 * 0 when every result checks out.
 * @module
 */
import { verifyResults } from "../lib/results/verify.ts";
import { parseArgs, runMain } from "../lib/util/cli.ts";

import { RESULT_SCHEMA } from "../lib/results/write.ts";
import { StarmambaError } from "../lib/util/errors.ts";

const USAGE = `usage: deno task verify-results [dir]

Checks every result.json under dir (default: results/): required fields and types (schema
${RESULT_SCHEMA}), the config hash, and the sha256 checksum of every file it lists. Prints
each problem and exits with 1 if there is any, 0 when all results are intact.

options:
  -h, --help   this help`;

async function main(): Promise<number> {
  const { positionals } = parseArgs(Deno.args, {}, USAGE);
  if (positionals.length > 1) {
    throw new StarmambaError(`expected at most one folder, got ${positionals.length}\n\n${USAGE}`);
  }
  const dir = positionals[0] ?? "results";
  const rep = await verifyResults(dir);
  for (const w of rep.warnings) console.log(`warning: ${w}`);
  for (const p of rep.problems) console.log(`problem: ${p}`);
  const n = `${rep.checked} result${rep.checked === 1 ? "" : "s"}`;
  if (rep.problems.length > 0) {
    console.log(`\n${rep.problems.length} problem(s) in ${n} under ${dir}`);
    return 1;
  }
  console.log(
    rep.checked === 0
      ? `no result.json under ${dir}: nothing to check`
      : `checked ${n} under ${dir}: all schema fields and checksums match`,
  );
  return 0;
}

if (import.meta.main) await runMain(main);
