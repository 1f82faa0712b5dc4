/**
 * Loads an ImageFolder tree (`root/<class>/<image>`, the torchvision convention the reference
 * MedMamba experiment used) into a {@link Dataset}: decoded with sharp to float32 NHWC in [0, 1],
 * fingerprinted by content, and cached on disk so a rerun does not decode every image again.
 * @module
 */
import sharp from "sharp";
import { createHash } from "node:crypto";
import * as path from "node:path";
import type { BadFile, Dataset } from "./types.ts";
import { cacheKey, type Decoded, defaultCacheDir, readCache, writeCache } from "./image_cache.ts";
import { StarmambaError } from "../util/errors.ts";

export type { BadFile } from "./types.ts";

/** Options of {@link loadImageFolder}. */
export interface ImageFolderOptions {
  /** Data folder: one sub-folder per class. */
  root: string;
  /** Side of the square images the model takes (64 for ARIES). */
  size: number;
  /** 1: luminance (or the grey channel); 3: RGB, grey replicated to 3. */
  channels: 1 | 3;
  /** Images that are not size × size: bilinear resize, or report as bad files. */
  resize: "resize" | "reject";
  /** Bad files stop the load with one message ("error") or are left out and listed ("skip"). */
  onBadFile: "error" | "skip";
  /** Where decoded arrays are cached; default `<project>/.cache/data`. */
  cacheDir?: string;
  /** Called as images are decoded (done, total); once with (total, total) on a cache hit. */
  progress?: (done: number, total: number) => void;
}

/** What {@link loadImageFolder} returns: a {@link Dataset} plus how it was obtained. */
export interface ImageFolderDataset extends Dataset {
  /** Root-relative path ("/" separators) of each loaded image, in dataset order. */
  files: string[];
  /** sha256 of the `sha256sum`-style manifest of the loaded files (see {@link loadImageFolder}). */
  fingerprint: string;
  /** Root-relative paths of every left-out file or empty class folder, sorted by path. */
  skipped: string[];
  /** Every left-out file with its reason (same order as `skipped`). */
  badFiles: BadFile[];
  /** True when the pixels came from the decode cache instead of decoding the images. */
  fromCache: boolean;
  /** The cache data file read or written; undefined when the cache could not be written. */
  cacheFile?: string;
}

/** File extensions read as images (compared case-insensitively). */
export const IMAGE_EXTENSIONS: readonly string[] = [
  ".jpg",
  ".jpeg",
  ".png",
  ".tif",
  ".tiff",
  ".webp",
];

/** How many bad files one error message lists before summarising the rest as a count. */
const MAX_LISTED = 20;
/** Rec. 601 luma weights, as PIL's convert("L") and torchvision's Grayscale use. */
const LUMA: readonly [number, number, number] = [0.299, 0.587, 0.114];

const WHERE_DATA_COMES_FROM =
  'The ARIES star/galaxy cutouts are "Star-Galaxy Classification Data" (Agrawal 2021, Kaggle, ' +
  "DOI 10.34740/kaggle/ds/1396185); a public mirror is the GitHub repository " +
  'BlingstarHamal/aib12project4-re, folder "Cutout Files/". Expected layout: ' +
  "<root>/<class>/<image>, e.g. <root>/star/*.jpg and <root>/galaxy/*.jpg. Set the folder with " +
  "`data.root` in the config (relative to the config file) or the STARMAMBA_DATA environment " +
  "variable.";

let lastUsedCache = false;

/** Whether the most recent {@link loadImageFolder} call read its pixels from the decode cache. */
export function lastLoadUsedCache(): boolean {
  return lastUsedCache;
}

/**
 * Resolves the data folder: `configured` (the config's `data.root`, relative to the folder of
 * the config file) if set, else the STARMAMBA_DATA environment variable (relative to the working
 * directory). Throws a {@link StarmambaError} saying where the data comes from when neither is set.
 */
