/**
 * The ConvNet of Kim & Brunner (2017) (lib/model/convnet.ts): its parameters and FLOPs
 * hand-worked from the paper's Table 1; its forward pass against a slow reference of plain tfjs
 * ops and against an independent PyTorch implementation written from the paper
 * (tests/fixtures/convnet/make_fixture.py, logits and gradients in float64); its gradient
 * against finite differences; cpu against wasm (the native convolutions); dropout's draws from
 * the step's stream; and training through the registry and the real runner, twice, to the same
 * bytes.
 */
import * as tf from "@tensorflow/tfjs-core";
import { join } from "node:path";
import { assert, assertAllClose, assertEquals, assertThrows } from "../lib/util/assert.ts";
import { openRuntime } from "../lib/backends/runtime.ts";
import { loadNativeKernel } from "../lib/backends/wasm/native.ts";
import { nativeHooks, setNativeHooks } from "../lib/backends/wasm/hooks.ts";
import { loadConfig } from "../lib/config/load.ts";
import {
  buildConvNet,
  CONVNET_ENTRY,
  CONVNET_PAPER,
  type ConvNetConfig,
  convnetFlops,
  convnetParameters,
  flatFeatures,
  stageSides,
} from "../lib/model/convnet.ts";
import {
  convValid,
  dropout,
  evalContext,
  type ForwardContext,
  leakyRelu,
  maxPool2x2,
} from "../lib/model/layers.ts";
import type { Network } from "../lib/model/network.ts";
import { ParamStore } from "../lib/model/params.ts";
import { createNetwork, networkFor, networkNames, NETWORKS } from "../lib/model/registry.ts";
import { decodeSafetensors } from "../lib/interchange/safetensors.ts";
import { runExperiment } from "../lib/experiment/run.ts";
import { loadRun } from "../lib/experiment/predict.ts";
import { StarmambaError } from "../lib/util/errors.ts";
import { rng } from "../lib/util/rng.ts";
import { checkFiniteDifferences } from "./finite_diff.ts";
import { ROOT, TINY_RUN } from "./permissions.ts";

const cpu = () => openRuntime({ backend: "cpu", model: { scan_kernel: "loop" } }, { quiet: true });
await cpu();

/** A ConvNet config: the paper's layers on `shape`, with `over` replacing any of them. */
function config(
  shape: Partial<ConvNetConfig> = {},
  over: Partial<ConvNetConfig> = {},
): ConvNetConfig {
  return {
    in_channels: 3,
    num_classes: 2,
    image_size: 64,
    ...structuredClone(CONVNET_PAPER),
    ...shape,
    ...over,
  };
}

/** Small widths with the paper's structure (2-3-3 convolutions, two hidden layers). */
const SMALL = { filters: [4, 6, 8], hidden: [10, 12] };

/**
 * A batch (B, S, S, C) of standard normal pixels from a seeded stream: no two neighbours are
 * near-equal, so no max-pooling window is near a tie (a smooth pattern has near-ties, which
 * float rounding may break differently on two backends, or a finite difference straddle).
 */
function images(b: number, s: number, c: number, seed = 0): tf.Tensor4D {
  return normals([b, s, s, c], seed) as tf.Tensor4D;
}

/** Standard normal values of `shape` from the seeded stream `seed`. */
function normals(shape: number[], seed: number): tf.Tensor {
  const r = rng(seed, "images");
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({ length: n }, () => r.normal()), shape);
}

/** The mean softmax cross-entropy of `logits` for `labels`, in plain ops. */
function meanCrossEntropy(logits: tf.Tensor2D, labels: number[]): tf.Scalar {
  const onehot = tf.oneHot(tf.tensor1d(labels, "int32"), logits.shape[1]);
  return tf.neg(tf.mean(tf.sum(tf.mul(onehot, tf.logSoftmax(logits)), 1))) as tf.Scalar;
}

/**
 * The ConvNet written again from the paper in plain tfjs ops, slowly and without the layers
 * under test: unpadded 5×5 (tf.conv2d "valid"), 3×3 on an explicitly zero-padded input, leaky
 * ReLU as max(x, 0.01·x), 2×2 max pooling as a reshape and two maxima (the odd row and column
 * cut first), flatten in (channel, row, column) order, dense layers as matMul + bias. Dropout
 * when `masks` gives the multiplier of each hidden layer's input.
 */
