/**
 * Tests of the ImageFolder loader (on the real ARIES cutouts when present, and on small
 * synthetic folders written with sharp) and of the random / grouped / k-fold splits.
 */
import sharp from "sharp";
import { createHash } from "node:crypto";
import * as path from "node:path";
import {
  assert,
  assertEquals,
  assertNotEquals,
  assertRejects,
  assertThrows,
} from "../lib/util/assert.ts";
import { StarmambaError } from "../lib/util/errors.ts";
import {
  type ImageFolderOptions,
  lastLoadUsedCache,
  loadImageFolder,
  resolveDataRoot,
} from "../lib/data/imagefolder.ts";
import {
  groupedSplit,
  kfoldSplits,
  randomSplit,
  skyGroupOf,
  type Split,
  verifyNoGroupLeak,
} from "../lib/data/splits.ts";
import { ARIES, HAVE_ARIES } from "./aries.ts";

// ---------------------------------------------------------------------------------------------
// Locating the real data

const IGNORE_REASON = HAVE_ARIES ? "" : ` [ignored: ARIES data not found at ${ARIES}]`;

/** ARIES file list and labels straight from the folders (no decoding), in ImageFolder order. */
function ariesListing(): { files: string[]; labels: number[] } {
  const files: string[] = [];
  const labels: number[] = [];
  ["galaxy", "star"].forEach((cls, c) => {
    const names = [...Deno.readDirSync(path.join(ARIES, cls))].map((e) => e.name).sort();
    for (const name of names) {
      files.push(`${cls}/${name}`);
      labels.push(c);
    }
  });
  return { files, labels };
}

const sha256 = (bytes: Uint8Array | string): string =>
  createHash("sha256").update(bytes).digest("hex");

/** Independent fingerprint: sha256 of "<sha256>  <path>\n" lines, paths sorted. */
function manifestFingerprint(root: string, files: string[]): string {
  const lines = [...files].sort().map((f) =>
    `${sha256(Deno.readFileSync(path.join(root, f)))}  ${f}\n`
  );
  return sha256(lines.join(""));
}

// ---------------------------------------------------------------------------------------------
// Synthetic folders

/** Writes an 8-bit image from raw interleaved pixels; the format follows the extension. */
async function writeImage(
  file: string,
  width: number,
  height: number,
  channels: 1 | 3,
  pixels: Uint8Array,
): Promise<void> {
  await Deno.mkdir(path.dirname(file), { recursive: true });
  const img = sharp(pixels, { raw: { width, height, channels } });
  const ext = path.extname(file).toLowerCase();
  if (ext === ".png") await img.png().toFile(file);
  else if (ext === ".jpg" || ext === ".jpeg") await img.jpeg({ quality: 95 }).toFile(file);
  else if (ext === ".webp") await img.webp({ lossless: true }).toFile(file);
  else if (ext === ".tif" || ext === ".tiff") await img.tiff({ compression: "lzw" }).toFile(file);
  else throw new Error(`writeImage: no encoder for ${ext}`);
}

/** Deterministic pixel pattern so each test image is distinguishable. */
function pattern(n: number, salt: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 37 + salt * 101) % 256);
}

/** Runs `fn` with a fresh temp folder, removed afterwards. */
async function withTemp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "starmamba_data_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function opts(root: string, cacheDir: string, over: Partial<ImageFolderOptions> = {}) {
  return {
    root,
    size: 8,
    channels: 3 as const,
    resize: "reject" as const,
    onBadFile: "error" as const,
    cacheDir,
    ...over,
  };
}

/** Two classes "a" and "b" of small 8×8 PNGs with known pixels. */
async function writeGoodFolder(root: string): Promise<Map<string, Uint8Array>> {
  const written = new Map<string, Uint8Array>();
  const specs: [string, 1 | 3][] = [
    ["a/x2.png", 3],
    ["a/X1.png", 3], // upper case sorts first (code-unit order)
    ["a/y.PNG", 1],
    ["b/k.png", 1],
    ["b/m.webp", 3],
    ["b/t.tif", 3],
  ];
  for (const [i, [rel, ch]] of specs.entries()) {
    const px = pattern(8 * 8 * ch, i);
    await writeImage(path.join(root, rel), 8, 8, ch, px);
    written.set(rel, px);
  }
  return written;
}

