import { assert, assertEquals, assertThrows } from "../lib/util/assert.ts";
import {
  canonicalJson,
  configHash,
  loadConfig,
  parseOverride,
  validateConfig,
} from "../lib/config/load.ts";
import { createHash } from "node:crypto";
import { configReference } from "../lib/config/reference.ts";
import { configTypesSource } from "../lib/config/typescript.ts";
import type { BadDefaults, SectionSpec, ValueOf } from "../lib/config/spec.ts";
import type {
  AugmentSection,
  ExperimentConfig,
  ModelSection,
  TrainSection,
} from "../lib/config/schema.ts";
import { StarmambaError } from "../lib/util/errors.ts";
import { join } from "node:path";

function tmpConfig(files: Record<string, string>): string {
  const dir = Deno.makeTempDirSync();
  for (const [name, text] of Object.entries(files)) Deno.writeTextFileSync(join(dir, name), text);
  return dir;
}

Deno.test("defaults fill a minimal config; hash is stable and order-independent", () => {
  const dir = tmpConfig({
    "a.yaml": "seed: 3\ntrain:\n  epochs: 2\n  lr: 0.1\n",
    "b.yaml": "train:\n  lr: 0.1\n  epochs: 2\nseed: 3\n",
  });
  const a = loadConfig(join(dir, "a.yaml")), b = loadConfig(join(dir, "b.yaml"));
  assertEquals(a.config.train.batch_size, 32);
  assertEquals(a.config.backend, "wasm");
  assertEquals(a.hash, b.hash);
  assertEquals(a.hash.length, 64);
  assertEquals(canonicalJson({ b: 1, a: [2, { d: 1, c: 2 }] }), '{"a":[2,{"c":2,"d":1}],"b":1}');
});

/** Issue 22's data keys: catalogue, grouping, FITS and stretch. */
const CATALOG_KEYS = [
  "catalog",
  "group_by",
  "group_radius_arcsec",
  "pixel_scale_arcsec",
  "fits_hdu",
  "stretch",
  "stretch_percentile",
  "asinh_a",
  "zscale_contrast",
  "zscale_samples",
  "classes",
];

Deno.test("keys added later (center_crop, field_context, test_set, fold, the catalogue/FITS keys, model.arch and stem, ema_decay, keep, class_weight_power) stay out of the hash while at their default", () => {
  // Published results were hashed before the key existed; their hashes must not move.
  const cfg = validateConfig({ seed: 2 });
  const before = structuredClone(cfg) as unknown as Record<string, Record<string, unknown>>;
  delete before.data.center_crop;
  delete before.data.field_context;
  delete before.data.test_set;
  delete before.data.fold;
  for (const k of CATALOG_KEYS) delete before.data[k];
  delete before.train.ema_decay;
  delete before.train.keep;
  delete before.train.class_weight_power;
  delete before.model.arch;
  delete before.model.stem;
  const sha = (v: unknown) => createHash("sha256").update(canonicalJson(v)).digest("hex");
  assertEquals(configHash(cfg), sha(before));
  const set = validateConfig({
    seed: 2,
    data: { center_crop: 32, field_context: true, test_set: "test_set.json", fold: 1 },
    train: { ema_decay: 0.99, class_weight_power: 0.5, keep: "last" },
  });
  assertEquals([
    set.data.center_crop,
    set.data.field_context,
    set.data.test_set,
    set.data.fold,
    set.train.ema_decay,
    set.train.class_weight_power,
    set.train.keep,
  ], [32, true, "test_set.json", 1, 0.99, 0.5, "last"]);
  const setHashed = structuredClone(set) as unknown as Record<string, Record<string, unknown>>;
  for (const k of CATALOG_KEYS) delete setHashed.data[k];
  delete setHashed.model.arch;
  delete setHashed.model.stem;
  assertEquals(configHash(set), sha(setHashed));
  assert(configHash(set) !== configHash(cfg));
  for (
    const over of [
      { stretch: "asinh" },
      { group_by: "frame" },
      { fits_hdu: 1 },
      { classes: ["galaxy", "qso", "star"] },
    ]
  ) {
    assert(configHash(validateConfig({ seed: 2, data: over })) !== configHash(cfg));
  }
});

