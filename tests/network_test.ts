/**
 * Networks by name (lib/model/registry.ts): MedMamba is one entry of the registry, an unknown
 * `model.arch` is one error listing the names, and a network registered here alone (a pooled
 * linear classifier, in this file only) trains through the real trainer and runner, is recorded
 * as such in model.json and result.json, and is rebuilt by predict and evaluate — while export
 * and import, whose layout is MedMamba's, refuse it by name.
 */
import * as tf from "@tensorflow/tfjs-core";
import sharp from "sharp";
import { join } from "node:path";
import {
  assert,
  assertAllClose,
  assertEquals,
  assertRejects,
  assertThrows,
} from "../lib/util/assert.ts";
import { loadConfig } from "../lib/config/load.ts";
import { setupBackend } from "../lib/backends/setup.ts";
import { modelConfig } from "../lib/model/config.ts";
import { buildMedMamba, MEDMAMBA_ENTRY } from "../lib/model/medmamba.ts";
import type { NetworkEntry, NetworkShape } from "../lib/model/network.ts";
import { ParamStore } from "../lib/model/params.ts";
import {
  createNetwork,
  networkFor,
  networkNames,
  NETWORKS,
  registerNetwork,
  storedNetwork,
} from "../lib/model/registry.ts";
import { runExperiment } from "../lib/experiment/run.ts";
import { loadRun, predictFiles } from "../lib/experiment/predict.ts";
import { evaluateRun } from "../lib/experiment/evaluate.ts";
import { exportSafetensors, importSafetensors } from "../lib/experiment/interchange.ts";
import { parseCsv } from "../lib/results/write.ts";
import { RELEASED, REPO_ROOT } from "../lib/registry/released.ts";
import { describeReleased } from "../lib/registry/describe.ts";
import { StarmambaError } from "../lib/util/errors.ts";
import { rng } from "../lib/util/rng.ts";
import { assertOneLineError, ROOT, runScript, TINY_RUN } from "./permissions.ts";

/** The test network's config: the data's shape and nothing else. */
type PoolConfig = NetworkShape;

/** Its registry name. */
const POOL = "pool-linear-test";

/**
 * A network of this test only: global average pool → linear head, and one piece of state that
 * is not trained (`seen`, the number of training passes, committed by the trainer as BatchNorm
 * statistics are), so that what the trainer does with state is visible in the saved weights.
 */
const POOL_ENTRY: NetworkEntry<PoolConfig> = {
  doc: "test only: global average pool, then a linear head",
  configFor: (_model, shape) => ({ ...shape }),
  create(config, seed) {
    const ps = new ParamStore();
    const r = rng(seed, "init");
    const c = config.in_channels, k = config.num_classes;
    ps.add("head.weight", [c, k], Float32Array.from({ length: c * k }, () => r.uniform(-1, 1)));
    ps.add("head.bias", [k], new Float32Array(k));
    ps.add("seen", [1], new Float32Array(1), false);
    return {
      arch: POOL,
      config,
      params: ps,
      forward(x, ctx) {
        if (ctx.training) {
          const seen = ps.get("seen");
          ctx.bnUpdates.push({ variable: seen, value: tf.keep(tf.add(seen, 1)) });
        }
        const pooled = tf.mean(x, [1, 2]) as tf.Tensor2D;
        return tf.add(tf.matMul(pooled, ps.get("head.weight")), ps.get("head.bias"));
      },
    };
  },
  label: () => "pool-linear",
  summary: (_config, parameters) => `pooled linear classifier, ${parameters} parameters`,
  paper: "none (a test network)",
};

/** A 32×32 RGB cutout: a Gaussian blob (wide for galaxies, point-like for stars) on noise. */
async function writeCutout(path: string, galaxy: boolean, seed: number): Promise<void> {
  const size = 32, r = rng(seed, "cutout"), s = galaxy ? 5 : 1.2;
  const px = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const d2 = (x - size / 2) ** 2 + (y - size / 2) ** 2;
      const v = Math.min(255, Math.round(20 + 200 * Math.exp(-d2 / (2 * s * s)) + 10 * r.next()));
      px.fill(v, 3 * (y * size + x), 3 * (y * size + x) + 3);
    }
  }
  await sharp(px, { raw: { width: size, height: size, channels: 3 } }).png().toFile(path);
}

