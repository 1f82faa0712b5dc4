/**
 * Tests of the `cuda` tfjs backend (lib/backends/cuda/) on the CPU emulation of its kernels
 * (native/cuda/ built with -DSS_CUDA_EMULATE): every ported kernel against tfjs's cpu backend,
 * forward and gradient; the allocator and the buffers' lifetimes; the host fallback; a whole
 * training step of a small network against the wasm backend; and the error a run gets when it
 * asks for cuda on a machine without a GPU.
 */
import * as tf from "@tensorflow/tfjs-core";
import { assert, assertAllClose, assertEquals } from "../lib/util/assert.ts";
import { setupBackend } from "../lib/backends/setup.ts";
import { selectScanKernel } from "../lib/backends/select.ts";
import { CUDA_EMULATE_ENV, CUDA_KERNELS, cudaBackend } from "../lib/backends/cuda/register.ts";
import {
  fallbackCounts,
  resetFallbackCounts,
  setFallbackQuiet,
} from "../lib/backends/cuda/fallback.ts";
import { openCudaLibrary } from "../lib/backends/cuda/library.ts";
import { BINARY_OPS, UNARY_OPS } from "../lib/backends/cuda/kernels/elementwise.ts";
import { selectiveScan } from "../lib/ops/selective_scan.ts";
import { fusedNorm } from "../lib/ops/norm.ts";
import { im2colT } from "../lib/ops/grads.ts";
import { spaceToDepth } from "../lib/ops/space_to_depth.ts";
import { crossMerge, crossScan } from "../lib/ops/cross_scan.ts";
import { modelConfig } from "../lib/model/config.ts";
import { buildMedMamba } from "../lib/model/medmamba.ts";
import { evalContext, type ForwardContext } from "../lib/model/layers.ts";
import { crossEntropy } from "../lib/train/loss.ts";
import { Adam } from "../lib/train/optim.ts";
import { WeightEma } from "../lib/train/ema.ts";
import { ParamStore } from "../lib/model/params.ts";
import { rng } from "../lib/util/rng.ts";

/** STARMAMBA_CUDA_TEST_GPU=1 runs every test below on the GPU (bench/gpu_check.sh); by default
 * they run on the emulation build, which needs no GPU. */
const ON_GPU = Deno.env.get("STARMAMBA_CUDA_TEST_GPU") === "1";
if (!ON_GPU) Deno.env.set(CUDA_EMULATE_ENV, "1");
const MODE = ON_GPU ? "GPU" : "emulated";
setFallbackQuiet(true);

/** A tensor of `shape` with varied values, the same on every backend. */
function data(shape: number[], seed: number, scale = 1): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(
    Float32Array.from({ length: n }, (_, i) => scale * Math.sin(i * 0.71 + seed)),
    shape,
  );
}

/** Runs `f` on `backend` and returns every output's shape and values. */
async function on(
  backend: string,
  f: () => tf.Tensor | tf.Tensor[],
): Promise<{ shape: number[]; dtype: string; values: number[] }[]> {
  await setupBackend(backend);
  return tf.tidy(() => {
    const out = f();
    return (Array.isArray(out) ? out : [out]).map((t) => ({
      shape: t.shape,
      dtype: t.dtype,
      values: Array.from(t.dataSync() as ArrayLike<number>),
    }));
  });
}

/** `f` on cpu and on cuda: same shapes and dtypes, values within rtol. */
async function assertSameAsCpu(
  label: string,
  f: () => tf.Tensor | tf.Tensor[],
  rtol = 1e-6,
  atol = 1e-7,
) {
  const want = await on("cpu", f);
  const got = await on("cuda", f);
  assertEquals(got.length, want.length, `${label}: outputs`);
  got.forEach((g, i) => {
    assertEquals(g.shape, want[i].shape, `${label}: shape of output ${i}`);
    assertEquals(g.dtype, want[i].dtype, `${label}: dtype of output ${i}`);
    assertAllClose(g.values, want[i].values, rtol, atol, `${label} output ${i}`);
  });
}

