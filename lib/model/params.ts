/**
 * Named parameters of a network and their seeded initialisers. Initial values are drawn with
 * our own seeded streams (lib/util/rng.ts), not tfjs's initialisers, so a seed fixes them
 * bitwise on every backend.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Rng } from "../util/rng.ts";

/** One named tensor of the network. */
export interface Param {
  /** Dotted name, e.g. `layers.0.blocks.0.self_attention.A_logs`; the key in checkpoints. */
  name: string;
  /** The tensor's current value. */
  variable: tf.Variable;
  /** False for BatchNorm running statistics. */
  trainable: boolean;
}

/** An ordered collection of named parameters. Insertion order is the canonical order. */
export class ParamStore {
  /** Every parameter by name, in canonical (insertion) order. */
  readonly params: Map<string, Param> = new Map();

  /** Adds a parameter initialised with `values`. */
  add(name: string, shape: number[], values: Float32Array, trainable = true): tf.Variable {
    if (this.params.has(name)) throw new Error(`duplicate parameter ${name}`);
    // tfjs variable names are global to the engine; parameter names live here instead, so two
    // models with the same layout can coexist.
    const variable = tf.variable(tf.tensor(values, shape, "float32"), trainable);
    this.params.set(name, { name, variable, trainable });
    return variable;
  }

  /** The variable called `name`. */
  get(name: string): tf.Variable {
    const p = this.params.get(name);
    if (!p) throw new Error(`no parameter ${name}`);
    return p.variable;
  }

  /** Trainable variables in canonical order. */
  trainable(): tf.Variable[] {
    return [...this.params.values()].filter((p) => p.trainable).map((p) => p.variable);
  }

  /** Number of trainable scalars (BatchNorm running statistics excluded). */
  countTrainable(): number {
    return this.trainable().reduce((s, v) => s + v.size, 0);
  }

  /** Frees every variable. */
  dispose(): void {
    for (const p of this.params.values()) p.variable.dispose();
    this.params.clear();
  }
}

/** Fills an array with a constant. */
export function constant(n: number, v: number): Float32Array {
  return new Float32Array(n).fill(v);
}

/** Truncated normal N(0, std²) cut at ±2σ (timm's trunc_normal_ with a = −2σ, b = 2σ). */
export function truncNormal(n: number, std: number, r: Rng): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let z = r.normal();
    while (Math.abs(z) > 2) z = r.normal();
    out[i] = z * std;
  }
  return out;
}

/** Normal N(0, std²). */
export function normal(n: number, std: number, r: Rng): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = r.normal() * std;
  return out;
}

/** Uniform in [−bound, bound). */
export function uniform(n: number, bound: number, r: Rng): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = r.uniform(-bound, bound);
  return out;
}