Deno.test("unknown key names the key, the file and the closest valid key", () => {
  const dir = tmpConfig({ "c.yaml": "train:\n  epoch: 3\n" });
  const e = assertThrows(() => loadConfig(join(dir, "c.yaml")), StarmambaError);
  assert(e.message.includes('"train.epoch"'), e.message);
  assert(e.message.includes('"train.epochs"'), e.message);
  assert(e.message.includes("c.yaml"), e.message);
});

Deno.test("wrong type names the expected type; ranges and enums are checked", () => {
  assertThrows(
    () => validateConfig({ train: { epochs: "ten" } }),
    StarmambaError,
    "expected an integer",
  );
  assertThrows(() => validateConfig({ train: { lr: -1 } }), StarmambaError, "out of range");
  assertThrows(() => validateConfig({ backend: "tpu" }), StarmambaError, "not one of");
  assertThrows(() => validateConfig({ model: { preset: "huge" } }), StarmambaError, "not one of");
  assertThrows(
    () => validateConfig({ model: { conv_branch: "yes" } }),
    StarmambaError,
    "true or false",
  );
  assertThrows(() => validateConfig({ train: 5 }), StarmambaError, "must be a mapping");
});

Deno.test("extends merges base first, --set overrides last, cycles are caught", () => {
  const dir = tmpConfig({
    "base.yaml": "seed: 1\ntrain:\n  epochs: 5\n  lr: 0.01\n",
    "child.yaml": "extends: base.yaml\ntrain:\n  epochs: 7\n",
    "loop1.yaml": "extends: loop2.yaml\n",
    "loop2.yaml": "extends: loop1.yaml\n",
  });
  const c = loadConfig(join(dir, "child.yaml"), ["train.epochs=9", "model.directions=2"]);
  assertEquals(c.config.train.epochs, 9);
  assertEquals(c.config.train.lr, 0.01);
  assertEquals(c.config.model.directions, 2);
  assertEquals(c.files.length, 2);
  assertThrows(() => loadConfig(join(dir, "loop1.yaml")), StarmambaError, "cycle");
  assertEquals(parseOverride("a.b=[1, 2]"), { a: { b: [1, 2] } });
  assertThrows(() => parseOverride("novalue"), StarmambaError, "key=value");
});

Deno.test("missing config file is a clear error", () => {
  assertThrows(() => loadConfig("/nonexistent/x.yaml"), StarmambaError, "config file not found");
});

Deno.test("shipped configs all validate (configs/, aries/, explore/; sweeps in ablations/)", () => {
  let n = 0;
  for (const dir of ["", "aries/", "explore/"]) {
    for (const e of Deno.readDirSync(new URL(`../configs/${dir}`, import.meta.url))) {
      if (e.isFile && e.name.endsWith(".yaml")) {
        loadConfig(new URL(`../configs/${dir}${e.name}`, import.meta.url).pathname);
        n++;
      }
    }
  }
  assertEquals(n, 25);
});

Deno.test("docs/config.md is the generated reference of every schema key", () => {
  const docs = Deno.readTextFileSync(new URL("../docs/config.md", import.meta.url));
  assertEquals(
    docs,
    configReference(),
    "docs/config.md is stale: run `deno task experiment --keys > docs/config.md`",
  );
  for (
    const key of ["data.center_crop", "train.ema_decay", "augment.noise_std", "output.publish"]
  ) {
    assert(docs.includes(`| \`${key}\` |`), key);
  }
});

Deno.test("an emptied section (train: null) under extends, or --set train=null, is refused naming the parent", () => {
  const dir = tmpConfig({
    "base.yaml": "train:\n  epochs: 5\n  lr: 0.01\n",
    "child.yaml": "extends: base.yaml\nseed: 2\ntrain:\n",
    "aug.yaml": "extends: base.yaml\naugment: null\n",
    "ok.yaml": "extends: base.yaml\ntrain: {}\n",
  });
  const e = assertThrows(() => loadConfig(join(dir, "child.yaml")), StarmambaError);
  assertEquals(
    e.message,
    `${join(dir, "child.yaml")}: train is empty (null): delete the line to inherit ` +
      `${join(dir, "base.yaml")}'s train section, or give its keys`,
  );
  assertThrows(() => loadConfig(join(dir, "aug.yaml")), StarmambaError, "augment is empty (null)");
  // An empty mapping merges as nothing: the base's section stays.
  assertEquals(loadConfig(join(dir, "ok.yaml")).config.train.epochs, 5);
  assertThrows(
    () => loadConfig(join(dir, "base.yaml"), ["train=null"]),
    StarmambaError,
    "--set train=null: train is empty (null)",
  );
  // A nullable key set to null is still a value, not an emptied section.
  assertEquals(loadConfig(join(dir, "base.yaml"), ["model.dim=null"]).config.model.dim, null);
});