Deno.test(`cuda (${MODE}): the backend registers and describes its device`, async () => {
  await setupBackend("cuda");
  assertEquals(tf.getBackend(), "cuda");
  assertEquals(cudaBackend().device.emulated, !ON_GPU, "emulated device");
  if (!ON_GPU) assertEquals(cudaBackend().device.name, "CPU emulation of the CUDA kernels");
  else assert(/^\d+\.\d+$/.test(cudaBackend().device.driver ?? ""), "driver version recorded");
});

Deno.test(`cuda (${MODE}): every unary kernel equals the cpu backend, on the device`, async () => {
  resetFallbackCounts();
  for (const name of Object.keys(UNARY_OPS)) {
    // Values across softplus's thresholds (±13.9), negative ones for relu/sign/abs, and positive
    // ones where log/sqrt need them.
    const positive = ["Log", "Sqrt", "Rsqrt", "Log1p", "Reciprocal"].includes(name);
    const f = () => {
      const x = positive ? tf.add(tf.abs(data([3, 7], 1, 20)), 0.01) : data([3, 7], 1, 20);
      return tf.engine().runKernel(name, { x }) as tf.Tensor;
    };
    await assertSameAsCpu(name, f);
  }
  assertEquals(fallbackCounts(), {}, "no unary kernel fell back to the host");
});

Deno.test(`cuda (${MODE}): binary kernels with broadcasting and comparisons equal the cpu backend`, async () => {
  const shapes: [number[], number[]][] = [
    [[2, 3, 4], [2, 3, 4]],
    [[2, 3, 4], [4]],
    [[2, 1, 4], [3, 1]],
    [[5], []],
    [[], [2, 2]],
    [[1, 3, 1, 2, 1, 2], [2, 1, 3, 1, 2, 1]],
  ];
  resetFallbackCounts();
  for (const name of Object.keys(BINARY_OPS)) {
    for (const [sa, sb] of shapes) {
      const f = () => {
        // Pow on a positive base (a negative base with a fractional exponent is NaN).
        const a = name === "Pow" ? tf.add(tf.abs(data(sa, 2, 3)), 0.5) : data(sa, 2, 3);
        const b = data(sb, 3, 3);
        // Equal values somewhere, so Equal/GreaterEqual see ties.
        const bb = name.includes("Equal") ? tf.round(b) : b;
        const aa = name.includes("Equal") ? tf.round(a) : a;
        return tf.engine().runKernel(name, { a: aa, b: bb }) as tf.Tensor;
      };
      await assertSameAsCpu(`${name} [${sa}] [${sb}]`, f, name === "Pow" ? 1e-5 : 1e-6);
    }
  }
  const counts = fallbackCounts();
  for (const name of Object.keys(BINARY_OPS)) assertEquals(counts[name], undefined, name);
});

Deno.test(`cuda (${MODE}): maximum/minimum propagate NaN as the cpu backend does`, async () => {
  for (const op of ["Maximum", "Minimum"]) {
    const f = () =>
      tf.engine().runKernel(op, {
        a: tf.tensor1d([NaN, 1, 2]),
        b: tf.tensor1d([0, NaN, 3]),
      }) as tf.Tensor;
    const want = (await on("cpu", f))[0].values;
    const got = (await on("cuda", f))[0].values;
    got.forEach((v, i) => assert(Object.is(v, want[i]), `${op}[${i}]: ${v} vs ${want[i]}`));
  }
});

Deno.test(`cuda (${MODE}): Cast, Reshape, Identity, Fill, ZerosLike, OnesLike`, async () => {
  const x = () => data([2, 3], 4, 5);
  await assertSameAsCpu("cast float → int", () => tf.cast(x(), "int32"));
  await assertSameAsCpu("cast float → bool", () => tf.cast(tf.round(x()), "bool"));
  await assertSameAsCpu("cast int → float", () => tf.cast(tf.cast(x(), "int32"), "float32"));
  await assertSameAsCpu("cast bool → float", () => tf.cast(tf.greater(x(), 0), "float32"));
  await assertSameAsCpu("reshape", () => tf.reshape(x(), [3, -1]));
  await assertSameAsCpu("fill", () => tf.fill([2, 5], 2.5));
  await assertSameAsCpu("fill int", () => tf.fill([3], 7, "int32"));
  await assertSameAsCpu("zerosLike/onesLike", () => [tf.zerosLike(x()), tf.onesLike(x())]);
  // Reshape shares the buffer: no copy, one allocation.
  await setupBackend("cuda");
  tf.tidy(() => {
    const a = x();
    const b = tf.reshape(a, [6]);
    assertEquals(cudaBackend().pointer(b), cudaBackend().pointer(a));
  });
});

