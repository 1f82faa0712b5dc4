/**
 * A run's record (result.json, lib/results/run_record.ts): one type, one writer, one reader,
 * versioned. Every published record reads; a record written before a field existed reads with
 * that field's implied value; a damaged one is one error naming the file and the fix; what the
 * writer writes the reader gives back; and a new run's record keeps the field order runs have
 * always written.
 */
import { join } from "node:path";
import { assert, assertEquals, assertThrows } from "../lib/util/assert.ts";
import {
  readRunRecord,
  RUN_RECORD_SCHEMA,
  type TrainedRunRecord,
  writeRunRecord,
} from "../lib/results/run_record.ts";
import { MANIFEST, readManifest } from "../lib/results/manifest.ts";
import { StarmambaError } from "../lib/util/errors.ts";
import { loadConfig } from "../lib/config/load.ts";
import { runExperiment } from "../lib/experiment/run.ts";
import { ROOT, TINY_RUN } from "./permissions.ts";

type Obj = Record<string, unknown>;

/** Every folder under `dir` holding a result.json. */
function recordFolders(dir: string): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(dir)) {
    if (e.isDirectory) out.push(...recordFolders(join(dir, e.name)));
    else if (e.name === "result.json") out.push(dir);
  }
  return out.sort();
}

/** A published record (MedMamba, recorded before model.arch existed), parsed. */
function published(): Obj {
  return JSON.parse(Deno.readTextFileSync(join(ROOT, "results/improved-cpu/v1/result.json")));
}

/** A temporary run folder holding `text` as its result.json. */
function folderWith(text: string): string {
  const dir = Deno.makeTempDirSync();
  Deno.writeTextFileSync(join(dir, "result.json"), text);
  return dir;
}

Deno.test("every published result.json reads through readRunRecord, as written plus the defaults of later fields", () => {
  const dirs = recordFolders(join(ROOT, "results"));
  assert(dirs.length >= 80, `${dirs.length} published records`);
  for (const dir of dirs) {
    const raw = JSON.parse(Deno.readTextFileSync(join(dir, "result.json")));
    const r = readRunRecord(dir, "trained");
    // Recorded before model.arch existed: MedMamba; since, each names its network (issue 31's
    // CVs publish ResNet-18 and ConvNet runs).
    assertEquals(r.model.arch, raw.model?.arch ?? "medmamba", dir);
    assertEquals(
      r as unknown,
      {
        ...raw,
        model: { arch: "medmamba", ...raw.model },
        resumed_from: raw.resumed_from ?? null,
      },
      dir,
    );
  }
});

Deno.test("a /1 record without model.arch reads as medmamba; one with it keeps its own", () => {
  const r = published();
  const model = r.model as Obj;
  delete model.arch;
  assertEquals(readRunRecord(folderWith(JSON.stringify(r))).model.arch, "medmamba");
  // The arch stays the first of model's fields, as runs write it.
  assertEquals(
    Object.keys(readRunRecord(folderWith(JSON.stringify(r))).model),
    ["arch", ...Object.keys(model)],
  );
  const other = { ...r, model: { ...model, arch: "resnet" } };
  assertEquals(readRunRecord(folderWith(JSON.stringify(other))).model.arch, "resnet");
  // resumed_from, absent in the first published runs, reads as null (not resumed).
  delete r.resumed_from;
  assertEquals(readRunRecord(folderWith(JSON.stringify(r)), "trained").resumed_from, null);
});

Deno.test("a truncated, foreign, newer or gutted record is one StarmambaError naming the file and the fix", () => {
  const text = JSON.stringify(published(), null, 2);
  const cases: [string, string[]][] = [
    [text.slice(0, 300), ["not valid JSON", "git checkout --"]],
    ["[1, 2]", ["expected a JSON object", "git checkout --"]],
    [JSON.stringify({ schema: "other/1" }), ["not a starmamba run record", "verify-results"]],
    [
      JSON.stringify({ ...published(), schema: "starmamba.result/2" }),
      ["newer starmamba", "update starmamba"],
    ],
    [JSON.stringify({ ...published(), data: 3 }), ["no valid data", "verify-results"]],
  ];
  for (const [content, wants] of cases) {
    const dir = folderWith(content);
    const e = assertThrows(() => readRunRecord(dir), StarmambaError);
    assert(e.message.includes(join(dir, "result.json")), e.message);
    assertEquals(e.message.split("\n").length, 1, e.message);
    for (const w of wants) assert(e.message.includes(w), `expected "${w}" in: ${e.message}`);
  }
  // A missing record names the file too.
  const empty = Deno.makeTempDirSync();
  assertThrows(() => readRunRecord(empty), StarmambaError, join(empty, "result.json"));
});

Deno.test("an imported checkpoint's record reads, but not where a trained run's is needed", () => {
  const r = published();
  const imported = {
    schema: RUN_RECORD_SCHEMA,
    experiment: "imported",
    version: "medmamba",
    description: "imported from x.safetensors",
    created: r.created,
    config: r.config,
    config_hash: r.config_hash,
    config_files: [],
    overrides: [],
    seed: 1,
    code: r.code,
    imported: { file: "/x.safetensors", sha256: "0".repeat(64), metadata: {} },
    data: { class_names: ["galaxy", "star"] },
    environment: r.environment,
    model: { arch: "medmamba", config: (r.model as Obj).config, parameters: 1 },
    artifacts: {},
  };
  const dir = folderWith(JSON.stringify(imported));
  const read = readRunRecord(dir);
  assertEquals(read as unknown, imported, "an import's record has no resumed_from to default");
  assertThrows(() => readRunRecord(dir, "trained"), StarmambaError, "imported from /x.safetensors");
});

