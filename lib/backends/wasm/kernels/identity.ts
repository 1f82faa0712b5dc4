/**
 * Identity for the wasm backend: shares the input's buffer. The stock kernel copies it, and
 * tf.grad clones (through Identity) every tensor it saves for the backward pass; the cpu
 * backend and wasm's own Reshape share buffers too.
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import type { KernelArgs } from "../../io.ts";
import type { Override } from "../register.ts";

/** Identity: the same buffer, one more reference. */
export const identity: Override = {
  kernelName: "Identity",
  wrap: () => (args: KernelArgs) => {
    const x = args.inputs.x as tf.TensorInfo;
    (args.backend as { incRef(id: unknown): void }).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  },
};
