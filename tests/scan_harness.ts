/**
 * Reusable correctness harness for selective-scan kernels: runs a {@link ScanKernel} on seeded
 * random cases and compares its forward output and every gradient with float64 references,
 * element-wise |actual − expected| ≤ atol + rtol·|expected| (mamba_ssm's test tolerances by
 * default). Used by the CUDA tests and by the CPU kernels' tests.
 *
 * y is compared with the project's oracle `scanForward64` (lib/ops/scan_loop.ts). Gradients are
 * compared with {@link referenceBackward64}, a plain loop written here from the recurrence (not
 * from any kernel): it stores every state and walks t downwards with
 * ∂L/∂h_t = C_t·dy_t + exp(Δ_{t+1}A)·∂L/∂h_{t+1}. tests/scan_harness_test.ts checks it against
 * central finite differences of {@link referenceForward64}, which it checks against
 * `scanForward64`.
 * @module
 */
import type { ScanGrads, ScanInputs, ScanKernel } from "../lib/ops/scan_kernel.ts";
import { scanForward64 } from "../lib/ops/scan_loop.ts";
import { rng } from "../lib/util/rng.ts";

/** One test case: a shape plus options. Inputs are drawn as in mamba_ssm's tests. */
export interface ScanCase {
  batch: number;
  dim: number;
  len: number;
  dstate: number;
  groups: number;
  /** Default true. */
  deltaSoftplus?: boolean;
  /** Pass D (default true). */
  withD?: boolean;
  /** Pass deltaBias (default true). */
  withBias?: boolean;
  /** "large": Δ in [2, 30) so softplus is the identity above 20 and exp(ΔA) underflows. */
  delta?: "normal" | "large";
  /** Default 1. */
  seed?: number;
}

/** Element-wise tolerance. */
export interface Tolerance {
  rtol: number;
  atol: number;
}

/** mamba_ssm's float32 tolerances for selective_scan_fn (tests/ops/test_selective_scan.py). */
export const MAMBA_TOL: Tolerance = { rtol: 6e-4, atol: 2e-3 };

/** Inputs with any numeric arrays (the reference also runs on float64 perturbations). */
export type RefInputs =
  & Omit<ScanInputs, "u" | "delta" | "A" | "B" | "C" | "D" | "deltaBias">
  & {
    u: ArrayLike<number>;
    delta: ArrayLike<number>;
    A: ArrayLike<number>;
    B: ArrayLike<number>;
    C: ArrayLike<number>;
    D?: ArrayLike<number>;
    deltaBias?: ArrayLike<number>;
  };

/** Float64 gradients, as {@link ScanGrads}. */
export interface RefGrads {
  du: Float64Array;
  ddelta: Float64Array;
  dA: Float64Array;
  dB: Float64Array;
  dC: Float64Array;
  dD?: Float64Array;
  ddeltaBias?: Float64Array;
}

/** Short readable label of a case. */
export function caseName(c: ScanCase): string {
  const opts = [
    c.deltaSoftplus === false ? "nosp" : "sp",
    c.withD === false ? "noD" : "D",
    c.withBias === false ? "nobias" : "bias",
    c.delta === "large" ? "largeΔ" : "",
    `seed${c.seed ?? 1}`,
  ].filter((s) => s);
  return `b${c.batch} d${c.dim} L${c.len} N${c.dstate} g${c.groups} ${opts.join(" ")}`;
}

/** Seeded inputs and upstream gradient of a case (mamba_ssm's test distributions). */
export function makeCaseInputs(c: ScanCase): { x: ScanInputs; dy: Float32Array } {
  const r = rng(c.seed ?? 1, `scan-harness:${caseName(c)}`);
  const nu = c.batch * c.dim * c.len;
  const nbc = c.batch * c.groups * c.dstate * c.len;
  const fill = (n: number, f: () => number) => Float32Array.from({ length: n }, f);
  const large = c.delta === "large";
  const x: ScanInputs = {
    batch: c.batch,
    dim: c.dim,
    len: c.len,
    dstate: c.dstate,
    groups: c.groups,
    u: fill(nu, () => r.normal()),
    delta: fill(nu, () => large ? r.uniform(2, 30) : 0.5 * r.next()),
    A: fill(c.dim * c.dstate, () => -0.5 * r.next()),
    B: fill(nbc, () => r.normal()),
    C: fill(nbc, () => r.normal()),
    deltaSoftplus: c.deltaSoftplus ?? true,
  };
  if (c.withD ?? true) x.D = fill(c.dim, () => r.normal());
  if (c.withBias ?? true) x.deltaBias = fill(c.dim, () => 0.5 * r.next());
  return { x, dy: fill(nu, () => r.normal()) };
}

