/**
 * The portable selective-scan kernel in plain TypeScript (`loopKernel`), plus the float64 oracle
 * every kernel is tested against (`scanForward64`, `scanLoss64`).
 *
 * The loop kernel keeps states in float64 and rounds only its outputs to float32, so it is at
 * least as accurate as any float32 kernel; it is slow (one scalar exp per state update) and is
 * the fallback when the native kernel cannot be built or loaded.
 * @module
 */
import type { ScanGrads, ScanInputs, ScanKernel } from "./scan_kernel.ts";

/** softplus as mamba_ssm: the identity above 20, where log1p(exp(z)) equals z in float32. */
export function softplus(z: number): number {
  return z > 20 ? z : Math.log1p(Math.exp(z));
}

/** Derivative of {@link softplus}: sigmoid(z), and exactly 1 where softplus is the identity. */
export function softplusGrad(z: number): number {
  return z > 20 ? 1 : 1 / (1 + Math.exp(-z));
}

function checkArray(name: string, arr: Float32Array | undefined, expected: number): void {
  if (!(arr instanceof Float32Array)) {
    throw new Error(`selective scan: ${name} must be a Float32Array, got ${typeof arr}`);
  }
  if (arr.length !== expected) {
    throw new Error(`selective scan: ${name} has ${arr.length} elements, expected ${expected}`);
  }
}

/**
 * Throws unless the sizes are non-negative integers (dstate and groups ≥ 1), groups divides dim,
 * and every array has the length its shape implies. Kernels call this before touching memory,
 * which matters for the native kernel: a short array there would be a buffer overrun.
 */
export function checkScanInputs(x: ScanInputs, dy?: Float32Array): void {
  const { batch, dim, len, dstate, groups } = x;
  for (const [k, v] of Object.entries({ batch, dim, len, dstate, groups })) {
    const min = k === "dstate" || k === "groups" ? 1 : 0;
    if (!Number.isInteger(v) || v < min || v > 2 ** 30) {
      throw new Error(`selective scan: ${k} must be an integer >= ${min}, got ${v}`);
    }
  }
  if (dim % groups !== 0) {
    throw new Error(`selective scan: groups (${groups}) must divide dim (${dim})`);
  }
  const ubd = batch * dim * len;
  checkArray("u", x.u, ubd);
  checkArray("delta", x.delta, ubd);
  checkArray("A", x.A, dim * dstate);
  checkArray("B", x.B, batch * groups * dstate * len);
  checkArray("C", x.C, batch * groups * dstate * len);
  if (x.D !== undefined) checkArray("D", x.D, dim);
  if (x.deltaBias !== undefined) checkArray("deltaBias", x.deltaBias, dim);
  if (dy !== undefined) checkArray("dy", dy, ubd);
}

/**
 * Float64 forward written straight from the recurrence, state by state; the test oracle for
 * every kernel. Deliberately simple and independent of {@link loopKernel}'s loop structure.
 */
export function scanForward64(x: ScanInputs): Float64Array {
  const { batch, dim, len, dstate, groups, u, delta, A, B, C, D, deltaBias } = x;
  const y = new Float64Array(batch * dim * len);
  const channelsPerGroup = dim / groups;
  for (let b = 0; b < batch; b++) {
    for (let d = 0; d < dim; d++) {
      const g = Math.floor(d / channelsPerGroup);
      for (let n = 0; n < dstate; n++) {
        let h = 0;
        for (let t = 0; t < len; t++) {
          const i = (b * dim + d) * len + t;
          const bc = ((b * groups + g) * dstate + n) * len + t;
          let dt = delta[i] + (deltaBias ? deltaBias[d] : 0);
          if (x.deltaSoftplus) dt = softplus(dt);
          h = Math.exp(dt * A[d * dstate + n]) * h + dt * B[bc] * u[i];
          y[i] += C[bc] * h;
        }
      }
      if (D) {
        for (let t = 0; t < len; t++) {
          y[(b * dim + d) * len + t] += D[d] * u[(b * dim + d) * len + t];
        }
      }
    }
  }
  return y;
}

/** Σ y·w in float64, with y from {@link scanForward64}: the loss for finite differences. */
export function scanLoss64(x: ScanInputs, w: Float64Array): number {
  const y = scanForward64(x);
  let loss = 0;
  for (let i = 0; i < y.length; i++) loss += y[i] * w[i];
  return loss;
}

/** dt of one channel for all time steps (bias added, softplus applied), and the pre-softplus z. */
function channelDt(x: ScanInputs, b: number, d: number, dt: Float64Array, z: Float64Array): void {
  const off = (b * x.dim + d) * x.len;
  const bias = x.deltaBias ? x.deltaBias[d] : 0;
  for (let t = 0; t < x.len; t++) {
    z[t] = x.delta[off + t] + bias;
    dt[t] = x.deltaSoftplus ? softplus(z[t]) : z[t];
  }
}

