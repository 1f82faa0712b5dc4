/**
 * The contract every selective-scan kernel implements on raw float32 arrays: the portable
 * TypeScript loop, the native C kernel and the CUDA kernel. The tfjs SelectiveScan op
 * (lib/ops/selective_scan.ts) dispatches to one of these.
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
}