// ---------------------------------------------------------------------------------------------
// ARIES

Deno.test({
  name:
    `ARIES: loads 3986 images, fingerprint = sha256(SHA256SUMS), second load hits the cache${IGNORE_REASON}`,
  ignore: !HAVE_ARIES,
  fn: async () => {
    await withTemp(async (cacheDir) => {
      const o = opts(ARIES, cacheDir, { size: 64, channels: 3 });
      let calls = 0, lastDone = 0;
      const first = await loadImageFolder({
        ...o,
        progress: (done, total) => {
          assert(done > lastDone && total === 3986, `progress ${done}/${total}`);
          lastDone = done;
          calls++;
        },
      });
      assertEquals(lastDone, 3986);
      assert(calls > 1);
      assertEquals(first.fromCache, false);
      assertEquals(lastLoadUsedCache(), false);
      assertEquals(first.n, 3986);
      assertEquals(first.classNames, ["galaxy", "star"]);
      assertEquals([first.height, first.width, first.channels], [64, 64, 3]);
      assertEquals(first.images.length, 3986 * 64 * 64 * 3);
      assertEquals(first.labels.filter((l) => l === 0).length, 942);
      assertEquals(first.labels.filter((l) => l === 1).length, 3044);
      assertEquals(first.skipped, []);

      // Values: 8-bit levels k/255 in [0, 1], grey replicated to R = G = B.
      let min = Infinity, max = -Infinity, offGrid = 0, notGrey = 0;
      const im = first.images;
      for (let i = 0; i < im.length; i += 3) {
        const v = im[i];
        if (v < min) min = v;
        if (v > max) max = v;
        if (Math.fround(Math.round(v * 255) / 255) !== v) offGrid++;
        if (im[i + 1] !== v || im[i + 2] !== v) notGrey++;
      }
      assert(min >= 0 && max <= 1 && max > 0.5, `range [${min}, ${max}]`);
      assertEquals([offGrid, notGrey], [0, 0]);

      // The SHA256SUMS file lists exactly these files in this order, and the fingerprint is its
      // sha256 (the README states d1feb077…).
      const sums = Deno.readFileSync(path.join(ARIES, "SHA256SUMS"));
      const listed = new TextDecoder().decode(sums).trim().split("\n").map((l) => l.slice(66));
      assertEquals(first.files, listed);
      assertEquals(first.fingerprint, sha256(sums));
      assertEquals(
        first.fingerprint,
        "d1feb077c77692e56ce25ddc733e6a0b895f490d2f3e54b75e2fdab40561b517",
      );
      // Labels follow the folder of each file.
      first.files.forEach((f, i) => {
        if (first.labels[i] !== (f.startsWith("galaxy/") ? 0 : 1)) throw new Error(f);
      });

      // Pixels of a few images equal a direct decode at the image's NHWC offset.
      for (const i of [0, 941, 942, 3985]) {
        const { data } = await sharp(path.join(ARIES, first.files[i])).raw()
          .toBuffer({ resolveWithObject: true });
        const got = first.images.subarray(i * 64 * 64 * 3, (i + 1) * 64 * 64 * 3);
        for (let p = 0; p < got.length; p++) {
          if (got[p] !== Math.fround(data[p] / 255)) throw new Error(`image ${i} px ${p}`);
        }
      }

      const second = await loadImageFolder(o);
      assertEquals(second.fromCache, true);
      assertEquals(lastLoadUsedCache(), true);
      assertEquals(second.fingerprint, first.fingerprint);
      assertEquals(second.files, first.files);
      assertEquals(second.labels, first.labels);
      assert(
        Buffer.from(second.images.buffer).equals(Buffer.from(first.images.buffer)),
        "cached pixels differ from decoded pixels",
      );
    });
  },
});

Deno.test({
  name: `ARIES: file checksums match SHA256SUMS${IGNORE_REASON}`,
  ignore: !HAVE_ARIES,
  fn: () => {
    const lines = Deno.readTextFileSync(path.join(ARIES, "SHA256SUMS")).trim().split("\n");
    assertEquals(lines.length, 3986);
    for (const line of [lines[0], lines[500], lines[941], lines[942], lines[3985]]) {
      const [hash, file] = line.split("  ");
      assertEquals(sha256(Deno.readFileSync(path.join(ARIES, file))), hash, file);
    }
  },
});

