/**
 * The contract every selective-scan kernel implements on raw float32 arrays: the portable
 * TypeScript loop, the native C kernel and the CUDA kernel. The tfjs SelectiveScan op
 * (lib/scan/op.ts) dispatches to one of these.
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

/** Inputs of one selective scan call. All arrays are float32, row-major. */
export interface ScanInputs {
  batch: number;
  dim: number;
  len: number;
  dstate: number;
  groups: number;
  u: Float32Array;
  delta: Float32Array;
  A: Float32Array;
  B: Float32Array;
  C: Float32Array;
  D?: Float32Array;
  deltaBias?: Float32Array;
  deltaSoftplus: boolean;
}

/** Gradients of a scalar loss with respect to every input, same shapes as the inputs. */
export interface ScanGrads {
  du: Float32Array;
  ddelta: Float32Array;
  dA: Float32Array;
  dB: Float32Array;
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
}