Deno.test("experiment names that would leave the results folder are refused", () => {
  for (
    const [name, why] of [
      ["../escape", "path separator"],
      ["a/b", "path separator"],
      ["a\\b", "path separator"],
      ["/tmp/x", "path separator"],
      ["..", 'holds ".."'],
      ["x..y", 'holds ".."'],
      [".hidden", "starts with a dot"],
      ["", "is empty"],
    ]
  ) {
    const e = assertThrows(
      () => validateConfig({ experiment: name }, "c.yaml"),
      StarmambaError,
      why,
    );
    assert(e.message.startsWith(`c.yaml: key "experiment": ${JSON.stringify(name)}`), e.message);
  }
  for (const name of ["my-run", "improved-cpu-context-ema-shape", "run_2.1"]) {
    assertEquals(validateConfig({ experiment: name }).experiment, name);
  }
});

/** True when A and B are the same type (not merely mutually assignable). */
type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true
  : false;

Deno.test("lib/config/types.ts is the generated TypeScript of the schema", () => {
  assertEquals(
    Deno.readTextFileSync(new URL("../lib/config/types.ts", import.meta.url)),
    configTypesSource(),
    "lib/config/types.ts is stale: run `deno run lib/config/typescript.ts > lib/config/types.ts`",
  );
});

// Compile-time tests (deno test type-checks this file): the derived types are the validator's.
const DECL = {
  n: { type: "int", default: null, nullable: true, min: 1, doc: "nullable int" },
  pair: { type: "number[]", default: [0.8, 1], length: 2, doc: "fixed length: a tuple" },
  list: { type: "int[]", default: [], doc: "free length" },
  names: { type: "string[]", default: ["a"], doc: "names" },
  k: { type: "enum", default: 4, values: [1, 2, 4], doc: "enum of numbers" },
  mode: { type: "enum", default: null, values: ["x", "y"], nullable: true, doc: "nullable enum" },
  free: { type: "any", default: {}, doc: "kept as written" },
  sub: {
    on: { type: "bool", default: true, doc: "nested" },
    s: { type: "string", default: "", doc: "" },
  },
} as const satisfies SectionSpec;
const declTypeIsDerived: Same<ValueOf<typeof DECL>, {
  n: number | null;
  pair: [number, number];
  list: number[];
  names: string[];
  k: 1 | 2 | 4;
  mode: "x" | "y" | null;
  free: unknown;
  sub: { on: boolean; s: string };
}> = true;
const BAD = {
  size: { type: "int", default: "64", doc: "a string default for an int" },
  sub: { k: { type: "enum", default: 3, values: [1, 2], doc: "a default outside the enum" } },
  ok: { type: "number", default: null, nullable: true, doc: "fine" },
} as const satisfies SectionSpec;
const badDefaultsNamed: Same<BadDefaults<typeof BAD>, "size" | "sub.k"> = true;
const config: ExperimentConfig = validateConfig({});
const stricter: [
  ExperimentConfig["backend"],
  ModelSection["preset"],
  ModelSection["depths"],
  AugmentSection["crop_scale"],
  TrainSection["optimizer"],
] = [
  // @ts-expect-error the validator only takes the six backends (the old interface said string)
  "tpu",
  // @ts-expect-error nor a preset outside cpu, tiny, small, base (the old interface said string)
  "huge",
  // @ts-expect-error depths has exactly 4 entries (the old interface said number[])
  [2, 2, 2],
  // @ts-expect-error crop_scale is a [min, max] pair
  [0.5],
  // @ts-expect-error an optimizer outside adam, adamw
  "lbfgs",
];

Deno.test("the config types are derived from the declaration (checked when this file compiles)", () => {
  assert(declTypeIsDerived && badDefaultsNamed);
  assertEquals(stricter.length, 5);
  assertEquals(config.model.depths, null);
});

Deno.test("every default is a valid value of its own key (in range, of its type)", () => {
  const defaults = validateConfig({}) as unknown as Record<string, unknown>;
  // Set every key explicitly to its default: validation must accept each one and change nothing.
  assertEquals(validateConfig(structuredClone(defaults)), defaults as unknown as ExperimentConfig);
});
