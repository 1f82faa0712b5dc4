/**
 * The one data pipeline (lib/data/pipeline.ts): for the same images, predict feeds the network
 * the same bytes as training's evaluation (and deno task evaluate) does. A network that records
 * its input stands in for the trained one; everything else is the real code path — loadData and
 * train's predict() on the training side, predictFiles / predictCatalog on the other — for an
 * ImageFolder of ARIES-like cutouts and a catalogue of FITS cutouts, with display stretches,
 * centre crops and field context in both context modes.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import sharp from "sharp";
import { join } from "node:path";
import { assert, assertEquals, assertRejects, assertThrows } from "../lib/util/assert.ts";
import { loadConfig } from "../lib/config/load.ts";
import { type FieldSpec, SCHEMA, type SectionSpec } from "../lib/config/schema.ts";
import type { Dataset } from "../lib/data/types.ts";
import { type ContextSource, loadData, preprocess } from "../lib/data/pipeline.ts";
import { DATA_SOURCES, dataSource, readCutouts } from "../lib/data/sources.ts";
import { writeFitsFloat32 } from "../lib/data/fits.ts";
import type { Network } from "../lib/model/network.ts";
import { predict, predictSettings } from "../lib/train/predict.ts";
import {
  type LoadedRun,
  predictCatalog,
  predictFiles,
  predictionInputs,
} from "../lib/experiment/predict.ts";
import { StarmambaError } from "../lib/util/errors.ts";
import { rng } from "../lib/util/rng.ts";

await tf.setBackend("cpu");

/** A stand-in network: records every input batch it is given (as bytes), answers 50/50. */
function recorder(ds: Pick<Dataset, "channels" | "height">): { net: Network; seen: Uint8Array[] } {
  const seen: Uint8Array[] = [];
  const net = {
    arch: "recorder",
    config: { in_channels: ds.channels, num_classes: 2, image_size: ds.height },
    forward(x: tf.Tensor4D) {
      seen.push(new Uint8Array((x.dataSync() as Float32Array).slice().buffer));
      return tf.zeros([x.shape[0], 2]) as tf.Tensor2D;
    },
  } as unknown as Network;
  return { net, seen };
}

/** All recorded batches, concatenated. */
function bytesOf(seen: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(seen.reduce((s, b) => s + b.length, 0));
  let at = 0;
  for (const b of seen) out.set(b, (at += b.length) - b.length);
  return out;
}

type Loaded = ReturnType<typeof loadConfig>;

/** What training's evaluation feeds the network: loadData, then train's predict() on every image. */
async function trainingBytes(
  loaded: Loaded,
  context: ContextSource = "frame",
): Promise<{ bytes: Uint8Array; ds: Dataset }> {
  const ds = await loadData(loaded.config, loaded.path, true, context);
  const { net, seen } = recorder(ds);
  predict(net, ds, [...Array(ds.n).keys()], predictSettings(loaded.config));
  return { bytes: bytesOf(seen), ds };
}

/** A loaded run around the recording network, as loadRun would give it. */
function runOf(loaded: Loaded, ds: Dataset): { run: LoadedRun; seen: Uint8Array[] } {
  const { net, seen } = recorder(ds);
  const run: LoadedRun = {
    model: net,
    config: loaded.config,
    classNames: ds.classNames,
    positive: 0,
    result: {} as LoadedRun["result"],
    dir: "",
  };
  return { run, seen };
}

/** Frames FA (9 cutouts), FB (5), FC (2): ARIES-style names `<frame>_<x>_<y>_<code>`. */
const FRAMES: [string, number, number][] = [["FA", 9, 20], ["FB", 5, 60], ["FC", 2, 35]];
const SIZE = 64;

/** A cutout's pixels (SIZE², 0..255): a Gaussian blob (wide for galaxies) on a frame's sky. */
function blob(galaxy: boolean, seed: number, sky: number): number[] {
  const r = rng(seed, "cutout");
  const s = galaxy ? 6 : 1.5, px: number[] = [];
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      const d2 = (x - SIZE / 2 - 0.3) ** 2 + (y - SIZE / 2) ** 2;
      px.push(Math.min(255, Math.round(sky + 180 * Math.exp(-d2 / (2 * s * s)) + 30 * r.next())));
    }
  }
  return px;
}

