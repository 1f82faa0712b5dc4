/**
 * Saving and loading weights in the TF.js weights format (model.json with a weightsManifest,
 * plus a binary shard), written atomically. TF.js users can read the weights with
 * tf.io.decodeWeights; starmamba reads them back by parameter name.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { exists, writeFileAtomic, writeJsonAtomic } from "../util/fs.ts";
import { StarmambaError } from "../util/errors.ts";

/** Writes `tensors` as `<dir>/<stem>.json` + one binary shard `<dir>/<stem>.<id>.bin`; `meta` goes into the JSON. */
export async function saveTensors(
  dir: string,
  stem: string,
  tensors: Record<string, tf.Tensor>,
  meta: Record<string, unknown> = {},
): Promise<void> {
  const { data, specs } = await tf.io.encodeWeights(tensors);
  // The shard gets a fresh name and the .json (written last, atomically) is the commit point,
  // so a kill at any moment leaves a consistent json + shard pair on disk.
  const shard = `${stem}.${Date.now().toString(36)}${crypto.randomUUID().slice(0, 6)}.bin`;
  const bytes = new Uint8Array(data);
  writeFileAtomic(join(dir, shard), bytes);
  writeJsonAtomic(join(dir, `${stem}.json`), {
    format: "starmamba-weights",
    generatedBy: "starmamba",
    ...meta,
    // The shard's checksum: a byte flipped on disk (same length) is caught when it is read back.
    shardSha256: createHash("sha256").update(bytes).digest("hex"),
    weightsManifest: [{ paths: [shard], weights: specs }],
  });
  for (const e of Deno.readDirSync(dir)) {
    if (e.name !== shard && e.name.startsWith(`${stem}.`) && e.name.endsWith(".bin")) {
      Deno.removeSync(join(dir, e.name));
    }
  }
}

/** What {@link loadTensors} checks beyond the format, and what its errors advise. */
export interface LoadTensorsOptions {
  /** sha256 the shard must have (e.g. from result.json `artifacts`); checked before decoding. */
  sha256?: string;
  /** Appended to a missing/damaged-shard error: how to get the weights back. */
  fix?: string;
}

/**
 * What to do about a damaged file: the caller's advice, or for a run's resumable state (stem
 * `state`, lib/train/train.ts) to start over — a damaged state cannot be trusted to resume.
 */
function damagedAdvice(stem: string, fix: string): string {
  if (fix) return fix;
  return stem === "state"
    ? "; start the run again without --resume (the saved training state cannot be trusted)"
    : "";
}

/** Bytes per element of the dtypes tfjs writes in a weights manifest. */
const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1 };

/**
 * Reads tensors saved by {@link saveTensors}; returns them with the JSON metadata. Every way the
 * files can be wrong (JSON missing or unreadable, shard missing, shard shorter or longer than
 * the manifest says, shard sha256 not the recorded one) is a {@link StarmambaError} naming the
 * file, never a stack trace or a silently wrong model.
 */
export function loadTensors(
  dir: string,
  stem: string,
  opts: LoadTensorsOptions = {},
): { tensors: Record<string, tf.Tensor>; meta: Record<string, unknown> } {
  const fix = opts.fix ? `\n${opts.fix}` : "";
  const jsonPath = join(dir, `${stem}.json`);
  if (!exists(jsonPath)) {
    throw new StarmambaError(`no saved model in ${dir}: ${stem}.json is missing${fix}`);
  }
  let meta: Record<string, unknown>;
  let paths: string[], specs: tf.io.WeightsManifestEntry[];
  try {
    meta = JSON.parse(Deno.readTextFileSync(jsonPath));
    const manifest = (meta.weightsManifest as tf.io.WeightsManifestConfig)[0];
    paths = manifest.paths;
    specs = manifest.weights;
    if (paths.length !== 1 || !Array.isArray(specs)) throw new Error("expected one shard");
  } catch (e) {
    throw new StarmambaError(
      `${jsonPath}: not a starmamba weights file (${(e as Error).message.split("\n")[0]})` +
        damagedAdvice(stem, ""),
    );
  }
  const shardPath = join(dir, paths[0]);
  if (!exists(shardPath)) {
    throw new StarmambaError(
      `${shardPath} is missing: the weights of this model are not here${damagedAdvice(stem, fix)}`,
    );
  }
  const bytes = Deno.readFileSync(shardPath);
  const want = specs.reduce(
    (n, w) => n + w.shape.reduce((a, b) => a * b, 1) * (DTYPE_BYTES[w.dtype] ?? NaN),
    0,
  );
  if (bytes.byteLength !== want) {
    throw new StarmambaError(
      `${shardPath} is ${bytes.byteLength} bytes but ${stem}.json describes ${want}: the file is ` +
        `truncated or damaged${damagedAdvice(stem, fix)}`,
    );
  }
  const own = typeof meta.shardSha256 === "string" ? meta.shardSha256 : undefined;
  if (opts.sha256 !== undefined || own !== undefined) {
    const got = createHash("sha256").update(bytes).digest("hex");
    if (opts.sha256 !== undefined && got !== opts.sha256) {
      throw new StarmambaError(
        `${shardPath}: sha256 ${got.slice(0, 12)}… is not the recorded ${
          opts.sha256.slice(0, 12)
        }…: the weights were changed or damaged after the run${fix}`,
      );
    }
    if (own !== undefined && got !== own) {
      throw new StarmambaError(
        `${shardPath}: sha256 ${got.slice(0, 12)}… is not the ${own.slice(0, 12)}… that ` +
          `${stem}.json records: the file was damaged after it was saved${
            damagedAdvice(stem, fix)
          }`,
      );
    }
  }
  const tensors = tf.io.decodeWeights(bytes.buffer as ArrayBuffer, specs) as Record<
    string,
    tf.Tensor
  >;
  return { tensors, meta };
}
