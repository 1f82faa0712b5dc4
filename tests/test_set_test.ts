/**
 * The locked test set (lib/data/test_set.ts, configs/aries/test_set.json): chosen as whole sky
 * groups by its rule, never from the excluded groups; every split a config can ask for leaves
 * its images out; and the committed file is consistent and disjoint from every sky group a
 * published grouped split validated on.
 */
import { join } from "node:path";
import { assert, assertEquals, assertThrows } from "../lib/util/assert.ts";
import { chooseTestSet, readTestSet, type TestSet } from "../lib/data/test_set.ts";
import { skyGroupOf } from "../lib/data/splits.ts";
import { loadConfig } from "../lib/config/load.ts";
import { makeSplit } from "../lib/experiment/run.ts";
import { StarmambaError } from "../lib/util/errors.ts";
import { assertOneLineError, runScript } from "./permissions.ts";

const ROOT = new URL("..", import.meta.url).pathname;

/** A small ARIES-like file list: 12 fields of 6 to 28 cutouts, a quarter of them galaxies. */
function fakeData(): { files: string[]; labels: Int32Array } {
  const files: string[] = [], labels: number[] = [];
  for (let g = 0; g < 12; g++) {
    const n = 6 + ((g * 7) % 23);
    for (let i = 0; i < n; i++) {
      const galaxy = (g + i) % 4 === 0;
      files.push(`${galaxy ? "galaxy" : "star"}/FIELD${g}-R01_${10 + i}_${20 + i}_3.jpg`);
      labels.push(galaxy ? 0 : 1);
    }
  }
  return { files, labels: Int32Array.from(labels) };
}

Deno.test("test set: whole sky groups, none of the excluded, ~the fraction, deterministic", () => {
  const { files, labels } = fakeData();
  const rule = { fraction: 0.25, seed: 3, exclude: ["FIELD1", "field4"] };
  const t = chooseTestSet(labels, files, ["galaxy", "star"], "fp", rule);
  assertEquals(t, chooseTestSet(labels, files, ["galaxy", "star"], "fp", rule));
  const chosen = new Set(t.groups);
  assert(!chosen.has("FIELD1") && !chosen.has("FIELD4"), `excluded groups chosen: ${t.groups}`);
  // Whole groups: a group is either entirely in the test files or not at all.
  const inTest = new Set(t.files);
  files.forEach((f) => assertEquals(inTest.has(f), chosen.has(skyGroupOf(f)), f));
  const share = t.files.length / files.length;
  assert(Math.abs(share - 0.25) < 0.08, `share ${share}`);
  assertEquals(t.counts.test.galaxy + t.counts.test.star, t.files.length);
  assertThrows(
    () =>
      chooseTestSet(labels, files, ["galaxy", "star"], "fp", {
        ...rule,
        exclude: Array.from({ length: 12 }, (_, g) => `FIELD${g}`),
      }),
    StarmambaError,
    "every sky group is excluded",
  );
});

