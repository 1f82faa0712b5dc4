import * as tf from "@tensorflow/tfjs-core";
import { assert, assertAllClose, assertEquals, assertThrows } from "../lib/util/assert.ts";
import { setupBackend } from "../lib/backends/setup.ts";
import { modelConfig } from "../lib/model/config.ts";
import { buildMedMamba } from "../lib/model/medmamba.ts";
import { evalContext } from "../lib/model/layers.ts";
import { setScanKernel } from "../lib/ops/scan_kernel.ts";
import { loopKernel } from "../lib/ops/scan_loop.ts";
import { StarmambaError } from "../lib/util/errors.ts";
import { ParamStore } from "../lib/model/params.ts";
import { initSS2D, ss2d, ss2dDims } from "../lib/model/ss2d.ts";
import { rng } from "../lib/util/rng.ts";
import { saveModel } from "../lib/train/train.ts";
import { loadTensors } from "../lib/train/checkpoint.ts";
import { checkFiniteDifferences } from "./finite_diff.ts";

setScanKernel(loopKernel);
const PAPER = { conv_pre_bn: false, ssm_residual: true, head_norm: true };

Deno.test("parameter counts match the independent implementation (all four)", async () => {
  await setupBackend("cpu");
  const cases: [string, object, number][] = [
    ["tiny", {}, 14_454_146],
    ["cpu", {}, 1_516_290],
    ["tiny", PAPER, 14_452_034],
    ["cpu", PAPER, 1_515_842],
  ];
  for (const [preset, over, expected] of cases) {
    const m = buildMedMamba(modelConfig(preset, over), 1);
    assertEquals(m.params.countTrainable(), expected, `${preset} ${JSON.stringify(over)}`);
    m.params.dispose();
  }
});

Deno.test("SS2D and full-network output shapes, 1 and 3 input channels", async () => {
  await setupBackend("cpu");
  const ps = new ParamStore();
  const dims = ss2dDims(8, 4, 4);
  assertEquals(dims, { d_model: 8, d_inner: 16, dt_rank: 1, d_state: 4, K: 4 });
  initSS2D(ps, "s", dims, rng(1, "t"));
  const y = ss2d(ps, "s", tf.randomNormal([2, 4, 4, 8]) as tf.Tensor4D, dims);
  assertEquals(y.shape, [2, 4, 4, 8]);
  for (const ch of [1, 3]) {
    const m = buildMedMamba(
      modelConfig("cpu", {
        dim: 8,
        depths: [1, 1, 1, 1],
        image_size: 32,
        in_channels: ch,
        num_classes: 3,
      }),
      1,
    );
    const out = m.forward(tf.randomNormal([2, 32, 32, ch]) as tf.Tensor4D, evalContext());
    assertEquals(out.shape, [2, 3]);
    m.params.dispose();
  }
});

Deno.test("image size not a multiple of 32 and channel mismatch give clear errors", async () => {
  await setupBackend("cpu");
  assertThrows(() => modelConfig("cpu", { image_size: 48 }), StarmambaError, "multiple of 32");
  const m = buildMedMamba(modelConfig("cpu", { dim: 8, depths: [1, 1, 1, 1], image_size: 32 }), 1);
  assertThrows(
    () => m.forward(tf.zeros([1, 32, 32, 1]) as tf.Tensor4D, evalContext()),
    StarmambaError,
    "expects 32×32×3",
  );
  m.params.dispose();
});

Deno.test("same seed → bitwise-identical initial weights; different seed differs", async () => {
  await setupBackend("cpu");
  const cfg = modelConfig("cpu", { dim: 8, depths: [1, 1, 1, 1], image_size: 32 });
  const flat = (seed: number) => {
    const m = buildMedMamba(cfg, seed);
    const vals = [...m.params.params.values()].flatMap((p) => Array.from(p.variable.dataSync()));
    m.params.dispose();
    return vals;
  };
  const a = flat(3), b = flat(3), c = flat(4);
  assertEquals(a, b);
  assert(a.some((v, i) => v !== c[i]), "different seeds should give different weights");
});

Deno.test("whole-model gradient matches central finite differences on sampled weights", async () => {
  await setupBackend("cpu");
  // Float32 forward: use a smooth, small network and moderately large steps.
  const cfg = modelConfig("cpu", {
    dim: 4,
    depths: [1, 1, 1, 1],
    image_size: 32,
    drop_path_rate: 0,
    d_state: 2,
  });
  const m = buildMedMamba(cfg, 5);
  const x = tf.randomNormal([2, 32, 32, 3], 0, 1, "float32", 11) as tf.Tensor4D;
  const wOut = tf.randomNormal([2, 2], 0, 1, "float32", 12);
  // Eval mode keeps BatchNorm a fixed affine map, so the loss is a smooth function of weights.
  const loss = () => tf.sum(tf.mul(m.forward(x, evalContext()), wOut)) as tf.Scalar;
  const names = [...m.params.params.values()].filter((p) =>
    p.trainable &&
    /(in_proj|x_proj|dt_projs|A_logs|Ds|conv1|conv2d|out_proj|head|patch_embed|reduction|ln_1)/
      .test(p.name)
  );
  const checked = checkFiniteDifferences(names, loss, rng(7, "fd"), 2);
  assert(checked >= 20, `checked ${checked} weights`);
  m.params.dispose();
});