Deno.test(`cuda (${MODE}): gradients through device and fallback kernels equal the cpu backend`, async () => {
  const f = () => {
    const a = data([3, 4], 5), b = data([4], 6);
    const g = tf.grads((p: tf.Tensor, q: tf.Tensor) =>
      tf.sum(tf.mul(tf.sigmoid(tf.add(p, q)), tf.softplus(tf.mul(p, 3))))
    );
    return g([a, b]);
  };
  await assertSameAsCpu("grads", f, 1e-5);
});

Deno.test(`cuda (${MODE}): the selective scan runs on device buffers and equals the cpu backend (forward, 7 gradients)`, async () => {
  await setupBackend("cpu");
  selectScanKernel("loop");
  const [batch, dim, len, n, groups] = [2, 4, 37, 3, 2];
  const f = () => {
    const u = data([batch, dim, len], 7), delta = data([batch, dim, len], 8, 0.5);
    const A = tf.neg(tf.exp(data([dim, n], 9))), B = data([batch, groups, n, len], 10);
    const C = data([batch, groups, n, len], 11), D = data([dim], 12), bias = data([dim], 13);
    const dy = data([batch, dim, len], 14);
    const g = tf.grads((...x: tf.Tensor[]) =>
      tf.sum(tf.mul(
        selectiveScan(
          x[0] as tf.Tensor3D,
          x[1] as tf.Tensor3D,
          x[2] as tf.Tensor2D,
          x[3] as tf.Tensor4D,
          x[4] as tf.Tensor4D,
          x[5] as tf.Tensor1D,
          x[6] as tf.Tensor1D,
          { deltaSoftplus: true },
        ),
        dy,
      ))
    );
    const y = selectiveScan(
      u as tf.Tensor3D,
      delta as tf.Tensor3D,
      A as tf.Tensor2D,
      B as tf.Tensor4D,
      C as tf.Tensor4D,
      D as tf.Tensor1D,
      bias as tf.Tensor1D,
      { deltaSoftplus: true },
    );
    return [y, ...g([u, delta, A, B, C, D, bias])];
  };
  resetFallbackCounts();
  await assertSameAsCpu("selective scan", f, 1e-4);
  const counts = fallbackCounts();
  assertEquals(counts.StarmambaSelectiveScan, undefined, "forward on the device");
  assertEquals(counts.StarmambaSelectiveScanGrad, undefined, "backward on the device");
});

Deno.test(`cuda (${MODE}): buffers are freed with their tensors and reused from the cache`, async () => {
  await setupBackend("cuda");
  const be = cudaBackend();
  const step = () => tf.tidy(() => tf.sum(tf.mul(tf.exp(data([64, 33], 15)), 2)).dataSync());
  step();
  const before = be.memoryStats();
  const tensors = tf.memory().numTensors;
  for (let i = 0; i < 5; i++) step();
  const after = be.memoryStats();
  assertEquals(tf.memory().numTensors, tensors, "no tensor leaked");
  assertEquals(after.inUse, before.inUse, "every buffer went back");
  assertEquals(after.deviceMallocs, before.deviceMallocs, "no new cudaMalloc once warm");
  assert(after.peak >= 64 * 33 * 4, `peak ${after.peak} counts the live buffers`);
});

