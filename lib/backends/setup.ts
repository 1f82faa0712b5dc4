/**
 * Backend selection. wasm (SIMD, one thread) is the default; cpu is the pure-JS reference;
 * webgpu, tensorflow and tensorflow-gpu are optional and loaded only when asked for.
 *
 * We fail loudly if the active backend is not the one requested: the wasm backend silently
 * falls back to cpu (~100× slower) when Deno lacks read permission for its .wasm file.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
// tfjs-core's node bundle registers no gradients; the union package registers all of them on
// import (it shares our tfjs-core instance, same pinned version).
import "@tensorflow/tfjs";
import { StarmambaError } from "../util/errors.ts";
import { installGradients, registerIm2col } from "../ops/grads.ts";
import { registerNorm } from "../ops/norm.ts";
import { registerScanOp } from "../ops/selective_scan.ts";
import { registerCrossOps } from "../ops/cross_scan.ts";
import { registerSS2DCore } from "../ops/ss2d_core.ts";
import { registerBlockOp } from "../ops/ss_conv_ssm.ts";
import { registerSpaceToDepth } from "../ops/space_to_depth.ts";
import { installFastKernels } from "./wasm/kernels.ts";

/** Backends a config may name. */
export const BACKENDS = ["wasm", "cpu", "webgpu", "tensorflow", "tensorflow-gpu"] as const;
/** One of {@link BACKENDS}. */
export type BackendName = typeof BACKENDS[number];

/** The tfjs registry name each config name maps to. */
const TF_NAME: Record<BackendName, string> = {
  wasm: "wasm",
  cpu: "cpu",
  webgpu: "webgpu",
  tensorflow: "tensorflow",
  "tensorflow-gpu": "tensorflow",
};

const INSTALL_HINT: Record<string, string> = {
  webgpu: "add npm:@tensorflow/tfjs-backend-webgpu@4.22.0 to deno.json imports and run with a " +
    "WebGPU-capable Deno (deno run --unstable-webgpu)",
  tensorflow: "on a machine that can download libtensorflow, run `deno install --allow-scripts=" +
    "npm:@tensorflow/tfjs-node npm:@tensorflow/tfjs-node@4.22.0` (its install script fetches " +
    "libtensorflow), then rerun",
  "tensorflow-gpu": "on a Linux machine with an NVIDIA GPU, CUDA 11.2+ and cuDNN 8, run " +
    "`deno install --allow-scripts=npm:@tensorflow/tfjs-node-gpu npm:@tensorflow/tfjs-node-gpu@4.22.0`" +
    " (its install script fetches libtensorflow with GPU support), then rerun",
};

async function importOptional(name: BackendName): Promise<void> {
  // Specifiers are built at run time so type checking and the lock file never require them.
  const spec: Record<string, string> = {
    webgpu: "npm:@tensorflow/tfjs-backend-webgpu@4.22.0",
    tensorflow: "npm:@tensorflow/tfjs-node@4.22.0",
    "tensorflow-gpu": "npm:@tensorflow/tfjs-node-gpu@4.22.0",
  };
  try {
    await import(spec[name]);
  } catch (e) {
    throw new StarmambaError(
      `backend "${name}" is not installed here (${(e as Error).message.split("\n")[0]}). ` +
        `To use it: ${INSTALL_HINT[name]}. Or set \`backend: wasm\` (the default).`,
    );
  }
}

/**
 * Activates `name`, installs starmamba's kernels and gradients for it, and verifies the
 * active backend is really the one requested. Returns tfjs's name of the active backend.
 */
export async function setupBackend(name: string): Promise<string> {
  if (!(BACKENDS as readonly string[]).includes(name)) {
    throw new StarmambaError(
      `unknown backend "${name}": choose one of ${BACKENDS.join(", ")} (key: backend)`,
    );
  }
  const b = name as BackendName;
  if (b === "wasm") {
    await import("@tensorflow/tfjs-backend-wasm");
    installFastKernels();
  } else if (b !== "cpu") await importOptional(b);
  installGradients();
  const tfName = TF_NAME[b];
  registerScanOp(tfName);
  registerCrossOps(tfName);
  registerSS2DCore(tfName);
  registerIm2col(tfName);
  // The fused normalisations read tensors synchronously: only where that is free.
  if (tfName === "cpu" || tfName === "wasm") {
    registerNorm(tfName);
    registerSpaceToDepth(tfName);
  }
  // The fused block runs on the native library, which serves the wasm heap only.
  if (tfName === "wasm") registerBlockOp(tfName);
  const ok = await tf.setBackend(tfName);
  await tf.ready();
  if (!ok || tf.getBackend() !== tfName) {
    throw new StarmambaError(
      `backend "${name}" was requested but tfjs is running "${tf.getBackend()}". ` +
        (b === "wasm"
          ? "The wasm backend needs read permission for its .wasm file: run through `deno task` " +
            "(or pass --allow-read)."
          : `Check that ${name} is installed and supported on this machine.`),
    );
  }
  // The cpu backend greets Node users with a banner recommending tfjs-node; we choose
  // backends explicitly, so silence it.
  if (tfName === "cpu") (tf.backend() as unknown as { firstUse: boolean }).firstUse = false;
  return tfName;
}
