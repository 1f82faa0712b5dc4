import * as tf from "@tensorflow/tfjs-core";
import { assertEquals } from "../lib/util/assert.ts";
import { setupBackend } from "../lib/backends/setup.ts";
import { spaceToDepth, spaceToDepthOps } from "../lib/ops/space_to_depth.ts";

for (const backend of ["cpu", "wasm"]) {
  Deno.test(`PatchMerging's 2×2 gather op equals reshape/slice/concat, forward and gradient, exactly (${backend})`, async () => {
    await setupBackend(backend);
    for (const shape of [[2, 4, 6, 3], [1, 2, 2, 1], [3, 8, 4, 5]]) {
      const n = shape.reduce((a, b) => a * b, 1);
      const x = tf.tensor(Float32Array.from({ length: n }, (_, i) => Math.sin(i * 1.3)), shape);
      const yRef = spaceToDepthOps(x as tf.Tensor4D), y = spaceToDepth(x as tf.Tensor4D);
      assertEquals(y.shape, yRef.shape);
      assertEquals(Array.from(y.dataSync()), Array.from(yRef.dataSync()), `y ${shape}`);
      const w = tf.tensor(Float32Array.from({ length: n }, (_, i) => Math.cos(i * 0.7)), y.shape);
      const loss = (f: (t: tf.Tensor4D) => tf.Tensor) => (t: tf.Tensor) =>
        tf.sum(tf.mul(f(t as tf.Tensor4D), w));
      const g = tf.grad(loss(spaceToDepth))(x), gRef = tf.grad(loss(spaceToDepthOps))(x);
      assertEquals(Array.from(g.dataSync()), Array.from(gRef.dataSync()), `dx ${shape}`);
    }
  });
}