const work = Deno.makeTempDirSync();
/** Relative paths (class/name) of the cutouts, in ImageFolder order, and their frames. */
const names: { rel: string; frame: string; px: number[] }[] = [];
let k = 0;
for (const [frame, n, sky] of FRAMES) {
  for (let i = 0; i < n; i++) {
    const cls = i % 2 === 0 ? "galaxy" : "star";
    const rel = `${cls}/${frame}_${10 + i}_${20 + i}_${cls === "galaxy" ? 3 : 6}`;
    names.push({ rel, frame, px: blob(cls === "galaxy", 7 * k++ + 1, sky) });
  }
}
names.sort((a, b) => (a.rel < b.rel ? -1 : 1));
// The ImageFolder: grey PNGs stored as RGB, as the ARIES cutouts are.
for (const c of names) {
  Deno.mkdirSync(join(work, "folder", c.rel.split("/")[0]), { recursive: true });
  const rgb = Uint8Array.from(c.px.flatMap((v) => [v, v, v]));
  await sharp(rgb, { raw: { width: SIZE, height: SIZE, channels: 3 } }).png()
    .toFile(join(work, "folder", `${c.rel}.png`));
}
// The catalogue: FITS cutouts in physical units (counts), bottom row first, with a frame column.
for (const c of names) {
  Deno.mkdirSync(join(work, "sky", c.rel.split("/")[0]), { recursive: true });
  const counts = new Float32Array(SIZE * SIZE);
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) counts[(SIZE - 1 - y) * SIZE + x] = 40 * c.px[y * SIZE + x] + 7;
  }
  Deno.writeFileSync(join(work, "sky", `${c.rel}.fits`), writeFitsFloat32(SIZE, SIZE, counts));
}
Deno.writeTextFileSync(
  join(work, "sky", "sources.csv"),
  ["path,label,frame", ...names.map((c) => `${c.rel}.fits,${c.rel.split("/")[0]},${c.frame}`)]
    .join("\n") + "\n",
);

/** A config in the work folder (relative data.root / data.catalog start there). */
function config(name: string, data: Record<string, unknown>): Loaded {
  const path = join(work, `${name}.yaml`);
  Deno.writeTextFileSync(
    path,
    JSON.stringify({
      experiment: name,
      data: { size: SIZE, channels: 3, ...data },
      train: { eval_batch_size: 6 },
      augment: { grayscale_p: 0, normalize_mean: 0.4, normalize_std: 0.3 },
    }),
  );
  return loadConfig(path);
}

const FOLDER_CTX = {
  source: "folder",
  root: "folder",
  center_crop: 32,
  field_context: true,
  stretch: "asinh",
  stretch_percentile: 99.5,
};
const CATALOG_CTX = {
  source: "catalog",
  catalog: "sky/sources.csv",
  center_crop: 32,
  field_context: true,
  stretch: "asinh",
  asinh_a: 0.05,
};
const quietly = { warn: () => {} };
const folderFiles = names.map((c) => join(work, "folder", `${c.rel}.png`));
const fitsFiles = names.map((c) => join(work, "sky", `${c.rel}.fits`));

Deno.test("pipeline: predict feeds the network training's bytes — ImageFolder, asinh stretch, crop, field context frame and single", async () => {
  const loaded = config("folder-ctx", FOLDER_CTX);
  for (const context of ["frame", "single"] as const) {
    const { bytes, ds } = await trainingBytes(loaded, context);
    assertEquals(ds.files, names.map((c) => `${c.rel}.png`));
    assertEquals([ds.n, ds.height, ds.channels], [names.length, 32, 3]);
    const { run, seen } = runOf(loaded, ds);
    await predictFiles(run, folderFiles, { context, ...quietly });
    const got = bytesOf(seen);
    assertEquals(got.length, bytes.length, context);
    assert(got.every((b, i) => b === bytes[i]), `context ${context}: predict's input differs`);
  }
  // The premise: the comparison sees each step (frame ≠ single; the stretch matters).
  const frame = (await trainingBytes(loaded, "frame")).bytes;
  const single = (await trainingBytes(loaded, "single")).bytes;
  assert(frame.some((b, i) => b !== single[i]), "frame and single context should differ");
  const plain = (await trainingBytes(config("folder-id", { ...FOLDER_CTX, stretch: "identity" })))
    .bytes;
  assert(frame.some((b, i) => b !== plain[i]), "the stretch should change the input");
});