Deno.test({
  name: `ARIES: README twin frames share a sky group; grouped split has no leak${IGNORE_REASON}`,
  ignore: !HAVE_ARIES,
  fn: () => {
    const { files, labels } = ariesListing();
    const keyOfFrame = (frame: string): Set<string> =>
      new Set(files.filter((f) => f.includes(`/${frame}_`)).map(skyGroupOf));
    const twins: [string, string, string][] = [
      ["J1530p2310_r_01", "J153044p231014_001_001", "J1530+2310"],
      ["j1612p5118_r_01", "J161245p511816_001_010", "J1612+5118"],
      ["J1252p2640_r_01_10", "J125219p264053_001_010", "J1252+2640"],
      ["J1603p3002_001_010", "J1603p3002_001_010", "J1603+3002"],
    ];
    for (const [a, b, key] of twins) {
      assertEquals([...keyOfFrame(a)], [key], a);
      assertEquals([...keyOfFrame(b)], [key], b);
    }
    const keys = new Set(files.map(skyGroupOf));
    assertEquals(keys.size, 24);

    const s = groupedSplit(labels, files, 0.2, 1);
    assertEquals(verifyNoGroupLeak(s, files), []);
    checkPartition(s, files.length);
    for (const [i, f] of files.entries()) {
      const side = s.groups[skyGroupOf(f)];
      if ((side === "val") !== s.val.includes(i)) throw new Error(`${f} not on its group's side`);
    }
    const valShare = s.val.length / files.length;
    const galaxyShare = s.val.filter((i) => labels[i] === 0).length / s.val.length;
    assert(Math.abs(valShare - 0.2) < 0.02, `val share ${valShare}`);
    assert(Math.abs(galaxyShare - 942 / 3986) < 0.02, `val galaxy share ${galaxyShare}`);
    assertEquals(groupedSplit(labels, files, 0.2, 1), s);

    // The random split leaks: most sky groups end up on both sides.
    assert(verifyNoGroupLeak(randomSplit(labels, 0.2, 1), files).length > 10);

    const r = randomSplit(labels, 0.2, 1);
    assertEquals(r.val.filter((i) => labels[i] === 0).length, Math.round(942 * 0.2));
    assertEquals(r.val.filter((i) => labels[i] === 1).length, Math.round(3044 * 0.2));

    const folds = kfoldSplits(labels, files, 5, 1, true);
    checkFolds(folds, files.length);
    for (const f of folds) assertEquals(verifyNoGroupLeak(f, files), []);
  },
});

// ---------------------------------------------------------------------------------------------
// Loader on synthetic folders

Deno.test("imagefolder: exact pixels, class/file order, channel conversion", async () => {
  await withTemp(async (dir) => {
    const root = path.join(dir, "data");
    const written = await writeGoodFolder(root);
    await Deno.writeTextFile(path.join(root, "README.txt"), "root-level files are ignored");
    await Deno.writeTextFile(path.join(root, "a", ".DS_Store"), "hidden files are ignored");
    const cache = path.join(dir, "cache");

    const d3 = await loadImageFolder(opts(root, cache));
    assertEquals(d3.classNames, ["a", "b"]);
    assertEquals(d3.files, ["a/X1.png", "a/x2.png", "a/y.PNG", "b/k.png", "b/m.webp", "b/t.tif"]);
    assertEquals([...d3.labels], [0, 0, 0, 1, 1, 1]);
    assertEquals(d3.fingerprint, manifestFingerprint(root, d3.files));
    const d1 = await loadImageFolder(opts(root, cache, { channels: 1 }));
    assertEquals(d1.fingerprint, d3.fingerprint);

    for (const [i, f] of d3.files.entries()) {
      const px = written.get(f)!;
      const ch = px.length / 64;
      for (let p = 0; p < 64; p++) {
        const rgb = ch === 1 ? [px[p], px[p], px[p]] : [px[3 * p], px[3 * p + 1], px[3 * p + 2]];
        for (let c = 0; c < 3; c++) {
          assertEquals(d3.images[(i * 64 + p) * 3 + c], Math.fround(rgb[c] / 255), `${f} ${p}`);
        }
        // Rec. 601 luma, computed here by hand.
        const [r, g, b] = rgb;
        const y = r === g && g === b ? r : 0.299 * r + 0.587 * g + 0.114 * b;
        assertEquals(d1.images[i * 64 + p], Math.fround(y / 255), `${f} ${p} luma`);
      }
    }
  });
});

