/**
 * `deno task verify-results [dir] [--seal [--force]]` — checks every result.json under `dir`
 * (default: results/, and models/'s manifest): schema, config hash, the sha256 of the files and
 * artifacts it lists, its metrics against metrics.csv, history.csv and predictions.csv; every
 * cv.json against its fold runs; and the folder's SHA256SUMS manifest (every listed file
 * present and unchanged, every file listed). Prints each problem and the manifest's own sha256;
 * exit code 1 if there is any problem, 0 when all is intact. `--seal` (re)writes the manifest
 * from the files as they are, after the same checks.
 * @module
 */
import { verifyResults } from "../lib/results/verify.ts";
import { findManifestRoot, MANIFEST, sealManifest, shown } from "../lib/results/manifest.ts";
import { parseArgs, runMain } from "../lib/util/cli.ts";
import { exists } from "../lib/util/fs.ts";
import { RUN_RECORD_SCHEMA } from "../lib/results/run_record.ts";
import { StarmambaError } from "../lib/util/errors.ts";
import { join, resolve } from "node:path";

const USAGE = `usage: deno task verify-results [dir] [--seal [--force]]

Checks every result.json under dir (default: results/, and the model cards' manifest in
models/): required fields and types (schema ${RUN_RECORD_SCHEMA}), the config hash, the sha256
of every file and weight shard it lists, its metrics against metrics.csv, history.csv and
predictions.csv; every cv.json against its fold runs; and the folder's ${MANIFEST} (a
sha256sum file: every listed file present and unchanged, every file present listed).
Prints each problem and exits with 1 if there is any, 0 when all is intact; the last
line gives the manifest's own sha256, which a citation can pin.

options:
  --seal       (re)write dir/${MANIFEST} from the files as they are now (after the checks
               above pass); refuses when a listed file changed, unless --force. Needs write
               access: deno task seal-results
  --force      with --seal: seal even over problems and changed files (an intended change)
  -h, --help   this help`;

/** Checks one folder; prints its problems; returns how many there were. */
async function verifyOne(dir: string, requireManifest: boolean): Promise<number> {
  const rep = await verifyResults(dir, { requireManifest });
  for (const w of rep.warnings) console.log(`warning: ${w}`);
  for (const p of rep.problems) console.log(`problem: ${p}`);
  const n = `${rep.checked} result${rep.checked === 1 ? "" : "s"}`;
  const pin = rep.manifest
    ? `; ${shown(rep.manifest.path)} (${rep.manifest.listed} files) sha256 ${rep.manifest.sha256}`
    : "";
  if (rep.problems.length > 0) {
    console.log(`\n${rep.problems.length} problem(s) in ${n} under ${dir}${pin}`);
    return rep.problems.length;
  }
  console.log(
    rep.checked > 0
      ? `checked ${n} under ${dir}: all schema fields, checksums and cross-checks match${pin}`
      : rep.manifest
      ? `checked ${dir}: every file matches its manifest${pin}`
      : `no result.json under ${dir}: nothing to check`,
  );
  return 0;
}

/** Seals one folder's manifest after checking it; prints what changed and its sha256. */
async function sealOne(dir: string, force: boolean): Promise<void> {
  if (Deno.permissions.querySync({ name: "write", path: dir }).state !== "granted") {
    throw new StarmambaError(
      `--seal writes ${join(dir, MANIFEST)}: run it with write access (--allow-write): ` +
        "deno task seal-results",
    );
  }
  const above = findManifestRoot(dir);
  if (above && resolve(above) !== resolve(dir)) {
    throw new StarmambaError(
      `--seal ${dir}: ${shown(join(above, MANIFEST))} covers this folder; seal ${shown(above)}`,
    );
  }
  const rep = await verifyResults(dir);
  // Manifest problems are what sealing rewrites; anything else must be fixed first.
  const others = rep.problems.filter((p) => !p.includes(MANIFEST));
  if (others.length > 0 && !force) {
    throw new StarmambaError(
      `--seal ${dir}: ${others.length} problem(s) besides the manifest (first: ${others[0]}); ` +
        "fix them first (deno task verify-results lists them), or add --force",
    );
  }
  const s = sealManifest(dir, force);
  for (const p of s.added) console.log(`added:   ${p}`);
  for (const p of s.changed) console.log(`changed: ${p}`);
  for (const p of s.removed) console.log(`removed: ${p}`);
  console.log(
    `sealed ${shown(s.path)}: ${s.added.length} added, ${s.changed.length} changed, ` +
      `${s.removed.length} removed; ${s.files} files, sha256 ${s.sha256}`,
  );
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs(Deno.args, {
    seal: { type: "boolean" },
    force: { type: "boolean" },
  }, USAGE);
  if (positionals.length > 1) {
    throw new StarmambaError(`expected at most one folder, got ${positionals.length}\n\n${USAGE}`);
  }
  if (values.force && !values.seal) throw new StarmambaError("--force goes with --seal");
  // By default the two published folders: results/ and the model cards in models/.
  const dirs: [string, boolean][] = positionals.length
    ? [[positionals[0], false]]
    : [["results", false], ...(exists("models") ? [["models", true] as [string, boolean]] : [])];
  if (values.seal) {
    for (const [dir] of dirs) await sealOne(dir, Boolean(values.force));
    return 0;
  }
  let problems = 0;
  for (const [dir, requireManifest] of dirs) problems += await verifyOne(dir, requireManifest);
  return problems > 0 ? 1 : 0;
}

if (import.meta.main) await runMain(main);
