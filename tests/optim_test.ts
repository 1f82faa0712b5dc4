import * as tf from "@tensorflow/tfjs-core";
import { assertAllClose, assertEquals } from "../lib/util/assert.ts";
import { setupBackend } from "../lib/backends/setup.ts";
import { openRuntime } from "../lib/backends/runtime.ts";
import { setNativeHooks } from "../lib/backends/wasm/hooks.ts";
import { Adam, ADAM_STEP, adamOps, type AdamScalars, adamStepInto } from "../lib/train/optim.ts";
import { loadNativeKernel } from "../lib/backends/wasm/native.ts";

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

Deno.test("Adam: fused kernel (TS, native) equals the tensor-op reference over several steps, several tensors", async () => {
  const native = loadNativeKernel({ quiet: true });
  const variants: [string, string, boolean][] = [["cpu", "TS kernel", false], [
    "wasm",
    "TS kernel",
    false,
  ]];
  if (native) variants.push(["wasm", "native kernel", true]);
  // One step updates every tensor in one call: sizes from one element to more than a thread's
  // share of a large one.
  const sizes = [1000, 3, 1, 70001];
  for (const [backend, label, useNative] of variants) {
    await setupBackend(backend);
    setNativeHooks({ adam: useNative && native ? native.adamStep : null });
    try {
      const inits = sizes.map((n, j) =>
        Float32Array.from({ length: n }, (_, i) => Math.sin(i + j))
      );
      const ws = inits.map((a) => tf.variable(tf.tensor1d(a)));
      const refs: tf.Variable[] = inits.map((a) => tf.variable(tf.tensor1d(a)));
      const opt = new Adam(ws, { weightDecay: 0.01 });
      let ms = sizes.map((n) => tf.zeros([n])), vs = sizes.map((n) => tf.zeros([n]));
      for (let t = 1; t <= 5; t++) {
        const gs = sizes.map((n, j) =>
          tf.tensor1d(Float32Array.from({ length: n }, (_, i) => Math.cos(i * t + j)))
        );
        opt.step(gs, 1e-2);
        const next = refs.map((ref, j) =>
          adamOps(ref, gs[j], ms[j], vs[j], {
            ...S,
            lr: 1e-2,
            weightDecay: 0.01,
            c1: 1 - 0.9 ** t,
            c2: 1 - 0.999 ** t,
          })
        );
        next.forEach(([nw], j) => refs[j].assign(nw));
        ms = next.map(([, nm]) => nm);
        vs = next.map(([, , nv]) => nv);
      }
      sizes.forEach((n, j) => {
        const what = `${backend} ${label} tensor ${j} (${n})`;
        assertAllClose(ws[j].dataSync(), refs[j].dataSync(), 1e-5, 1e-6, what);
        assertAllClose(opt.m[j].dataSync(), ms[j].dataSync(), 1e-5, 1e-7, `${what} m`);
        assertAllClose(opt.v[j].dataSync(), vs[j].dataSync(), 1e-5, 1e-9, `${what} v`);
      });
    } finally {
      setNativeHooks({ adam: null });
    }
  }
});

Deno.test("Adam: a step of several tensors is one call of the backend's fused kernel (cpu, wasm)", async () => {
  for (const backend of ["cpu", "wasm"]) {
    await openRuntime({ backend, model: { scan_kernel: "loop" } });
    const ws = [tf.variable(tf.tensor1d([1, -2])), tf.variable(tf.tensor1d([0.5]))];
    const opt = new Adam(ws, { weightDecay: 0.5 });
    const gs = [tf.tensor1d([3, -0.25]), tf.tensor1d([0])];
    const prof = await tf.profile(() => opt.step(gs, 0.1));
    assertEquals(prof.kernelNames.filter((k) => k.startsWith("Starmamba")), [ADAM_STEP], backend);
    // The first step's hand-worked values (see above): w' = w − lr·sign(g) − lr·wd·w.
    assertAllClose(ws[0].dataSync(), [1 - 0.1 - 0.05, -2 + 0.1 + 0.1], 1e-6, 1e-6, backend);
    assertAllClose(ws[1].dataSync(), [0.5 - 0.025], 1e-6, 1e-6, backend);
    opt.dispose();
    tf.dispose([...ws, ...gs]);
  }
});