Deno.test("imagefolder: resize policy (bilinear resize vs reject)", async () => {
  await withTemp(async (dir) => {
    const root = path.join(dir, "data");
    await writeImage(path.join(root, "a/flat.png"), 16, 16, 1, new Uint8Array(256).fill(200));
    // Horizontal ramp 4 px wide, upsampled to 8: rows stay equal and increase left to right.
    const ramp = Uint8Array.from({ length: 16 }, (_, i) => [0, 80, 160, 240][i % 4]);
    await writeImage(path.join(root, "b/ramp.png"), 4, 4, 1, ramp);
    const cache = path.join(dir, "cache");

    const e = await assertRejects(() => loadImageFolder(opts(root, cache)), StarmambaError);
    for (const s of ["a/flat.png: is 16x16, expected 8x8", "b/ramp.png: is 4x4", "data.resize"]) {
      assert(e.message.includes(s), `message lacks "${s}": ${e.message}`);
    }

    const d = await loadImageFolder(opts(root, cache, { channels: 1, resize: "resize" }));
    assertEquals(d.n, 2);
    for (let p = 0; p < 64; p++) assertEquals(d.images[p], Math.fround(200 / 255));
    const r = d.images.subarray(64, 128);
    for (let y = 0; y < 8; y++) {
      for (let x = 0; x < 8; x++) assertEquals(r[y * 8 + x], r[x], `row ${y} differs`);
    }
    for (let x = 1; x < 8; x++) assert(r[x] >= r[x - 1], `ramp not monotone at ${x}`);
    assert(r[0] < 0.1 && r[7] > 0.85, `ramp ends ${r[0]} ${r[7]}`);
  });
});

Deno.test("imagefolder: bad files → one error listing them; skip → loads and lists them", async () => {
  await withTemp(async (dir) => {
    const root = path.join(dir, "data");
    await writeGoodFolder(root);
    const jpg = path.join(root, "a/truncated.jpg");
    await writeImage(jpg, 8, 8, 3, pattern(192, 9));
    const bytes = await Deno.readFile(jpg);
    await Deno.writeFile(jpg, bytes.subarray(0, Math.floor(bytes.length / 2)));
    await Deno.writeTextFile(path.join(root, "b/garbage.JPG"), "this is not a jpeg");
    await Deno.writeTextFile(path.join(root, "b/notes.txt"), "stray");
    await writeImage(path.join(root, "b/big.png"), 12, 12, 1, pattern(144, 3));
    await Deno.mkdir(path.join(root, "c"));
    const cache = path.join(dir, "cache");

    const e = await assertRejects(() => loadImageFolder(opts(root, cache)), StarmambaError);
    assertEquals((e as StarmambaError).exitCode, 2);
    const listed = ["a/truncated.jpg", "b/big.png", "b/garbage.JPG", "b/notes.txt", "c/"];
    for (const f of listed) {
      assert(e.message.includes(`  ${f}: `), `not listed: ${f}\n${e.message}`);
    }
    assert(e.message.includes("has 5 problem(s)"), e.message);
    assert(e.message.includes("data.on_bad_file: skip"), e.message);

    // An empty class folder stops the load even under skip.
    const e2 = await assertRejects(
      () => loadImageFolder(opts(root, cache, { onBadFile: "skip" })),
      StarmambaError,
    );
    assert(e2.message.includes("c/: empty class folder"), e2.message);
    assert(!e2.message.includes("truncated.jpg"), "skippable files listed under skip");

    await Deno.remove(path.join(root, "c"));
    const d = await loadImageFolder(opts(root, cache, { onBadFile: "skip" }));
    assertEquals(d.skipped, listed.slice(0, 4));
    assertEquals(d.files, ["a/X1.png", "a/x2.png", "a/y.PNG", "b/k.png", "b/m.webp", "b/t.tif"]);
    assertEquals(d.n, 6);
    assertEquals(d.images.length, 6 * 8 * 8 * 3);
    assertEquals(d.fingerprint, manifestFingerprint(root, d.files));

    // The cache remembers the failures: skip hits it, error still reports them.
    const again = await loadImageFolder(opts(root, cache, { onBadFile: "skip" }));
    assertEquals([again.fromCache, again.skipped], [true, d.skipped]);
    assertEquals(again.images, d.images);
    const e3 = await assertRejects(() => loadImageFolder(opts(root, cache)), StarmambaError);
    assert(e3.message.includes("a/truncated.jpg"), e3.message);
  });
});

