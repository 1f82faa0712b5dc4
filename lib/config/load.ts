/**
 * Loading experiment configs: YAML (npm:yaml) with `extends:` chains and `--set key=value`
 * overrides, validated against {@link SCHEMA}, with defaults filled in and a sha256 hash of
 * the canonical resolved config.
 * @module
 */
import YAML from "yaml";
import { dirname, resolve } from "node:path";
import { createHash } from "node:crypto";
import {
  type ExperimentConfig,
  type FieldSpec,
  isField,
  SCHEMA,
  type SectionSpec,
} from "./schema.ts";
import { StarmambaError } from "../util/errors.ts";

/** A parsed YAML mapping. */
export type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Levenshtein distance, for "did you mean" suggestions. */
export function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(
        d[i - 1][j] + 1,
        d[i][j - 1] + 1,
        d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
  }
  return d[a.length][b.length];
}

function closest(key: string, candidates: string[]): string {
  return candidates.reduce((
    best,
    c,
  ) => (editDistance(key, c) < editDistance(key, best) ? c : best));
}

/** Recursively merges `over` onto `base` (objects merge, everything else replaces). */
export function deepMerge(base: Obj, over: Obj): Obj {
  const out: Obj = { ...base };
  for (const [k, v] of Object.entries(over)) {
    out[k] = isObj(v) && isObj(out[k]) ? deepMerge(out[k] as Obj, v) : v;
  }
  return out;
}

function readYaml(path: string): Obj {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new StarmambaError(
        `config file not found: ${path} (check the path; configs live in configs/)`,
      );
    }
    throw new StarmambaError(`cannot read config ${path}: ${(e as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (e) {
    throw new StarmambaError(`${path}: invalid YAML: ${(e as Error).message.split("\n")[0]}`);
  }
  if (doc === null || doc === undefined) return {};
  if (!isObj(doc)) throw new StarmambaError(`${path}: the top level must be a mapping of keys`);
  return doc;
}

/** Reads `path` and every file it `extends:` (relative to each file), merged base-first. */
function readWithExtends(path: string, seen: string[] = []): { raw: Obj; files: string[] } {
  const abs = resolve(path);
  if (seen.includes(abs)) {
    throw new StarmambaError(`config extends itself in a cycle: ${[...seen, abs].join(" → ")}`);
  }
  const doc = readYaml(abs);
  const ext = doc.extends;
  delete doc.extends;
  if (ext === undefined) return { raw: doc, files: [abs] };
  if (typeof ext !== "string") {
    throw new StarmambaError(`${abs}: key "extends" must be a file path (string)`);
  }
  const base = readWithExtends(resolve(dirname(abs), ext), [...seen, abs]);
  const parent = base.files[base.files.length - 1];
  refuseEmptySections(
    doc,
    (key) =>
      `${abs}: ${key} is empty (null): delete the line to inherit ${parent}'s ${key} section, ` +
      "or give its keys",
  );
  return { raw: deepMerge(base.raw, doc), files: [...base.files, abs] };
}

/**
 * A section written as `train:` with nothing under it (YAML null) would replace the inherited
 * section wholesale and silently train on the defaults: refuse it, with `message(section)`.
 */
function refuseEmptySections(doc: Obj, message: (section: string) => string): void {
  for (const [key, spec] of Object.entries(SCHEMA)) {
    if (!isField(spec) && Object.hasOwn(doc, key) && doc[key] === null) {
      throw new StarmambaError(message(key));
    }
  }
}

/** Parses `a.b.c=value` (value as YAML, so numbers, booleans, lists work) into a nested object. */
export function parseOverride(s: string): Obj {
  const eq = s.indexOf("=");
  if (eq <= 0) {
    throw new StarmambaError(`--set expects key=value, e.g. --set train.epochs=5 (got "${s}")`);
  }
  const keys = s.slice(0, eq).trim().split(".");
  let value: unknown;
  try {
    value = YAML.parse(s.slice(eq + 1));
  } catch {
    value = s.slice(eq + 1);
  }
  const out: Obj = {};
  let cur = out;
  keys.forEach((k, i) => {
    if (i === keys.length - 1) cur[k] = value;
    else cur = (cur[k] = {}) as Obj;
  });
  return out;
}

function typeName(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "list";
  return typeof v;
}