function reference(
  ps: ParamStore,
  cfg: ConvNetConfig,
  x: tf.Tensor4D,
  masks: Float32Array[] = [],
): tf.Tensor2D {
  const leaky = (t: tf.Tensor) => tf.maximum(t, tf.mul(t, 0.01));
  let y: tf.Tensor4D = x;
  cfg.convs.forEach((n, s) => {
    for (let j = 0; j < n; j++) {
      const name = `conv${s + 1}${j + 1}`;
      const w = ps.get(`${name}.weight`) as tf.Tensor4D;
      const input = s === 0 && j === 0 ? y : tf.pad(y, [[0, 0], [1, 1], [1, 1], [0, 0]]);
      y = leaky(tf.add(tf.conv2d(input, w, 1, "valid"), ps.get(`${name}.bias`))) as tf.Tensor4D;
    }
    const [b, h, w, c] = y.shape;
    const h2 = Math.floor(h / 2), w2 = Math.floor(w / 2);
    const even = tf.slice(y, [0, 0, 0, 0], [b, 2 * h2, 2 * w2, c]);
    y = tf.max(tf.max(tf.reshape(even, [b, h2, 2, w2, 2, c]), 4), 2) as tf.Tensor4D;
  });
  let f: tf.Tensor = tf.reshape(tf.transpose(y, [0, 3, 1, 2]), [y.shape[0], -1]);
  const dense = (name: string, t: tf.Tensor) =>
    tf.add(
      tf.matMul(t as tf.Tensor2D, ps.get(`${name}.weight`) as tf.Tensor2D),
      ps.get(`${name}.bias`),
    );
  cfg.hidden.forEach((_, i) => {
    if (masks[i]) f = tf.mul(f, tf.tensor(masks[i], f.shape));
    f = leaky(dense(`hidden${cfg.convs.length + 1 + i}`, f));
  });
  return dense("output", f) as tf.Tensor2D;
}

/** Element values of a tensor as a plain array. */
const values = (t: tf.Tensor) => Array.from(t.dataSync());