Deno.test(`cuda (${MODE}): an unported kernel runs through the host, counted per call`, async () => {
  await setupBackend("cuda");
  resetFallbackCounts();
  const ported = new Set(CUDA_KERNELS.map((k) => k.kernelName));
  assert(!ported.has("Prod"), "Prod is not ported (pick another kernel for this test)");
  await assertSameAsCpu("prod", () => [tf.prod(data([3, 5], 16), 1), tf.prod(data([4], 17))]);
  assertEquals(fallbackCounts().Prod, 2);
  // int32 arithmetic is not on the device: it falls back, with the same result.
  resetFallbackCounts();
  await assertSameAsCpu(
    "int add",
    () => tf.add(tf.tensor1d([1, 2], "int32"), tf.tensor1d([3, 4], "int32")),
  );
  assertEquals(fallbackCounts().Add, 1);
});

Deno.test(`cuda (${MODE}): Step, LeakyRelu and ClipByValue equal the cpu backend`, async () => {
  resetFallbackCounts();
  const x = () => tf.concat([data([9], 18, 3), tf.tensor1d([0, -0, 6, -6])]);
  await assertSameAsCpu("step", () => tf.step(x(), 0.25));
  await assertSameAsCpu("leakyRelu", () => tf.leakyRelu(x(), 0.1));
  await assertSameAsCpu("clip", () => tf.clipByValue(x(), -1.5, 2));
  // the gradient of relu is Step
  await assertSameAsCpu("relu grad", () => tf.grad((t: tf.Tensor) => tf.sum(tf.relu(t)))(x()));
  const c = fallbackCounts();
  for (const k of ["Step", "LeakyRelu", "ClipByValue"]) assertEquals(c[k], undefined, k);
});

Deno.test(`cuda (${MODE}): data movement kernels equal the cpu backend (any dtype)`, async () => {
  resetFallbackCounts();
  const ints = () => tf.cast(tf.mul(data([2, 3, 4], 19), 10), "int32");
  const cases: [string, () => tf.Tensor | tf.Tensor[]][] = [
    ["transpose 3-D", () => tf.transpose(data([2, 3, 4], 20), [2, 0, 1])],
    ["transpose 6-D", () => tf.transpose(data([2, 1, 3, 2, 2, 3], 21), [5, 3, 1, 0, 4, 2])],
    ["transpose int32", () => tf.transpose(ints(), [1, 2, 0])],
    ["transpose bool", () => tf.transpose(tf.greater(data([3, 4], 22), 0))],
    ["slice", () => tf.slice(data([4, 5, 6], 23), [1, 2, 0], [2, -1, 3])],
    ["split", () => tf.split(data([2, 9, 3], 24), [2, 3, 4], 1)],
    ["split last axis", () => tf.split(data([2, 3, 8], 25), 4, -1)],
    ["concat axis 0", () => tf.concat([data([2, 3], 26), data([1, 3], 27), data([3, 3], 28)], 0)],
    ["concat last axis", () => tf.concat([data([2, 3, 2], 29), data([2, 3, 5], 30)], 2)],
    ["concat int32", () => tf.concat([ints(), ints()], 1)],
    ["stack", () => tf.stack([data([3, 2], 31), data([3, 2], 32), data([3, 2], 33)], 1)],
    ["unstack", () => tf.unstack(data([3, 4, 2], 34), 1)],
    ["reverse", () => tf.reverse(data([3, 4, 5], 35), [0, 2])],
    ["pad", () => tf.pad(data([2, 3, 3], 36), [[0, 1], [2, 0], [1, 1]], 0.5)],
    ["pad int32", () => tf.pad(ints(), [[1, 0], [0, 0], [0, 2]], 3)],
  ];
  for (const [label, f] of cases) await assertSameAsCpu(label, f, 0);
  assertEquals(fallbackCounts(), {}, "every case on the device");
});

