import * as tf from "@tensorflow/tfjs-core";
import { assertAllClose } from "../lib/util/assert.ts";
import { setupBackend } from "../lib/backend/backend.ts";
import { setNativeAdam } from "../lib/backend/fast_kernels.ts";
import { Adam, adamOps, type AdamScalars, adamStepInto } from "../lib/train/optim.ts";
import { loadNativeKernel } from "../lib/scan/native.ts";

const S: AdamScalars = {
  lr: 0.1,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  weightDecay: 0.5,
  c1: 1 - 0.9,
  c2: 1 - 0.999,
};

Deno.test("fused Adam(W) step equals hand-worked values (first step)", () => {
  // t = 1: m = 0.1 g, v = 0.001 g², m/c1 = g, √(v/c2) = |g| ⇒ update ≈ sign(g);
  // w' = w − lr·sign(g) − lr·wd·w.
  const w = Float32Array.of(1, -2, 0.5), g = Float32Array.of(3, -0.25, 0);
  const zeros = new Float32Array(3);
  const wo = new Float32Array(3), mo = new Float32Array(3), vo = new Float32Array(3);
  adamStepInto(w, g, zeros, zeros, S, wo, mo, vo);
  assertAllClose(mo, [0.3, -0.025, 0], 1e-6, 1e-7, "m");
  assertAllClose(vo, [0.009, 0.0000625, 0], 1e-6, 1e-12, "v");
  assertAllClose(wo, [1 - 0.1 - 0.05, -2 + 0.1 + 0.1, 0.5 - 0.025], 1e-6, 1e-6, "w");
});

Deno.test("Adam: fused kernel (TS, native) equals the tensor-op reference over several steps", async () => {
  const native = loadNativeKernel({ quiet: true });
  const variants: [string, string, boolean][] = [["cpu", "TS kernel", false], [
    "wasm",
    "TS kernel",
    false,
  ]];
  if (native) variants.push(["wasm", "native kernel", true]);
  for (const [backend, label, useNative] of variants) {
    await setupBackend(backend);
    setNativeAdam(useNative && native ? native.adamStep : null);
    try {
      const init = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i));
      const w = tf.variable(tf.tensor1d(init));
      const ref = tf.variable(tf.tensor1d(init)) as tf.Variable;
      const opt = new Adam([w], { weightDecay: 0.01 });
      let m = tf.zeros([1000]), v = tf.zeros([1000]);
      for (let t = 1; t <= 5; t++) {
        const g = tf.tensor1d(Float32Array.from({ length: 1000 }, (_, i) => Math.cos(i * t)));
        opt.step([g], 1e-2);
        const [nw, nm, nv] = adamOps(ref, g, m, v, {
          ...S,
          lr: 1e-2,
          weightDecay: 0.01,
          c1: 1 - 0.9 ** t,
          c2: 1 - 0.999 ** t,
        });
        ref.assign(nw);
        m = nm;
        v = nv;
      }
      assertAllClose(
        w.dataSync() as Float32Array,
        ref.dataSync() as Float32Array,
        1e-5,
        1e-6,
        `${backend} ${label}`,
      );
      assertAllClose(
        opt.m[0].dataSync() as Float32Array,
        m.dataSync() as Float32Array,
        1e-5,
        1e-7,
        `${backend} ${label} m`,
      );
    } finally {
      setNativeAdam(null);
    }
  }
});