Deno.test("convnet: the registry builds it from model.arch; every parameter's name and shape, and the count at 3×64×64 (17,520,610) and 5×44×44 (11,230,754), hand-worked from Table 1", () => {
  assert(networkNames().includes("convnet"), networkNames().join(", "));
  assert(NETWORKS.convnet === CONVNET_ENTRY);
  const section = loadConfig(join(ROOT, "configs/quickstart.yaml"), ["model.arch=convnet"])
    .config.model;
  const d = networkFor(section, { in_channels: 3, num_classes: 2, image_size: 64 });
  assertEquals(d.arch, "convnet");
  assertEquals<unknown>(d.config, {
    in_channels: 3,
    num_classes: 2,
    image_size: 64,
    filters: [32, 64, 128],
    convs: [2, 3, 3],
    hidden: [2048, 2048],
    dropout: 0.5,
  });
  // 64 → 60 (conv11, 5×5 unpadded) → 30 → 15 → 7 (pooling drops the odd row and column).
  assertEquals(stageSides(d.config as ConvNetConfig), [30, 15, 7]);
  const net = createNetwork(d, 1);
  try {
    const shapes = [...net.params.params.values()].map((p) => [p.name, p.variable.shape]);
    assertEquals<unknown>(shapes, [
      ["conv11.weight", [5, 5, 3, 32]], // 2,400 + 32 = 2,432
      ["conv11.bias", [32]],
      ["conv12.weight", [3, 3, 32, 32]], // 9,216 + 32 = 9,248
      ["conv12.bias", [32]],
      ["conv21.weight", [3, 3, 32, 64]], // 18,432 + 64 = 18,496
      ["conv21.bias", [64]],
      ["conv22.weight", [3, 3, 64, 64]], // 36,864 + 64 = 36,928
      ["conv22.bias", [64]],
      ["conv23.weight", [3, 3, 64, 64]], // 36,928
      ["conv23.bias", [64]],
      ["conv31.weight", [3, 3, 64, 128]], // 73,728 + 128 = 73,856
      ["conv31.bias", [128]],
      ["conv32.weight", [3, 3, 128, 128]], // 147,456 + 128 = 147,584
      ["conv32.bias", [128]],
      ["conv33.weight", [3, 3, 128, 128]], // 147,584
      ["conv33.bias", [128]],
      ["hidden4.weight", [6272, 2048]], // 128·7·7 = 6,272 inputs: 12,845,056 + 2,048 = 12,847,104
      ["hidden4.bias", [2048]],
      ["hidden5.weight", [2048, 2048]], // 4,194,304 + 2,048 = 4,196,352
      ["hidden5.bias", [2048]],
      ["output.weight", [2048, 2]], // 4,096 + 2 = 4,098
      ["output.bias", [2]],
    ]);
    // 2,432 + 9,248 + 18,496 + 2·36,928 + 73,856 + 2·147,584 = 473,056 convolutional;
    // + 12,847,104 + 4,196,352 + 4,098 = 17,520,610.
    assertEquals(net.params.countTrainable(), 17_520_610);
    assertEquals(convnetParameters(net.config as ConvNetConfig), 17_520_610);
    // Every parameter is trained (no BatchNorm state).
    assert([...net.params.params.values()].every((p) => p.trainable));
    // Initial biases as Table 1: 0.1 in the convolutions, 0.01 in the dense layers.
    assertEquals(new Set(values(net.params.get("conv23.bias"))), new Set([Math.fround(0.1)]));
    assertEquals(new Set(values(net.params.get("hidden5.bias"))), new Set([Math.fround(0.01)]));
  } finally {
    net.params.dispose();
  }
  // The paper's input, 5 bands × 44×44: 44 → 40 → 20 → 10 → 5, 128·5·5 = 3,200 dense inputs.
  // conv11 5·5·5·32 + 32 = 4,032; hidden4 3,200·2,048 + 2,048 = 6,555,648; the rest as above:
  // 4,032 + 470,624 + 6,555,648 + 4,196,352 + 4,098 = 11,230,754 — the paper's "11×10⁶
  // learnable parameters" (section 4).
  const paper = config({ in_channels: 5, image_size: 44 });
  assertEquals(stageSides(paper), [20, 10, 5]);
  assertEquals(flatFeatures(paper), 3200);
  assertEquals(convnetParameters(paper), 11_230_754);
  assertEquals(CONVNET_ENTRY.label(net.config as ConvNetConfig), "ConvNet");
  assertEquals(CONVNET_ENTRY.label(config({}, SMALL)), "ConvNet (variant)");
  const line = CONVNET_ENTRY.summary(d.config as ConvNetConfig, 17_520_610);
  assert(line.includes("Kim & Brunner") && line.includes("17,520,610"), line);
  assert(line.includes("32-32 | 64-64-64 | 128-128-128") && line.includes("3×64×64"), line);
});

Deno.test("convnet: analytic FLOPs at 3×64×64, hand-worked (2 per multiply-add, as bench/flops.ts)", () => {
  // conv11 60²·25·3·32 = 8,640,000 multiply-adds; conv12 60²·9·32·32 = 33,177,600;
  // conv21 30²·9·32·64 = 16,588,800; conv22, conv23 30²·9·64·64 = 33,177,600 each;
  // conv31 15²·9·64·128 = 16,588,800; conv32, conv33 15²·9·128·128 = 33,177,600 each.
  // Sum 207,705,600 → 415,411,200 FLOPs.
  // Dense: 6,272·2,048 + 2,048·2,048 + 2,048·2 = 17,043,456 → 34,086,912 FLOPs.
  assertEquals(convnetFlops(config()), {
    conv: 415_411_200,
    matmul: 34_086_912,
    forward: 449_498_112,
    train: 1_348_494_336,
  });
});