export function resolveDataRoot(configured: string | undefined, configDir: string): string {
  if (configured !== undefined && configured.trim() !== "") {
    return path.resolve(configDir, configured);
  }
  const env = readEnv("STARMAMBA_DATA");
  if (env !== undefined && env.trim() !== "") return path.resolve(env);
  throw new StarmambaError(
    `No data folder configured: \`data.root\` is not set in the config (in ${configDir}) and ` +
      `STARMAMBA_DATA is not set. ${WHERE_DATA_COMES_FROM}`,
  );
}

/** Reads an environment variable; a run without --allow-env counts as unset. */
function readEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

/**
 * Loads `root/<class>/<image>` into a {@link Dataset} (see {@link ImageFolderOptions}).
 *
 * Classes are the sub-folders sorted by name, files sorted by name within a class. Hidden entries
 * (names starting with ".") are ignored, as are plain files directly in `root` (README, checksums).
 * `fingerprint` is the sha256 of a `sha256sum`-style manifest ("<sha256 hex>  <relative path>\n"
 * per loaded file, paths sorted), so it equals the sha256 of a SHA256SUMS file listing the same
 * files. Throws {@link StarmambaError} for a missing root, fewer than 2 classes, an empty class,
 * and (under onBadFile "error") any stray, corrupt or wrong-sized file, all listed in one message.
 */
export async function loadImageFolder(opts: ImageFolderOptions): Promise<ImageFolderDataset> {
  validateOptions(opts);
  const root = path.resolve(opts.root);
  const listing = await listImageFolder(root);
  const problems: BadFile[] = [...listing.stray];

  const hashes = await hashFiles(root, listing.candidates, problems);
  const candidates = listing.candidates.filter((_, i) => hashes[i] !== undefined);
  const candHashes = hashes.filter((h): h is string => h !== undefined);
  const sourceFingerprint = manifestSha256(candidates, candHashes);

  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  const key = cacheKey(sourceFingerprint, {
    size: opts.size,
    channels: opts.channels,
    resize: opts.resize,
  });
  const per = opts.size * opts.size * opts.channels;
  let decoded = await readCache(cacheDir, key, candidates, per);
  const fromCache = decoded !== null;
  if (decoded === null) {
    decoded = await decodeAll(root, candidates, opts);
  } else {
    opts.progress?.(candidates.length, candidates.length);
  }
  problems.push(...decoded.failed);

  const failedSet = new Set(decoded.failed.map((b) => b.file));
  const files: string[] = [];
  const fileHashes: string[] = [];
  const labelList: number[] = [];
  candidates.forEach((f, i) => {
    if (failedSet.has(f)) return;
    files.push(f);
    fileHashes.push(candHashes[i]);
    labelList.push(listing.classNames.indexOf(f.slice(0, f.indexOf("/"))));
  });
  const perClass = new Array<number>(listing.classNames.length).fill(0);
  for (const l of labelList) perClass[l]++;
  listing.classNames.forEach((cls, c) => {
    // Under "error" the class's files are listed already; under "skip" this is what stops us.
    if (perClass[c] === 0 && !listing.emptyClasses.has(cls) && opts.onBadFile === "skip") {
      problems.push({
        file: `${cls}/`,
        reason: "no usable image in this class folder",
        kind: "empty",
      });
    }
  });
  for (const cls of listing.emptyClasses) {
    problems.push({
      file: `${cls}/`,
      reason: "empty class folder (no image files)",
      kind: "empty",
    });
  }
  const fatal = opts.onBadFile === "error" ? problems : problems.filter((p) => p.kind === "empty");
  if (fatal.length > 0) throw badFilesError(root, fatal, opts);

  let cacheFile: string | undefined = path.join(cacheDir, `${key}.f32`);
  if (!fromCache) {
    const ok = writeCache(cacheDir, key, decoded, candidates.length, per);
    if (!ok) cacheFile = undefined;
  }
  lastUsedCache = fromCache;
  problems.sort((a, b) => compareCodeUnits(a.file, b.file));
  return {
    images: decoded.images,
    labels: Int32Array.from(labelList),
    n: files.length,
    height: opts.size,
    width: opts.size,
    channels: opts.channels,
    classNames: listing.classNames,
    files,
    fingerprint: manifestSha256(files, fileHashes),
    skipped: problems.map((p) => p.file),
    badFiles: problems,
    fromCache,
    cacheFile,
  };
}

