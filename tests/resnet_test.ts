/**
 * ResNet-18 (lib/model/resnet.ts) against torchvision (Debian's python3-torchvision 0.14): the
 * whole network, every weight in place, from a fixture of ~110 kB. Every tensor
 * of the state_dict and the inputs are an integer-hash pattern that this file and
 * tests/fixtures/resnet18/make_fixture.py compute to the same float32 bits; expected.json holds
 * what torchvision computes from them (float64): eval- and training-mode logits, the running
 * statistics after one training forward, every parameter's gradient (as a probe: its dot
 * product with another pattern), the state_dict's keys, the parameter count and the FLOPs —
 * for both stems at full width, and for narrow copies whose gradients are well conditioned.
 * Beside that: the strided conv and max-pool against their definitions, gradients against finite
 * differences, cpu against wasm, export → import → export, the registry and the config.
 */
import * as tf from "@tensorflow/tfjs-core";
import { join } from "node:path";
import { assert, assertAllClose, assertEquals, assertThrows } from "../lib/util/assert.ts";
import { openRuntime } from "../lib/backends/runtime.ts";
import {
  buildResnet,
  convStrided,
  maxPool3x3s2,
  RESNET18_ENTRY,
  type ResnetConfig,
  resnetConfig,
  resnetFlops,
  type ResnetStem,
} from "../lib/model/resnet.ts";
import { createNetwork, networkFor } from "../lib/model/registry.ts";
import type { Network, NetworkShape } from "../lib/model/network.ts";
import { evalContext, type ForwardContext } from "../lib/model/layers.ts";
import {
  fromTorchvisionStateDict,
  inferResnetConfig,
  loadResnetStateDict,
  resnetStateDict,
  torchvisionRecipe,
} from "../lib/interchange/torchvision_layout.ts";
import {
  decodeSafetensors,
  encodeSafetensors,
  type StoredTensor,
  type TensorToWrite,
} from "../lib/interchange/safetensors.ts";
import { resnetOnnx } from "../lib/interchange/onnx/resnet.ts";
import { configHash, loadConfig } from "../lib/config/load.ts";
import { StarmambaError } from "../lib/util/errors.ts";
import { rng } from "../lib/util/rng.ts";
import { ROOT, TINY_RUN } from "./permissions.ts";
import { runExperiment } from "../lib/experiment/run.ts";
import { loadRun } from "../lib/experiment/predict.ts";

/** One case's torchvision results (make_fixture.py's doc says what each field is). */
interface Case {
  config: ResnetConfig & { batch: number; labels: number[] };
  keys: [string, number[], string][];
  parameters: number;
  flops: { conv: number; matmul: number };
  eval_logits: number[][];
  eval_logits_f32: number[][];
  train_logits: number[][];
  loss: number;
  running: Record<string, [number, number]>;
  grads: Record<string, [number, number, number]>;
  eval_grads: Record<string, [number, number, number]>;
}

const FIXTURE = JSON.parse(
  Deno.readTextFileSync(join(ROOT, "tests/fixtures/resnet18/expected.json")),
) as { parameters_imagenet_1000_classes: number; cases: Record<string, Case> };
const CASES = Object.entries(FIXTURE.cases);
const STEMS: ResnetStem[] = ["small", "imagenet"];
/** The data of the full-width cases: 3×64×64, 2 classes. */
const SHAPE: NetworkShape = { in_channels: 3, num_classes: 2, image_size: 64 };

// ---- the pattern (make_fixture.py's `pattern`, the same integer arithmetic) ----

function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (const b of new TextEncoder().encode(text)) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h;
}

function lowbias32(x: number): number {
  x = (x ^ (x >>> 16)) >>> 0;
  x = Math.imul(x, 0x7feb352d) >>> 0;
  x = (x ^ (x >>> 15)) >>> 0;
  x = Math.imul(x, 0x846ca68b) >>> 0;
  return (x ^ (x >>> 16)) >>> 0;
}

/** n values in [−0.5, 0.5), each k/2^24 − 0.5 for an integer k (exact in float32 and 64). */
function pattern(key: string, n: number): Float64Array {
  const seed = fnv1a32(key), out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = (lowbias32((Math.imul(i, 0x9e3779b1) + seed) >>> 0) >>> 8) / 16777216 - 0.5;
  }
  return out;
}

/** The fixture's value of torchvision state_dict entry `key` of `shape` (torchvision layout). */
function patternValue(key: string, shape: number[]): Float32Array {
  const u = pattern(key, shape.reduce((a, b) => a * b, 1));
  const f = key.endsWith("running_var")
    ? (v: number) => 1 + 0.8 * v
    : key.endsWith("running_mean") || key.endsWith(".bias")
    ? (v: number) => 0.2 * v
    : shape.length === 1
    ? (v: number) => 1 + 0.5 * v
    : shape.length === 4
    ? (v: number) => 2 * v * Math.sqrt(6 / (shape[1] * shape[2] * shape[3]))
    : (v: number) => 2 * v / Math.sqrt(shape[1]);
  return Float32Array.from(u, f);
}

