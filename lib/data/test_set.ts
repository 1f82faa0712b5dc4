/**
 * The locked test set: whole sky groups set aside before any further experiment, chosen by a
 * committed rule and seed, and never used for any choice (recipe, epoch, EMA, threshold, decision
 * power, temperature). A config names its file (`data.test_set`); every split, fold and the
 * release training then draw from the other images only, and `deno task evaluate --test` scores
 * a run on it (issue 21's protocol).
 *
 * Rule ({@link chooseTestSet}): leave out the groups named in `exclude` (those already used to
 * choose recipes: the published grouped split's validation side), then pick whole groups from
 * the rest with the grouped split's search (lib/data/splits.ts: the class ratio of the chosen
 * groups as close to the whole set's as the groups allow, the size as close to `fraction` of ALL
 * images as they allow), seeded by `seed` on its own stream.
 * @module
 */
import { groupedSplit, skyGroupOf } from "./splits.ts";
import { StarmambaError } from "../util/errors.ts";

/** Format tag of the locked file. */
export const TEST_SET_FORMAT = "starmamba-test-set/1";

/** The committed file (configs/aries/test_set.json). */
export interface TestSet {
  /** {@link TEST_SET_FORMAT}. */
  format: string;
  /** The rule in words, with its parameters. */
  rule: string;
  /** Seed of the group search. */
  seed: number;
  /** Target share of all images. */
  fraction: number;
  /** Groups that could not be chosen (already used for choices). */
  excluded: string[];
  /** Fingerprint of the data the set was chosen on. */
  data_fingerprint: string;
  /** The chosen sky groups, sorted. */
  groups: string[];
  /** Images per class in the test set, and in the data, by class name. */
  counts: { test: Record<string, number>; all: Record<string, number> };
  /** The test images, as paths relative to the data root, sorted. */
  files: string[];
}

/** Parameters of {@link chooseTestSet}. */
export interface TestSetRule {
  /** Share of all images to set aside (by whole groups, so approximately). */
  fraction: number;
  /** Seed of the group search. */
  seed: number;
  /** Sky groups that may not be chosen. */
  exclude: string[];
}

/**
 * Chooses the test groups by the module's rule. `files` are paths relative to the data root,
 * `labels` class indices into `classNames`; `groups` are the images' group keys (a catalogue's
 * `data.group_by`), by default the sky groups of ARIES-style names ({@link skyGroupOf}).
 */
export function chooseTestSet(
  labels: ArrayLike<number>,
  files: string[],
  classNames: string[],
  fingerprint: string,
  rule: TestSetRule,
  groups: string[] = files.map(skyGroupOf),
): TestSet {
  const excluded = new Set(rule.exclude.map((g) => g.toUpperCase()));
  const candidates = files.map((_, i) => i).filter((i) => !excluded.has(groups[i].toUpperCase()));
  if (candidates.length === 0) {
    throw new StarmambaError("test set: every sky group is excluded; nothing left to choose from");
  }
  // The grouped split's search on the candidates, with its target scaled so the chosen share is
  // `fraction` of all images.
  const share = rule.fraction * files.length / candidates.length;
  if (!(share > 0 && share < 1)) {
    throw new StarmambaError(
      `test set: ${rule.fraction} of ${files.length} images cannot come from the ` +
        `${candidates.length} images of the groups that may be chosen`,
    );
  }
  // The search groups names by a key function; handing it the group keys themselves (identity)
  // makes it group by whatever the data groups by.
  const sub = groupedSplit(
    candidates.map((i) => labels[i]),
    candidates.map((i) => groups[i]),
    share,
    rule.seed,
    (g: string) => g,
  );
  const chosen = sub.val.map((j) => candidates[j]);
  const chosenGroups = Object.entries(sub.groups)
    .filter(([, side]) => side === "val")
    .map(([g]) => g)
    .sort();
  const count = (idx: number[]) =>
    Object.fromEntries(
      classNames.map((name, c) => [name, idx.filter((i) => labels[i] === c).length]),
    );
  return {
    format: TEST_SET_FORMAT,
    rule: "whole sky groups (lib/data/splits.ts skyGroupOf, or the catalogue's data.group_by) " +
      "outside `excluded`, chosen by the " +
      "grouped split's search (class ratio closest to the whole set's, size closest to " +
      "`fraction` of all images) with `seed` (lib/data/test_set.ts chooseTestSet)",
    seed: rule.seed,
    fraction: rule.fraction,
    excluded: [...excluded].sort(),
    data_fingerprint: fingerprint,
    groups: chosenGroups,
    counts: { test: count(chosen), all: count(files.map((_, i) => i)) },
    files: chosen.map((i) => files[i]).sort(),
  };
}

/** Reads and checks a locked test set file. */
export function readTestSet(path: string): TestSet {
  let t: TestSet;
  try {
    t = JSON.parse(Deno.readTextFileSync(path)) as TestSet;
  } catch (e) {
    throw new StarmambaError(
      `data.test_set: cannot read ${path} (${(e as Error).message.split("\n")[0]}); ` +
        "it is written once by `deno task lock-test`",
    );
  }
  if (t.format !== TEST_SET_FORMAT || !Array.isArray(t.files) || !Array.isArray(t.groups)) {
    throw new StarmambaError(`data.test_set: ${path} is not a ${TEST_SET_FORMAT} file`);
  }
  return t;
}

/**
 * Dataset indices outside the test set, and the test indices, for a dataset's `files`. Throws
 * when a test file is missing from the data (another data folder, or a changed one): the set is
 * locked to the data it was chosen on; and when an image outside the set belongs to one of its
 * groups (`groups`: the images' group keys, by default the sky groups of their names).
 */
export function partitionByTestSet(
  files: string[],
  t: TestSet,
  source: string,
  groups: string[] = files.map(skyGroupOf),
): { rest: number[]; test: number[] } {
  const inTest = new Set(t.files);
  const rest: number[] = [], test: number[] = [];
  files.forEach((f, i) => (inTest.has(f) ? test : rest).push(i));
  if (test.length !== t.files.length) {
    const have = new Set(files);
    const missing = t.files.filter((f) => !have.has(f));
    throw new StarmambaError(
      `data.test_set ${source}: ${missing.length} of its ${t.files.length} images are not in ` +
        `the data (first: ${missing[0]}); the test set is locked to the data it was chosen on ` +
        `(fingerprint ${t.data_fingerprint.slice(0, 16)})`,
    );
  }
  // A test group must not have images outside the set (a file added to the folder later).
  const testGroups = new Set(t.groups.map((g) => g.toUpperCase()));
  const strays = rest.filter((i) => testGroups.has(groups[i].toUpperCase()));
  if (strays.length) {
    throw new StarmambaError(
      `data.test_set ${source}: ${strays.length} images outside the set belong to its sky ` +
        `groups (first: ${files[strays[0]]}); they would leak the test fields into training`,
    );
  }
  return { rest, test };
}
