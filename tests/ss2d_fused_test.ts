import * as tf from "@tensorflow/tfjs-core";
import { assertAllClose } from "../lib/util/assert.ts";
import { setupBackend } from "../lib/backends/setup.ts";
import { setScanKernel } from "../lib/ops/scan_kernel.ts";
import { loadNativeKernel } from "../lib/backends/wasm/native.ts";
import { ss2dCore } from "../lib/ops/ss2d_core.ts";
import { ss2dDims } from "../lib/model/ss2d.ts";
import { ss2dCoreReference } from "../lib/ops/ss2d_core.ts";

const native = loadNativeKernel({ quiet: true });

for (const backend of ["cpu", "wasm"]) {
  Deno.test({
    name:
      `fused native SS2D core equals the op-by-op SS2D core (${backend}): output and all 6 gradients, K = 1, 2, 4`,
    ignore: native === null,
    fn: async () => {
      await setupBackend(backend);
      setScanKernel(native!);
      // L = 24, 15, 16 take the short-sequence path of the C code; L = 64, 128 the long one.
      for (
        const [K, h, w, dm, N] of [[4, 4, 6, 8, 4], [2, 3, 5, 4, 16], [1, 4, 4, 20, 3], [
          4,
          8,
          8,
          6,
          4,
        ], [2, 16, 8, 4, 2]]
      ) {
        const dims = ss2dDims(dm, N, K);
        const { d_inner: di, dt_rank: R } = dims;
        const seed = 17 * K + h;
        const rn = (shape: number[], s: number, scale = 1) =>
          tf.mul(tf.randomNormal(shape, 0, 1, "float32", seed + s), scale);
        const xc = rn([2, h, w, di], 1) as tf.Tensor4D;
        const Wx = rn([K, R + 2 * N, di], 2, 0.3) as tf.Tensor3D;
        const Wdt = rn([K, di, R], 3, 0.5) as tf.Tensor3D;
        const bias = rn([K * di], 4, 0.5) as tf.Tensor1D;
        const A = tf.neg(tf.exp(rn([K * di, N], 5, 0.5))) as tf.Tensor2D;
        const D = rn([K * di], 6) as tf.Tensor1D;
        const wOut = rn([2, h, w, di], 7);
        const args = [xc, Wx, Wdt, bias, A, D];
        type F = (...t: tf.Tensor[]) => tf.Tensor;
        const fused: F = (a, b, c, d, e, f) =>
          ss2dCore(
            a as tf.Tensor4D,
            b as tf.Tensor3D,
            c as tf.Tensor3D,
            d as tf.Tensor1D,
            e as tf.Tensor2D,
            f as tf.Tensor1D,
          );
        const ops: F = (a, b, c, d, e, f) =>
          ss2dCoreReference(
            a as tf.Tensor4D,
            b as tf.Tensor3D,
            c as tf.Tensor3D,
            d as tf.Tensor1D,
            e as tf.Tensor2D,
            f as tf.Tensor1D,
            dims,
          );
        assertAllClose(fused(...args).dataSync(), ops(...args).dataSync(), 1e-4, 1e-5, `y K=${K}`);
        const loss = (f: F) => (...t: tf.Tensor[]) => tf.sum(tf.mul(f(...t), wOut));
        const gf = tf.grads(loss(fused))(args);
        const go = tf.grads(loss(ops))(args);
        ["dxc", "dWx", "dWdt", "dbias", "dA", "dD"].forEach((n, i) =>
          assertAllClose(gf[i].dataSync(), go[i].dataSync(), 1e-4, 1e-4, `${n} K=${K}`)
        );
      }
    },
  });
}