/** A case's pattern state_dict, as a file would hold it (num_batches_tracked int64 0). */
function patternStateDict(c: Case): Map<string, StoredTensor> {
  const out = new Map<string, StoredTensor>();
  for (const [key, shape, dtype] of c.keys) {
    out.set(
      key,
      dtype === "int64"
        ? { dtype: "I64", shape, data: new BigInt64Array(1) }
        : { dtype: "F32", shape, data: patternValue(key, shape) },
    );
  }
  return out;
}

/** A case's inputs, NCHW in the pattern, as NHWC. */
function patternInputs(c: Case): tf.Tensor4D {
  const { batch, in_channels: ch, image_size: s } = c.config;
  return tf.tidy(() => {
    const x = Float32Array.from(pattern("input", batch * ch * s * s), (v) => 2 * v);
    return tf.transpose(tf.tensor4d(x, [batch, ch, s, s]), [0, 2, 3, 1]);
  });
}

/** A case's network: built, then loaded from its pattern state_dict. */
function patternNetwork(c: Case): Network<ResnetConfig> {
  const { stem, width, in_channels, num_classes, image_size } = c.config;
  const net = buildResnet({ stem, width, in_channels, num_classes, image_size }, 1);
  loadResnetStateDict(net, patternStateDict(c), "the pattern");
  return net;
}

/** Σ t·pattern(key#probe) in float64 over a torchvision-layout tensor. */
function probe(key: string, data: ArrayLike<number>): number {
  const p = pattern(`${key}#probe`, data.length);
  let s = 0;
  for (let i = 0; i < data.length; i++) s += data[i] * p[i];
  return s;
}

/** √Σ t² in float64. */
function norm(data: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < data.length; i++) s += data[i] * data[i];
  return Math.sqrt(s);
}

/** The largest |a − e| over all entries, divided by the largest |e|. */
function relErr(actual: number[][], expected: number[][]): number {
  const a = actual.flat(), e = expected.flat();
  assertEquals(a.length, e.length);
  const scale = Math.max(...e.map(Math.abs));
  return Math.max(...a.map((v, i) => Math.abs(v - e[i]))) / scale;
}

/** Mean softmax cross-entropy of `logits` against `labels` (PyTorch's cross_entropy). */
function crossEntropy(logits: tf.Tensor2D, labels: number[]): tf.Scalar {
  const oneHot = tf.oneHot(tf.tensor1d(labels, "int32"), logits.shape[1]);
  return tf.neg(tf.mean(tf.sum(tf.mul(oneHot, tf.logSoftmax(logits)), 1)));
}

const wasm = () =>
  openRuntime({ backend: "wasm", model: { scan_kernel: "auto" } }, { quiet: true });
const cpu = () => openRuntime({ backend: "cpu", model: { scan_kernel: "loop" } }, { quiet: true });

Deno.test("resnet18: parameter count, state_dict keys and shapes, FLOPs equal torchvision's", async () => {
  await cpu();
  // torchvision's resnet18(): 11,689,512 for ImageNet's 1000 classes (its documented count).
  const imagenet1000 = buildResnet({ ...resnetConfig(SHAPE, "imagenet"), num_classes: 1000 }, 0);
  assertEquals(imagenet1000.params.countTrainable(), 11_689_512);
  assertEquals(FIXTURE.parameters_imagenet_1000_classes, 11_689_512);
  imagenet1000.params.dispose();
  for (const [name, c] of CASES) {
    const net = buildResnet(c.config, 0);
    try {
      assertEquals(net.params.countTrainable(), c.parameters, name);
      const keys = [...resnetStateDict(net)].map(([k, t]) => [
        k,
        t.shape,
        t.data instanceof BigInt64Array ? "int64" : "float32",
      ]);
      assertEquals(keys, c.keys, name);
      const f = resnetFlops(net.config);
      assertEquals({ conv: f.conv, matmul: f.matmul }, c.flops, name);
      assertEquals(f.forward, f.conv + f.matmul);
      assertEquals(f.train, 3 * f.forward);
    } finally {
      net.params.dispose();
    }
  }
  // Hand-worked (docs/networks.md): 2 classes, 3×64×64.
  assertEquals(FIXTURE.cases.small.parameters, 11_169_858);
  assertEquals(FIXTURE.cases.imagenet.parameters, 11_177_538);
  assertEquals(resnetFlops(resnetConfig(SHAPE, "small")).forward, 4_443_342_848);
  assertEquals(resnetFlops(resnetConfig(SHAPE, "imagenet")).forward, 296_093_696);
});

