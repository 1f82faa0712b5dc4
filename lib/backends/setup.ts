/**
 * Backend selection. wasm (SIMD, one thread) is the default; cpu is the pure-JS reference; cuda
 * is starmamba's own GPU backend (lib/backends/cuda/); webgpu, tensorflow and tensorflow-gpu are optional and loaded only when asked for.
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
import { registerOpGradients } from "../ops/gradients.ts";
import { registerKernels } from "./io.ts";
import { READSYNC_KERNELS } from "./kernels/mod.ts";
import { type Capabilities, setCapabilities } from "../ops/capabilities.ts";
import { registerCpuKernels } from "./cpu/register.ts";
import { registerWasmKernels, WASM_CAPABILITIES } from "./wasm/register.ts";
import { CUDA_CAPABILITIES, registerCudaBackend } from "./cuda/register.ts";

/** Backends a config may name. */
export const BACKENDS = ["wasm", "cpu", "cuda", "webgpu", "tensorflow", "tensorflow-gpu"] as const;
/** One of {@link BACKENDS}. */
export type BackendName = typeof BACKENDS[number];

/** What each backend states it does fast (the others: the defaults). */
const CAPABILITIES: Record<string, Partial<Capabilities>> = {
  wasm: WASM_CAPABILITIES,
  cuda: CUDA_CAPABILITIES,
};

/** The tfjs registry name each config name maps to. */
const TF_NAME: Record<BackendName, string> = {
  wasm: "wasm",
  cpu: "cpu",
  cuda: "cuda",
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
 * Activates `name`, installs starmamba's kernels and gradients for it, verifies the active
 * backend is really the one requested and tells the ops what it does fast. Returns tfjs's name
 * of the active backend. The first step of openRuntime (runtime.ts), which programs call; tests
 * of a backend's kernels call it alone.
 */
export async function setupBackend(name: string): Promise<string> {
  if (!(BACKENDS as readonly string[]).includes(name)) {
    throw new StarmambaError(
      `unknown backend "${name}": choose one of ${BACKENDS.join(", ")} (key: backend)`,
    );
  }
  const b = name as BackendName;
  if (b === "wasm") await import("@tensorflow/tfjs-backend-wasm");
  else if (b !== "cpu" && b !== "cuda") await importOptional(b);
  registerOpGradients();
  const tfName = TF_NAME[b];
  // One registration list per backend (lib/backends/<name>/register.ts). Elsewhere the custom
  // ops that only need readSync run too (their inputs are read back to the CPU).
  if (tfName === "wasm") registerWasmKernels();
  else if (tfName === "cpu") registerCpuKernels();
  else if (tfName === "cuda") {
    // The cuda backend mirrors the cpu backend's kernel list (host fallbacks for what is not
    // ported yet), custom ops included.
    registerCpuKernels();
    registerCudaBackend();
  } else registerKernels(tfName, READSYNC_KERNELS);
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
  setCapabilities(CAPABILITIES[tfName] ?? {});
  return tfName;
}
