/**
 * The selective scan on device buffers: the SelectiveScan op's kernels
 * (lib/ops/selective_scan.ts) call the library's scan (native/cuda/selective_scan.cu,
 * ss_cuda_fwd_dev / ss_cuda_bwd_dev) on the tensors' own buffers, with no host copies.
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import { SELECTIVE_SCAN, SELECTIVE_SCAN_GRAD } from "../../../ops/selective_scan.ts";
import type { CudaKernel, CudaKernelArgs } from "./types.ts";

const INPUT_NAMES = ["u", "delta", "A", "B", "C", "D", "deltaBias"] as const;
type Infos = Record<string, tf.TensorInfo>;
type P = Deno.PointerValue;
/** Seven device pointers, in the C ABI's order of the scan's inputs (or gradients). */
type Ptr7 = [P, P, P, P, P, P, P];

/** batch, dim, len, dstate, groups, softplus: the scan's leading C arguments. */
function dims(
  inp: Infos,
  attrs?: tf.NamedAttrMap,
): [number, number, number, number, number, number] {
  const [batch, dim, len] = inp.u.shape;
  const [, groups, dstate] = inp.B.shape;
  const softplus = (attrs as { deltaSoftplus?: boolean } | undefined)?.deltaSoftplus ? 1 : 0;
  return [batch, dim, len, dstate, groups, softplus];
}

function forward({ inputs, backend, attrs }: CudaKernelArgs): tf.TensorInfo | null {
  const inp = inputs as Infos;
  if (INPUT_NAMES.some((n) => inp[n].dtype !== "float32")) return null;
  const y = backend.makeTensorInfo(inp.u.shape, "float32");
  const p = INPUT_NAMES.map((n) => backend.pointer(inp[n])) as Ptr7;
  const rc = backend.lib.symbols.ss_cuda_fwd_dev(...dims(inp, attrs), ...p, backend.pointer(y));
  backend.check(rc, "selective scan forward");
  return y;
}

function backward({ inputs, backend, attrs }: CudaKernelArgs): tf.TensorInfo[] | null {
  const inp = inputs as Infos;
  if ([...INPUT_NAMES, "dy"].some((n) => inp[n].dtype !== "float32")) return null;
  const outs = INPUT_NAMES.map((n) => backend.makeTensorInfo(inp[n].shape, "float32"));
  const p = INPUT_NAMES.map((n) => backend.pointer(inp[n])) as Ptr7;
  const g = outs.map((o) => backend.pointer(o)) as Ptr7;
  const rc = backend.lib.symbols.ss_cuda_bwd_dev(
    ...dims(inp, attrs),
    ...p,
    backend.pointer(inp.dy),
    ...g,
  );
  backend.check(rc, "selective scan backward");
  return outs;
}

/** The selective scan's forward and backward. */
export const selectiveScanKernels: CudaKernel[] = [
  { kernelName: SELECTIVE_SCAN, kernelFunc: forward },
  { kernelName: SELECTIVE_SCAN_GRAD, kernelFunc: backward },
];