Deno.test("resnet18: eval-mode logits (to float32 rounding) and every gradient equal torchvision's, both stems (wasm)", async () => {
  await wasm();
  for (const [name, c] of CASES) {
    const net = patternNetwork(c);
    try {
      const logits = tf.tidy(() => net.forward(patternInputs(c), evalContext()).arraySync());
      // torchvision's own float32 run sits this far from its float64 one: the rounding scale.
      const torch32 = relErr(c.eval_logits_f32, c.eval_logits);
      const ours = relErr(logits, c.eval_logits);
      console.log(
        `${name}: |ours − torchvision f64| / max ${ours.toExponential(2)}, ` +
          `torchvision f32 ${torch32.toExponential(2)}`,
      );
      assert(ours < 1e-5, `${name}: logits differ from torchvision's by ${ours} (relative)`);
      const x = patternInputs(c);
      const grads = torchGrads(
        net,
        () => crossEntropy(net.forward(x, evalContext()), c.config.labels),
      );
      x.dispose();
      const worst = assertGrads(`${name} (eval mode)`, grads, c.eval_grads);
      console.log(`${name}: worst eval-mode gradient error ${worst.toFixed(3)} of its bound`);
    } finally {
      net.params.dispose();
    }
  }
});

/** The permutation from starmamba's layout of a parameter to torchvision's. */
function toTorch(name: string, g: tf.Tensor): tf.Tensor {
  return g.rank === 4 ? tf.transpose(g, [3, 2, 0, 1]) : name === "fc.weight" ? tf.transpose(g) : g;
}

/** Every trainable parameter's gradient of `loss`, in torchvision's layout, by name. */
function torchGrads(net: Network<ResnetConfig>, loss: () => tf.Scalar): Map<string, Float32Array> {
  const trainable = [...net.params.params.values()].filter((p) => p.trainable);
  const { grads } = tf.variableGrads(loss, trainable.map((p) => p.variable));
  const out = new Map<string, Float32Array>();
  for (const p of trainable) {
    out.set(
      p.name,
      tf.tidy(() => toTorch(p.name, grads[p.variable.name]).dataSync()) as Float32Array,
    );
  }
  tf.dispose(Object.values(grads));
  return out;
}

/**
 * Checks every gradient against torchvision's float64 one (a case's `grads` or `eval_grads`),
 * held to 5× torchvision's own float32 error and 1e-4 at least. In the full-width small-stem
 * pattern network that bound reaches ~4%: training-mode BatchNorm's backward subtracts nearly
 * equal sums there, so float32 loses up to ~1% (torchvision's too); the narrow cases are well
 * conditioned and held to 1e-4. Returns the worst error as a fraction of its bound.
 */
function assertGrads(
  label: string,
  ours: Map<string, Float32Array>,
  expected: Record<string, [number, number, number]>,
): number {
  assertEquals([...ours.keys()].sort(), Object.keys(expected).sort());
  let worst = 0;
  for (const [key, g] of ours) {
    const [p, n, err32] = expected[key];
    const rel = Math.max(1e-4, 5 * err32);
    worst = Math.max(worst, assertProbe(label, key, g, { probe: p, norm: n }, rel));
  }
  return worst;
}

/**
 * One training forward and backward of `net` on `x`: the logits, the state_dict after the
 * running statistics are committed, and every parameter's gradient in torchvision's layout.
 */
function trainingPass(net: Network<ResnetConfig>, x: tf.Tensor4D, labels: number[]) {
  const ctx: ForwardContext = { training: true, bnUpdates: [] };
  let logits: number[][] = [];
  const grads = torchGrads(net, () => {
    const y = net.forward(x, ctx);
    logits = y.arraySync();
    return crossEntropy(y, labels);
  });
  for (const u of ctx.bnUpdates) {
    u.variable.assign(u.value);
    u.value.dispose();
  }
  return { logits, state: resnetStateDict(net), grads };
}

/**
 * Checks a tensor (torchvision layout) against torchvision's float64 one through its probe and
 * norm: with relative error at most `rel`, |Δnorm| ≤ rel·|t| and, the error being independent
 * of the probe pattern p, |Δprobe| = |Δ·p| is within 6 standard deviations, 6·rel·|t|·|p|/√n.
 * Returns the larger of the two errors as a fraction of its bound.
 */
function assertProbe(
  label: string,
  key: string,
  ours: ArrayLike<number>,
  expected: { probe: number; norm: number },
  rel: number,
): number {
  const n = ours.length, pn = norm(pattern(`${key}#probe`, n));
  const dNorm = Math.abs(norm(ours) - expected.norm) / expected.norm;
  const dProbe = Math.abs(probe(key, ours) - expected.probe) /
    (expected.norm * pn / Math.sqrt(n));
  assert(dNorm <= rel, `${label}: |${key}| ${norm(ours)} vs torchvision ${expected.norm}`);
  assert(
    dProbe <= 6 * rel,
    `${label}: ${key} probe ${probe(key, ours)} vs torchvision ${expected.probe} ` +
      `(${(dProbe / rel).toFixed(1)} σ of a ${rel} error)`,
  );
  return Math.max(dNorm / rel, dProbe / (6 * rel));
}