Deno.test(`cuda (${MODE}): Sum, Mean, Max, Min over any axes equal the cpu backend (every path)`, async () => {
  resetFallbackCounts();
  const cases: [string, () => tf.Tensor][] = [
    ["sum all", () => tf.sum(data([3, 4, 5], 37))],
    ["sum inner axis (rows ≤ 64)", () => tf.sum(data([6, 40], 38), 1)],
    ["sum inner axis (block per row)", () => tf.sum(data([5, 700], 39), -1)],
    ["sum leading axes (columns)", () => tf.sum(data([4, 3, 7], 40), [0, 1])],
    ["sum leading axis, long (two passes)", () => tf.sum(data([5000, 3], 41), 0)],
    ["sum middle axis, keepDims", () => tf.sum(data([3, 4, 5], 42), 1, true)],
    ["sum non-adjacent axes (transposed)", () => tf.sum(data([3, 4, 5, 2], 43), [0, 2])],
    ["mean leading axes", () => tf.mean(data([6, 5, 4], 44), [0, 1])],
    ["mean long (two passes)", () => tf.mean(data([3000, 2], 45), 0)],
    ["max inner", () => tf.max(data([4, 300], 46), 1)],
    ["max leading, keepDims", () => tf.max(data([5, 3, 2], 47), 0, true)],
    ["min non-adjacent", () => tf.min(data([3, 2, 4], 48), [0, 2])],
    ["min long (two passes)", () => tf.min(data([4000, 3], 49), 0)],
    ["argMax inner", () => tf.cast(tf.argMax(data([4, 9], 50), 1), "float32")],
    ["argMin leading", () => tf.cast(tf.argMin(data([7, 3, 2], 51), 0), "float32")],
    [
      "argMax ties: the first",
      () => tf.cast(tf.argMax(tf.tensor2d([[1, 3, 3], [2, 2, 0]]), 1), "float32"),
    ],
  ];
  // Sums in another order than the cpu loop: absolute error ~ n·ulp of the terms (here ≤ 1),
  // which matters where the terms cancel.
  for (const [label, f] of cases) await assertSameAsCpu(label, f, 2e-6, 1e-5);
  assertEquals(fallbackCounts(), {}, "every case on the device");
  // NaN wins in max/min, as on the cpu backend.
  const nan = () => tf.max(tf.tensor2d([[1, NaN, 3], [4, 5, 6]]), 1);
  const got = (await on("cuda", nan))[0].values, want = (await on("cpu", nan))[0].values;
  got.forEach((v, i) => assert(Object.is(v, want[i]), `max with NaN [${i}]: ${v} vs ${want[i]}`));
});

Deno.test(`cuda (${MODE}): BatchMatMul (transposes, broadcast batch) equals the cpu backend; the tiled and reference gemms agree bitwise`, async () => {
  const cases: [string, () => tf.Tensor][] = [
    ["2-D", () => tf.matMul(data([5, 7], 50), data([7, 3], 51))],
    [
      "batched, both transposed",
      () => tf.matMul(data([2, 7, 5], 52), data([2, 3, 7], 53), true, true),
    ],
    ["broadcast b", () => tf.matMul(data([3, 17, 18], 54), data([1, 18, 33], 55))],
    [
      "broadcast a, transpose b",
      () => tf.matMul(data([1, 4, 9], 56), data([2, 6, 9], 57), false, true),
    ],
  ];
  await setupBackend("cuda");
  const s = cudaBackend().lib.symbols;
  resetFallbackCounts();
  for (const [label, f] of cases) {
    await assertSameAsCpu(label, f, 1e-5, 1e-6);
    s.smc_gemm_select(2);
    const tiled = await on("cuda", f);
    s.smc_gemm_select(1);
    const reference = await on("cuda", f);
    s.smc_gemm_select(0);
    assertEquals(tiled[0].values, reference[0].values, `${label}: tiled = reference`);
  }
  assertEquals(fallbackCounts(), {}, "every case on the device");
});

Deno.test(`cuda (${MODE}): the fused Adam step equals the cpu backend's`, async () => {
  const f = () => {
    const w = tf.variable(data([7, 5], 58)), w2 = tf.variable(data([3], 59));
    const opt = new Adam([w, w2], { weightDecay: 0.05 });
    for (let t = 0; t < 3; t++) opt.step([data([7, 5], 60 + t), data([3], 70 + t)], 1e-3);
    const out = [w, w2, ...opt.m, ...opt.v].map((t) => tf.clone(t));
    opt.dispose();
    w.dispose();
    w2.dispose();
    return out;
  };
  resetFallbackCounts();
  await assertSameAsCpu("adam", f, 1e-6);
  assertEquals(fallbackCounts().StarmambaAdamStep, undefined, "on the device");
});