Deno.test("pipeline: predict feeds training's bytes — one channel, zscale, no crop or context, any batch size", async () => {
  const loaded = config("folder-grey", {
    source: "folder",
    root: "folder",
    channels: 1,
    stretch: "zscale",
  });
  const { bytes, ds } = await trainingBytes(loaded);
  assertEquals([ds.height, ds.channels], [SIZE, 1]);
  for (const batch of [1, 4, 100]) {
    const { run, seen } = runOf(loaded, ds);
    await predictFiles(run, folderFiles, { batch });
    const got = bytesOf(seen);
    assert(
      got.length === bytes.length && got.every((b, i) => b === bytes[i]),
      `batch ${batch}: predict's input differs`,
    );
  }
});

Deno.test("pipeline: FITS catalogue (asinh, crop, field context) — predict --catalog and predict on the files feed training's bytes", async () => {
  const loaded = config("sky-ctx", CATALOG_CTX);
  for (const context of ["frame", "single"] as const) {
    const { bytes, ds } = await trainingBytes(loaded, context);
    assertEquals(ds.frames, names.map((c) => c.frame));
    const same = (seen: Uint8Array[], what: string) => {
      const got = bytesOf(seen);
      assert(
        got.length === bytes.length && got.every((b, i) => b === bytes[i]),
        `${what}, context ${context}: predict's input differs`,
      );
    };
    const cat = runOf(loaded, ds);
    let frames: ReadonlyMap<string, number> | null = null;
    await predictCatalog(cat.run, join(work, "sky", "sources.csv"), {
      context,
      ...quietly,
      onFrames: (c) => frames = c,
    });
    same(cat.seen, "predict --catalog");
    if (context === "frame") assertEquals(frames, new Map([["FA", 9], ["FB", 5], ["FC", 2]]));
    // Given as files, the frames come from the ARIES-style names: the same frames.
    const files = runOf(loaded, ds);
    await predictFiles(files.run, fitsFiles, { context, ...quietly });
    same(files.seen, "predict on FITS files");
  }
});

Deno.test("pipeline: predictionInputs is preprocess over the source's decode: the same images as loadData, before normalisation", async () => {
  const loaded = config("folder-ctx", FOLDER_CTX);
  const ds = await loadData(loaded.config, loaded.path, true);
  const { run } = runOf(loaded, ds);
  const inputs = await predictionInputs(run, folderFiles, quietly);
  assertEquals(inputs.images, ds.images);
  // A step left out (no crop; no context) is seen at once.
  const raw = await readCutouts(loaded.config.data, folderFiles, {
    resize: false,
    classNames: ds.classNames,
  });
  const noCrop = preprocess({ ...loaded.config.data, center_crop: null }, raw).dataset;
  assert(noCrop.height !== ds.height);
  const noCtx = preprocess({ ...loaded.config.data, field_context: false }, raw).dataset;
  assert(
    noCtx.images.length === ds.images.length && noCtx.images.some((v, i) => v !== ds.images[i]),
  );
});

Deno.test("data sources: one per schema data.source value, each loads by name; an unknown name lists them", async () => {
  const data = SCHEMA.data as SectionSpec;
  const values = (data.source as FieldSpec).values ?? [];
  assertEquals(Object.keys(DATA_SOURCES).sort(), [...values].sort());
  const folder = config("folder-ctx", FOLDER_CTX).config.data;
  assertEquals(dataSource(folder), DATA_SOURCES.folder);
  assertEquals(DATA_SOURCES.folder.root(folder, work), join(work, "folder"));
  const catalog = config("sky-ctx", CATALOG_CTX).config.data;
  assertEquals(DATA_SOURCES.catalog.root(catalog, work), join(work, "sky"));
  assertEquals(DATA_SOURCES.synthetic.root(folder, work), null);
  assertThrows(
    () => dataSource({ source: "frames" as never }),
    StarmambaError,
    'data.source: "frames" is not a data source; use one of synthetic, folder, catalog',
  );
  assertThrows(() => dataSource({ source: "toString" as never }), StarmambaError);
  // The folder source keeps its own refusal of catalogue-only groupings.
  await assertRejects(
    () => DATA_SOURCES.folder.load({ ...folder, group_by: "sky" }, { configDir: work }),
    StarmambaError,
    "data.group_by: sky needs positions or columns from a catalogue",
  );
});