Deno.test("resnet18 as ONNX (lib/interchange/onnx/resnet.ts), run by onnxruntime: torchvision's eval-mode logits from the pattern state_dict, every case and both stems", async () => {
  const ort = await import("onnxruntime-node");
  for (const [name, c] of CASES) {
    const { batch, in_channels: ch, image_size: s, num_classes } = c.config;
    // The graph is built from the state_dict alone: none of starmamba's layers is involved.
    const bytes = resnetOnnx(patternStateDict(c) as Map<string, TensorToWrite>, c.config);
    const session = await ort.InferenceSession.create(bytes);
    const x = Float32Array.from(pattern("input", batch * ch * s * s), (v) => 2 * v); // NCHW
    const out = await session.run({ images: new ort.Tensor("float32", x, [batch, ch, s, s]) });
    await session.release();
    const flat = out.logits.data as Float32Array;
    const logits = Array.from(
      { length: batch },
      (_, i) => Array.from(flat.subarray(i * num_classes, (i + 1) * num_classes)),
    );
    const err = relErr(logits, c.eval_logits);
    console.log(`${name}: |onnx − torchvision f64| / max ${err.toExponential(2)}`);
    assert(err < 1e-5, `${name}: ONNX logits differ from torchvision's by ${err} (relative)`);
    // probs is the softmax of logits, row by row.
    const probs = out.probs.data as Float32Array;
    logits.forEach((row, i) => {
      const m = Math.max(...row), e = row.map((v) => Math.exp(v - m));
      const z = e.reduce((a, b) => a + b, 0);
      assertAllClose(
        probs.subarray(i * num_classes, (i + 1) * num_classes),
        e.map((v) => v / z),
        0,
        1e-6,
      );
    });
  }
});

Deno.test("resnet18: training-mode logits, running statistics and every gradient equal torchvision's (wasm)", async () => {
  await wasm();
  for (const [name, c] of CASES) {
    const net = patternNetwork(c);
    const x = patternInputs(c);
    try {
      const { logits, state, grads } = trainingPass(net, x, c.config.labels);
      const err = relErr(logits, c.train_logits);
      assert(err < 1e-5, `${name}: training logits differ by ${err} (relative)`);
      for (const [bn, [mean, variance]] of Object.entries(c.running)) {
        for (const [stat, value] of [["running_mean", mean], ["running_var", variance]] as const) {
          const t = state.get(`${bn}.${stat}`)!.data as Float32Array;
          // The expected norm is ours: a running statistic is checked through its probe alone.
          assertProbe(name, `${bn}.${stat}`, t, { probe: value, norm: norm(t) }, 1e-5);
        }
      }
      const worst = assertGrads(name, grads, c.grads);
      console.log(`${name}: worst gradient error ${worst.toFixed(3)} of its bound`);
    } finally {
      x.dispose();
      net.params.dispose();
    }
  }
});

function patternTensor(key: string, shape: number[]): tf.Tensor {
  return tf.tensor(Float32Array.from(pattern(key, shape.reduce((a, b) => a * b, 1))), shape);
}

Deno.test("resnet18 layers: the strided conv and the max-pool equal PyTorch's definitions (odd and even sides)", async () => {
  await cpu();
  for (const side of [7, 8]) {
    const x = patternTensor(`x${side}`, [2, side, side, 3]) as tf.Tensor4D;
    for (const k of [1, 3, 7]) {
      const w = patternTensor(`w${k}`, [k, k, 3, 5]) as tf.Tensor4D;
      const p = (k - 1) / 2;
      for (const stride of [1, 2] as const) {
        // The stock kernel with PyTorch's explicit padding (k − 1)/2 on every side.
        const want = tf.conv2d(x, w, stride, [[0, 0], [p, p], [p, p], [0, 0]]);
        const got = convStrided(x, w, stride);
        assertEquals(got.shape, want.shape, `k ${k} stride ${stride} side ${side}`);
        assertEquals(got.shape[1], Math.floor((side + 2 * p - k) / stride) + 1);
        assertAllClose(got.dataSync(), want.dataSync(), 1e-5, 1e-6, `k ${k} s ${stride} ${side}`);
      }
    }
    // Max-pool 3×3, stride 2, padding 1 by hand (padding is −∞: never the maximum).
    const y = maxPool3x3s2(x);
    const out = side === 8 ? 4 : 4;
    assertEquals(y.shape, [2, out, out, 3]);
    const xs = x.arraySync(), ys = y.arraySync();
    for (let b = 0; b < 2; b++) {
      for (let i = 0; i < out; i++) {
        for (let j = 0; j < out; j++) {
          for (let c = 0; c < 3; c++) {
            let m = -Infinity;
            for (let di = -1; di <= 1; di++) {
              for (let dj = -1; dj <= 1; dj++) {
                const r = 2 * i + di, q = 2 * j + dj;
                if (r >= 0 && r < side && q >= 0 && q < side) m = Math.max(m, xs[b][r][q][c]);
              }
            }
            assertEquals(ys[b][i][j][c], m, `max-pool [${b},${i},${j},${c}] side ${side}`);
          }
        }
      }
    }
  }
});

/**
 * PyTorch's max-pool 3×3 / 2 / 1 backward by hand: each output's gradient goes to the first
 * maximum of its window in row-major order (PyTorch keeps the first strictly larger value).
 */
