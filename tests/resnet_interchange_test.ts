/**
 * ResNet-18 through `deno task export` and `deno task import` (issue 31): a trained resnet18 run
 * exports as torchvision's `resnet18` state_dict (the keys, shapes and dtypes of
 * tests/fixtures/resnet18, which torchvision wrote), the file imports back into a run folder
 * that predicts the same probabilities bit for bit, and a bare torchvision state_dict (no
 * starmamba metadata) imports given a config. Networks without a PyTorch layout are refused
 * with one line.
 */
import { join } from "node:path";
import { createHash } from "node:crypto";
import { assert, assertAllClose, assertEquals } from "../lib/util/assert.ts";
import { decodeModel } from "../lib/interchange/onnx/proto.ts";
import { loadConfig } from "../lib/config/load.ts";
import { runExperiment } from "../lib/experiment/run.ts";
import { loadRun, predictFiles } from "../lib/experiment/predict.ts";
import { readRunRecord } from "../lib/results/run_record.ts";
import {
  decodeSafetensors,
  encodeSafetensors,
  type StoredTensor,
  type TensorToWrite,
} from "../lib/interchange/safetensors.ts";
import { DEFAULT_SKY, writeSyntheticSky } from "../lib/data/synthetic_sky.ts";
import { exists } from "../lib/util/fs.ts";
import { assertOneLineError, ROOT, runScript, TINY_RUN } from "./permissions.ts";

/** torchvision's resnet18 keys for 3 channels, 2 classes, small stem (make_fixture.py). */
const TORCHVISION_KEYS = (JSON.parse(
  Deno.readTextFileSync(join(ROOT, "tests/fixtures/resnet18/expected.json")),
) as { cases: { small: { keys: [string, number[], string][] } } }).cases.small.keys;

/** The Python torchvisionRecipe gives for 3 channels, 2 classes and the small stem, by hand. */
const RECIPE = [
  "import torch.nn as nn; from torchvision.models import resnet18",
  "net = resnet18(num_classes=2)",
  "net.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)",
  "net.maxpool = nn.Identity()",
].join("\n");

const work = Deno.makeTempDirSync({ prefix: "resnet-interchange-" });
const QUICKSTART = join(ROOT, "configs/quickstart.yaml");

/** Trains the tiny quickstart (two steps) with `arch`; returns the run folder. */
async function trainTiny(arch: string, dir: string): Promise<string> {
  const loaded = loadConfig(QUICKSTART, [...TINY_RUN, `model.arch=${arch}`, "train.batch_size=4"]);
  const { runDir, interrupted } = await runExperiment(loaded, { projectRoot: dir, quiet: true });
  assert(!interrupted, `${arch} run interrupted`);
  return runDir;
}

/** Each tensor's dtype name as the fixture writes it. */
function dtypeName(data: unknown): string {
  return data instanceof BigInt64Array ? "int64" : "float32";
}

/** Each tensor's key, shape, dtype and the sha256 of its bytes, in file order. */
function fingerprints(tensors: Map<string, StoredTensor>): [string, number[], string, string][] {
  return [...tensors].map(([k, t]) => [
    k,
    t.shape,
    t.dtype,
    createHash("sha256")
      .update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength))
      .digest("hex"),
  ]);
}

/** Probabilities of `runDir`'s model for `files` (the default runtime, as predict runs). */
async function probsOf(
  runDir: string,
  files: string[],
  priorCorrection = true,
): Promise<number[][]> {
  const run = await loadRun(runDir);
  try {
    return (await predictFiles(run, files, { priorCorrection })).map((r) => r.probs);
  } finally {
    run.model.params.dispose();
  }
}

/** Six 32×32 PNG cutouts of the synthetic sky to classify. */
async function cutouts(): Promise<string[]> {
  const dir = join(work, "sky");
  await writeSyntheticSky(dir, { ...DEFAULT_SKY, n: 6, size: 32, format: "png", force: true });
  return [...Deno.readDirSync(join(dir, "cutouts"))].map((e) => join(dir, "cutouts", e.name))
    .sort();
}

const resnetRun = await trainTiny("resnet18", join(work, "resnet"));
const exported = join(work, "resnet18.safetensors");

/** `deno task export` of the resnet18 run to {@link exported} (once); returns its stderr. */
function exportResnet(): string {
  if (exists(exported)) return "";
  const args = ["--model", resnetRun, "--format", "safetensors", "--out", exported];
  const r = runScript("experiments/export.ts", args);
  assertEquals(r.code, 0, r.stderr);
  return r.stderr;
}