Deno.test("imagefolder: a JPEG cut inside its scan data is corrupt, not grey-padded", async () => {
  await withTemp(async (dir) => {
    const root = path.join(dir, "data");
    const noise = Uint8Array.from({ length: 64 * 64 }, (_, i) => (i * 7919) % 251);
    await writeImage(path.join(root, "a/ok.jpg"), 64, 64, 1, noise);
    await writeImage(path.join(root, "b/ok.jpg"), 64, 64, 1, noise);
    const full = await Deno.readFile(path.join(root, "a/ok.jpg"));
    // Headers are intact; only the tail of the entropy-coded data is missing, which libjpeg
    // reports as a warning and would otherwise fill with grey.
    await Deno.writeFile(path.join(root, "b/cut.jpg"), full.subarray(0, full.length * 0.8));
    const e = await assertRejects(
      () => loadImageFolder(opts(root, dir, { size: 64 })),
      StarmambaError,
      "b/cut.jpg: corrupt",
    );
    assert(!e.message.includes("ok.jpg"), e.message);
  });
});

Deno.test("imagefolder: long bad-file lists are cut at 20 plus a count", async () => {
  await withTemp(async (dir) => {
    const root = path.join(dir, "data");
    await writeGoodFolder(root);
    for (let i = 0; i < 25; i++) {
      await Deno.writeTextFile(path.join(root, `a/z${String(i).padStart(2, "0")}.txt`), "x");
    }
    const e = await assertRejects(() => loadImageFolder(opts(root, dir)), StarmambaError);
    assert(e.message.includes("a/z19.txt") && !e.message.includes("a/z20.txt"), e.message);
    assert(e.message.includes("... and 5 more"), e.message);
  });
});

Deno.test("imagefolder: missing root, too few classes, bad options", async () => {
  await withTemp(async (dir) => {
    const missing = path.join(dir, "nope");
    const e = await assertRejects(() => loadImageFolder(opts(missing, dir)), StarmambaError);
    for (const s of ["not found", missing, "10.34740/kaggle/ds/1396185", "aib12project4-re"]) {
      assert(e.message.includes(s), `lacks "${s}": ${e.message}`);
    }
    assert(e.message.includes("STARMAMBA_DATA") && e.message.includes("data.root"), e.message);

    const root = path.join(dir, "one");
    await writeImage(path.join(root, "only/x.png"), 8, 8, 1, pattern(64, 1));
    await assertRejects(() => loadImageFolder(opts(root, dir)), StarmambaError, "1 class folder");
    await assertRejects(
      () => loadImageFolder(opts(root, dir, { size: 0 })),
      StarmambaError,
      "size",
    );
  });
});

Deno.test("imagefolder: truncated, corrupted or unreadable cache files are rebuilt", async () => {
  await withTemp(async (dir) => {
    const root = path.join(dir, "data");
    await writeGoodFolder(root);
    const cache = path.join(dir, "cache");
    const o = opts(root, cache);
    const ref = await loadImageFolder(o);
    assertEquals(ref.fromCache, false);
    const f32 = ref.cacheFile!;
    const header = f32.replace(/\.f32$/, ".json");
    assertEquals((await Deno.stat(f32)).size, ref.images.byteLength);
    assertEquals((await loadImageFolder(o)).fromCache, true);

    const damage: [string, () => Promise<void>][] = [
      ["truncated data", () => Deno.truncate(f32, 100)],
      ["flipped byte", async () => {
        const b = await Deno.readFile(f32);
        b[b.length - 1] ^= 0xff;
        await Deno.writeFile(f32, b);
      }],
      ["garbage header", () => Deno.writeTextFile(header, "{not json")],
      ["missing data", () => Deno.remove(f32)],
    ];
    for (const [what, hurt] of damage) {
      await hurt();
      const d = await loadImageFolder(o);
      assertEquals(d.fromCache, false, what);
      assertEquals(d.images, ref.images, what);
      assertEquals((await loadImageFolder(o)).fromCache, true, `${what}: not rebuilt`);
    }
    // Settings that change the pixels use another entry; no temp files are left behind.
    assertEquals((await loadImageFolder({ ...o, channels: 1 })).fromCache, false);
    assertEquals((await loadImageFolder({ ...o, resize: "resize" })).fromCache, false);
    const left = [...Deno.readDirSync(cache)].map((e) => e.name);
    assertEquals(left.filter((n) => n.endsWith(".tmp")), []);
    assertEquals(left.length, 6);

    // Changing one image's bytes changes the fingerprint and misses the cache.
    await writeImage(path.join(root, "a/X1.png"), 8, 8, 3, pattern(192, 42));
    const changed = await loadImageFolder(o);
    assertEquals(changed.fromCache, false);
    assertNotEquals(changed.fingerprint, ref.fingerprint);
  });
});