function maxPoolGradReference(x: Float32Array, dy: Float32Array, shape: number[]): Float32Array {
  const [b, h, w, c] = shape;
  const ho = Math.floor((h - 1) / 2) + 1, wo = Math.floor((w - 1) / 2) + 1;
  const dx = new Float32Array(x.length);
  for (let n = 0; n < b; n++) {
    for (let i = 0; i < ho; i++) {
      for (let j = 0; j < wo; j++) {
        for (let ch = 0; ch < c; ch++) {
          let best = -Infinity, at = -1;
          for (let di = -1; di <= 1; di++) {
            for (let dj = -1; dj <= 1; dj++) {
              const r = 2 * i + di, q = 2 * j + dj;
              if (r < 0 || r >= h || q < 0 || q >= w) continue;
              const k = ((n * h + r) * w + q) * c + ch;
              if (x[k] > best) [best, at] = [x[k], k];
            }
          }
          dx[at] += dy[((n * ho + i) * wo + j) * c + ch];
        }
      }
    }
  }
  return dx;
}

Deno.test("resnet18's max-pool gradient goes to each window's first maximum, on cpu and wasm (tfjs-backend-wasm's MaxPoolGrad does not)", async () => {
  // Shapes on which tfjs-backend-wasm 4.22's MaxPoolGrad is wrong, the stem's among them.
  const shapes = [[1, 4, 4, 2], [2, 32, 32, 64], [3, 9, 11, 5], [1, 1, 1, 3], [1, 6, 6, 7]];
  for (const [backend, open] of [["cpu", cpu], ["wasm", wasm]] as const) {
    await open();
    for (const shape of shapes) {
      const n = shape.reduce((a, b) => a * b, 1);
      // Ties included: a quarter of the entries are 0, as after a ReLU.
      const xv = Float32Array.from(pattern(`mp ${shape}`, n), (v) => Math.max(0, v + 0.25));
      const x = tf.tensor4d(xv, shape as [number, number, number, number]);
      const out = tf.tidy(() => maxPool3x3s2(x).shape);
      const dyv = Float32Array.from(pattern(`dy ${shape}`, out.reduce((a, b) => a * b, 1)));
      const dx = tf.tidy(() =>
        tf.grad((t: tf.Tensor) =>
          tf.sum(tf.mul(maxPool3x3s2(t as tf.Tensor4D), tf.tensor(dyv, out)))
        )(x)
          .dataSync()
      );
      x.dispose();
      // Up to four windows share an input: their sum may round in another order.
      assertAllClose(dx, maxPoolGradReference(xv, dyv, shape), 1e-6, 1e-7, `${backend} ${shape}`);
    }
  }
});

/** A narrow ResNet-18 (width `width`) of `stem` for 2 input channels, 3 classes, side `side`. */
function narrow(stem: ResnetStem, width: number, side: number, seed: number) {
  return buildResnet({ in_channels: 2, num_classes: 3, image_size: side, stem, width }, seed);
}

/** Randomises BatchNorm γ, β and running statistics, so no layer is the identity. */
function perturbNorms(net: Network<ResnetConfig>, seed: number): void {
  const r = rng(seed, "perturb");
  for (const p of net.params.params.values()) {
    if (p.variable.rank !== 1 || p.name.startsWith("fc.")) continue;
    const n = p.variable.size;
    const v = Float32Array.from(
      { length: n },
      () =>
        p.name.endsWith("running_var") || p.name.endsWith(".weight")
          ? 0.6 + 0.8 * r.next()
          : 0.4 * (r.next() - 0.5),
    );
    p.variable.assign(tf.tensor1d(v));
  }
}

/**
 * tests/finite_diff.ts's check, with a guard against kinks: the loss of a ReLU network is
 * piecewise smooth, and a ReLU or a max-pool's winner switching within ±ε makes a central
 * difference measure neither side. The central differences at ε and ε/2 agree (to 2%) where
 * the loss is smooth; a weight where they don't is passed over for another draw. The analytic
 * gradient must match the difference at ε/2 within 3% + 1e-3. Returns how many were checked.
 */