const work = Deno.makeTempDirSync();
const data = join(work, "data");
for (const cls of ["galaxy", "star"]) {
  Deno.mkdirSync(join(data, cls), { recursive: true });
  for (let i = 0; i < 16; i++) {
    await writeCutout(
      join(data, cls, `${cls}_${i}.png`),
      cls === "galaxy",
      i + (cls === "star" ? 100 : 0),
    );
  }
}

/** The tiny quickstart on the folder above, with `sets` applied last. */
function folderConfig(sets: string[]) {
  return loadConfig(join(ROOT, "configs/quickstart.yaml"), [
    ...TINY_RUN,
    "data.source=folder",
    `data.root=${JSON.stringify(data)}`,
    ...sets,
  ]);
}

const readJson = (path: string) => JSON.parse(Deno.readTextFileSync(path));

Deno.test("the registry: MedMamba is an entry; createNetwork builds what buildMedMamba builds, bit for bit", async () => {
  await setupBackend("cpu");
  assert(networkNames().includes("medmamba"), networkNames().join());
  assert(NETWORKS.medmamba === MEDMAMBA_ENTRY);
  const config = modelConfig("cpu", { dim: 8, depths: [1, 1, 1, 1], image_size: 32 });
  const a = createNetwork({ arch: "medmamba", config }, 7);
  const b = buildMedMamba(config, 7);
  try {
    assertEquals(a.arch, "medmamba");
    assertEquals([...a.params.params.keys()], [...b.params.params.keys()]);
    for (const [name, p] of a.params.params) {
      const q = b.params.params.get(name)!;
      assertEquals(p.trainable, q.trainable, name);
      assertEquals(p.variable.dataSync(), q.variable.dataSync(), name);
    }
  } finally {
    a.params.dispose();
    b.params.dispose();
  }
  // An experiment's model section (every preset and switch) and the data's shape give the config.
  const section = folderConfig(["model.preset=tiny", "model.head_norm=true"]).config.model;
  const d = networkFor(section, { in_channels: 1, num_classes: 3, image_size: 64 });
  assertEquals(d.arch, "medmamba");
  assertEquals<unknown>(d.config, {
    ...modelConfig("tiny"),
    dim: 8,
    depths: [1, 1, 1, 1],
    patch_size: 2,
    head_norm: true,
    in_channels: 1,
    num_classes: 3,
    image_size: 64,
  });
});

Deno.test("an unknown arch: one StarmambaError naming where it came from and every network", () => {
  const e = assertThrows(
    () => createNetwork({ arch: "resnet-nope", config: modelConfig("cpu") }, 1),
    StarmambaError,
  );
  assert(e.message.includes('"resnet-nope"') && e.message.includes("medmamba"), e.message);
  // model.json of a network this version lacks: named, with what to do.
  const f = assertThrows(
    () => storedNetwork({ arch: "resnet-nope", modelConfig: {} }, "x/model/model.json"),
    StarmambaError,
  );
  assert(f.message.startsWith("x/model/model.json: ") && f.message.includes("commit"), f.message);
});

Deno.test("deno task experiment with an unknown model.arch: exit 2, one line naming the file, the key and the networks", () => {
  const r = runScript("experiments/experiment.ts", [
    "configs/quickstart.yaml",
    "--quiet",
    "--set",
    "model.arch=resnet-nope",
    "--set",
    `output.scratch_dir=${join(work, "never")}`,
  ]);
  assertOneLineError(r, "quickstart.yaml", "model.arch", '"resnet-nope"', "medmamba");
});

Deno.test("model.json without arch (every published run) is MedMamba, and loads", async () => {
  assertEquals(
    storedNetwork({ modelConfig: modelConfig("cpu") }, "m.json"),
    { arch: "medmamba", config: modelConfig("cpu") },
  );
  const m = RELEASED.find((x) => describeReleased(x).bytes !== null);
  assert(m, "no released model with its weights in the checkout");
  const meta = readJson(join(REPO_ROOT, m.run, "model", "model.json"));
  assertEquals(meta.arch, undefined, "published model.json files are left as they were");
  const run = await loadRun(m.name);
  try {
    assertEquals(run.model.arch, "medmamba");
    assertEquals(run.model.config, meta.modelConfig);
  } finally {
    run.model.params.dispose();
  }
  assertEquals(describeReleased(m).arch, "medmamba");
});