Deno.test({
  name:
    "resnet18: deno task export writes torchvision's keys, shapes and recipe; import → predict gives the same probabilities bit for bit",
  fn: async () => {
    const stderr = exportResnet();
    assert(stderr.includes("torchvision's resnet18"), stderr);
    const { tensors, metadata } = decodeSafetensors(Deno.readFileSync(exported), exported);
    assertEquals(
      [...tensors].map(([k, t]) => [k, t.shape, dtypeName(t.data)]),
      TORCHVISION_KEYS,
    );
    assertEquals(metadata["torchvision.recipe"], RECIPE);
    const record = readRunRecord(resnetRun);
    assertEquals(JSON.parse(metadata["starmamba.model_config"]), record.model.config);
    assertEquals(JSON.parse(metadata["starmamba.class_names"]), ["galaxy", "star"]);
    assertEquals(JSON.parse(metadata["starmamba.config"]).model.arch, "resnet18");
    // conv1: starmamba stores HWIO, torchvision (out, in, kh, kw): element [o=5][i=1][1][2].
    const run = await loadRun(resnetRun);
    const hwio = run.model.params.get("conv1.weight").dataSync();
    run.model.params.dispose();
    const oihw = tensors.get("conv1.weight")!.data as Float32Array;
    assertEquals(oihw[((5 * 3 + 1) * 3 + 1) * 3 + 2], hwio[((1 * 3 + 2) * 3 + 1) * 64 + 5]);

    // The file carries its run's config: no --config.
    const imported = join(work, "imported");
    const im = runScript("experiments/import.ts", [exported, "--out", imported]);
    assertEquals(im.code, 0, im.stderr);
    const back = readRunRecord(imported);
    assertEquals(back.model.arch, "resnet18");
    assertEquals(back.model.config, record.model.config);
    const files = await cutouts();
    const want = await probsOf(resnetRun, files);
    assertEquals(await probsOf(imported, files), want);

    // Exported again, every tensor is the same bytes.
    const again = join(work, "again.safetensors");
    assertEquals(
      runScript("experiments/export.ts", ["--model", imported, "--out", again]).code,
      0,
    );
    const second = decodeSafetensors(Deno.readFileSync(again), again).tensors;
    assertEquals(fingerprints(second), fingerprints(tensors));
  },
});

Deno.test({
  name:
    "resnet18: a bare torchvision state_dict imports with a config saying model.arch resnet18 and the checkpoint's stem; else one line naming the key",
  fn: async () => {
    exportResnet();
    // torchvision's own file: the tensors, no starmamba metadata.
    const { tensors } = decodeSafetensors(Deno.readFileSync(exported), exported);
    const bare = join(work, "torchvision.safetensors");
    // (Read from our own file: float32 and int64 only, what the writer takes.)
    const state = tensors as unknown as Map<string, TensorToWrite>;
    Deno.writeFileSync(bare, encodeSafetensors(state, { format: "pt" }));
    const medmamba = runScript("experiments/import.ts", [bare, "--config", QUICKSTART]);
    assertOneLineError(
      medmamba,
      "torchvision ResNet-18 state_dict",
      'model.arch is "medmamba"',
      "model.arch: resnet18",
    );
    const arch = ["--set", "model.arch=resnet18"];
    const stem = runScript("experiments/import.ts", [
      bare,
      "--config",
      QUICKSTART,
      ...arch,
      "--set",
      "model.stem=imagenet",
    ]);
    assertOneLineError(stem, "model.stem: the checkpoint has small, the config imagenet");
    const grey = runScript("experiments/import.ts", [
      bare,
      "--config",
      QUICKSTART,
      ...arch,
      "--set",
      "data.channels=1",
    ]);
    assertOneLineError(grey, "data.channels: the checkpoint has 3, the config 1");
    const out = join(work, "from-torchvision");
    const ok = runScript("experiments/import.ts", [
      bare,
      "--config",
      QUICKSTART,
      ...arch,
      "--classes",
      "galaxy,star",
      "--out",
      out,
    ]);
    assertEquals(ok.code, 0, ok.stderr);
    const files = await cutouts();
    // A bare state_dict knows nothing of the run's training, so the network's own
    // probabilities: the run's without its prior correction.
    assertEquals(await probsOf(out, files), await probsOf(resnetRun, files, false));
  },
});

Deno.test("a convnet run's safetensors and ONNX exports are refused with one line naming the network", async () => {
  const convnet = await trainTiny("convnet", join(work, "convnet"));
  const st = runScript("experiments/export.ts", [
    "--model",
    convnet,
    "--out",
    join(work, "convnet.safetensors"),
  ]);
  assertOneLineError(st, '"convnet"', "medmamba and resnet18");
  const onnx = runScript("experiments/export.ts", [
    "--model",
    convnet,
    "--format",
    "onnx",
    "--out",
    join(work, "convnet.onnx"),
  ]);
  assertOneLineError(onnx, '"convnet"', "--format onnx", "medmamba and resnet18");
});

Deno.test("resnet18: deno task export --format onnx writes its graph; predict through it gives the default runtime's probabilities within 1e-5", async () => {
  const file = join(work, "resnet18.onnx");
  const r = runScript("experiments/export.ts", [
    "--model",
    resnetRun,
    "--format",
    "onnx",
    "--out",
    file,
  ]);
  assertEquals(r.code, 0, r.stderr);
  assert(r.stderr.includes("torchvision's resnet18"), r.stderr);
  const props = decodeModel(Deno.readFileSync(file)).metadata_props as {
    key: string;
    value: string;
  }[];
  const metadata = new Map(props.map((p) => [p.key, p.value]));
  assertEquals(metadata.get("torchvision.recipe"), RECIPE);
  assertEquals(JSON.parse(metadata.get("starmamba.class_names")!), ["galaxy", "star"]);
  const files = await cutouts();
  const run = await loadRun(resnetRun);
  try {
    const ours = await predictFiles(run, files, { batch: 4 });
    const viaOnnx = await predictFiles(run, files, {
      batch: 4,
      onnxModel: Deno.readFileSync(file),
    });
    assertAllClose(
      viaOnnx.flatMap((row) => row.probs),
      ours.flatMap((row) => row.probs),
      0,
      1e-5,
      "predict: onnx vs starmamba",
    );
  } finally {
    run.model.params.dispose();
  }
});

globalThis.addEventListener("unload", () => {
  try {
    Deno.removeSync(work, { recursive: true });
  } catch { /* already gone */ }
});