function checkSmoothFiniteDifferences(
  net: Network<ResnetConfig>,
  loss: () => tf.Scalar,
  seed: number,
  samples: number,
): number {
  const params = [...net.params.params.values()].filter((p) => p.trainable);
  const { grads } = tf.variableGrads(loss, params.map((p) => p.variable));
  const r = rng(seed, "fd");
  let checked = 0, kinks = 0;
  for (const p of params) {
    const g = grads[p.variable.name].dataSync();
    const vals = p.variable.dataSync().slice();
    const lossAt = (i: number, v: number) => {
      const copy = vals.slice();
      copy[i] = v;
      p.variable.assign(tf.tensor(copy, p.variable.shape));
      return tf.tidy(() => loss().dataSync()[0]);
    };
    const central = (i: number, eps: number) =>
      (lossAt(i, vals[i] + eps) - lossAt(i, vals[i] - eps)) / (2 * eps);
    let s = 0;
    for (let tries = 0; s < samples && tries < 20; tries++) {
      const i = r.int(vals.length);
      const eps = 3e-4 * Math.max(1, Math.abs(vals[i]));
      const wide = central(i, eps), fd = central(i, eps / 2);
      p.variable.assign(tf.tensor(vals, p.variable.shape));
      if (Math.abs(wide - fd) > 0.02 * Math.max(Math.abs(wide), Math.abs(fd)) + 1e-3) {
        kinks++;
        continue;
      }
      const tol = 3e-2 * Math.max(Math.abs(fd), Math.abs(g[i])) + 2e-3;
      assert(Math.abs(fd - g[i]) <= tol, `${p.name}[${i}]: analytic ${g[i]} vs finite diff ${fd}`);
      checked++;
      s++;
    }
  }
  tf.dispose(Object.values(grads));
  // The guard looks at the loss alone, never at the gradient, so skipping cannot hide an error;
  // this only keeps it from skipping most draws.
  assert(kinks <= checked, `${kinks} kinks for ${checked} smooth weights`);
  return checked;
}

// Finite differences in evaluation mode (BatchNorm a fixed affine map): in training mode a
// narrow net's loss bends too sharply within any step float32 resolves (every ReLU moves with
// the batch statistics), so training-mode gradients are checked against torchvision's float64
// ones instead (the narrow cases above, to 1e-4).
Deno.test("resnet18 gradients equal finite differences, both stems (narrow, eval mode, cpu)", async () => {
  await cpu();
  for (const stem of STEMS) {
    const side = stem === "small" ? 12 : 32;
    const net = narrow(stem, 4, side, 3);
    perturbNorms(net, 4);
    const x = patternTensor(`fd ${stem}`, [3, side, side, 2]) as tf.Tensor4D;
    try {
      const loss = () => crossEntropy(net.forward(x, evalContext()), [0, 1, 2]);
      const params = [...net.params.params.values()].filter((p) => p.trainable);
      // Two weights of nearly every parameter: a BatchNorm shift in the stem moves a thousand
      // ReLUs at once, so its loss may have a kink within ±ε of every draw.
      const checked = checkSmoothFiniteDifferences(net, loss, 5, 2);
      assert(checked >= 1.8 * params.length, `${stem}: ${checked} weights checked`);
    } finally {
      x.dispose();
      net.params.dispose();
    }
  }
});

Deno.test("resnet18: cpu and wasm agree (eval and training logits, every gradient; both stems)", async () => {
  const side = 32;
  const runOn = async (open: () => Promise<unknown>, stem: ResnetStem) => {
    await open();
    const net = narrow(stem, 8, side, 11);
    perturbNorms(net, 12);
    const x = patternTensor(`cw ${stem}`, [2, side, side, 2]) as tf.Tensor4D;
    try {
      const evalLogits = tf.tidy(() => net.forward(x, evalContext()).dataSync());
      const ctx: ForwardContext = { training: true, bnUpdates: [] };
      const vars = net.params.trainable();
      let trainLogits: Float32Array = new Float32Array();
      const { grads } = tf.variableGrads(() => {
        const y = net.forward(x, ctx);
        trainLogits = y.dataSync() as Float32Array;
        return crossEntropy(y, [0, 2]);
      }, vars);
      const g = vars.map((v) => Array.from(grads[v.name].dataSync()));
      const stats = ctx.bnUpdates.map((u) => Array.from(u.value.dataSync()));
      tf.dispose([...Object.values(grads), ...ctx.bnUpdates.map((u) => u.value)]);
      return { evalLogits, trainLogits, g, stats };
    } finally {
      x.dispose();
      net.params.dispose();
    }
  };
  for (const stem of STEMS) {
    const a = await runOn(cpu, stem), b = await runOn(wasm, stem);
    assertAllClose(b.evalLogits, a.evalLogits, 1e-4, 1e-5, `${stem} eval logits`);
    assertAllClose(b.trainLogits, a.trainLogits, 1e-4, 1e-5, `${stem} training logits`);
    assertEquals(b.stats.length, a.stats.length);
    a.stats.forEach((s, i) => assertAllClose(b.stats[i], s, 1e-4, 1e-5, `${stem} statistic ${i}`));
    // Per tensor, in norm: elementwise, training-mode BatchNorm's cancellations leave a few
    // entries of a gradient 1e-3 apart between two float32 summation orders.
    a.g.forEach((g, i) => {
      const d = norm(g.map((v, j) => v - b.g[i][j])) / norm(g);
      assert(d < 1e-3, `${stem} gradient ${i}: cpu and wasm differ by ${d} (relative, in norm)`);
    });
  }
});

