/**
 * The config schema ({@link SCHEMA}) as JSON Schema (draft-07), so that editors complete and
 * check config YAML: every config in configs/ starts with a `# yaml-language-server: $schema=`
 * line pointing at configs/schema.json, which `deno task experiment --json-schema` writes and a
 * test keeps equal to this output. One schema, two renderings: the loader validates against
 * SCHEMA itself; this is generated from it.
 *
 * What JSON Schema cannot say is left to the loader: that `extends` names a readable file, and
 * the model's own consistency checks (e.g. image size a multiple of 32).
 * @module
 */
import { type FieldSpec, isField, SCHEMA, type SectionSpec } from "./schema.ts";
import { SWEEP_SPEC } from "./sweep_schema.ts";

/** A JSON Schema node (the subset this generator writes). */
export type JsonSchema = Record<string, unknown>;

const NUMERIC = { "int": "integer", "number": "number" } as const;

function bounds(f: FieldSpec): JsonSchema {
  const b: JsonSchema = {};
  if (f.min !== undefined) b.minimum = f.min;
  if (f.max !== undefined) b.maximum = f.max;
  return b;
}

function fieldSchema(f: FieldSpec): JsonSchema {
  let s: JsonSchema;
  switch (f.type) {
    case "int":
    case "number":
      s = { type: NUMERIC[f.type], ...bounds(f) };
      break;
    case "bool":
      s = { type: "boolean" };
      break;
    case "string":
      s = { type: "string" };
      break;
    case "enum":
      s = { enum: [...(f.values ?? [])] };
      break;
    case "any":
      s = {};
      break;
    case "int[]":
    case "number[]": {
      s = {
        type: "array",
        items: { type: f.type === "int[]" ? "integer" : "number", ...bounds(f) },
      };
      if (f.length !== undefined) s = { ...s, minItems: f.length, maxItems: f.length };
      break;
    }
    case "string[]":
      // As the loader: distinct names, none empty or padded with spaces.
      s = { type: "array", items: { type: "string", pattern: "^\\S(.*\\S)?$" }, uniqueItems: true };
      break;
  }
  if (f.nullable) {
    s = f.type === "enum"
      ? { enum: [...(s.enum as unknown[]), null] }
      : { anyOf: [s, { type: "null" }] };
  }
  return { description: f.doc, default: f.default, ...s };
}

function sectionSchema(spec: SectionSpec): JsonSchema {
  const properties: Record<string, JsonSchema> = {};
  for (const [key, s] of Object.entries(spec)) {
    properties[key] = isField(s) ? fieldSchema(s) : sectionSchema(s);
  }
  return { type: "object", properties, additionalProperties: false };
}

/** The JSON Schema of an experiment config file (every key optional: `extends` and defaults). */
export function configJsonSchema(): JsonSchema {
  const top = sectionSchema(SCHEMA);
  return {
    $schema: "http://json-schema.org/draft-07/schema#",
    $id: "https://github.com/starmamba/starmamba/configs/schema.json",
    title: "starmamba experiment config",
    description: "Generated from lib/config/schema.ts by `deno task experiment --json-schema`; " +
      "every key is optional (defaults in docs/config.md).",
    ...top,
    properties: {
      extends: {
        type: "string",
        description: "another config file whose keys this one overrides (path relative to this " +
          "file)",
      },
      ...(top.properties as Record<string, JsonSchema>),
    },
  };
}

/** The JSON Schema of an ablation sweep file (configs/ablations/schema.json). */
export function sweepJsonSchema(): JsonSchema {
  const top = sectionSchema(SWEEP_SPEC);
  const props = top.properties as Record<string, JsonSchema>;
  return {
    $schema: "http://json-schema.org/draft-07/schema#",
    $id: "https://github.com/starmamba/starmamba/configs/ablations/schema.json",
    title: "starmamba ablation sweep",
    description:
      "Generated from lib/config/sweep_schema.ts by `deno task ablate --json-schema`; `name`, " +
      "`base`, `seeds` and `variants` are required.",
    ...top,
    required: ["name", "base", "seeds", "variants"],
    properties: {
      ...props,
      set: { ...props.set, type: "object" },
      variants: {
        ...props.variants,
        type: "array",
        minItems: 1,
        items: {
          type: "object",
          properties: { name: { type: "string" }, set: { type: "object" } },
          required: ["name", "set"],
          additionalProperties: false,
        },
      },
    },
  };
}
