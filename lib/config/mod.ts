/**
 * Configs: the schema (every key declared once, each section in lib/config/sections/), loading
 * with `extends:` and `--set`, validation, the canonical hash, and the generated renderings
 * (Markdown reference, JSON Schema, and the TypeScript types: {@link ExperimentConfig} and one per
 * section, e.g. {@link TrainSection}).
 * @module
 */
export {
  canonicalJson,
  configHash,
  deepMerge,
  loadConfig,
  type LoadedConfig,
  type Obj,
  parseOverride,
  validateConfig,
} from "./load.ts";
export {
  type AugmentSection,
  type DataSection,
  type ExperimentConfig,
  type FieldSpec,
  isField,
  type ModelSection,
  type OutputSection,
  SCHEMA,
  type SectionSpec,
  type TrainSection,
} from "./schema.ts";
export { configReference } from "./reference.ts";
export { configJsonSchema, type JsonSchema } from "./json_schema.ts";
