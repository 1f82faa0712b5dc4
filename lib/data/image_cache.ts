/**
 * The decode cache of loadImageFolder (imagefolder.ts): decoded pixels as raw float32 beside a JSON
 * header, keyed by the source's content fingerprint and the decoding settings, so a rerun reads
 * one file instead of decoding thousands of images. Any mismatch (missing, truncated, corrupt,
 * stale) reads as a miss; an unwritable cache only costs the next run a decode.
 * @module
 */
import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";
import * as path from "node:path";
import type { BadFile } from "./types.ts";
import { writeFileAtomic } from "../util/fs.ts";

/** Bumped whenever the cache layout or the decoding changes, so old cache files are not used. */
const CACHE_FORMAT = 1;

/** Decoded pixels of one folder. */
export interface Decoded {
  /** Pixels of the usable files only, in candidate order. */
  images: Float32Array;
  /** Candidates that could not be used. */
  failed: BadFile[];
}

/** `<project>/.cache/data` (project = two folders above this module), else under the cwd. */
export function defaultCacheDir(): string {
  const url = new URL("../../.cache/data", import.meta.url);
  return url.protocol === "file:" ? fileURLToPath(url) : path.resolve(".cache/data");
}

/** Cache entry name: the source's fingerprint and every setting that changes the decoded array. */
export function cacheKey(sourceFingerprint: string, settings: Record<string, unknown>): string {
  const k = { format: CACHE_FORMAT, sourceFingerprint, ...settings };
  return `imagefolder-${createHash("sha256").update(JSON.stringify(k)).digest("hex").slice(0, 32)}`;
}

/** The JSON header stored next to the raw .f32 pixels. */
interface CacheHeader {
  format: number;
  candidates: number;
  n: number;
  per: number;
  byteLength: number;
  failed: BadFile[];
  /** sha256 of the .f32 file, so a corrupted (not only truncated) file is caught. */
  dataSha256: string;
}

/** Reads a cache entry; any mismatch (missing, truncated, corrupt, stale) gives null. */
export async function readCache(
  dir: string,
  key: string,
  candidates: string[],
  per: number,
): Promise<Decoded | null> {
  try {
    const h = JSON.parse(await Deno.readTextFile(path.join(dir, `${key}.json`))) as CacheHeader;
    const names = new Set(candidates);
    const failedOk = Array.isArray(h.failed) &&
      h.failed.every((b) => names.has(b.file) && typeof b.reason === "string");
    const n = candidates.length - (failedOk ? h.failed.length : 0);
    if (
      h.format !== CACHE_FORMAT || !failedOk || h.candidates !== candidates.length ||
      h.n !== n || h.per !== per || h.byteLength !== n * per * 4
    ) return null;
    const bytes = await readExactly(path.join(dir, `${key}.f32`), h.byteLength);
    if (bytes === null) return null;
    if (createHash("sha256").update(bytes).digest("hex") !== h.dataSha256) return null;
    return { images: new Float32Array(bytes.buffer, 0, n * per), failed: h.failed };
  } catch {
    return null;
  }
}

/** Reads a file that must be exactly `length` bytes into a fresh buffer; else null. */
async function readExactly(file: string, length: number): Promise<Uint8Array | null> {
  const f = await Deno.open(file, { read: true });
  try {
    if ((await f.stat()).size !== length) return null;
    // A preallocated buffer reads large files several times faster than Deno.readFile.
    const buf = new Uint8Array(length);
    let off = 0;
    while (off < length) {
      const got = await f.read(buf.subarray(off));
      if (got === null) return null;
      off += got;
    }
    return buf;
  } finally {
    f.close();
  }
}

/** Writes pixels then header, each via temp file + rename; false if the cache is unwritable. */
export function writeCache(
  dir: string,
  key: string,
  decoded: Decoded,
  candidates: number,
  per: number,
): boolean {
  const bytes = new Uint8Array(
    decoded.images.buffer,
    decoded.images.byteOffset,
    decoded.images.byteLength,
  );
  const header: CacheHeader = {
    format: CACHE_FORMAT,
    candidates,
    n: decoded.images.length / per,
    per,
    byteLength: bytes.byteLength,
    failed: decoded.failed,
    dataSha256: createHash("sha256").update(bytes).digest("hex"),
  };
  try {
    // Pixels first, header last: a header is only ever beside complete pixels.
    writeFileAtomic(path.join(dir, `${key}.f32`), bytes);
    writeFileAtomic(path.join(dir, `${key}.json`), JSON.stringify(header, null, 1));
    return true;
  } catch {
    return false; // a read-only or full disk only costs the next run a decode
  }
}