Deno.test("data.test_set: random, grouped and all splits never contain a test image; a missing or stray file is an error", () => {
  const { files, labels } = fakeData();
  const t = chooseTestSet(labels, files, ["galaxy", "star"], "fp", {
    fraction: 0.2,
    seed: 5,
    exclude: [],
  });
  const dir = Deno.makeTempDirSync();
  Deno.writeTextFileSync(join(dir, "test_set.json"), JSON.stringify(t));
  const ds = { n: files.length, labels, files } as unknown as Parameters<typeof makeSplit>[1];
  const testFiles = new Set(t.files);
  for (const split of ["random", "grouped", "all"]) {
    const cfg = loadConfig(join(ROOT, "configs/quickstart.yaml"), [
      `data.split=${split}`,
      "data.source=folder",
      "data.test_set=test_set.json",
    ]).config;
    const s = makeSplit(cfg, ds, dir);
    const used = [...s.train, ...s.val];
    assert(used.every((i) => !testFiles.has(files[i])), `${split}: a test image was used`);
    assertEquals(used.length, files.length - t.files.length, `${split}: every other image used`);
    if (split === "grouped") {
      const trainGroups = new Set(s.train.map((i) => skyGroupOf(files[i])));
      assert(s.val.every((i) => !trainGroups.has(skyGroupOf(files[i]))), "grouped leak");
    }
  }
  const cfg = loadConfig(join(ROOT, "configs/quickstart.yaml"), [
    "data.source=folder",
    "data.test_set=test_set.json",
  ]).config;
  // Data without one of the test images: refused.
  const gone = files.indexOf(t.files[0]);
  const keep = files.map((_, i) => i).filter((i) => i !== gone);
  const fewer = {
    n: keep.length,
    labels: Int32Array.from(keep, (i) => labels[i]),
    files: keep.map((i) => files[i]),
  };
  assertThrows(() => makeSplit(cfg, fewer as never, dir), StarmambaError, "not in the data");
  // A new image in a test group, outside the set: refused (it would leak the field).
  const g = t.groups[0];
  const stray = {
    n: files.length + 1,
    labels: Int32Array.from([...labels, 1]),
    files: [...files, `star/${g}-R01_1_1_3.jpg`],
  };
  assertThrows(() => makeSplit(cfg, stray as never, dir), StarmambaError, "belong to its sky");
});

Deno.test("configs/aries/test_set.json: consistent, whole groups, disjoint from every published grouped validation group", () => {
  const t: TestSet = readTestSet(join(ROOT, "configs/aries/test_set.json"));
  const groups = new Set(t.groups);
  assertEquals(new Set(t.files.map(skyGroupOf)), groups, "the files' groups are the groups");
  assertEquals(Object.values(t.counts.test).reduce((a, b) => a + b, 0), t.files.length);
  const used = new Set<string>();
  const walk = (d: string) => {
    for (const e of Deno.readDirSync(d)) {
      const p = join(d, e.name);
      if (e.isDirectory) walk(p);
      else if (e.name === "split.json") {
        const s = JSON.parse(Deno.readTextFileSync(p));
        if (s.kind === "grouped") { for (const f of s.val) used.add(skyGroupOf(f)); }
      }
    }
  };
  walk(join(ROOT, "results"));
  assert(used.size > 0, "published grouped splits found");
  for (const g of used) assert(!groups.has(g), `test group ${g} was a validation group`);
  for (const g of t.excluded) assert(!groups.has(g), g);
});

Deno.test("data.kfold/data.fold: grouped folds partition the non-test images by sky group; no fold sees a test image; a missing fold is a clear error", () => {
  const { files, labels } = fakeData();
  const t = chooseTestSet(labels, files, ["galaxy", "star"], "fp", {
    fraction: 0.2,
    seed: 5,
    exclude: [],
  });
  const dir = Deno.makeTempDirSync();
  Deno.writeTextFileSync(join(dir, "test_set.json"), JSON.stringify(t));
  const ds = { n: files.length, labels, files } as unknown as Parameters<typeof makeSplit>[1];
  const testFiles = new Set(t.files);
  const k = 3;
  const seenVal = new Map<number, number>();
  for (let fold = 0; fold < k; fold++) {
    const cfg = loadConfig(join(ROOT, "configs/quickstart.yaml"), [
      "data.source=folder",
      "data.split=grouped",
      `data.kfold=${k}`,
      `data.fold=${fold}`,
      "data.test_set=test_set.json",
    ]).config;
    const s = makeSplit(cfg, ds, dir);
    for (const i of [...s.train, ...s.val]) assert(!testFiles.has(files[i]), `fold ${fold}`);
    assertEquals(s.train.length + s.val.length, files.length - t.files.length);
    const trainGroups = new Set(s.train.map((i) => skyGroupOf(files[i])));
    assert(s.val.every((i) => !trainGroups.has(skyGroupOf(files[i]))), `fold ${fold}: group leak`);
    for (const i of s.val) seenVal.set(i, (seenVal.get(i) ?? 0) + 1);
  }
  // Every non-test image is held out exactly once over the folds.
  assertEquals(seenVal.size, files.length - t.files.length);
  assert([...seenVal.values()].every((c) => c === 1));
  const noFold = loadConfig(join(ROOT, "configs/quickstart.yaml"), [
    "data.source=folder",
    "data.split=grouped",
    "data.kfold=3",
  ]).config;
  assertThrows(() => makeSplit(noFold, ds, dir), StarmambaError, "set data.fold");
});