/** Options come from the config, so a bad one is a user error naming the key. */
function validateOptions(opts: ImageFolderOptions): void {
  const bad = (key: string, got: unknown, want: string): StarmambaError =>
    new StarmambaError(`Invalid ${key}: ${JSON.stringify(got)}; expected ${want}.`);
  if (!Number.isInteger(opts.size) || opts.size < 1) {
    throw bad("data.size", opts.size, "a positive integer such as 64");
  }
  if (opts.channels !== 1 && opts.channels !== 3) {
    throw bad("data.channels", opts.channels, "1 or 3");
  }
  if (opts.resize !== "resize" && opts.resize !== "reject") {
    throw bad("data.resize", opts.resize, '"resize" or "reject"');
  }
  if (opts.onBadFile !== "error" && opts.onBadFile !== "skip") {
    throw bad("data.on_bad_file", opts.onBadFile, '"error" or "skip"');
  }
}

/** `a < b` by UTF-16 code units: locale-independent, so every machine sorts the same way. */
export function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** What {@link listImageFolder} finds: classes, image files, and what is not an image. */
export interface Listing {
  /** Class folders sorted by name. */
  classNames: string[];
  /** Image files as root-relative paths, in dataset order (class, then name). */
  candidates: string[];
  /** Nested folders and non-image files inside class folders. */
  stray: BadFile[];
  /** Class folders without an image file. */
  emptyClasses: Set<string>;
}

/** Reads the folder structure; throws for a missing root or fewer than two class folders. */
export async function listImageFolder(root: string): Promise<Listing> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(root);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new StarmambaError(`Data folder not found: ${root}. ${WHERE_DATA_COMES_FROM}`);
    }
    throw new StarmambaError(`Cannot read data folder ${root}: ${(e as Error).message}`);
  }
  if (!info.isDirectory) {
    throw new StarmambaError(
      `Data root ${root} is a file, not a folder. ${WHERE_DATA_COMES_FROM}`,
    );
  }
  const classNames = (await listDir(root)).filter((e) => e.isDirectory).map((e) => e.name);
  if (classNames.length < 2) {
    throw new StarmambaError(
      `Data folder ${root} has ${classNames.length} class folder(s) (${
        classNames.join(", ") || "none"
      }); a classifier needs at least 2, one sub-folder per class holding its images ` +
        `(<root>/<class>/<image>). Point \`data.root\` / STARMAMBA_DATA at the folder that ` +
        `contains the class folders. ${WHERE_DATA_COMES_FROM}`,
    );
  }
  const candidates: string[] = [];
  const stray: BadFile[] = [];
  const emptyClasses = new Set<string>();
  for (const cls of classNames) {
    let count = 0;
    for (const e of await listDir(path.join(root, cls))) {
      const rel = `${cls}/${e.name}`;
      if (e.isDirectory) {
        stray.push({ file: `${rel}/`, reason: "nested folder (not read)", kind: "stray" });
      } else if (!IMAGE_EXTENSIONS.includes(path.extname(e.name).toLowerCase())) {
        stray.push({
          file: rel,
          reason: `not an image file (accepted: ${IMAGE_EXTENSIONS.join(" ")})`,
          kind: "stray",
        });
      } else {
        candidates.push(rel);
        count++;
      }
    }
    if (count === 0) emptyClasses.add(cls);
  }
  return { classNames, candidates, stray, emptyClasses };
}

interface Entry {
  name: string;
  isDirectory: boolean;
}