Deno.test("resolveDataRoot: config path relative to its folder, else STARMAMBA_DATA", () => {
  const saved = Deno.env.get("STARMAMBA_DATA");
  try {
    Deno.env.set("STARMAMBA_DATA", "/from/env");
    assertEquals(resolveDataRoot("../data/aries", "/work/main/configs"), "/work/main/data/aries");
    assertEquals(resolveDataRoot("/abs/aries", "/work/main/configs"), "/abs/aries");
    assertEquals(resolveDataRoot(undefined, "/work/main/configs"), "/from/env");
    assertEquals(resolveDataRoot("", "/work/main/configs"), "/from/env");
    Deno.env.delete("STARMAMBA_DATA");
    const e = assertThrows(() => resolveDataRoot(undefined, "/cfg"), StarmambaError);
    assert(e.message.includes("10.34740/kaggle/ds/1396185"), e.message);
    assert(e.message.includes("STARMAMBA_DATA") && e.message.includes("data.root"), e.message);
  } finally {
    if (saved === undefined) Deno.env.delete("STARMAMBA_DATA");
    else Deno.env.set("STARMAMBA_DATA", saved);
  }
});

// ---------------------------------------------------------------------------------------------
// Splits

/** train and val are sorted, disjoint, and together 0..n-1. */
function checkPartition(s: Split, n: number): void {
  const sorted = (a: number[]): boolean => a.every((v, i) => i === 0 || a[i - 1] < v);
  assert(sorted(s.train) && sorted(s.val), "indices not sorted ascending");
  assertEquals(
    [...s.train, ...s.val].sort((a, b) => a - b),
    Array.from({ length: n }, (_, i) => i),
  );
}

/** Every index in exactly one val fold, and each train is that fold's complement. */
function checkFolds(folds: Split[], n: number): void {
  const seen = new Int32Array(n);
  for (const f of folds) {
    checkPartition(f, n);
    assert(f.val.length > 0, "empty fold");
    for (const i of f.val) seen[i]++;
  }
  assertEquals([...seen].filter((c) => c !== 1).length, 0);
}

/** 118 of class 0, 19 of class 1, 13 of class 2, partly interleaved. */
const LABELS = Array.from({ length: 150 }, (_, i) => (i < 39 ? i % 3 : i < 50 ? i % 2 : 0));

Deno.test("randomSplit: stratified sizes, seeded", () => {
  const count = (idx: number[], c: number): number => idx.filter((i) => LABELS[i] === c).length;
  const totals = [0, 1, 2].map((c) => LABELS.filter((l) => l === c).length);
  const s = randomSplit(LABELS, 0.25, 7);
  checkPartition(s, LABELS.length);
  for (const c of [0, 1, 2]) assertEquals(count(s.val, c), Math.round(totals[c] * 0.25));
  assertEquals(randomSplit(LABELS, 0.25, 7), s);
  assertNotEquals(randomSplit(LABELS, 0.25, 8), s);
  assertThrows(() => randomSplit(LABELS, 1, 7), StarmambaError, "between 0 and 1");
  assertThrows(() => randomSplit(LABELS, 0, 7), StarmambaError);
});