Deno.test("resnet18 export → import → export is bit-identical; import names a wrong key, shape or stem", async () => {
  await cpu();
  const a = narrow("small", 16, 32, 21);
  perturbNorms(a, 22);
  const b = narrow("small", 16, 32, 23);
  try {
    const bytes = encodeSafetensors(resnetStateDict(a), { format: "pt" });
    const { tensors } = decodeSafetensors(bytes, "a.safetensors");
    assertEquals(inferResnetConfig(tensors, "a.safetensors"), {
      in_channels: 2,
      width: 16,
      stem: "small",
      num_classes: 3,
    });
    loadResnetStateDict(b, tensors, "a.safetensors");
    for (const [name, p] of a.params.params) {
      assertEquals(b.params.get(name).dataSync(), p.variable.dataSync(), name);
    }
    assertEquals(encodeSafetensors(resnetStateDict(b), { format: "pt" }), bytes);
    // nn.DataParallel's `module.` prefix is read; num_batches_tracked may be left out.
    const prefixed = new Map(
      [...tensors].filter(([k]) => !k.endsWith("num_batches_tracked")).map(([k, v]) => [
        `module.${k}`,
        v,
      ]),
    );
    loadResnetStateDict(b, prefixed, "p.safetensors");

    const expected = new Map(
      [...b.params.params.values()].map((p) => [p.name, p.variable.shape]),
    );
    const without = new Map(tensors);
    without.delete("layer3.0.downsample.0.weight");
    without.set("layer3.0.extra", tensors.get("fc.bias")!);
    const e = assertThrows(
      () => fromTorchvisionStateDict(without, expected, "w.safetensors"),
      StarmambaError,
    );
    assert(e.message.startsWith("w.safetensors: "), e.message);
    assert(
      e.message.includes("layer3.0.downsample.0.weight is missing (needs [64,32,1,1])"),
      e.message,
    );
    assert(e.message.includes("layer3.0.extra is not a parameter"), e.message);
    assert(!e.message.includes("\n"), e.message);
    // An imagenet-stem file into a small-stem network: conv1's shape, and what to check.
    const imagenet = narrow("imagenet", 16, 32, 24);
    const other = decodeSafetensors(encodeSafetensors(resnetStateDict(imagenet)), "i").tensors;
    imagenet.params.dispose();
    assertEquals(inferResnetConfig(other, "i").stem, "imagenet");
    const f = assertThrows(() => loadResnetStateDict(b, other, "i.safetensors"), StarmambaError);
    assert(
      f.message.includes("conv1.weight is [16,2,7,7] but the network needs [16,2,3,3]"),
      f.message,
    );
    assert(f.message.includes("model.stem"), f.message);
    const g = assertThrows(() => inferResnetConfig(new Map(), "e.safetensors"), StarmambaError);
    assert(g.message.includes("conv1.weight is missing"), g.message);
  } finally {
    a.params.dispose();
    b.params.dispose();
  }
});

Deno.test("resnet18: torchvisionRecipe is the two-line stem change (and none for torchvision's own)", () => {
  const small = resnetConfig(SHAPE, "small");
  assertEquals(torchvisionRecipe(small), [
    "import torch.nn as nn; from torchvision.models import resnet18",
    "net = resnet18(num_classes=2)",
    "net.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)",
    "net.maxpool = nn.Identity()",
  ]);
  assertEquals(torchvisionRecipe(resnetConfig(SHAPE, "imagenet")).length, 2);
  assertEquals(
    torchvisionRecipe(resnetConfig({ ...SHAPE, in_channels: 1 }, "imagenet"))[2],
    "net.conv1 = nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)",
  );
});

Deno.test("resnet18 in the registry: model.arch and model.stem pick it; a bad config is one error naming the key", async () => {
  await cpu();
  const quick = join(ROOT, "configs/quickstart.yaml");
  const section = loadConfig(quick, ["model.arch=resnet18", "model.stem=imagenet"]).config.model;
  const d = networkFor(section, { in_channels: 1, num_classes: 3, image_size: 32 });
  const want: ResnetConfig = {
    in_channels: 1,
    num_classes: 3,
    image_size: 32,
    stem: "imagenet",
    width: 64,
  };
  assertEquals(d, { arch: "resnet18", config: want });
  // model.stem's default is small, and out of the config hash at its default.
  const plain = loadConfig(quick, ["model.arch=resnet18"]);
  assertEquals(plain.config.model.stem, "small");
  assertEquals(loadConfig(quick, ["model.arch=resnet18", "model.stem=small"]).hash, plain.hash);
  // Published configs have no model.stem: their hashes stand (hashOnlyIfSet).
  const before = structuredClone(plain.config) as unknown as { model: Record<string, unknown> };
  delete before.model.stem;
  assertEquals(configHash(before as unknown as typeof plain.config), plain.hash);
  assert(loadConfig(quick, ["model.arch=resnet18", "model.stem=imagenet"]).hash !== plain.hash);
  const config: ResnetConfig = { ...want, width: 4 };
  const a = createNetwork({ arch: "resnet18", config }, 7);
  const b = buildResnet(config, 7);
  try {
    assertEquals(a.arch, "resnet18");
    assertEquals([...a.params.params.keys()], [...b.params.params.keys()]);
    for (const [name, p] of a.params.params) {
      assertEquals(p.variable.dataSync(), b.params.get(name).dataSync(), name);
    }
  } finally {
    a.params.dispose();
    b.params.dispose();
  }
  assertEquals(RESNET18_ENTRY.label(want), "ResNet-18 (ImageNet stem)");
  const e = assertThrows(
    () => createNetwork({ arch: "resnet18", config: { ...want, stem: "huge" } as NetworkShape }, 1),
    StarmambaError,
  );
  assert(e.message.includes("model.stem") && e.message.includes("small or imagenet"), e.message);
});