Deno.test("convnet: output shape for 1 and 3 channels and 3 classes, odd sides; too small an input or the wrong shape is a StarmambaError", () => {
  for (const [c, s] of [[1, 12], [3, 21], [3, 16]]) {
    const net = buildConvNet(config({ in_channels: c, num_classes: 3, image_size: s }, SMALL), 2);
    const out = net.forward(images(2, s, c), evalContext());
    assertEquals(out.shape, [2, 3]);
    assert(values(out).every(Number.isFinite));
    net.params.dispose();
  }
  // 12 is the least side: 12 → 8 → 4 → 2 → 1.
  assertEquals(stageSides(config({ image_size: 12 })), [4, 2, 1]);
  const e = assertThrows(() => buildConvNet(config({ image_size: 11 }), 1), StarmambaError);
  assert(e.message.includes("data.size 11") && e.message.includes("at least 12"), e.message);
  const section = loadConfig(join(ROOT, "configs/quickstart.yaml"), ["model.arch=convnet"])
    .config.model;
  assertThrows(
    () => networkFor(section, { in_channels: 3, num_classes: 2, image_size: 8 }),
    StarmambaError,
    "data.size 8",
  );
  assertThrows(
    () => buildConvNet(config({}, { filters: [32, 64] }), 1),
    StarmambaError,
    "filters",
  );
  assertThrows(() => buildConvNet(config({}, { dropout: 1 }), 1), StarmambaError, "dropout");
  const net = buildConvNet(config({ image_size: 16 }, SMALL), 1);
  assertThrows(
    () => net.forward(images(1, 16, 1), evalContext()),
    StarmambaError,
    "16×16×1 but the model expects 16×16×3",
  );
  net.params.dispose();
});

Deno.test("convnet layers: convValid is tf.conv2d VALID; maxPool2x2 floors odd sides (hand-worked); leakyRelu; dropout's mask comes from ctx.rng", () => {
  for (const k of [1, 3, 5]) {
    const ps = new ParamStore();
    const r = rng(k, "w");
    ps.add("c.weight", [k, k, 3, 4], Float32Array.from({ length: k * k * 12 }, () => r.normal()));
    ps.add("c.bias", [4], Float32Array.from([0.1, -0.2, 0.3, 0]));
    const x = images(2, 9, 3);
    const got = convValid(ps, "c", x);
    const want = tf.add(
      tf.conv2d(x, ps.get("c.weight") as tf.Tensor4D, 1, "valid"),
      ps.get("c.bias"),
    );
    assertEquals(got.shape, [2, 10 - k, 10 - k, 4]);
    assertAllClose(values(got), values(want), 1e-5, 1e-5, `k ${k}`);
    ps.dispose();
  }
  // A 5×5 map 0…24 row by row: windows (0,1,5,6) (2,3,7,8) (10,11,15,16) (12,13,17,18); the last
  // row and column are dropped.
  const grid = tf.tensor4d(Float32Array.from({ length: 25 }, (_, i) => i), [1, 5, 5, 1]);
  assertEquals(values(maxPool2x2(grid)), [6, 8, 16, 18]);
  assertEquals(values(leakyRelu(tf.tensor1d([-2, 0, 3]), 0.01)), [-0.02, 0, 3].map(Math.fround));
  // Dropout: evaluation and p = 0 are the identity and draw nothing.
  const ones = tf.ones([4, 500]);
  const ctx = (seed: number): ForwardContext => ({
    training: true,
    rng: rng(seed, "drop"),
    bnUpdates: [],
  });
  assert(dropout(ones, 0.5, evalContext()) === ones);
  const unused = ctx(1);
  assert(dropout(ones, 0, unused) === ones);
  assertEquals(unused.rng!.next(), rng(1, "drop").next(), "p = 0 drew from the stream");
  // Training: element i is 1/(1−p) = 2 when the i-th draw is < 1 − p, else 0.
  const r = rng(7, "drop");
  const expect = Array.from({ length: 2000 }, () => (r.next() < 0.5 ? 2 : 0));
  const a = values(dropout(ones, 0.5, ctx(7)));
  assertEquals(a, expect);
  assertEquals(values(dropout(ones, 0.5, ctx(7))), a, "same stream, same mask");
  assert(values(dropout(ones, 0.5, ctx(8))).some((v, i) => v !== a[i]), "another stream");
  const zeros = a.filter((v) => v === 0).length;
  assert(zeros > 900 && zeros < 1100, `dropped ${zeros} of 2000`);
  assertThrows(() => dropout(ones, 0.5, { training: true, bnUpdates: [] }), Error, "ctx.rng");
});