Deno.test(`cuda (${MODE}): the moving average of the weights is cuda's own kernel (no host fallback), the same bits as on cpu`, async () => {
  const run = async (backend: string) => {
    await setupBackend(backend);
    const s = new ParamStore();
    s.add("w", [7, 5], Float32Array.from({ length: 35 }, (_, i) => Math.cos(i)));
    s.add("bn.running_var", [5], Float32Array.from([1, 2, 3, 4, 5]), false);
    const ema = new WeightEma(s, 0.9);
    resetFallbackCounts();
    for (let t = 0; t < 3; t++) {
      s.get("w").assign(data([7, 5], 90 + t));
      s.get("bn.running_var").assign(tf.abs(data([5], 95 + t)));
      ema.update();
    }
    const fallbacks = fallbackCounts();
    const state = ema.stateTensors();
    const out = Object.values(state).map((t) => Array.from(t.dataSync()));
    tf.dispose(Object.values(state));
    s.dispose();
    return { out, fallbacks };
  };
  const want = await run("cpu"), got = await run("cuda");
  assertEquals(got.fallbacks, {}, "nothing through the host fallback");
  assertEquals(got.out, want.out, "bit for bit");
});

Deno.test(`cuda (${MODE}): the fused LayerNorm/BatchNorm, forward and backward, equal the cpu backend`, async () => {
  resetFallbackCounts();
  for (const mode of ["row", "col"] as const) {
    for (const shape of [[2, 5, 3, 6], [700, 4]]) {
      const f = () => {
        const x = tf.add(data(shape, 80, 2), 0.3), C = shape[shape.length - 1];
        const gamma = data([C], 81), beta = data([C], 82), dy = data(shape, 83);
        const out = fusedNorm(x, gamma, beta, mode, 1e-5);
        const g = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
          tf.sum(tf.mul(fusedNorm(a, b, c, mode, 1e-5).y, dy))
        )([x, gamma, beta]);
        return [out.y, out.mean, out.variance, ...g];
      };
      await assertSameAsCpu(`norm ${mode} [${shape}]`, f, 1e-5, 1e-5);
    }
  }
  const c = fallbackCounts();
  assertEquals([c.StarmambaNorm, c.StarmambaNormGrad], [undefined, undefined], "on the device");
});

Deno.test(`cuda (${MODE}): Conv2D (3×3 SAME, 1×1), depthwise, their gradients, im2colᵀ, the 2×2 gather and one-hot equal the cpu backend`, async () => {
  resetFallbackCounts();
  const cases: [string, () => tf.Tensor | tf.Tensor[]][] = [
    [
      "conv 3×3",
      () =>
        tf.conv2d(
          data([2, 5, 4, 3], 84) as tf.Tensor4D,
          data([3, 3, 3, 4], 85) as tf.Tensor4D,
          1,
          "same",
        ),
    ],
    [
      "conv 1×1",
      () =>
        tf.conv2d(
          data([2, 3, 3, 5], 86) as tf.Tensor4D,
          data([1, 1, 5, 2], 87) as tf.Tensor4D,
          1,
          "valid",
        ),
    ],
    [
      "conv 3×3 grads",
      () =>
        tf.grads((x: tf.Tensor, w: tf.Tensor) =>
          tf.sum(
            tf.mul(
              tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, "same"),
              data([2, 4, 5, 3], 88),
            ),
          )
        )([data([2, 4, 5, 2], 89), data([3, 3, 2, 3], 90)]),
    ],
    [
      "depthwise",
      () =>
        tf.depthwiseConv2d(
          data([2, 5, 6, 3], 91) as tf.Tensor4D,
          data([3, 3, 3, 1], 92) as tf.Tensor4D,
          1,
          "same",
        ),
    ],
    [
      "depthwise grads",
      () =>
        tf.grads((x: tf.Tensor, w: tf.Tensor) =>
          tf.sum(
            tf.mul(
              tf.depthwiseConv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, "same"),
              data([1, 4, 4, 2], 93),
            ),
          )
        )([data([1, 4, 4, 2], 94), data([3, 3, 2, 1], 95)]),
    ],
    ["im2colᵀ", () => im2colT(data([2, 4, 3, 2], 96) as tf.Tensor4D, 3)],
    ["2×2 gather and its gradient", () => {
      const x = data([2, 4, 6, 3], 97) as tf.Tensor4D;
      return [
        spaceToDepth(x),
        tf.grad((t: tf.Tensor) =>
          tf.sum(tf.mul(spaceToDepth(t as tf.Tensor4D), data([2, 2, 3, 12], 98)))
        )(x),
      ];
    }],
    [
      "one-hot",
      () => [
        tf.oneHot(tf.tensor1d([0, 2, 1, 2], "int32"), 3),
        tf.oneHot(tf.tensor1d([1, 0], "int32"), 2, 1, 0, "float32"),
      ],
    ],
  ];
  for (const [label, f] of cases) await assertSameAsCpu(label, f, 1e-5, 1e-6);
  assertEquals(fallbackCounts(), {}, "every case on the device");
});

