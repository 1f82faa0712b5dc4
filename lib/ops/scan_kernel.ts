/**
 * The contract every selective-scan kernel implements on raw float32 arrays: the portable
 * TypeScript loop, the native C kernel and the CUDA kernel. The tfjs SelectiveScan op
 * (lib/ops/selective_scan.ts) runs on the one chosen with {@link setScanKernel} (the runtime
 * chooses from the config: openRuntime, lib/backends/runtime.ts and select.ts).
 *
 * Shapes follow mamba_ssm's `selective_scan_fn`:
 * u, delta: (batch, dim, len); A: (dim, dstate); B, C: (batch, groups, dstate, len);
 * D, deltaBias: (dim). Channel d uses group floor(d / (dim / groups)).
 *
 * Recurrence, per (b, d) and state n:
 *   dt_t  = delta_t + deltaBias (then softplus if deltaSoftplus)
 *   h_t   = exp(dt_t · A[d,n]) · h_{t−1} + dt_t · B[n,t] · u_t
 *   y_t   = Σ_n C[n,t] · h_t[n] + D[d] · u_t
 * @module
 */
import { chosenScanKernel, setChosenScanKernel } from "./capabilities.ts";

/** Inputs of one selective scan call. All arrays are float32, row-major. */
export interface ScanInputs {
  /** Batch size. */
  batch: number;
  /** Channels D (all directions together). */
  dim: number;
  /** Sequence length L. */
  len: number;
  /** State size N. */
  dstate: number;
  /** Groups of B and C (the scan directions in SS2D). */
  groups: number;
  /** Input, (batch, dim, len). */
  u: Float32Array;
  /** Step sizes Δ before bias and softplus, (batch, dim, len). */
  delta: Float32Array;
  /** State matrix (diagonal), (dim, dstate); negative. */
  A: Float32Array;
  /** Input matrix, (batch, groups, dstate, len). */
  B: Float32Array;
  /** Output matrix, (batch, groups, dstate, len). */
  C: Float32Array;
  /** Skip connection, (dim). */
  D?: Float32Array;
  /** Added to Δ before softplus, (dim). */
  deltaBias?: Float32Array;
  /** Apply softplus to Δ + bias. */
  deltaSoftplus: boolean;
}

/** Gradients of a scalar loss with respect to every input, same shapes as the inputs. */
export interface ScanGrads {
  /** ∂loss/∂u. */
  du: Float32Array;
  /** ∂loss/∂Δ. */
  ddelta: Float32Array;
  /** ∂loss/∂A (summed over batch and time). */
  dA: Float32Array;
  /** ∂loss/∂B (summed over the channels of each group). */
  dB: Float32Array;
  /** ∂loss/∂C (summed over the channels of each group). */
  dC: Float32Array;
  /** Present iff D was given. */
  dD?: Float32Array;
  /** Present iff deltaBias was given. */
  ddeltaBias?: Float32Array;
}

/** A selective-scan implementation on raw arrays. */
export interface ScanKernel {
  /** Short name recorded in results and benchmarks ("loop", "native", "cuda"). */
  readonly name: string;
  /** Returns y, shape (batch, dim, len). */
  forward(x: ScanInputs): Float32Array;
  /** Returns the gradients for upstream gradient dy (batch, dim, len). */
  backward(x: ScanInputs, dy: Float32Array): ScanGrads;
  /** A fused SS2D core built on this kernel, when it has one (the native kernel does). */
  readonly ss2d?: SS2DCoreImpl;
}

/** Sizes of one fused SS2D core call (see native/cpu/ss2d_core.c). */
export interface SS2DCoreDims {
  /** Batch size. */
  B: number;
  /** Feature-map height. */
  H: number;
  /** Feature-map width. */
  W: number;
  /** d_inner */
  di: number;
  /** scan directions */
  K: number;
  /** d_state */
  N: number;
  /** dt_rank */
  R: number;
}

/** Arrays of one fused SS2D core call (layouts in native/cpu/ss2d_core.c). */
export interface SS2DCoreArrays {
  /** Input after the depthwise conv and SiLU, (B, H, W, di). */
  xc: Float32Array;
  /** x_proj weights per direction, (K, R + 2N, di). */
  Wx: Float32Array;
  /** dt_proj weights per direction, (K, di, R). */
  Wdt: Float32Array;
  /** delta bias, (K·di), added before the softplus. */
  bias: Float32Array;
  /** State matrix A = −exp(A_log), (K·di, N). */
  A: Float32Array;
  /** Skip weights D, (K·di). */
  D: Float32Array;
}

/**
 * A fused SS2D core (cross-scan, projections, selective scan, cross-merge) on raw arrays, which
 * a scan kernel may carry (the native one does).
 */
export interface SS2DCoreImpl {
  /** Writes the cross-merged scan output (B, H, W, di) into `y`. */
  forwardInto(s: SS2DCoreDims, a: SS2DCoreArrays, y: Float32Array): void;
  /** Writes the gradients of Σ y·dy for every input into `out` (all elements overwritten). */
  backwardInto(
    s: SS2DCoreDims,
    a: SS2DCoreArrays,
    dy: Float32Array,
    out: {
      dxc: Float32Array;
      dWx: Float32Array;
      dWdt: Float32Array;
      dbias: Float32Array;
      dA: Float32Array;
      dD: Float32Array;
    },
  ): void;
}

/**
 * Selects the kernel that runs SelectiveScan in this process (the runtime does, from the config;
 * tests of the op choose one directly). Kept in the runtime's view, lib/ops/capabilities.ts.
 */
export function setScanKernel(kernel: ScanKernel): void {
  setChosenScanKernel(kernel);
}

/** The kernel that currently runs SelectiveScan. */
export function getScanKernel(): ScanKernel {
  const k = chosenScanKernel();
  if (!k) {
    throw new Error("no selective-scan kernel selected: call openRuntime (or setScanKernel) first");
  }
  return k;
}

/** A kernel that can also write into caller-provided arrays (the native one). */
export interface IntoKernel extends ScanKernel {
  forwardInto(x: ScanInputs, y: Float32Array): void;
  backwardInto(x: ScanInputs, dy: Float32Array, grads: ScanGrads): void;
}

/** Whether `k` writes into caller-provided arrays. */
export function isInto(k: ScanKernel): k is IntoKernel {
  return typeof (k as Partial<IntoKernel>).forwardInto === "function" &&
    typeof (k as Partial<IntoKernel>).backwardInto === "function";
}