function softplus(z: number): number {
  return z <= 20 ? Math.log1p(Math.exp(z)) : z;
}

function dsoftplus(z: number): number {
  return z <= 20 ? 1 / (1 + Math.exp(-z)) : 1;
}

/** Δ_t + bias before softplus, for one (b, d) row. */
function rawDelta(x: RefInputs, row: number, d: number): Float64Array {
  const z = new Float64Array(x.len);
  const bias = x.deltaBias ? x.deltaBias[d] : 0;
  for (let t = 0; t < x.len; t++) z[t] = x.delta[row * x.len + t] + bias;
  return z;
}

/** Offset of B/C row (b, group of d, n = 0). */
function bcBase(x: RefInputs, b: number, d: number): number {
  const g = Math.floor(d / (x.dim / x.groups));
  return (b * x.groups + g) * x.dstate * x.len;
}

/** Float64 forward: y (batch, dim, len). Accepts float64 inputs (for finite differences). */
export function referenceForward64(x: RefInputs): Float64Array {
  const { batch, dim, len, dstate } = x;
  const y = new Float64Array(batch * dim * len);
  const h = new Float64Array(dstate);
  for (let b = 0; b < batch; b++) {
    for (let d = 0; d < dim; d++) {
      const row = b * dim + d;
      const z = rawDelta(x, row, d);
      const base = bcBase(x, b, d);
      h.fill(0);
      for (let t = 0; t < len; t++) {
        const dt = x.deltaSoftplus ? softplus(z[t]) : z[t];
        const u = x.u[row * len + t];
        let acc = x.D ? x.D[d] * u : 0;
        for (let n = 0; n < dstate; n++) {
          const i = base + n * len + t;
          h[n] = Math.exp(dt * x.A[d * dstate + n]) * h[n] + dt * x.B[i] * u;
          acc += x.C[i] * h[n];
        }
        y[row * len + t] = acc;
      }
    }
  }
  return y;
}

/** Float64 gradients of L = Σ y·dy. dD / ddeltaBias present iff D / deltaBias were given. */
export function referenceBackward64(x: RefInputs, dy: ArrayLike<number>): RefGrads {
  const { batch, dim, len, dstate } = x;
  const g: RefGrads = {
    du: new Float64Array(batch * dim * len),
    ddelta: new Float64Array(batch * dim * len),
    dA: new Float64Array(dim * dstate),
    dB: new Float64Array(batch * x.groups * dstate * len),
    dC: new Float64Array(batch * x.groups * dstate * len),
  };
  if (x.D) g.dD = new Float64Array(dim);
  if (x.deltaBias) g.ddeltaBias = new Float64Array(dim);
  const hs = new Float64Array((len + 1) * dstate); // hs[t+1] = h_t, hs[0] = 0
  const as = new Float64Array(len * dstate); // exp(dt_t A)
  const gNext = new Float64Array(dstate); // ∂L/∂h_{t+1}
  for (let b = 0; b < batch; b++) {
    for (let d = 0; d < dim; d++) {
      const row = b * dim + d;
      const z = rawDelta(x, row, d);
      const dts = z.map((v) => x.deltaSoftplus ? softplus(v) : v);
      const base = bcBase(x, b, d);
      for (let t = 0; t < len; t++) {
        const u = x.u[row * len + t];
        for (let n = 0; n < dstate; n++) {
          const a = Math.exp(dts[t] * x.A[d * dstate + n]);
          as[t * dstate + n] = a;
          hs[(t + 1) * dstate + n] = a * hs[t * dstate + n] + dts[t] * x.B[base + n * len + t] * u;
        }
      }
      gNext.fill(0);
      for (let t = len - 1; t >= 0; t--) {
        const k = row * len + t;
        const u = x.u[k], dyt = dy[k], dt = dts[t];
        let du = x.D ? x.D[d] * dyt : 0;
        let ddt = 0;
        for (let n = 0; n < dstate; n++) {
          const i = base + n * len + t;
          const An = x.A[d * dstate + n];
          const aNext = t + 1 < len ? as[(t + 1) * dstate + n] : 0;
          const gh = x.C[i] * dyt + aNext * gNext[n]; // ∂L/∂h_t
          const hPrev = hs[t * dstate + n];
          const a = as[t * dstate + n];
          g.dC[i] += dyt * hs[(t + 1) * dstate + n];
          g.dB[i] += gh * dt * u;
          du += gh * dt * x.B[i];
          ddt += gh * (x.B[i] * u + An * a * hPrev);
          g.dA[d * dstate + n] += gh * dt * a * hPrev;
          gNext[n] = gh;
        }
        const dz = x.deltaSoftplus ? ddt * dsoftplus(z[t]) : ddt;
        g.du[k] = du;
        g.ddelta[k] = dz;
        if (g.dD) g.dD[d] += dyt * u;
        if (g.ddeltaBias) g.ddeltaBias[d] += dz;
      }
    }
  }
  return g;
}

