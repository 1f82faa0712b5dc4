/**
 * The schema of an ablation sweep file (configs/ablations/*.yaml), checked with the config
 * module's machinery ({@link validateAgainst}: unknown keys, types, defaults); lib/experiment/
 * sweep.ts checks what a table cannot say (names usable as folders, the base config exists,
 * distinct seeds, the overrides and the variants).
 * @module
 */
import type { SectionSpec } from "./spec.ts";

/** Every key of a sweep file. */
export const SWEEP_SPEC: SectionSpec = {
  name: { type: "string", default: "", doc: "the sweep's name: its folder under ablations/" },
  description: { type: "string", default: "", doc: "free text recorded in the summary" },
  base: {
    type: "string",
    default: "",
    doc: "the experiment config every run starts from, relative to the sweep file",
  },
  seeds: {
    type: "int[]",
    default: [],
    min: 0,
    max: 2 ** 31 - 1,
    doc: "seeds every variant is trained with (distinct)",
  },
  set: {
    type: "any",
    default: {},
    doc: "config overrides for every run (dotted keys or nested mappings)",
  },
  variants: {
    type: "any",
    default: [],
    doc: "the variants: a list of { name, set } besides the implicit base",
  },
  publish: {
    type: "bool",
    default: false,
    doc: "write the runs under output.dir (citable) instead of scratch",
  },
};