Deno.test(`cuda (${MODE}): cross-scan and cross-merge (K = 4, 2, 1; odd grids) equal the cpu backend`, async () => {
  resetFallbackCounts();
  for (const K of [4, 2, 1]) {
    for (const [h, w] of [[3, 5], [4, 4]]) {
      await assertSameAsCpu(
        `cross-scan K=${K} ${h}×${w}`,
        () => crossScan(data([2, h, w, 3], 99) as tf.Tensor4D, K),
        0,
      );
      await assertSameAsCpu(
        `cross-merge K=${K} ${h}×${w}`,
        () => crossMerge(data([2, K, 3, h * w], 100) as tf.Tensor4D, h, w, K),
        0,
      );
    }
  }
  assertEquals(fallbackCounts(), {}, "on the device");
});

/** What one training step of a small network produced. */
interface StepOutcome {
  loss: number;
  /** Gradient of every trainable weight. */
  grads: Float32Array[];
  /** BatchNorm running statistics after the step. */
  running: Float32Array[];
  /** Weights after the Adam update. */
  weights: Float32Array[];
  /** Logits of an evaluation forward (running statistics) before the update. */
  evalLogits: Float32Array;
}

/** One training step (forward, backward, BatchNorm statistics, Adam) of a small network. */
function trainStep(cfg: ReturnType<typeof modelConfig>): StepOutcome {
  const m = buildMedMamba(cfg, 3);
  const vars = m.params.trainable();
  const opt = new Adam(vars, { weightDecay: 0.05 });
  const x = data([2, cfg.image_size, cfg.image_size, 3], 18) as tf.Tensor4D;
  const labels = Int32Array.from([0, 1]);
  // (After the update the weights differ where Adam's first step is ill-conditioned; see below.)
  const evalLogits = tf.tidy(() => m.forward(x, evalContext()).dataSync() as Float32Array);
  const out = tf.tidy(() => {
    const ctx: ForwardContext = { training: true, rng: rng(1, "dp"), bnUpdates: [] };
    const { value, grads } = tf.variableGrads(
      () => crossEntropy(m.forward(x, ctx), labels, null),
      vars,
    );
    const g = vars.map((v) => grads[v.name]);
    opt.step(g, 1e-3);
    return {
      loss: value.dataSync()[0],
      grads: g.map((t) => t.dataSync() as Float32Array),
      running: ctx.bnUpdates.map((u) => u.value.dataSync() as Float32Array),
    };
  });
  const weights = vars.map((v) => v.dataSync() as Float32Array);
  x.dispose();
  opt.dispose();
  m.params.dispose();
  return { ...out, weights, evalLogits };
}

/** Largest |value| of a list of arrays. */
function maxAbs(arrays: Float32Array[]): number {
  return Math.max(...arrays.map((a) => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0)));
}

