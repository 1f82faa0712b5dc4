/**
 * The moving average of the weights on cuda. Its shadows live on the host by design (lib/ops/
 * ema.ts: the same bits on every backend), so the kernel reads the weights back, as the trainer
 * did before with dataSync, and runs the shared kernel's TypeScript loop: not a host fallback
 * (nothing is uploaded, nothing counted), the op's own cuda entry.
 * @module
 */
import type { CudaKernel } from "./types.ts";
import { EMA_UPDATE } from "../../../ops/ema.ts";
import { emaKernel } from "../../kernels/ema.ts";

/** The op's kernel on cuda. */
export const emaKernels: CudaKernel[] = [{ kernelName: EMA_UPDATE, kernelFunc: emaKernel }];
