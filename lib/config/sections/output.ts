/**
 * The `output:` section (where results go, how often state is saved), owned by the runner
 * (lib/experiment) and the results writer (lib/results). Declared under lib/config because
 * imports flow config → results → experiment.
 * @module
 */
import type { SectionSpec } from "../spec.ts";

/** Where results go and how often state is saved. */
export const OUTPUT_SECTION = {
  dir: {
    type: "string",
    default: "results",
    doc: "published results folder (relative to the project)",
  },
  scratch_dir: {
    type: "string",
    default: "scratch",
    doc: "unpublished runs go here (git-ignored)",
  },
  publish: {
    type: "bool",
    default: false,
    doc: "write to output.dir (citable) instead of scratch",
  },
  checkpoint_every: {
    type: "int",
    default: 50,
    min: 1,
    max: 1000000,
    doc: "save resumable state every N steps",
  },
} as const satisfies SectionSpec;
