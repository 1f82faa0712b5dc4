/**
 * Configs: the schema (one table of every key), loading with `extends:` and `--set`, validation,
 * the canonical hash, and the two generated renderings (Markdown reference, JSON Schema).
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
  type ExperimentConfig,
  type FieldSpec,
  isField,
  SCHEMA,
  type SectionSpec,
} from "./schema.ts";
export { configReference } from "./reference.ts";
export { configJsonSchema, type JsonSchema } from "./json_schema.ts";