Deno.test("writeRunRecord → readRunRecord round trip: schema first, fields in order, equal; the manifest above records the folder", () => {
  // A record as runs write it now: model.arch and resumed_from included.
  const { schema: _, ...old } = published();
  const body = { ...old, model: { arch: "medmamba", ...(old.model as Obj) }, resumed_from: null };
  const root = Deno.makeTempDirSync();
  Deno.writeTextFileSync(join(root, MANIFEST), "");
  const dir = join(root, "exp", "v1");
  Deno.mkdirSync(dir, { recursive: true });
  Deno.writeTextFileSync(join(dir, "metrics.md"), "# m\n");
  const written = writeRunRecord<TrainedRunRecord>(dir, body as unknown as TrainedRunRecord);
  const text = Deno.readTextFileSync(join(dir, "result.json"));
  assertEquals(Object.keys(JSON.parse(text)), ["schema", ...Object.keys(body)]);
  assertEquals(JSON.parse(text).schema, RUN_RECORD_SCHEMA);
  assertEquals(readRunRecord(dir) as unknown, written);
  assertEquals(written as unknown, { schema: RUN_RECORD_SCHEMA, ...body });
  assertEquals([...readManifest(root)!.keys()].sort(), ["exp/v1/metrics.md", "exp/v1/result.json"]);
  // A scratch folder (no manifest above, none asked for) gets none.
  const scratch = Deno.makeTempDirSync();
  writeRunRecord<TrainedRunRecord>(scratch, body as unknown as TrainedRunRecord);
  assertEquals(readManifest(scratch), null);
});

/** A record's fields in order, and those of its nested records, as dotted paths. */
function fieldOrder(r: Obj): Record<string, string[]> {
  const keys = (v: unknown) => Object.keys(v as Obj);
  const data = r.data as Obj, best = r.best as Obj | null;
  return {
    "": keys(r),
    data: keys(data),
    "data.split": keys(data.split),
    model: keys(r.model),
    history: keys((r.history as Obj[])[0]),
    ...(best ? { best: keys(best), "best.metrics": keys(best.metrics) } : {}),
    ...(r.baselines ? { baselines: keys(r.baselines) } : {}),
    files: keys(r.files),
  };
}

Deno.test("a new run's result.json has the fields runs have always written, in their order", async () => {
  const root = Deno.makeTempDirSync();
  const cfg = (extra: string[]) =>
    loadConfig(join(ROOT, "configs/quickstart.yaml"), [...TINY_RUN, ...extra]);
  const scored = await runExperiment(cfg([]), { projectRoot: root, quiet: true });
  const release = await runExperiment(cfg(["data.split=all"]), { projectRoot: root, quiet: true });
  const top = [
    "schema",
    "experiment",
    "version",
    "description",
    "created",
    "config",
    "config_hash",
    "config_files",
    "overrides",
    "seed",
    "code",
    "data",
    "environment",
    "model",
    "baselines",
    "protocol",
    "history",
    "best",
    "last",
    "resumed_from",
    "wall_seconds",
    "train_seconds",
    "files",
    "artifacts",
  ];
  const data = [
    "source",
    "fingerprint",
    "n",
    "image_shape",
    "class_names",
    "class_counts",
    "skipped",
    "skipped_count",
    "split",
  ];
  const common = {
    "": top,
    data,
    "data.split": ["kind", "n_train", "n_val", "train_counts", "val_counts", "file"],
    model: ["arch", "config", "parameters"],
    history: [
      "epoch",
      "lr",
      "trainLoss",
      "trainAcc",
      "valLoss",
      "valAcc",
      "valBalancedAcc",
      "imagesPerSec",
      "seconds",
    ],
  };
  const fileOf = (dir: string) => JSON.parse(Deno.readTextFileSync(join(dir, "result.json")));
  assertEquals(fieldOrder(fileOf(scored.runDir)), {
    ...common,
    best: ["epoch", "loss", "metrics"],
    "best.metrics": [
      "accuracy",
      "balancedAccuracy",
      "perClass",
      "confusion",
      "rocAuc",
      "prAuc",
      "ece",
      "n",
      "positiveClass",
    ],
    baselines: ["majority_accuracy", "logistic_regression"],
    files: [
      "metrics.md",
      "metrics.csv",
      "history.csv",
      "predictions.csv",
      "curves.svg",
      "roc.svg",
      "pr.svg",
      "confusion.svg",
      "reliability.svg",
      "split.json",
      "run.json",
      "model/model.json",
    ],
  });
  assertEquals(fieldOrder(fileOf(release.runDir)), {
    ...common,
    files: ["metrics.md", "history.csv", "split.json", "run.json", "model/model.json"],
  });
  // What runExperiment returns is the record as written and as read back.
  assertEquals(scored.result as unknown, fileOf(scored.runDir));
  assertEquals(readRunRecord(scored.runDir) as unknown, fileOf(scored.runDir));
});