Deno.test("maxPool2x2's gradient: each window's first maximum (hand-worked, a tie included); equal to tfjs's cpu MaxPoolGrad, and the same on wasm", async () => {
  // 3×3 map, one window (the last row and column are dropped): 4 5 / 5 1 ties at 5; the first
  // in row-major order (0, 1) gets dy.
  const x = tf.tensor4d([4, 5, 9, 5, 1, 9, 9, 9, 9], [1, 3, 3, 1]);
  assertEquals(values(tf.grad((t: tf.Tensor) => tf.mul(maxPool2x2(t as tf.Tensor4D), 7))(x)), [
    0,
    7,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
  ]);
  const shapes: [number, number, number, number][] = [[1, 4, 4, 2], [1, 8, 8, 1], [2, 7, 7, 3], [
    3,
    5,
    6,
    4,
  ]];
  const grads = (t: tf.Tensor4D, pool: (x: tf.Tensor4D) => tf.Tensor4D) => {
    const w = normals(pool(t).shape, 9);
    return values(tf.grad((u: tf.Tensor) => tf.sum(tf.mul(pool(u as tf.Tensor4D), w)))(t));
  };
  const stock = (t: tf.Tensor4D) => tf.maxPool(t, 2, 2, "valid");
  const input = (s: number[]) => normals(s, 1) as tf.Tensor4D;
  const onCpu = shapes.map((s) => grads(input(s), maxPool2x2));
  // Equal values (a −0 where the stock kernel writes 0 is the same number).
  shapes.forEach((s, i) => assertAllClose(onCpu[i], grads(input(s), stock), 0, 0, `cpu ${s}`));
  // tfjs-backend-wasm 4.22's own MaxPoolGrad drops entries on these shapes; ours does not.
  await openRuntime({ backend: "wasm", model: { scan_kernel: "auto" } }, { quiet: true });
  try {
    shapes.forEach((s, i) =>
      assertAllClose(grads(input(s), maxPool2x2), onCpu[i], 0, 0, `wasm ${s}`)
    );
  } finally {
    await cpu();
  }
});

Deno.test("convnet: forward equals a slow reference of plain tfjs ops (eval; training with dropout masks drawn from ctx.rng), small and published widths", () => {
  for (
    const [cfg, b] of [[config({ image_size: 21 }, SMALL), 3], [
      config({ image_size: 16 }),
      2,
    ]] as const
  ) {
    const net = buildConvNet(cfg, 5);
    const x = images(b, cfg.image_size, 3, 1);
    assertAllClose(
      values(net.forward(x, evalContext())),
      values(reference(net.params, cfg, x)),
      1e-5,
      1e-5,
      "eval",
    );
    // Training: hidden4's input mask first, then hidden5's, each in row-major order.
    const r = rng(3, "droppath:0:0");
    const draw = (n: number) => Float32Array.from({ length: n }, () => (r.next() < 0.5 ? 2 : 0));
    const masks = [draw(b * flatFeatures(cfg)), draw(b * cfg.hidden[0])];
    const ctx: ForwardContext = { training: true, rng: rng(3, "droppath:0:0"), bnUpdates: [] };
    const train = values(net.forward(x, ctx));
    assertAllClose(train, values(reference(net.params, cfg, x, masks)), 1e-5, 1e-5, "train");
    assertEquals(ctx.bnUpdates.length, 0, "no state to commit");
    assert(train.some((v, i) => Math.abs(v - values(net.forward(x, evalContext()))[i]) > 1e-4));
    // Without dropout, the training pass is the evaluation pass and needs no stream.
    const plain = buildConvNet({ ...cfg, dropout: 0 }, 5);
    assertEquals(
      values(plain.forward(x, { training: true, bnUpdates: [] })),
      values(plain.forward(x, evalContext())),
    );
    net.params.dispose();
    plain.params.dispose();
  }
});