Deno.test("skyGroupOf: RA hhmm + sign + Dec ddmm, case-insensitive; named targets", () => {
  const cases: [string, string][] = [
    ["star/J1530p2310_r_01_512_77_6.jpg", "J1530+2310"],
    ["galaxy/J153044p231014_001_001_1200_35_3.jpg", "J1530+2310"],
    ["j1612p5118_r_01_1_2_6.jpg", "J1612+5118"],
    ["J161245p511816_001_010_10_20_3.jpg", "J1612+5118"],
    ["J1252p2640_r_01_10_300_400_6.jpg", "J1252+2640"],
    ["J125219p264053_001_010_5_6_3.jpg", "J1252+2640"],
    ["J1603p3002_001_010_1011_1746_3.jpg", "J1603+3002"],
    ["J121929p47152_001_010_1_1_6.jpg", "J1219+4715"],
    ["J0102m0304_r_1_2_6.jpg", "J0102-0304"],
    ["IC3521-H01_1029_593_6.jpg", "IC3521"],
    ["star/WASP-24_R01_5_5_6.jpg", "WASP-24"],
    ["xo-1-R001_975_1703_6.jpg", "XO-1"],
    ["hd145457_R_30_01_1_2_6.jpg", "HD145457"],
    ["J15050326_01_7_8_6.jpg", "J15050326"],
  ];
  for (const [file, key] of cases) assertEquals(skyGroupOf(file), key, file);
  assertNotEquals(skyGroupOf("J1530p2310_r_01_1_1_6.jpg"), skyGroupOf("J1603p3002_0_1_1_6.jpg"));
});

/** Files of hand-made groups: name → [class-0 count, class-1 count]. */
function groupedFixture(
  spec: Record<string, [number, number]>,
): { files: string[]; labels: number[] } {
  const files: string[] = [];
  const labels: number[] = [];
  for (const [name, [n0, n1]] of Object.entries(spec)) {
    for (let i = 0; i < n0 + n1; i++) {
      files.push(`${name}_${i}_${i}_${i < n0 ? 6 : 3}.jpg`);
      labels.push(i < n0 ? 0 : 1);
    }
  }
  return { files, labels };
}

Deno.test("groupedSplit: picks the group assignment that matches size and class ratio", () => {
  // 50 images, 20% class 1. Only group A alone is exactly 20% of the images at a 20% class-1
  // share, so it must be the whole val side, whatever the seed.
  const { files, labels } = groupedFixture({
    A: [8, 2],
    B: [10, 0],
    C: [10, 0],
    D: [10, 0],
    E: [2, 8],
  });
  for (const seed of [1, 2, 3]) {
    const s = groupedSplit(labels, files, 0.2, seed);
    assertEquals(s.val, Array.from({ length: 10 }, (_, i) => i));
    assertEquals(s.groups, { A: "val", B: "train", C: "train", D: "train", E: "train" });
    assertEquals(verifyNoGroupLeak(s, files), []);
  }
  // A hand-made leaking split is caught.
  assertEquals(verifyNoGroupLeak({ train: [0, 10, 11], val: [1, 12, 40] }, files), ["A", "B"]);
  assertThrows(
    () => groupedSplit([0, 1], ["A_1_1_6.jpg", "A_2_2_3.jpg"], 0.5, 1),
    StarmambaError,
    "at least 2 sky groups",
  );
});

Deno.test("kfoldSplits: every index in exactly one val fold (random and grouped)", () => {
  const folds = kfoldSplits(LABELS, null, 5, 3, false);
  assertEquals(folds.length, 5);
  checkFolds(folds, LABELS.length);
  for (const c of [0, 1, 2]) {
    const perFold = folds.map((f) => f.val.filter((i) => LABELS[i] === c).length);
    assert(Math.max(...perFold) - Math.min(...perFold) <= 1, `class ${c}: ${perFold}`);
  }
  assertEquals(kfoldSplits(LABELS, null, 5, 3, false), folds);
  assertNotEquals(kfoldSplits(LABELS, null, 5, 4, false), folds);

  const { files, labels } = groupedFixture({
    A: [8, 2],
    B: [10, 0],
    C: [9, 1],
    D: [7, 3],
    E: [2, 8],
    F: [5, 5],
    G: [3, 0],
  });
  const g = kfoldSplits(labels, files, 3, 1, true);
  checkFolds(g, files.length);
  for (const f of g) assertEquals(verifyNoGroupLeak(f, files), []);
  assertThrows(() => kfoldSplits(labels, files, 8, 1, true), StarmambaError, "sky groups");
  assertThrows(() => kfoldSplits(labels, null, 3, 1, true), StarmambaError, "file names");
  assertThrows(() => kfoldSplits(labels, files, 1, 1, false), StarmambaError, "folds");
});