function checkField(v: unknown, spec: FieldSpec, where: string): unknown {
  if (v === null || v === undefined) {
    if (v === null && spec.nullable) return null;
    if (v === undefined) return spec.default;
    throw new StarmambaError(`${where}: must not be empty (expected ${describe(spec)})`);
  }
  const num = (x: unknown, int: boolean, label: string): number => {
    if (typeof x !== "number" || !Number.isFinite(x) || (int && !Number.isInteger(x))) {
      throw new StarmambaError(
        `${label}: expected ${int ? "an integer" : "a number"}, got ${typeName(x)} ${
          JSON.stringify(x)
        }`,
      );
    }
    if ((spec.min !== undefined && x < spec.min) || (spec.max !== undefined && x > spec.max)) {
      throw new StarmambaError(`${label}: ${x} is out of range [${spec.min}, ${spec.max}]`);
    }
    return x;
  };
  switch (spec.type) {
    case "int":
    case "number":
      return num(v, spec.type === "int", where);
    case "bool":
      if (typeof v !== "boolean") {
        throw new StarmambaError(
          `${where}: expected true or false, got ${typeName(v)} ${JSON.stringify(v)}`,
        );
      }
      return v;
    case "string":
      if (typeof v !== "string") {
        throw new StarmambaError(
          `${where}: expected a string, got ${typeName(v)} ${JSON.stringify(v)}`,
        );
      }
      return v;
    case "enum":
      if (!spec.values!.includes(v as string | number)) {
        throw new StarmambaError(
          `${where}: ${JSON.stringify(v)} is not one of ${
            spec.values!.map((x) => JSON.stringify(x)).join(", ")
          }`,
        );
      }
      return v;
    case "any":
      return v;
    case "int[]":
    case "number[]": {
      if (!Array.isArray(v)) {
        throw new StarmambaError(`${where}: expected a list of numbers, got ${typeName(v)}`);
      }
      if (spec.length !== undefined && v.length !== spec.length) {
        throw new StarmambaError(
          `${where}: expected a list of ${spec.length} numbers, got ${v.length}`,
        );
      }
      return v.map((x, i) => num(x, spec.type === "int[]", `${where}[${i}]`));
    }
    case "string[]":
      return stringList(v, where);
  }
}

/** A list of distinct non-empty strings (e.g. class names), or a message naming the element. */
function stringList(v: unknown, where: string): string[] {
  if (!Array.isArray(v)) {
    throw new StarmambaError(`${where}: expected a list of names, got ${typeName(v)}`);
  }
  v.forEach((x, i) => {
    if (typeof x !== "string" || x.trim() === "" || x.trim() !== x) {
      throw new StarmambaError(
        `${where}[${i}]: expected a non-empty name without surrounding spaces, got ` +
          `${typeName(x)} ${JSON.stringify(x)}`,
      );
    }
    if (v.indexOf(x) !== i) {
      throw new StarmambaError(`${where}: ${JSON.stringify(x)} is listed twice`);
    }
  });
  return v as string[];
}

function describe(spec: FieldSpec): string {
  return spec.type === "enum" ? `one of ${spec.values!.join(", ")}` : spec.type;
}

function validateSection(raw: Obj, spec: SectionSpec, path: string, file: string): Obj {
  const out: Obj = {};
  for (const key of Object.keys(raw)) {
    if (!(key in spec)) {
      const full = path ? `${path}.${key}` : key;
      throw new StarmambaError(
        `${file}: unknown key "${full}" — did you mean "${path ? path + "." : ""}${
          closest(key, Object.keys(spec))
        }"?`,
      );
    }
  }
  for (const [key, s] of Object.entries(spec)) {
    const full = path ? `${path}.${key}` : key;
    if (isField(s)) {
      out[key] = checkField(raw[key], s, `${file}: key "${full}"`);
    } else {
      const v = raw[key] ?? {};
      if (!isObj(v)) {
        throw new StarmambaError(
          `${file}: key "${full}" must be a mapping (section), got ${typeName(v)}`,
        );
      }
      out[key] = validateSection(v, s, full, file);
    }
  }
  return out;
}

/**
 * Validates `raw` against any section spec (the experiment config's, a sweep file's): unknown keys
 * name the closest valid one, values are type- and range-checked, absent keys take their
 * defaults. `file` names the source in messages.
 */
export function validateAgainst(
  raw: Record<string, unknown>,
  spec: SectionSpec,
  file: string,
): Record<string, unknown> {
  return validateSection(raw, spec, "", file);
}

/**
 * Validates a raw config object and fills defaults; `file` names it in messages.
 *
 * @example Fill a config's defaults; a misspelt key is a StarmambaError naming the right one
 * ```ts
 * import { StarmambaError, validateConfig } from "@starmamba/starmamba";
 * const cfg = validateConfig({ experiment: "mine", data: { source: "synthetic" } }, "mine.yaml");
 * console.log(cfg.model.arch, cfg.model.preset, cfg.data.size); // the defaults: medmamba cpu 64
 * try {
 *   validateConfig({ experiment: "mine", trian: { epochs: 3 } }, "mine.yaml");
 * } catch (e) {
 *   // true mine.yaml: unknown key "trian" — did you mean "train"?
 *   console.log(e instanceof StarmambaError, (e as Error).message);
 * }
 * ```
 */
