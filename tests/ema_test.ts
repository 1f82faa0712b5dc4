import * as tf from "@tensorflow/tfjs-core";
import { assertAllClose, assertEquals } from "../lib/util/assert.ts";
import { ParamStore } from "../lib/model/params.ts";
import { emaDecayAt, WeightEma } from "../lib/train/ema.ts";
import { openRuntime } from "../lib/backends/runtime.ts";
import { loadNativeKernel } from "../lib/backends/wasm/native.ts";
import { EMA_UPDATE } from "../lib/ops/ema.ts";
import { rng } from "../lib/util/rng.ts";

/** The wasm runtime with the native library (scan kernel "native") or without it ("loop"). */
const wasm = (scan_kernel: "auto" | "native" | "loop") =>
  openRuntime({ backend: "wasm", model: { scan_kernel } }, { quiet: true });

await wasm("auto");

function store(): ParamStore {
  const s = new ParamStore();
  s.add("w", [2], Float32Array.from([1, 2]));
  s.add("bn.running_mean", [1], Float32Array.from([4]), false);
  return s;
}

const values = (s: ParamStore, name: string) => Array.from(s.get(name).dataSync());

Deno.test("ema: decay warm-up min(decay, (1+t)/(10+t)), hand-worked", () => {
  assertEquals(emaDecayAt(0.999, 0), 0.1);
  assertEquals(emaDecayAt(0.999, 8), 0.5);
  assertEquals(emaDecayAt(0.5, 100), 0.5);
});

Deno.test("ema: averages trainable weights and BN statistics; swapping in and out is exact", async () => {
  const s = store();
  const ema = new WeightEma(s, 0.5);
  // Step 0: d = 0.1 → ema = 0.1·[1,2] + 0.9·[3,6] = [2.8, 5.6]; running mean 0.1·4 + 0.9·0 = 0.4.
  s.get("w").assign(tf.tensor([3, 6]));
  s.get("bn.running_mean").assign(tf.tensor([0]));
  ema.update();
  // Step 1: d = 2/11 → ema = (2/11)·2.8 + (9/11)·5 = 4.6 for w[0].
  s.get("w").assign(tf.tensor([5, 6]));
  ema.update();
  const seen = await ema.withAveraged(() => [values(s, "w"), values(s, "bn.running_mean")]);
  assertAllClose(seen[0], [(2 / 11) * 2.8 + (9 / 11) * 5, 5.6 * (2 / 11) + 6 * (9 / 11)], 0, 1e-6);
  assertAllClose(seen[1], [0.4 * (2 / 11)], 0, 1e-6);
  // The trained weights are back, bit for bit.
  assertEquals(values(s, "w"), [5, 6]);
  assertEquals(values(s, "bn.running_mean"), [0]);
  s.dispose();
});

Deno.test("ema: state round trip restores the shadow weights and the update count", async () => {
  const a = store();
  const ema = new WeightEma(a, 0.9);
  a.get("w").assign(tf.tensor([7, -1]));
  ema.update();
  const state = ema.stateTensors();
  const b = store();
  const again = new WeightEma(b, 0.9);
  again.restore(state, ema.updates);
  Object.values(state).forEach((t) => t.dispose());
  assertEquals(again.updates, 1);
  const x = await ema.withAveraged(() => values(a, "w"));
  const y = await again.withAveraged(() => values(b, "w"));
  assertEquals(x, y);
  a.dispose();
  b.dispose();
});

Deno.test({
  name: "ema: the native update (wasm heap, one call) equals the TypeScript loop bit for bit",
  ignore: loadNativeKernel({ quiet: true }) === null,
  fn: async () => {
    const run = async (native: boolean) => {
      await wasm(native ? "native" : "loop");
      const s = new ParamStore();
      const r = rng(3, "ema");
      s.add("a", [70001], Float32Array.from({ length: 70001 }, () => r.normal()));
      s.add("b", [5], Float32Array.from({ length: 5 }, () => r.normal()), false);
      const ema = new WeightEma(s, 0.999);
      for (let t = 0; t < 12; t++) {
        for (const p of s.params.values()) {
          p.variable.assign(
            tf.tensor(
              Float32Array.from({ length: p.variable.size }, () => r.normal()),
              p.variable.shape,
            ),
          );
        }
        ema.update();
      }
      const out = Object.values(ema.stateTensors()).map((t) => Array.from(t.dataSync()));
      s.dispose();
      return out;
    };
    const native = await run(true), ts = await run(false);
    native.forEach((a, j) => {
      const i = a.findIndex((v, k) => !Object.is(v, ts[j][k]));
      assertEquals(i, -1, `tensor ${j} differs at [${i}]: ${a[i]} vs ${ts[j][i]}`);
    });
    await wasm("auto");
  },
});

Deno.test("ema: an update is one call of the backend's kernel, on cpu and wasm (same bits as the loop)", async () => {
  for (const backend of ["cpu", "wasm"]) {
    await openRuntime({ backend, model: { scan_kernel: "loop" } });
    const s = store();
    const ema = new WeightEma(s, 0.5);
    s.get("w").assign(tf.tensor([3, 6]));
    const prof = await tf.profile(() => ema.update());
    assertEquals(prof.kernelNames, [EMA_UPDATE], backend);
    // d = 0.1: 0.1·[1, 2] + 0.9·[3, 6], each in double then rounded to float32.
    const want = [0.1 * 1 + 0.9 * 3, 0.1 * 2 + 0.9 * 6].map(Math.fround);
    assertEquals(await ema.withAveraged(() => values(s, "w")), want, backend);
    s.dispose();
  }
  await wasm("auto");
});