Deno.test(`cuda (${MODE}): a training step of a small network equals the wasm backend (every switch)`, async () => {
  const variants = [
    { directions: 4 as const, conv_pre_bn: true, ssm_residual: false, head_norm: false },
    { directions: 2 as const, conv_pre_bn: false, ssm_residual: true, head_norm: true },
    { directions: 1 as const, conv_pre_bn: true, ssm_residual: true, head_norm: false },
    { directions: 4 as const, conv_branch: false },
    { directions: 4 as const, ssm_branch: false },
  ];
  for (const v of variants) {
    const cfg = modelConfig("cpu", {
      dim: 8,
      depths: [1, 1],
      image_size: 32,
      d_state: 2,
      drop_path_rate: 0.2,
      ...v,
    });
    await setupBackend("wasm");
    selectScanKernel("auto", { quiet: true });
    const want = trainStep(cfg);
    await setupBackend("cuda");
    resetFallbackCounts();
    const got = trainStep(cfg);
    assertEquals(fallbackCounts(), {}, "every kernel of the step on the device");
    const label = JSON.stringify(v);
    assertAllClose([got.loss], [want.loss], 1e-5, 1e-6, `loss ${label}`);
    // Gradients to rtol 1e-4, with an absolute floor at 1e-5 of the largest one (the two
    // backends sum in different orders, so values that cancel to ~0 differ in their last bits).
    const floor = 1e-5 * maxAbs(want.grads);
    got.grads.forEach((g, i) =>
      assertAllClose(g, want.grads[i], 1e-4, floor, `d weight ${i} ${label}`)
    );
    assertAllClose(got.evalLogits, want.evalLogits, 1e-4, 1e-5, `eval logits ${label}`);
    got.running.forEach((r, i) =>
      assertAllClose(r, want.running[i], 1e-5, 1e-6, `BN ${i} ${label}`)
    );
    // Adam's first step moves each weight by lr·g/(|g| + eps) ≈ ±lr, whose sign and size are
    // ill-conditioned where g is within summation noise of 0: compare the weights whose gradient
    // stands clear of that noise (at least 100× the floor above).
    got.weights.forEach((w, i) => {
      const keep = (_: number, j: number) => Math.abs(want.grads[i][j]) > 100 * floor;
      assertAllClose(
        w.filter(keep),
        want.weights[i].filter(keep),
        1e-5,
        1e-6,
        `weight ${i} ${label}`,
      );
    });
  }
});

Deno.test(`cuda (${MODE}): a training step is bitwise repeatable${ON_GPU ? "" : ", whatever the order the emulator runs threads in"}`, async () => {
  const cfg = modelConfig("cpu", { dim: 8, depths: [1, 1], image_size: 32, d_state: 2 });
  await setupBackend("cuda");
  const s = cudaBackend().lib.symbols;
  const first = trainStep(cfg);
  // Under emulation the second run takes reversed, then shuffled thread orders (every kernel
  // must give the same bits in any order); on the GPU it is simply run again.
  for (const schedule of ON_GPU ? [0] : [1, 2]) {
    if (!ON_GPU) s.ss_cuda_emu_set_schedule(schedule, 7);
    const again = trainStep(cfg);
    assertEquals(again.loss, first.loss, `loss, schedule ${schedule}`);
    again.weights.forEach((w, i) =>
      assert(
        w.every((v, j) => Object.is(v, first.weights[i][j])),
        `weight ${i}, schedule ${schedule}`,
      )
    );
  }
  if (!ON_GPU) s.ss_cuda_emu_set_schedule(0, 1);
});

const gpu = openCudaLibrary({ build: false });
if (gpu.ok) gpu.lib.close();

Deno.test({
  name: `backend: cuda without a GPU: exit 2 naming what is missing, no fall-back to the CPU${
    gpu.ok && !gpu.emulated ? " (ignored: a GPU is visible)" : ""
  }`,
  ignore: gpu.ok && !gpu.emulated,
  fn: async () => {
    const env = { ...Deno.env.toObject() };
    delete env[CUDA_EMULATE_ENV];
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "experiments/experiment.ts",
        "configs/quickstart.yaml",
        "--set",
        "backend=cuda",
        "--quiet",
      ],
      cwd: new URL("..", import.meta.url).pathname,
      env,
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(out.stderr);
    assertEquals(out.code, 2, err);
    assert(/backend "cuda" needs an NVIDIA GPU/.test(err), err);
    assert(!/at .*\.ts:\d+/.test(err), `no stack trace: ${err}`);
  },
});