export function validateConfig(
  raw: Record<string, unknown>,
  file = "<config>",
): ExperimentConfig {
  const cfg = validateSection(raw, SCHEMA, "", file) as unknown as ExperimentConfig;
  checkExperimentName(cfg.experiment, file);
  return cfg;
}

/**
 * `experiment` becomes a folder name (results/<experiment>/<version>/): a path separator, `..`
 * or a leading dot would put the run outside that folder (or hide it), so each is refused.
 */
function checkExperimentName(name: string, file: string): void {
  const why = name.trim() === ""
    ? "is empty"
    : /[/\\]/.test(name)
    ? "holds a path separator"
    : name.includes("..")
    ? 'holds ".."'
    : name.startsWith(".")
    ? "starts with a dot"
    : [...name].some((c) => c.charCodeAt(0) < 0x20)
    ? "holds a control character"
    : null;
  if (why === null) return;
  throw new StarmambaError(
    `${file}: key "experiment": ${JSON.stringify(name)} ${why}, but it names the run's folder ` +
      `(results/<experiment>/<version>/); use one folder name, e.g. "my-run"`,
  );
}

/** The result of {@link loadConfig}. */
export interface LoadedConfig {
  /** The validated config with defaults filled in. */
  config: ExperimentConfig;
  /** sha256 (hex) of the canonical JSON of `config`. */
  hash: string;
  /** Absolute path of the config file. */
  path: string;
  /** Files read, base first (the extends chain). */
  files: string[];
  /** The overrides applied, as given. */
  overrides: string[];
}

/** JSON with object keys sorted at every level: the canonical form that is hashed. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
  if (isObj(v)) {
    return `{${
      Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson(v[k])}`).join(",")
    }}`;
  }
  return JSON.stringify(v);
}

/** sha256 (hex) of the canonical JSON of a config (keys marked `hashOnlyIfSet` left out at default). */
export function configHash(cfg: ExperimentConfig): string {
  const hashed = withoutUnsetKeys(cfg as unknown as Obj, SCHEMA);
  return createHash("sha256").update(canonicalJson(hashed)).digest("hex");
}

/** A copy of `v` without the `hashOnlyIfSet` keys that are absent or at their default. */
function withoutUnsetKeys(v: Obj, spec: SectionSpec): Obj {
  const out: Obj = {};
  for (const [key, value] of Object.entries(v)) {
    const s = spec[key];
    if (s === undefined) out[key] = value;
    else if (isField(s)) {
      if (!(s.hashOnlyIfSet && canonicalJson(value ?? null) === canonicalJson(s.default))) {
        out[key] = value;
      }
    } else out[key] = isObj(value) ? withoutUnsetKeys(value, s) : value;
  }
  return out;
}

/**
 * Loads, merges (`extends`, then `--set` overrides), validates and hashes a config file.
 *
 * @example Load the quickstart with two overrides, as `--set` gives them
 * ```ts
 * import { loadConfig } from "@starmamba/starmamba";
 * const loaded = loadConfig("configs/quickstart.yaml", ["train.epochs=2", "model.dim=8"]);
 * console.log(loaded.config.train.epochs, loaded.config.model.dim); // 2 8
 * console.log(loaded.config.model.arch, loaded.hash); // medmamba and the config's sha256
 * ```
 */
export function loadConfig(path: string, overrides: string[] = []): LoadedConfig {
  const { raw, files } = readWithExtends(path);
  return resolveConfig(raw, resolve(path), files, overrides);
}

/**
 * A config given as an object rather than a file (e.g. the one an exported model carries):
 * `--set` overrides applied, validated and hashed as {@link loadConfig} does. `source` names it
 * in messages and stands in for the config's path.
 */
export function loadConfigObject(
  raw: Record<string, unknown>,
  source: string,
  overrides: string[] = [],
): LoadedConfig {
  return resolveConfig(structuredClone(raw), source, [source], overrides);
}

/** Applies `overrides` to `raw`, validates and hashes it; `abs` names the config. */
function resolveConfig(raw: Obj, abs: string, files: string[], overrides: string[]): LoadedConfig {
  let merged = raw;
  for (const o of overrides) {
    const over = parseOverride(o);
    refuseEmptySections(
      over,
      (key) =>
        `--set ${o}: ${key} is empty (null) and would replace the config's ${key} section; ` +
        `set its keys instead (--set ${key}.<key>=<value>)`,
    );
    merged = deepMerge(merged, over);
  }
  const label = overrides.length ? `${abs} (with --set ${overrides.join(", ")})` : abs;
  const config = validateConfig(merged, label);
  return { config, hash: configHash(config), path: abs, files, overrides };
}