Deno.test("convnet: logits and gradients equal an independent PyTorch implementation of the paper (fixture, float64) to float32 rounding", () => {
  const dir = join(ROOT, "tests/fixtures/convnet");
  const model = decodeSafetensors(Deno.readFileSync(join(dir, "model.safetensors")), "model");
  const io = decodeSafetensors(Deno.readFileSync(join(dir, "io.safetensors")), "io");
  const cfg = JSON.parse(model.metadata.config) as ConvNetConfig;
  assertEquals<unknown>(cfg, config({ image_size: 21 }, SMALL));
  const net = buildConvNet(cfg, 1);
  // PyTorch's layouts: conv [out, in, k, k] → [k, k, in, out]; linear [out, in] → [in, out].
  const ours = (name: string) => {
    const t = model.tensors.get(name) ?? io.tensors.get(name)!;
    const x = tf.tensor(t.data as Float32Array, t.shape);
    return t.shape.length === 4
      ? tf.transpose(x, [2, 3, 1, 0])
      : t.shape.length === 2
      ? tf.transpose(x)
      : x;
  };
  assertEquals([...model.tensors.keys()].sort(), [...net.params.params.keys()].sort());
  for (const p of net.params.params.values()) p.variable.assign(ours(p.name));
  const inputs = io.tensors.get("inputs")!;
  const x = tf.transpose(
    tf.tensor4d(inputs.data as Float32Array, inputs.shape as [number, number, number, number]),
    [0, 2, 3, 1],
  ) as tf.Tensor4D;
  const labels = Array.from(io.tensors.get("labels")!.data as BigInt64Array, Number);
  const logits = net.forward(x, evalContext());
  assertAllClose(
    values(logits),
    Array.from(io.tensors.get("logits")!.data as Float32Array),
    1e-5,
    1e-5,
    "logits",
  );
  const vars = net.params.trainable();
  const { value, grads } = tf.variableGrads(
    () => meanCrossEntropy(net.forward(x, evalContext()), labels),
    vars,
  );
  assertAllClose(
    [value.dataSync()[0]],
    Array.from(io.tensors.get("loss")!.data as Float32Array),
    1e-5,
    1e-6,
    "loss",
  );
  for (const p of net.params.params.values()) {
    assertAllClose(
      values(grads[p.variable.name]),
      values(ours(`grad.${p.name}`)),
      1e-4,
      1e-6,
      `grad ${p.name}`,
    );
  }
  net.params.dispose();
});

Deno.test("convnet: the gradient of a training step (dropout on) matches central finite differences", () => {
  // 21 → 17 → 8 → 4 → 2: 16 dense inputs, so dropout leaves some of them (were all dropped, the
  // hidden layers would sit at their 0.01 biases, next to the leaky ReLU's kink).
  const cfg = config({ image_size: 21, num_classes: 3 }, { filters: [2, 3, 4], hidden: [6, 5] });
  const net = buildConvNet(cfg, 11);
  const x = images(2, 21, 3, 2);
  // A fresh stream of the same seed per evaluation: every evaluation drops the same units.
  const loss = () =>
    meanCrossEntropy(
      net.forward(x, { training: true, rng: rng(4, "fd"), bnUpdates: [] }),
      [0, 2],
    );
  const checked = checkFiniteDifferences([...net.params.params.values()], loss, rng(9, "fd"), 3);
  assertEquals(checked, 22 * 3);
  net.params.dispose();
});

Deno.test({
  name:
    "convnet: cpu and wasm agree on logits and gradients (published widths); on wasm every convolution and filter gradient runs native",
  ignore: loadNativeKernel({ quiet: true }) === null,
  fn: async () => {
    const cfg = config({ image_size: 16 });
    const run = async (backend: "cpu" | "wasm") => {
      await openRuntime({ backend, model: { scan_kernel: "auto" } }, { quiet: true });
      const counts = { conv: 0, filterGrad: 0 };
      const native = nativeHooks().conv;
      if (backend === "wasm") {
        assert(native, "the native convolutions are not loaded on wasm");
        setNativeHooks({
          conv: {
            conv2dSame: (...a) => (counts.conv++, native.conv2dSame(...a)),
            conv2dSameFilterGrad: (
              ...a
            ) => (counts.filterGrad++, native.conv2dSameFilterGrad(...a)),
          },
        });
      }
      try {
        const net = createNetwork({ arch: "convnet", config: cfg }, 4) as Network<ConvNetConfig>;
        const x = images(2, 16, 3);
        const ctx: ForwardContext = { training: true, rng: rng(2, "step"), bnUpdates: [] };
        const { value, grads } = tf.variableGrads(
          () => meanCrossEntropy(net.forward(x, ctx), [0, 1]),
          net.params.trainable(),
        );
        const out = {
          loss: value.dataSync()[0],
          grads: net.params.trainable().map((v) => values(grads[v.name])),
          counts,
        };
        net.params.dispose();
        return out;
      } finally {
        if (native) setNativeHooks({ conv: native });
      }
    };
    const a = await run("cpu");
    const b = await run("wasm");
    await cpu();
    assertAllClose([b.loss], [a.loss], 1e-5, 1e-6, "loss");
    a.grads.forEach((g, i) => assertAllClose(b.grads[i], g, 1e-4, 1e-5, `grad ${i}`));
    // 8 forward convolutions and 7 input gradients (conv11's input is the images); 8 filter
    // gradients.
    assertEquals(b.counts, { conv: 15, filterGrad: 8 });
  },
});

