/**
 * The runtime (lib/backends/runtime.ts): one call sets the backend, the selective-scan kernel,
 * the capabilities the ops read and the native hooks, and close() empties them; the optimiser's
 * ops (Adam, the moving average) are kernels in every backend's own list.
 */
import * as tf from "@tensorflow/tfjs-core";
import { assert, assertEquals, assertThrows } from "../lib/util/assert.ts";
import { openRuntime } from "../lib/backends/runtime.ts";
import { capabilities } from "../lib/ops/capabilities.ts";
import { getScanKernel } from "../lib/ops/scan_kernel.ts";
import { nativeHooks } from "../lib/backends/wasm/hooks.ts";
import { loadNativeKernel } from "../lib/backends/wasm/native.ts";
import { SHARED_KERNELS } from "../lib/backends/kernels/mod.ts";
import { WASM_KERNELS } from "../lib/backends/wasm/register.ts";
import { CUDA_KERNELS } from "../lib/backends/cuda/register.ts";
import { ADAM_STEP } from "../lib/ops/adam.ts";
import { EMA_UPDATE } from "../lib/ops/ema.ts";
import { StarmambaError } from "../lib/util/errors.ts";

const hasNative = loadNativeKernel({ quiet: true }) !== null;

Deno.test({
  name: "openRuntime: backend, scan kernel, native library and hooks in one call; close() empties",
  ignore: !hasNative,
  fn: async () => {
    const rt = await openRuntime({
      backend: "wasm",
      model: { scan_kernel: "auto" },
      train: { threads: 2 },
    });
    assertEquals([rt.backend, tf.getBackend()], ["wasm", "wasm"]);
    assertEquals(rt.scanKernel.name, "native");
    assert(getScanKernel() === rt.scanKernel, "the ops run on the runtime's kernel");
    assert(rt.native !== null && rt.native.path.endsWith("libss.so"), "native library info");
    assertEquals(rt.environment(), { scan_kernel: "native", native_threads: 2 });
    assertEquals(rt.device, null);
    // The hooks the wasm kernels call and what the ops ask: the fused block can run.
    assert(Object.values(nativeHooks()).every((h) => h !== null), "every native hook set");
    assertEquals(capabilities().ssConvSsm(), true);
    rt.close();
    assertThrows(() => getScanKernel(), Error, "openRuntime");
    assert(Object.values(nativeHooks()).every((h) => h === null), "no native hook after close");
    assertEquals(capabilities().ssConvSsm(), false);
    rt.close(); // idempotent
  },
});

Deno.test("openRuntime: a cpu runtime with the loop kernel; a superseded runtime's close() is a no-op", async () => {
  const a = await openRuntime({ backend: "cpu", model: { scan_kernel: "loop" } });
  assertEquals(a.environment(), { scan_kernel: "loop", native_threads: null });
  assertEquals([a.native, a.nativeThreads], [null, null]);
  const b = await openRuntime({ backend: "cpu", model: { scan_kernel: "loop" } });
  a.close();
  assert(getScanKernel() === b.scanKernel, "closing the old runtime left the open one alone");
  b.close();
  assertThrows(() => getScanKernel(), Error, "openRuntime");
});

Deno.test("openRuntime: an unknown backend is one line naming the key", async () => {
  const err = await openRuntime({ backend: "tpu", model: { scan_kernel: "loop" } }).then(
    () => null,
    (e) => e,
  );
  assert(err instanceof StarmambaError, String(err));
  assert(
    /^unknown backend "tpu": choose one of .* \(key: backend\)$/.test(err.message),
    err.message,
  );
});

Deno.test("the optimiser's ops are kernels in each backend's own list (cpu and wasm share them; cuda)", () => {
  const names = (list: { kernelName: string }[]) => list.map((k) => k.kernelName);
  for (const [label, list] of [["cpu", SHARED_KERNELS], ["wasm", WASM_KERNELS]] as const) {
    for (const k of [ADAM_STEP, EMA_UPDATE]) assert(names(list).includes(k), `${label} lacks ${k}`);
  }
  for (const k of [ADAM_STEP, EMA_UPDATE]) {
    assert(names(CUDA_KERNELS).includes(k), `cuda lacks ${k}`);
  }
});

Deno.test("the optimiser's kernels are registered by the runtime, not by importing lib/train", async () => {
  for (const backend of ["cpu", "wasm"]) {
    await openRuntime({ backend, model: { scan_kernel: "loop" } });
    for (const k of [ADAM_STEP, EMA_UPDATE]) {
      assert(tf.getKernel(k, backend) !== undefined, `${k} on ${backend}`);
    }
  }
  // This module imports nothing from lib/train: the registration is the backends' own.
});