Deno.test("save → load round trip gives identical logits", async () => {
  await setupBackend("cpu");
  const cfg = modelConfig("cpu", { dim: 8, depths: [1, 1, 1, 1], image_size: 32 });
  const m = buildMedMamba(cfg, 2);
  const x = tf.randomNormal([2, 32, 32, 3], 0, 1, "float32", 1) as tf.Tensor4D;
  const before = m.forward(x, evalContext()).dataSync();
  const dir = Deno.makeTempDirSync();
  await saveModel(m, dir, {});
  const m2 = buildMedMamba(cfg, 99);
  const { tensors } = loadTensors(dir, "model");
  for (const p of m2.params.params.values()) p.variable.assign(tensors[p.name]);
  assertEquals(Array.from(m2.forward(x, evalContext()).dataSync()), Array.from(before));
  m.params.dispose();
  m2.params.dispose();
});

Deno.test("cpu and wasm backends agree on logits and gradients within 1e-5", async () => {
  const cfg = modelConfig("cpu", {
    dim: 8,
    depths: [1, 1, 1, 1],
    image_size: 32,
    drop_path_rate: 0,
  });
  const run = async (backend: string) => {
    await setupBackend(backend);
    const m = buildMedMamba(cfg, 4);
    const x = tf.tensor4d(
      Float32Array.from({ length: 2 * 32 * 32 * 3 }, (_, i) => Math.sin(i * 0.37)),
      [2, 32, 32, 3],
    );
    const ctx = evalContext();
    const { value, grads } = tf.variableGrads(
      () => tf.sum(tf.square(m.forward(x, ctx))) as tf.Scalar,
      m.params.trainable(),
    );
    const out = {
      loss: value.dataSync()[0],
      grads: m.params.trainable().map((v) => Array.from(grads[v.name].dataSync())),
    };
    m.params.dispose();
    return out;
  };
  const a = await run("cpu");
  const b = await run("wasm");
  await setupBackend("cpu");
  assertAllClose([b.loss], [a.loss], 1e-5, 1e-6, "loss");
  a.grads.forEach((g, i) => assertAllClose(b.grads[i], g, 1e-4, 1e-5, `grad ${i}`));
});

Deno.test("every layer's output shape and parameter count (hand-worked for C = 32)", async () => {
  await setupBackend("cpu");
  const { initPatchEmbed, patchEmbed, initPatchMerging, patchMerging } = await import(
    "../lib/model/layers.ts"
  );
  const count = (ps: ParamStore) => ps.countTrainable();
  // PatchEmbed 4×4, 3 → 32: conv 4·4·3·32 + bias 32 + LayerNorm 2·32 = 1,632
  let ps = new ParamStore();
  initPatchEmbed(ps, "pe", 4, 3, 32, rng(1, "t"));
  assertEquals(count(ps), 1632);
  assertEquals(patchEmbed(ps, "pe", tf.zeros([2, 64, 64, 3]) as tf.Tensor4D).shape, [
    2,
    16,
    16,
    32,
  ]);
  // PatchMerging 32 → 64: LayerNorm 2·128 + Linear 128·64 = 8,448
  ps = new ParamStore();
  initPatchMerging(ps, "pm", 32, rng(1, "t"));
  assertEquals(count(ps), 8448);
  assertEquals(patchMerging(ps, "pm", tf.zeros([2, 16, 16, 32]) as tf.Tensor4D).shape, [
    2,
    8,
    8,
    64,
  ]);
  // SS2D on d_model 16 (block C = 32): in_proj 16·64 + conv 32·9 + 32 + x_proj 4·(1+32)·32
  // + dt_proj 4·32·1 + dt bias 4·32 + A_logs 128·16 + Ds 128 + out_norm 64 + out_proj 32·16 = 8,576
  ps = new ParamStore();
  const dims = ss2dDims(16, 16, 4);
  initSS2D(ps, "s", dims, rng(1, "t"));
  assertEquals(count(ps), 8576);
  // One SS-Conv-SSM block of the cpu preset, stage 1: LN 32 + SS2D 8,576 + conv half
  // (BN 32 + conv 16·16·9+16 + BN 32 + conv 2,320 + BN 32 + conv 16·16+16 = 5,008) = 13,616
  const one = buildMedMamba(modelConfig("cpu", { depths: [1, 1, 1, 1] }), 1);
  const block = [...one.params.params.values()].filter((p) =>
    p.trainable && p.name.startsWith("layers.0.blocks.0.")
  );
  assertEquals(block.reduce((s, p) => s + p.variable.size, 0), 13616);
  one.params.dispose();
});