/** Non-hidden entries of a folder sorted by name, following symlinks. */
async function listDir(dir: string): Promise<Entry[]> {
  const out: Entry[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.name.startsWith(".")) continue;
    let isDirectory = e.isDirectory;
    if (e.isSymlink) {
      try {
        isDirectory = (await Deno.stat(path.join(dir, e.name))).isDirectory;
      } catch {
        isDirectory = false; // a dangling link is reported as an unreadable file later
      }
    }
    out.push({ name: e.name, isDirectory });
  }
  return out.sort((a, b) => compareCodeUnits(a.name, b.name));
}

/** How many files are read / decoded at once: enough to keep libuv's threads busy. */
export function concurrency(): number {
  const cores = typeof navigator !== "undefined" ? navigator.hardwareConcurrency ?? 2 : 2;
  return Math.max(4, Math.min(16, 2 * cores));
}

/** Runs `job(i)` for i in [0, n) with at most `limit` in flight. */
export async function pool(
  n: number,
  limit: number,
  job: (i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) await job(next++);
  };
  await Promise.all(Array.from({ length: Math.min(limit, n) }, worker));
}

/** sha256 hex of each file; an unreadable file becomes a "corrupt" problem and `undefined`. */
async function hashFiles(
  root: string,
  files: string[],
  problems: BadFile[],
): Promise<(string | undefined)[]> {
  const out: (string | undefined)[] = new Array(files.length);
  await pool(files.length, concurrency(), async (i) => {
    try {
      const bytes = await Deno.readFile(path.join(root, files[i]));
      out[i] = createHash("sha256").update(bytes).digest("hex");
    } catch (e) {
      problems.push({
        file: files[i],
        reason: `unreadable (${(e as Error).message})`,
        kind: "corrupt",
      });
    }
  });
  return out;
}

/** sha256 of the `sha256sum` manifest of `files` (sorted by path); hashed line by line. */
export function manifestSha256(files: string[], hashes: string[]): string {
  const order = files.map((_, i) => i).sort((a, b) => compareCodeUnits(files[a], files[b]));
  const h = createHash("sha256");
  for (const i of order) h.update(`${hashes[i]}  ${files[i]}\n`);
  return h.digest("hex");
}

/** Decodes every candidate with limited concurrency, then drops the failures' slots. */
async function decodeAll(
  root: string,
  files: string[],
  opts: ImageFolderOptions,
): Promise<Decoded> {
  const per = opts.size * opts.size * opts.channels;
  const all = new Float32Array(files.length * per);
  const reasons: (BadFile | undefined)[] = new Array(files.length);
  let done = 0;
  await pool(files.length, concurrency(), async (i) => {
    const r = await decodeImage(
      path.join(root, files[i]),
      opts,
      all.subarray(i * per, (i + 1) * per),
    );
    if (r !== null) reasons[i] = { file: files[i], reason: r.reason, kind: r.kind };
    opts.progress?.(++done, files.length);
  });
  const failed = reasons.filter((b): b is BadFile => b !== undefined);
  if (failed.length === 0) return { images: all, failed };
  const images = new Float32Array((files.length - failed.length) * per);
  let k = 0;
  for (let i = 0; i < files.length; i++) {
    if (reasons[i] === undefined) images.set(all.subarray(i * per, (i + 1) * per), per * k++);
  }
  return { images, failed };
}

/**
 * Decodes one JPEG/PNG/TIFF/WebP image into `out` (size × size × channels, values in [0, 1]).
 * Returns null on success, else why the file cannot be used. The catalogue loader shares it, so
 * an image reads the same whichever way it is listed.
 */
