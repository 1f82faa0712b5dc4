/**
 * `deno task lock-test` — chooses the locked test set of whole sky groups once and writes it
 * (configs/aries/test_set.json by default). Refuses to replace an existing file: the set is
 * chosen before the experiments it judges, and never again.
 * @module
 */
import { dirname, join, relative } from "node:path";
import { chooseTestSet } from "../lib/data/test_set.ts";
import { skyGroupOf } from "../lib/data/splits.ts";
import { isFolder, readJsonObject, writeJsonAtomic } from "../lib/util/fs.ts";
import { parseArgs, runMain } from "../lib/util/cli.ts";
import { StarmambaError } from "../lib/util/errors.ts";
import { loadConfig, validateConfig } from "../lib/config/load.ts";
import { loadData } from "../lib/data/pipeline.ts";
import type { Dataset } from "../lib/data/types.ts";

const USAGE = `usage: deno task lock-test [options]

Chooses the locked test set: whole sky groups, about --fraction of all images, class ratio as
close to the data's as the groups allow, none of the groups any published grouped split used for
validation (they took part in choosing recipes), by a seeded search (lib/data/test_set.ts).
Writes the rule, its parameters, the data fingerprint, the groups and the file list. A config
uses it with data.test_set; deno task evaluate --test scores a run on it.

options:
  --data DIR        data folder (default: $STARMAMBA_DATA)
  --config FILE     choose on the data this config names instead (e.g. a catalogue, data.source:
                    catalog), grouped by its data.group_by (name, frame, sky or column:<name>)
  --out FILE        where to write (default configs/aries/test_set.json); never overwritten
  --seed N          seed of the group search (default 2026)
  --fraction F      share of all images (default 0.2)
  --results DIR     published results whose grouped validation groups are excluded (default results)
  -h, --help        this help`;

/**
 * Groups on the validation side of every grouped split under `dir` (split.json files): the
 * group `groupOf` gives each validation file (the data's own group where it has the file, else
 * the sky group of the name).
 */
function usedValidationGroups(dir: string, groupOf: (file: string) => string): string[] {
  const groups = new Set<string>();
  const walk = (d: string) => {
    for (const e of Deno.readDirSync(d)) {
      const p = join(d, e.name);
      if (e.isDirectory) walk(p);
      else if (e.name === "split.json") {
        const s = readJsonObject(p) as { kind?: string; val?: string[] } | null;
        if (!s) {
          throw new StarmambaError(
            `${p}: not readable JSON; restore it (git checkout -- ${p}) or pass another --results`,
          );
        }
        if (s.kind === "grouped") { for (const f of s.val ?? []) groups.add(groupOf(f)); }
      }
    }
  };
  walk(dir);
  return [...groups].sort();
}

/**
 * The images to choose from, through the data pipeline: the data a config names, or the
 * ARIES-style folder (--data, else STARMAMBA_DATA) read as the default data section reads a
 * folder (64×64, RGB, every bad file an error).
 */
async function lockData(config: string | undefined, data: string | undefined): Promise<Dataset> {
  if (config !== undefined) {
    if (data !== undefined) {
      throw new StarmambaError(`give --data or --config, not both\n\n${USAGE}`);
    }
    const ds = await loadData(loadConfig(config).config, config, true);
    if (!ds.files || !ds.fingerprint) {
      throw new StarmambaError(
        `${config}: the test set needs images with file names (not synthetic data)`,
      );
    }
    return ds;
  }
  const folder = validateConfig(
    { experiment: "lock-test", data: { source: "folder", root: data ?? null } },
    "--data",
  );
  // --data is relative to the working directory, as a config's data.root is to its folder.
  return await loadData(folder, join(Deno.cwd(), "(command line)"), true);
}

await runMain(async () => {
  const { values } = parseArgs(Deno.args, {
    data: { type: "string" },
    config: { type: "string" },
    out: { type: "string" },
    seed: { type: "string" },
    fraction: { type: "string" },
    results: { type: "string" },
  }, USAGE);
  const out = (values.out as string | undefined) ?? "configs/aries/test_set.json";
  try {
    Deno.statSync(out);
    throw new StarmambaError(
      `${out} exists: the test set is locked (chosen once, before the experiments it judges). ` +
        "Delete it only if no result has been scored on it yet, or write elsewhere with --out.",
    );
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  const seed = Number(values.seed ?? 2026), fraction = Number(values.fraction ?? 0.2);
  if (!Number.isInteger(seed) || !(fraction > 0 && fraction < 0.5)) {
    throw new StarmambaError(`--seed must be an integer and --fraction in (0, 0.5)\n\n${USAGE}`);
  }
  const results = (values.results as string | undefined) ?? "results";
  // Checked before the images load: a wrong folder should not cost a minute of decoding.
  if (!isFolder(results)) {
    throw new StarmambaError(
      `--results ${results}: no such folder; pass the folder of published results (default results)`,
    );
  }
  const ds = await lockData(values.config as string | undefined, values.data as string | undefined);
  const own = new Map(ds.groups?.map((g, i) => [ds.files![i], g]) ?? []);
  const groupOf = (f: string) => own.get(f) ?? skyGroupOf(f);
  // Only groups of this data can be excluded (published runs on other data name other groups).
  const present = new Set(ds.files!.map(groupOf));
  const exclude = usedValidationGroups(results, groupOf).filter((g) => present.has(g));
  const t = chooseTestSet(ds.labels, ds.files!, ds.classNames, ds.fingerprint!, {
    fraction,
    seed,
    exclude,
  }, ds.groups);
  Deno.mkdirSync(dirname(out), { recursive: true });
  writeJsonAtomic(out, t);
  const n = t.files.length, all = ds.n;
  console.log(
    `wrote ${relative(Deno.cwd(), out)}: ${n} of ${all} images (${(100 * n / all).toFixed(1)}%) ` +
      `in ${t.groups.length} sky groups (${t.groups.join(", ")}); ` +
      Object.entries(t.counts.test).map(([c, k]) => `${c} ${k}`).join(", ") +
      `; excluded: ${t.excluded.join(", ")}`,
  );
});