/** Result of comparing one output array of one case. */
export interface FieldReport {
  case: string;
  field: string;
  ok: boolean;
  /** Largest |actual − expected| / (atol + rtol·|expected|); ≤ 1 passes. NaN counts as ∞. */
  worstRatio: number;
  /** Index of the worst element, its values, and the largest absolute error. */
  at: number;
  actual: number;
  expected: number;
  maxAbsErr: number;
  /** Set when the array is missing, has the wrong length, or should be absent. */
  problem?: string;
}

function compareField(
  name: string,
  field: string,
  actual: ArrayLike<number> | undefined,
  expected: ArrayLike<number> | undefined,
  tol: Tolerance,
): FieldReport {
  const base = { case: name, field, at: -1, actual: NaN, expected: NaN, maxAbsErr: 0 };
  if (!expected || !actual) {
    if (!expected && !actual) return { ...base, ok: true, worstRatio: 0 };
    const problem = expected ? "missing" : "present but its input was not given";
    return { ...base, ok: false, worstRatio: Infinity, problem };
  }
  if (actual.length !== expected.length) {
    const problem = `length ${actual.length}, expected ${expected.length}`;
    return { ...base, ok: false, worstRatio: Infinity, problem };
  }
  let worst = 0, at = -1, maxAbs = 0;
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i] - expected[i]);
    const ratio = Number.isNaN(err)
      ? Infinity
      : err / (tol.atol + tol.rtol * Math.abs(expected[i]));
    if (!(err <= maxAbs)) maxAbs = err;
    if (at < 0 || ratio > worst) {
      worst = ratio;
      at = i;
    }
  }
  return {
    ...base,
    ok: worst <= 1,
    worstRatio: worst,
    at,
    actual: actual[at],
    expected: expected[at],
    maxAbsErr: maxAbs,
  };
}

/**
 * Runs `kernel` forward and backward on every case and compares y and all gradients with the
 * float64 reference. Never throws for a mismatch: every field gets a {@link FieldReport}.
 */
export function compareKernelToReference(
  kernel: ScanKernel,
  cases: ScanCase[],
  tol: Tolerance = MAMBA_TOL,
): FieldReport[] {
  const out: FieldReport[] = [];
  for (const c of cases) {
    const name = caseName(c);
    const { x, dy } = makeCaseInputs(c);
    out.push(compareField(name, "y", kernel.forward(x), scanForward64(x), tol));
    const got: ScanGrads = kernel.backward(x, dy);
    const want = referenceBackward64(x, dy);
    const fields = ["du", "ddelta", "dA", "dB", "dC", "dD", "ddeltaBias"] as const;
    for (const f of fields) out.push(compareField(name, f, got[f], want[f], tol));
  }
  return out;
}

/** One line per report, e.g. for a failure message. */
export function formatReport(r: FieldReport): string {
  const head = `${r.ok ? "ok  " : "FAIL"} ${r.case} ${r.field}`;
  if (r.problem) return `${head}: ${r.problem}`;
  return `${head}: worst ${r.worstRatio.toPrecision(3)}× tol at [${r.at}] actual ${r.actual} ` +
    `expected ${r.expected}; max |err| ${r.maxAbsErr.toExponential(2)}`;
}

/**
 * {@link compareKernelToReference}, throwing an Error that lists every failing field (kernel
 * name, case, worst element) if any fails. Returns the reports when all pass.
 */
export function checkKernelAgainstReference(
  kernel: ScanKernel,
  cases: ScanCase[],
  tol: Tolerance = MAMBA_TOL,
): FieldReport[] {
  const reports = compareKernelToReference(kernel, cases, tol);
  const bad = reports.filter((r) => !r.ok);
  if (bad.length) {
    throw new Error(
      `kernel "${kernel.name}" differs from the float64 reference (rtol ${tol.rtol}, atol ` +
        `${tol.atol}) in ${bad.length} of ${reports.length} checks:\n` +
        bad.map(formatReport).join("\n"),
    );
  }
  return reports;
}