Deno.test("a network registered in one file trains through the runner; model.json and result.json record it; predict and evaluate rebuild it; export refuses it", async () => {
  const unregister = registerNetwork(POOL, POOL_ENTRY);
  try {
    assertThrows(() => registerNetwork(POOL, POOL_ENTRY), StarmambaError, "already");
    // Two steps (16 per batch, steps_per_epoch 2) of one epoch.
    const trained = await runExperiment(
      folderConfig([`model.arch=${POOL}`, "train.batch_size=8"]),
      { projectRoot: work, quiet: true },
    );
    const result = trained.result as {
      model: { arch: string; config: unknown; parameters: number };
    };
    assertEquals(result.model.arch, POOL);
    assertEquals(result.model.config, { in_channels: 3, num_classes: 2, image_size: 32 });
    assertEquals(result.model.parameters, 3 * 2 + 2);
    const meta = readJson(join(trained.runDir, "model", "model.json"));
    assertEquals(meta.arch, POOL);
    assertEquals(meta.modelConfig, result.model.config);

    const run = await loadRun(trained.runDir);
    try {
      assertEquals(run.model.arch, POOL);
      // The state the trainer committed once per training step was saved with the weights.
      assertEquals(Array.from(run.model.params.get("seen").dataSync()), [2]);
      // predict on the image files gives the run's own validation probabilities.
      const rows = parseCsv(Deno.readTextFileSync(join(trained.runDir, "predictions.csv")));
      const iFile = rows[0].indexOf("file"), iP = rows[0].indexOf("p_galaxy");
      const val = rows.slice(1).filter((r) => r.length === rows[0].length);
      assert(val.length >= 4, `validation rows: ${val.length}`);
      const out = await predictFiles(run, val.map((r) => join(data, r[iFile])));
      assertAllClose(out.map((o) => o.probs[0]), val.map((r) => Number(r[iP])), 0, 1e-6);
    } finally {
      run.model.params.dispose();
    }
    const ev = await evaluateRun(trained.runDir, { tta: false, dataRoot: data });
    const best = (trained.result as { best: { metrics: { accuracy: number } } }).best;
    assertEquals(ev.metrics.accuracy, best.metrics.accuracy);

    // The safetensors and ONNX layouts are MedMamba's: refused, naming the network.
    const out = join(work, "pool.safetensors");
    const e = await assertRejects(() => exportSafetensors(trained.runDir, out), StarmambaError);
    assert(e.message.includes(`"${POOL}"`) && e.message.includes("medmamba"), e.message);
    assert(!e.message.includes("\n"), e.message);
  } finally {
    unregister();
  }
  assert(!networkNames().includes(POOL), "the test's network is unregistered again");
});

Deno.test("a MedMamba run records arch medmamba; import refuses a config naming another network", async () => {
  const unregister = registerNetwork(POOL, POOL_ENTRY);
  try {
    const trained = await runExperiment(folderConfig([]), { projectRoot: work, quiet: true });
    assertEquals((trained.result as { model: { arch: string } }).model.arch, "medmamba");
    assertEquals(readJson(join(trained.runDir, "model", "model.json")).arch, "medmamba");
    const file = join(work, "medmamba.safetensors");
    await exportSafetensors(trained.runDir, file);
    const e = await assertRejects(
      () => importSafetensors(file, folderConfig([`model.arch=${POOL}`])),
      StarmambaError,
    );
    assert(e.message.includes(`"${POOL}"`) && e.message.includes("model.arch"), e.message);
    const runDir = await importSafetensors(file, folderConfig([]), { outDir: join(work, "imp") });
    assertEquals(readJson(join(runDir, "result.json")).model.arch, "medmamba");
    assertEquals(readJson(join(runDir, "model", "model.json")).arch, "medmamba");
  } finally {
    unregister();
  }
});
