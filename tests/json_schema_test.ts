/**
 * configs/schema.json against the loader: the file is the generated schema (not stale), every
 * shipped config file passes it under an independent validator (ajv) and starts with the
 * editor's `$schema` line, and for bad configs ajv and the loader agree that they are bad.
 */
import Ajv from "ajv";
import { parse } from "yaml";
import { assert, assertEquals, assertThrows } from "../lib/util/assert.ts";
import { configJsonSchema, sweepJsonSchema } from "../lib/config/json_schema.ts";
import { validateConfig } from "../lib/config/load.ts";
import { StarmambaError } from "../lib/util/errors.ts";

const CONFIGS = new URL("../configs/", import.meta.url);

function shippedConfigs(): URL[] {
  const out: URL[] = [];
  for (const dir of ["", "aries/", "explore/"]) {
    for (const e of Deno.readDirSync(new URL(dir, CONFIGS))) {
      if (e.isFile && e.name.endsWith(".yaml")) out.push(new URL(dir + e.name, CONFIGS));
    }
  }
  return out;
}

type Validate = ((data: unknown) => boolean) & { errors?: unknown };
const AjvClass = Ajv as unknown as new (opts: object) => { compile(schema: object): Validate };
const validator = (): Validate =>
  new AjvClass({ allErrors: true, strict: false }).compile(configJsonSchema());

Deno.test("configs/schema.json is the generated JSON Schema of lib/config/schema.ts", () => {
  assertEquals(
    Deno.readTextFileSync(new URL("schema.json", CONFIGS)),
    JSON.stringify(configJsonSchema(), null, 2) + "\n",
    "configs/schema.json is stale: run `deno task experiment --json-schema > configs/schema.json`",
  );
});

Deno.test("every shipped config passes the JSON Schema (ajv) and points editors at it", () => {
  const validate = validator();
  const files = shippedConfigs();
  assert(files.length >= 18, `${files.length} configs`);
  for (const url of files) {
    const text = Deno.readTextFileSync(url);
    const depth = url.pathname.slice(CONFIGS.pathname.length).split("/").length - 1;
    const line = `# yaml-language-server: $schema=${"../".repeat(depth)}schema.json`;
    assert(text.startsWith(line + "\n"), `${url.pathname} does not start with "${line}"`);
    assert(validate(parse(text)), `${url.pathname}: ${JSON.stringify(validate.errors)}`);
  }
});

Deno.test("JSON Schema and loader agree on good and bad configs", () => {
  const validate = validator();
  const good = [
    { seed: 3, model: { preset: "cpu", d_state: 4 }, train: { ema_decay: null } },
    { data: { center_crop: 32 }, augment: { crop_scale: [0.5, 1] } },
    {},
  ];
  const bad = [
    { seed: -1 }, // below min
    { seed: 1.5 }, // not an integer
    { model: { preset: "huge" } }, // not in the enum
    { train: { epochs: "ten" } }, // wrong type
    { train: { epochz: 3 } }, // unknown key
    { augment: { crop_scale: [0.5] } }, // wrong length
    { model: "cpu" }, // a section must be a mapping
  ];
  for (const c of good) {
    assert(validate(c), `ajv rejects ${JSON.stringify(c)}: ${JSON.stringify(validate.errors)}`);
    validateConfig(structuredClone(c));
  }
  for (const c of bad) {
    assert(!validate(c), `ajv accepts ${JSON.stringify(c)}`);
    assertThrows(() => validateConfig(structuredClone(c)), StarmambaError);
  }
});

Deno.test("configs/ablations/schema.json: current, and every sweep file passes it (ajv)", () => {
  const dir = new URL("ablations/", CONFIGS);
  assertEquals(
    Deno.readTextFileSync(new URL("schema.json", dir)),
    JSON.stringify(sweepJsonSchema(), null, 2) + "\n",
    "configs/ablations/schema.json is stale: run `deno task ablate --json-schema > …`",
  );
  const validate = new AjvClass({ allErrors: true, strict: false }).compile(sweepJsonSchema());
  let n = 0;
  for (const e of Deno.readDirSync(dir)) {
    if (!e.name.endsWith(".yaml")) continue;
    const text = Deno.readTextFileSync(new URL(e.name, dir));
    assert(text.startsWith("# yaml-language-server: $schema=schema.json\n"), e.name);
    assert(validate(parse(text)), `${e.name}: ${JSON.stringify(validate.errors)}`);
    n++;
  }
  assert(n >= 10, `${n} sweep files`);
  const ok = {
    name: "t",
    base: "../quickstart.yaml",
    seeds: [1],
    variants: [{ name: "a", set: {} }],
  };
  assert(validate(ok), JSON.stringify(validate.errors));
  for (const bad of [{ ...ok, seedz: [1] }, { ...ok, publish: "yes" }, { ...ok, variants: [] }]) {
    assert(!validate(bad), `ajv accepts ${JSON.stringify(bad)}`);
  }
});
