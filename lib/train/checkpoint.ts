/**
 * Saving and loading weights in the TF.js weights format (model.json with a weightsManifest,
 * plus a binary shard), written atomically. TF.js users can read the weights with
 * tf.io.decodeWeights; starmamba reads them back by parameter name.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { join } from "node:path";
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
  writeFileAtomic(join(dir, shard), new Uint8Array(data));
  writeJsonAtomic(join(dir, `${stem}.json`), {
    format: "starmamba-weights",
    generatedBy: "starmamba",
    ...meta,
    weightsManifest: [{ paths: [shard], weights: specs }],
  });
  for (const e of Deno.readDirSync(dir)) {
    if (e.name !== shard && e.name.startsWith(`${stem}.`) && e.name.endsWith(".bin")) {
      Deno.removeSync(join(dir, e.name));
    }
  }
}

/** Reads tensors saved by {@link saveTensors}; returns them with the JSON metadata. */
export function loadTensors(
  dir: string,
  stem: string,
): { tensors: Record<string, tf.Tensor>; meta: Record<string, unknown> } {
  const jsonPath = join(dir, `${stem}.json`);
  if (!exists(jsonPath)) {
    throw new StarmambaError(`no saved model in ${dir}: ${stem}.json is missing`);
  }
  const meta = JSON.parse(Deno.readTextFileSync(jsonPath));
  const manifest = meta.weightsManifest[0];
  const bytes = Deno.readFileSync(join(dir, manifest.paths[0]));
  const tensors = tf.io.decodeWeights(bytes.buffer as ArrayBuffer, manifest.weights) as Record<
    string,
    tf.Tensor
  >;
  return { tensors, meta };
}