function loopForward(x: ScanInputs): Float32Array {
  checkScanInputs(x);
  const { batch, dim, len, dstate: N, groups, u, A, B, C, D } = x;
  const y = new Float32Array(batch * dim * len);
  const h = new Float64Array(N);
  const dt = new Float64Array(len), z = new Float64Array(len);
  const cpg = dim / groups;
  for (let b = 0; b < batch; b++) {
    for (let d = 0; d < dim; d++) {
      const bcOff = (b * groups + Math.floor(d / cpg)) * N * len;
      const off = (b * dim + d) * len;
      const Dd = D ? D[d] : 0;
      channelDt(x, b, d, dt, z);
      h.fill(0);
      for (let t = 0; t < len; t++) {
        const ut = u[off + t], dtu = dt[t] * ut;
        let acc = Dd * ut;
        for (let n = 0; n < N; n++) {
          h[n] = Math.exp(dt[t] * A[d * N + n]) * h[n] + dtu * B[bcOff + n * len + t];
          acc += C[bcOff + n * len + t] * h[n];
        }
        y[off + t] = acc;
      }
    }
  }
  return y;
}

/**
 * Backward, per channel: a forward pass storing every state (len × dstate float64, small), then
 * the reverse pass g_t = dy_t C_t + exp(dt_{t+1} A) g_{t+1} with g = dL/dh_t.
 */
function loopBackward(x: ScanInputs, dy: Float32Array): ScanGrads {
  checkScanInputs(x, dy);
  const { batch, dim, len, dstate: N, groups, u, A, B, C, D } = x;
  const du = new Float32Array(batch * dim * len), ddelta = new Float32Array(batch * dim * len);
  // reductions over batch/len/channels accumulate in float64 and are rounded once at the end
  const dA = new Float64Array(dim * N), dD = new Float64Array(dim), dbias = new Float64Array(dim);
  const dB = new Float64Array(B.length), dC = new Float64Array(C.length);
  const hs = new Float64Array((len + 1) * N), as = new Float64Array((len + 1) * N);
  const g = new Float64Array(N);
  const dt = new Float64Array(len), z = new Float64Array(len);
  const cpg = dim / groups;
  for (let b = 0; b < batch; b++) {
    for (let d = 0; d < dim; d++) {
      const bcOff = (b * groups + Math.floor(d / cpg)) * N * len;
      const off = (b * dim + d) * len;
      const Dd = D ? D[d] : 0;
      channelDt(x, b, d, dt, z);
      // hs[(t + 1) N + n] = h_t, hs[n] = 0; as[t N + n] = exp(dt_t A), as[len N + n] = 0
      for (let t = 0; t < len; t++) {
        const dtu = dt[t] * u[off + t];
        for (let n = 0; n < N; n++) {
          const a = Math.exp(dt[t] * A[d * N + n]);
          as[t * N + n] = a;
          hs[(t + 1) * N + n] = a * hs[t * N + n] + dtu * B[bcOff + n * len + t];
        }
      }
      g.fill(0);
      for (let t = len - 1; t >= 0; t--) {
        const ut = u[off + t], dyt = dy[off + t], dtu = dt[t] * ut;
        let sumGB = 0, sumQA = 0;
        for (let n = 0; n < N; n++) {
          const bc = bcOff + n * len + t;
          g[n] = as[(t + 1) * N + n] * g[n] + dyt * C[bc];
          dC[bc] += dyt * hs[(t + 1) * N + n];
          dB[bc] += g[n] * dtu;
          sumGB += g[n] * B[bc];
          const q = g[n] * as[t * N + n] * hs[t * N + n]; // dL/d(dt·A)
          sumQA += q * A[d * N + n];
          dA[d * N + n] += q * dt[t];
        }
        du[off + t] = sumGB * dt[t] + Dd * dyt;
        const ddt = sumQA + sumGB * ut;
        const dd = x.deltaSoftplus ? ddt * softplusGrad(z[t]) : ddt;
        ddelta[off + t] = dd;
        dbias[d] += dd;
        dD[d] += dyt * ut;
      }
    }
  }
  const grads: ScanGrads = {
    du,
    ddelta,
    dA: Float32Array.from(dA),
    dB: Float32Array.from(dB),
    dC: Float32Array.from(dC),
  };
  if (D) grads.dD = Float32Array.from(dD);
  if (x.deltaBias) grads.ddeltaBias = Float32Array.from(dbias);
  return grads;
}

/** The portable TypeScript kernel: float32 arrays in and out, float64 arithmetic inside. */
export const loopKernel: ScanKernel = {
  name: "loop",
  forward: loopForward,
  backward: loopBackward,
};
