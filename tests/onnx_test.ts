/**
 * The ONNX export against starmamba's own forward pass (onnxruntime-node runs the graph): every
 * network variant and both forms of the scan, the imported PyTorch checkpoint against PyTorch's
 * logits, and predict's --runtime onnx path against its default one on the same image files.
 */
import * as tf from "@tensorflow/tfjs-core";
import sharp from "sharp";
import { join } from "node:path";
import { assert, assertAllClose, assertEquals } from "../lib/util/assert.ts";
import { setupBackend } from "../lib/backends/setup.ts";
import { selectScanKernel } from "../lib/backends/select.ts";
import { type ModelConfig, modelConfig } from "../lib/model/config.ts";
import { buildMedMamba } from "../lib/model/medmamba.ts";
import { evalContext } from "../lib/model/layers.ts";
import { loadConfig } from "../lib/config/load.ts";
import type { NamedArray } from "../lib/interchange/medmamba_layout.ts";
import { medmambaOnnx } from "../lib/interchange/onnx/medmamba.ts";
import { decodeModel } from "../lib/interchange/onnx/proto.ts";
import { decodeSafetensors } from "../lib/interchange/safetensors.ts";
import { importSafetensors, onnxModelOf } from "../lib/experiment/interchange.ts";
import { loadRun, predictFiles } from "../lib/experiment/predict.ts";
import { predict, predictSettings, predictWith } from "../lib/train/predict.ts";
import { rng } from "../lib/util/rng.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const FIXTURE = join(ROOT, "tests/fixtures/peer_medmamba");
const SMALL = { dim: 8, depths: [2, 1, 1, 1], d_state: 4, image_size: 32 };

await setupBackend("wasm");
selectScanKernel("auto", { quiet: true });

/**
 * starmamba's and onnxruntime's logits and probabilities for random NHWC inputs. Every weight
 * is perturbed first (as in the PyTorch fixture), so each part of the network moves the output:
 * at initialisation the SSM half barely changes the logits and a broken scan would go unseen.
 */
async function compare(cfg: ModelConfig, form: "scan" | "doubling", n = 3) {
  const m = buildMedMamba(cfg, 11);
  const noise = rng(7, "perturb");
  const params = new Map<string, NamedArray>();
  for (const p of m.params.params.values()) {
    const v = Float32Array.from(
      p.variable.dataSync() as Float32Array,
      (x) => p.name.endsWith("running_var") ? 0.5 + noise.next() : x + 0.2 * (2 * noise.next() - 1),
    );
    p.variable.assign(tf.tensor(v, p.variable.shape));
    params.set(p.name, { shape: p.variable.shape, data: v });
  }
  const s = cfg.image_size;
  const r = rng(5, "onnx-inputs");
  const x = Float32Array.from({ length: n * s * s * cfg.in_channels }, () => 2 * r.next() - 1);
  const shape: [number, number, number, number] = [n, s, s, cfg.in_channels];
  const logits = tf.tidy(() => m.forward(tf.tensor4d(x, shape), evalContext()));
  const ours = {
    logits: logits.dataSync() as Float32Array,
    probs: tf.tidy(() => tf.softmax(logits).dataSync() as Float32Array),
  };
  logits.dispose();
  m.params.dispose();
  const ort = await import("onnxruntime-node");
  const session = await ort.InferenceSession.create(medmambaOnnx(params, cfg, { scan: form }));
  const nchw = tf.tidy(() =>
    tf.transpose(tf.tensor4d(x, shape), [0, 3, 1, 2]).dataSync() as Float32Array
  );
  const out = await session.run({ images: new ort.Tensor("float32", nchw, [n, shape[3], s, s]) });
  await session.release();
  const theirs = {
    logits: out.logits.data as Float32Array,
    probs: out.probs.data as Float32Array,
  };
  return { ours, theirs };
}

/**
 * Logits agree to 1e-5 of their scale: float32 sums over a deep stack of perturbed weights
 * (logits up to ~50) differ in the last bits between two engines, never by more.
 */
function closeLogits(actual: Float32Array, expected: Float32Array, label: string): void {
  const scale = Math.max(1, ...expected.map(Math.abs));
  assertAllClose(actual, expected, 0, 1e-5 * scale, label);
}

const VARIANTS: [string, Partial<ModelConfig>][] = [
  ["official", {}],
  ["directions 2, head_norm, ssm_residual", { directions: 2, head_norm: true, ssm_residual: true }],
  ["directions 1, no conv_pre_bn", { directions: 1, conv_pre_bn: false }],
  ["no conv branch", { conv_branch: false }],
  ["no SSM branch", { ssm_branch: false }],
];

for (const [label, over] of VARIANTS) {
  Deno.test(`ONNX graph = starmamba's forward: ${label}, both scan forms`, async () => {
    for (const form of ["scan", "doubling"] as const) {
      const { ours, theirs } = await compare(modelConfig("cpu", { ...SMALL, ...over }), form);
      closeLogits(theirs.logits, ours.logits, `${label} (${form}) logits`);
      assertAllClose(theirs.probs, ours.probs, 0, 1e-5, `${label} (${form}) probabilities`);
    }
  });
}

