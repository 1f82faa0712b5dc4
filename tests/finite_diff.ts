/**
 * The whole-model gradient check shared by tests/model_test.ts (tensor ops on the cpu backend) and
 * tests/block_fused_test.ts (fused blocks on wasm): central differences of a scalar loss at
 * sampled weights against the analytic gradient.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { assert } from "../lib/util/assert.ts";
import type { Param } from "../lib/model/params.ts";
import type { Rng } from "../lib/util/rng.ts";

/**
 * For each parameter in `params`, `samples` random weights: (loss(w + ε) − loss(w − ε)) / 2ε
 * with ε = 2e-3·max(1, |w|) must match the analytic gradient within 3% + 3e-3 (float32 forward).
 * Returns how many weights were checked.
 */
export function checkFiniteDifferences(
  params: Param[],
  loss: () => tf.Scalar,
  r: Rng,
  samples: number,
): number {
  const { grads } = tf.variableGrads(loss, params.map((p) => p.variable));
  let checked = 0;
  for (const p of params) {
    const g = grads[p.variable.name].dataSync();
    const vals = p.variable.dataSync().slice();
    for (let s = 0; s < samples; s++) {
      const i = r.int(vals.length);
      const eps = 2e-3 * Math.max(1, Math.abs(vals[i]));
      const at = (v: number) => {
        const copy = vals.slice();
        copy[i] = v;
        p.variable.assign(tf.tensor(copy, p.variable.shape));
        return tf.tidy(() => loss().dataSync()[0]);
      };
      const fd = (at(vals[i] + eps) - at(vals[i] - eps)) / (2 * eps);
      p.variable.assign(tf.tensor(vals, p.variable.shape));
      const tol = 3e-2 * Math.max(Math.abs(fd), Math.abs(g[i])) + 3e-3;
      assert(Math.abs(fd - g[i]) <= tol, `${p.name}[${i}]: analytic ${g[i]} vs finite diff ${fd}`);
      checked++;
    }
  }
  tf.dispose(Object.values(grads));
  return checked;
}