Deno.test("a catalogue's own groups: the test set takes whole groups of data.group_by, and a stray of a test group is refused though its name says nothing", () => {
  // Names carry no field (every skyGroupOf is "IMG"); the groups come from a catalogue column.
  const { labels } = fakeData();
  const files = Array.from(labels, (_, i) => `cutouts/img${i}.fits`);
  const groups = fakeData().files.map((f) => `tile-${skyGroupOf(f).slice(5)}`);
  const t = chooseTestSet(labels, files, ["galaxy", "star"], "fp", {
    fraction: 0.25,
    seed: 3,
    exclude: ["TILE-1"],
  }, groups);
  const chosen = new Set(t.groups);
  assert(chosen.size >= 2 && !chosen.has("tile-1"), `groups ${t.groups}`);
  const inTest = new Set(t.files);
  files.forEach((f, i) => assertEquals(inTest.has(f), chosen.has(groups[i]), f));
  // The same choice as on the ARIES-style names whose sky groups are those groups.
  const named = chooseTestSet(labels, fakeData().files, ["galaxy", "star"], "fp", {
    fraction: 0.25,
    seed: 3,
    exclude: ["FIELD1"],
  });
  assertEquals(t.groups.map((g) => `FIELD${g.slice(5)}`), named.groups);

  const dir = Deno.makeTempDirSync();
  Deno.writeTextFileSync(join(dir, "test_set.json"), JSON.stringify(t));
  const cfg = loadConfig(join(ROOT, "configs/quickstart.yaml"), [
    "data.source=folder",
    "data.split=grouped",
    "data.test_set=test_set.json",
  ]).config;
  const ds = { n: files.length, labels, files, groups };
  const s = makeSplit(cfg, ds as never, dir);
  const used = [...s.train, ...s.val];
  assert(used.every((i) => !chosen.has(groups[i])), "a test group reached training or validation");
  const trainGroups = new Set(s.train.map((i) => groups[i]));
  assert(s.val.every((i) => !trainGroups.has(groups[i])), "grouped leak");
  const stray = {
    n: files.length + 1,
    labels: Int32Array.from([...labels, 1]),
    files: [...files, "cutouts/new.fits"],
    groups: [...groups, t.groups[0]],
  };
  assertThrows(() => makeSplit(cfg, stray as never, dir), StarmambaError, "belong to its sky");
});

Deno.test("lock-test: a missing --results folder or an unreadable split.json is one line, exit 2", () => {
  const dir = Deno.makeTempDirSync();
  const out = join(dir, "t.json");
  const missing = runScript("experiments/lock_test.ts", [
    "--data",
    dir,
    "--results",
    join(dir, "nope"),
    "--out",
    out,
  ]);
  assertOneLineError(missing, "--results", "no such folder");
  // A damaged split.json under --results: named, with the fix, not a JSON stack trace.
  const results = join(dir, "results", "x", "v1");
  Deno.mkdirSync(results, { recursive: true });
  Deno.writeTextFileSync(join(results, "split.json"), '{"kind": "grouped", "val": [');
  const own = join(dir, "own");
  assertEquals(runScript("experiments/catalog.ts", ["synthetic", own]).code, 0);
  const cfg = join(dir, "own.yaml");
  Deno.writeTextFileSync(
    cfg,
    `extends: ${join(ROOT, "configs/own-sky.yaml")}\ndata:\n  catalog: own/sources.csv\n`,
  );
  const bad = runScript("experiments/lock_test.ts", [
    "--config",
    cfg,
    "--results",
    join(dir, "results"),
    "--out",
    out,
  ]);
  assertOneLineError(bad, join(results, "split.json"), "not readable JSON", "git checkout");
});
