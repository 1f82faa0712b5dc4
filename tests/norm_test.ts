import * as tf from "@tensorflow/tfjs-core";
import { assertAllClose, assertEquals } from "../lib/util/assert.ts";
import { setupBackend } from "../lib/backends/setup.ts";
import { fusedNorm } from "../lib/ops/norm.ts";
import { batchNormTrainOps, layerNormOps } from "../lib/ops/norm.ts";
import { setNativeHooks } from "../lib/backends/wasm/hooks.ts";
import { loadNativeKernel } from "../lib/backends/wasm/native.ts";

const native = loadNativeKernel({ quiet: true });

// The fused LayerNorm / BatchNorm ops against the same maths written as tensor ops (whose
// gradients come from tfjs's autodiff), forward and every gradient, on both backends.
const data = (shape: number[], seed: number, scale = 1, offset = 0) =>
  tf.tensor(
    Float32Array.from(
      { length: shape.reduce((a, b) => a * b, 1) },
      (_, i) => offset + scale * Math.sin(i * 0.61 + seed * 1.3),
    ),
    shape,
  );

const variants: [string, boolean][] = [["cpu", false], ["wasm", false]];
if (native) variants.push(["wasm", true]);
for (const [backend, useNative] of variants) {
  for (const mode of ["row", "col"] as const) {
    Deno.test(`fused ${mode === "row" ? "LayerNorm" : "BatchNorm"} equals tensor ops, forward and gradients (${backend}${useNative ? ", native C" : ", TS loops"})`, async () => {
      await setupBackend(backend);
      let calls = 0;
      // Counts native calls, so the native variant fails if it silently used the TS loops.
      setNativeHooks({
        norm: useNative && native
          ? {
            forward: (...a) => (calls++, native.norm.forward(...a)),
            backward: (...a) => (calls++, native.norm.backward(...a)),
          }
          : null,
      });
      try {
        for (const shape of [[2, 3, 5, 7], [4, 4, 4, 48], [3, 1, 1, 5]]) {
          const C = shape[3];
          // offset 3 and scale 2 make the mean and variance matter
          const x = data(shape, 1, 2, 3), g = data([C], 2, 0.5, 1), b = data([C], 3);
          const w = data(shape, 4);
          const ref = (xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) =>
            mode === "row"
              ? layerNormOps(xx, gg, bb)
              : batchNormTrainOps(xx as tf.Tensor4D, gg, bb).y;
          const fused = (xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) =>
            fusedNorm(xx, gg, bb, mode, 1e-5).y;
          const loss = (f: typeof ref) => (xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) =>
            tf.sum(tf.mul(f(xx, gg, bb), w));
          const label = `${mode} ${shape}`;
          assertAllClose(
            fused(x, g, b).dataSync() as Float32Array,
            ref(x, g, b).dataSync() as Float32Array,
            1e-4,
            1e-5,
            `${label} y`,
          );
          const gf = tf.grads(loss(fused))([x, g, b]);
          const gr = tf.grads(loss(ref))([x, g, b]);
          ["dx", "dgamma", "dbeta"].forEach((n, i) =>
            assertAllClose(
              gf[i].dataSync() as Float32Array,
              gr[i].dataSync() as Float32Array,
              1e-3,
              1e-4,
              `${label} ${n}`,
            )
          );
          if (mode === "col") {
            const { mean, variance } = fusedNorm(x, g, b, mode, 1e-5);
            const m = tf.moments(x, [0, 1, 2]);
            assertAllClose(
              mean.dataSync() as Float32Array,
              m.mean.dataSync() as Float32Array,
              1e-5,
              1e-5,
              `${label} mean`,
            );
            assertAllClose(
              variance.dataSync() as Float32Array,
              m.variance.dataSync() as Float32Array,
              1e-4,
              1e-5,
              `${label} variance`,
            );
          }
        }
      } finally {
        setNativeHooks({ norm: null });
      }
      if (useNative) assertEquals(calls > 0, true, "native norm used");
    });
  }
}