Deno.test("resnet18 trains through the runner (two steps): result.json and model.json record it, its weights reload", async () => {
  const work = Deno.makeTempDirSync();
  try {
    const loaded = loadConfig(join(ROOT, "configs/quickstart.yaml"), [
      ...TINY_RUN,
      "model.arch=resnet18",
      "train.batch_size=4",
    ]);
    const trained = await runExperiment(loaded, { projectRoot: work, quiet: true });
    const result = trained.result as unknown as {
      model: { arch: string; config: ResnetConfig; parameters: number };
    };
    assertEquals(result.model.arch, "resnet18");
    assertEquals(result.model.config, {
      in_channels: 3,
      num_classes: 2,
      image_size: 32,
      stem: "small",
      width: 64,
    });
    // torchvision's count for 3 channels, 2 classes and the small stem (make_fixture.py).
    assertEquals(result.model.parameters, FIXTURE.cases.small.parameters);
    const meta = JSON.parse(
      Deno.readTextFileSync(join(trained.runDir, "model", "model.json")),
    );
    assertEquals(meta.arch, "resnet18");
    const run = await loadRun(trained.runDir);
    try {
      assertEquals(run.model.arch, "resnet18");
      // Trained: the running statistics the trainer committed are not their initial 0 and 1.
      const mean = run.model.params.get("bn1.running_mean").dataSync();
      assert(mean.some((v) => v !== 0), "bn1.running_mean was never updated");
      // The weights a PyTorch user would load: every key, torchvision's shapes.
      const keys = [...resnetStateDict(run.model as Network<ResnetConfig>).keys()];
      assertEquals(keys, FIXTURE.cases.small.keys.map(([k]) => k));
    } finally {
      run.model.params.dispose();
    }
  } finally {
    Deno.removeSync(work, { recursive: true });
  }
});

Deno.test("configs/aries/resnet18.yaml is best.yaml's recipe with ResNet-18 (small stem) as the only change", () => {
  const best = loadConfig(join(ROOT, "configs/aries/best.yaml")).config;
  const resnet = loadConfig(join(ROOT, "configs/aries/resnet18.yaml")).config;
  assertEquals(resnet.model.arch, "resnet18");
  assertEquals(resnet.model.stem, "small");
  assertEquals(resnet.experiment, "resnet18-context-ema-shape");
  // Everything but the names and the network is best.yaml's: data, augmentation, training.
  assertEquals(resnet.data, best.data);
  assertEquals(resnet.augment, best.augment);
  assertEquals(resnet.train, best.train);
  assertEquals(resnet.train.epochs, 48);
  assertEquals(resnet.train.ema_decay, 0.998);
  assertEquals(resnet.data.field_context, true);
  assertEquals({ ...resnet.model, arch: best.model.arch, stem: best.model.stem }, best.model);
});

Deno.test("resnet18 initialisation is torchvision's: convs He normal fan-out, BatchNorm 1/0, fc uniform ±1/√512; a seed fixes every bit", async () => {
  await cpu();
  const cfg = resnetConfig(SHAPE, "small");
  const a = buildResnet(cfg, 3), b = buildResnet(cfg, 3), c = buildResnet(cfg, 4);
  try {
    for (const [name, p] of a.params.params) {
      const v = Array.from(p.variable.dataSync());
      assertEquals(v, Array.from(b.params.get(name).dataSync()), name);
      const mean = v.reduce((s, x) => s + x, 0) / v.length;
      const std = Math.sqrt(v.reduce((s, x) => s + (x - mean) ** 2, 0) / v.length);
      if (p.variable.rank === 4) {
        const [k, , , cout] = p.variable.shape;
        const want = Math.sqrt(2 / (k * k * cout)); // kaiming_normal_(mode="fan_out")
        assert(Math.abs(std / want - 1) < 0.05 && Math.abs(mean) < 0.1 * want, `${name}: ${std}`);
      } else if (name.startsWith("fc.")) {
        const bound = 1 / Math.sqrt(512); // nn.Linear's default
        assert(v.every((x) => Math.abs(x) <= bound), name);
      } else {
        const want = /weight$|running_var$/.test(name) ? 1 : 0;
        assert(v.every((x) => x === want), name);
      }
    }
    assert(
      a.params.get("layer2.0.conv1.weight").dataSync().some((x, i) =>
        x !== c.params.get("layer2.0.conv1.weight").dataSync()[i]
      ),
    );
  } finally {
    for (const n of [a, b, c]) n.params.dispose();
  }
});