Deno.test("ONNX graph = starmamba's forward: the cpu preset at 64×64 (L = 256 in stage 1)", async () => {
  const { ours, theirs } = await compare(modelConfig("cpu"), "scan", 2);
  closeLogits(theirs.logits, ours.logits, "cpu preset logits");
  assertAllClose(theirs.probs, ours.probs, 0, 1e-5, "cpu preset probabilities");
  // Probabilities far from 0.5 make the comparison meaningful.
  assert(ours.probs.some((p) => Math.abs(p - 0.5) > 0.1), `${ours.probs}`);
});

/** The PyTorch fixture (peer_fixture.py CONFIG) imported into a run folder under `work`. */
function importFixture(work: string, extra: string[] = []): Promise<string> {
  const config = loadConfig(join(ROOT, "configs/quickstart.yaml"), [
    "model.dim=8",
    "model.depths=[2, 1, 1, 1]",
    "model.d_state=4",
    "model.patch_size=4",
    "data.size=32",
    ...extra,
  ]);
  return importSafetensors(join(FIXTURE, "model.safetensors"), config, {
    classNames: ["galaxy", "star"],
    outDir: join(work, "run"),
  });
}

Deno.test("the PyTorch checkpoint, imported and exported to ONNX, gives PyTorch's logits", async () => {
  const run = await loadRun(await importFixture(Deno.makeTempDirSync()));
  const bytes = onnxModelOf(run);
  run.model.params.dispose();
  const io = decodeSafetensors(Deno.readFileSync(join(FIXTURE, "io.safetensors")), "io").tensors;
  const x = io.get("inputs")!;
  const ort = await import("onnxruntime-node");
  const session = await ort.InferenceSession.create(bytes);
  const out = await session.run({
    images: new ort.Tensor("float32", x.data as Float32Array, x.shape),
  });
  await session.release();
  assertAllClose(
    out.logits.data as Float32Array,
    io.get("logits")!.data as Float32Array,
    1e-5,
    1e-5,
    "ONNX logits vs PyTorch",
  );
  // The metadata travels with the graph.
  const meta = Object.fromEntries(
    (decodeModel(bytes).metadata_props as { key: string; value: string }[]).map((
      p,
    ) => [p.key, p.value]),
  );
  assertEquals(JSON.parse(meta["starmamba.class_names"]), ["galaxy", "star"]);
  assertEquals(meta["medmamba.variant"], "official");
});

Deno.test("predictWith(starmamba's forward) = predict, bit for bit, with test-time views", async () => {
  const cfg = loadConfig(join(ROOT, "configs/quickstart.yaml"), [
    "model.dim=8",
    "model.depths=[1, 1, 1, 1]",
    "train.tta=true",
    "train.eval_batch_size=3",
  ]).config;
  const mc = modelConfig("cpu", { dim: 8, depths: [1, 1, 1, 1], patch_size: 2, image_size: 32 });
  const m = buildMedMamba(mc, 2);
  const r = rng(9, "ds");
  const n = 5, s = 32;
  const ds = {
    images: Float32Array.from({ length: n * s * s * 3 }, () => r.next()),
    labels: new Int32Array(n),
    n,
    height: s,
    width: s,
    channels: 3,
    classNames: ["galaxy", "star"],
    files: [],
  };
  const idx = [0, 1, 2, 3, 4];
  const a = predict(m, ds, idx, predictSettings(cfg)).probs;
  const b = await predictWith(
    (x, shape) =>
      tf.tidy(() =>
        tf.softmax(m.forward(tf.tensor4d(x, shape), evalContext())).dataSync() as Float32Array
      ),
    2,
    ds,
    idx,
    predictSettings(cfg),
  );
  m.params.dispose();
  assertEquals(b, a);
});

Deno.test("predict --runtime onnx path: the same files, the same probabilities within 1e-5", async () => {
  const work = Deno.makeTempDirSync();
  const dir = await importFixture(work, ["train.tta=true"]);
  const files: string[] = [];
  const r = rng(3, "png");
  for (let i = 0; i < 6; i++) {
    const px = Uint8Array.from({ length: 32 * 32 * 3 }, () => Math.floor(256 * r.next()));
    const f = join(work, `img${i}.png`);
    await sharp(px, { raw: { width: 32, height: 32, channels: 3 } }).png().toFile(f);
    files.push(f);
  }
  const run = await loadRun(dir);
  const ours = await predictFiles(run, files, { batch: 4 });
  const viaOnnx = await predictFiles(run, files, { batch: 4, onnxModel: onnxModelOf(run) });
  run.model.params.dispose();
  assertAllClose(
    viaOnnx.flatMap((row) => row.probs),
    ours.flatMap((row) => row.probs),
    0,
    1e-5,
    "predict: onnx vs starmamba",
  );
  assertEquals(viaOnnx.map((row) => row.file), files);
});