export async function decodeImage(
  file: string,
  opts: Pick<ImageFolderOptions, "size" | "channels" | "resize">,
  out: Float32Array,
): Promise<{ reason: string; kind: "corrupt" | "size" } | null> {
  try {
    // failOn "warning": a truncated JPEG only raises a libjpeg warning and would otherwise be
    // padded with grey silently.
    let { data, info } = await sharp(file, { failOn: "warning" }).raw()
      .toBuffer({ resolveWithObject: true });
    if (info.width !== opts.size || info.height !== opts.size) {
      if (opts.resize === "reject") {
        return {
          reason: `is ${info.width}x${info.height}, expected ${opts.size}x${opts.size}`,
          kind: "size",
        };
      }
      // fit "fill" stretches like torchvision's Resize((s, s)); "linear" is sharp's bilinear.
      ({ data, info } = await sharp(file, { failOn: "warning" })
        .resize(opts.size, opts.size, { fit: "fill", kernel: "linear" })
        .raw().toBuffer({ resolveWithObject: true }));
    }
    // raw() without options always gives 8-bit samples (16-bit PNG/TIFF are scaled down).
    toChannels(data, info.channels, opts.channels, 255, out);
    return null;
  } catch (e) {
    return {
      reason: `corrupt or unreadable image (${oneLine((e as Error).message)})`,
      kind: "corrupt",
    };
  }
}

/** libvips repeats its warnings over several lines; keep each distinct line once, shortened. */
function oneLine(message: string): string {
  const text = [...new Set(message.split("\n").map((l) => l.trim()).filter(Boolean))].join("; ");
  return text.length > 160 ? `${text.slice(0, 157)}...` : text;
}

/**
 * Interleaved samples with `cin` channels → `cout` channels divided by `maxValue` (255 for 8-bit)
 * to lie in [0, 1]. Grey (+alpha) is
 * replicated for RGB; RGB(+alpha) gives Rec. 601 luma for one channel, exactly R when R = G = B
 * (the ARIES cutouts) so no rounding creeps in. Alpha is dropped.
 */
export function toChannels(
  samples: ArrayLike<number>,
  cin: number,
  cout: 1 | 3,
  maxValue: number,
  out: Float32Array,
): void {
  const n = out.length / cout;
  for (let p = 0; p < n; p++) {
    const s = p * cin;
    if (cin < 3) {
      const g = samples[s] / maxValue;
      if (cout === 1) out[p] = g;
      else out[3 * p] = out[3 * p + 1] = out[3 * p + 2] = g;
      continue;
    }
    const r = samples[s], g = samples[s + 1], b = samples[s + 2];
    if (cout === 3) {
      out[3 * p] = r / maxValue;
      out[3 * p + 1] = g / maxValue;
      out[3 * p + 2] = b / maxValue;
    } else {
      out[p] = (r === g && g === b ? r : LUMA[0] * r + LUMA[1] * g + LUMA[2] * b) / maxValue;
    }
  }
}

/** One message listing the bad files (first {@link MAX_LISTED}), with how to fix each kind. */
function badFilesError(root: string, bad: BadFile[], opts: ImageFolderOptions): StarmambaError {
  const sorted = [...bad].sort((a, b) => compareCodeUnits(a.file, b.file));
  const lines = sorted.slice(0, MAX_LISTED).map((b) => `  ${b.file}: ${b.reason}`);
  if (sorted.length > MAX_LISTED) lines.push(`  ... and ${sorted.length - MAX_LISTED} more`);
  const kinds = new Set(sorted.map((b) => b.kind));
  const fixes: string[] = [];
  if (kinds.has("empty")) {
    fixes.push("put the class's images into each empty class folder, or delete the folder");
  }
  if (kinds.has("stray")) {
    fixes.push("move non-image files and nested folders out of class folders");
  }
  if (kinds.has("corrupt")) fixes.push("replace or delete the corrupt images");
  if (kinds.has("size")) {
    fixes.push(
      `resize the images to ${opts.size}x${opts.size}, or set data.resize: resize in the config`,
    );
  }
  const skippable = sorted.some((b) => b.kind !== "empty");
  if (skippable && opts.onBadFile === "error") {
    fixes.push("or set data.on_bad_file: skip in the config to leave bad files out");
  }
  return new StarmambaError(
    `Data folder ${root} has ${sorted.length} problem(s):\n${lines.join("\n")}\n` +
      `How to fix: ${fixes.join("; ")}.`,
  );
}