/** Trains the tiny quickstart with model.arch convnet in `dir`; returns the run folder and result. */
async function trainTiny(dir: string, seed: number) {
  const loaded = loadConfig(join(ROOT, "configs/quickstart.yaml"), [
    ...TINY_RUN,
    "model.arch=convnet",
    `seed=${seed}`,
  ]);
  const run = await runExperiment(loaded, { projectRoot: dir, quiet: true });
  return {
    runDir: run.runDir,
    result: run.result as { model: { arch: string; parameters: number } },
  };
}

/** The saved weights of a run folder, file by file. */
function weightBytes(runDir: string): Uint8Array[] {
  const meta = JSON.parse(Deno.readTextFileSync(join(runDir, "model", "model.json")));
  return meta.weightsManifest.flatMap((g: { paths: string[] }) =>
    g.paths.map((p) => Deno.readFileSync(join(runDir, "model", p)))
  );
}

Deno.test("convnet: two training steps through the registry and the runner (model.arch: convnet); the same seed gives the same weights, bit for bit", async () => {
  const work = Deno.makeTempDirSync({ prefix: "convnet-test-" });
  try {
    const a = await trainTiny(join(work, "a"), 1);
    const b = await trainTiny(join(work, "b"), 1);
    assertEquals(a.result.model.arch, "convnet");
    // 3×32×32: 32 → 28 → 14 → 7 → 3, 128·3·3 = 1,152 dense inputs: hidden4 1,152·2,048 + 2,048 =
    // 2,361,344; with 473,056 convolutional, 4,196,352 and 4,098: 7,034,850.
    assertEquals(a.result.model.parameters, 7_034_850);
    const meta = JSON.parse(Deno.readTextFileSync(join(a.runDir, "model", "model.json")));
    assertEquals(meta.arch, "convnet");
    assertEquals(meta.modelConfig, config({ image_size: 32 }));
    assertEquals(weightBytes(a.runDir), weightBytes(b.runDir));
    // Training moved the weights away from the seed's initial ones; loadRun rebuilds the ConvNet.
    const run = await loadRun(a.runDir);
    const init = buildConvNet(run.model.config as ConvNetConfig, 1);
    try {
      assertEquals(run.model.arch, "convnet");
      const start = values(init.params.get("hidden5.weight"));
      assert(values(run.model.params.get("hidden5.weight")).some((v, i) => v !== start[i]));
      // Another seed, other initial weights.
      const other = buildConvNet(run.model.config as ConvNetConfig, 2);
      const first = values(init.params.get("conv11.weight"));
      assert(values(other.params.get("conv11.weight")).some((v, i) => v !== first[i]));
      other.params.dispose();
    } finally {
      run.model.params.dispose();
      init.params.dispose();
    }
  } finally {
    await cpu();
    Deno.removeSync(work, { recursive: true });
  }
});

Deno.test("configs/aries/convnet.yaml is best-grouped.yaml's recipe with model.arch convnet and the last epoch kept", () => {
  const conv = loadConfig(join(ROOT, "configs/aries/convnet.yaml")).config;
  const best = loadConfig(join(ROOT, "configs/aries/best-grouped.yaml")).config;
  assertEquals(conv.model.arch, "convnet");
  assertEquals(conv.train.keep, "last");
  assertEquals(conv.data, best.data);
  assertEquals(conv.augment, best.augment);
  assertEquals({ ...conv.train, keep: best.train.keep }, best.train);
  assertEquals(conv.data.field_context, true);
  assertEquals([conv.train.epochs, conv.train.ema_decay, conv.data.split], [48, 0.998, "grouped"]);
  assertEquals({ ...conv.model, arch: "medmamba" }, best.model);
});
