/**
 * The experiment config schema: every key, its type, range, default and meaning, declared once.
 * The top-level keys are here; each section is declared in lib/config/sections/<name>.ts, named
 * for the module that reads it (data, model, train, augment, output). The loader validates YAML
 * against it; `--keys` (docs/config.md), the JSON Schema (configs/schema.json) and the TypeScript
 * types (lib/config/types.ts: {@link ExperimentConfig}, {@link TrainSection} …) are generated
 * from the same declaration.
 * @module
 */
import type { BadDefaults, SectionSpec, ValueOf } from "./spec.ts";
import type { ExperimentConfig } from "./types.ts";
import { DATA_SECTION } from "./sections/data.ts";
import { MODEL_SECTION } from "./sections/model.ts";
import { TRAIN_SECTION } from "./sections/train.ts";
import { AUGMENT_SECTION } from "./sections/augment.ts";
import { OUTPUT_SECTION } from "./sections/output.ts";

export { type FieldSpec, isField, type SectionSpec } from "./spec.ts";
export { DEFAULT_CLASSES } from "./sections/data.ts";
export type {
  AugmentSection,
  DataSection,
  ExperimentConfig,
  ModelSection,
  OutputSection,
  TrainSection,
} from "./types.ts";

/** The declaration, typed exactly (`as const`) so that its value types can be derived. */
const DECLARED = {
  experiment: {
    type: "string",
    default: "experiment",
    doc: "name; results go to results/<experiment>/<version>/",
  },
  description: { type: "string", default: "", doc: "free text recorded in the result" },
  seed: {
    type: "int",
    default: 1,
    min: 0,
    max: 2 ** 31 - 1,
    doc: "seeds data order, augmentation, init and DropPath",
  },
  backend: {
    type: "enum",
    default: "wasm",
    values: ["wasm", "cpu", "cuda", "webgpu", "tensorflow", "tensorflow-gpu"],
    doc: "tfjs backend (cuda: starmamba's GPU backend, needs an NVIDIA GPU and nvcc)",
  },
  data: DATA_SECTION,
  model: MODEL_SECTION,
  train: TRAIN_SECTION,
  augment: AUGMENT_SECTION,
  output: OUTPUT_SECTION,
} as const satisfies SectionSpec;

/** The whole schema. Defaults are the official MedMamba recipe where one exists. */
export const SCHEMA: SectionSpec = DECLARED;

/** What each section is for: the JSDoc of its generated type in lib/config/types.ts. */
export const SECTION_DOCS: Readonly<Record<string, string>> = {
  data: "Data source, size and split (read by lib/data).",
  model: "Network architecture, preset and switches (read by lib/model).",
  train: "Optimiser, schedule and class balance (read by lib/train).",
  augment: "Per-sample augmentation and normalisation (read by lib/data's augmentation).",
  output: "Where results go and how often state is saved (read by the runner).",
};

// Compile-time checks of the declaration. A default that is not a value of its key's type fails
// here, naming the key (the type of `defaultsFit` becomes that key's dotted name).
const defaultsFit: [BadDefaults<typeof DECLARED>] extends [never] ? true
  : BadDefaults<typeof DECLARED> = true;
// The generated interfaces (lib/config/types.ts) and the type derived from DECLARED must each be
// assignable to the other (tests/config_test.ts also compares the file's text): after
// adding or changing a key this fails naming it until lib/config/types.ts is regenerated
// (`deno run lib/config/typescript.ts > lib/config/types.ts`).
type Derived = ValueOf<typeof DECLARED>;
const typesMatch = (g: ExperimentConfig, d: Derived): [Derived, ExperimentConfig] => [g, d];
void defaultsFit, typesMatch;
