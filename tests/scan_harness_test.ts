/**
 * Tests of the kernel-correctness harness itself (tests/scan_harness.ts), so the GPU and CPU
 * kernel tests that use it can be trusted: its float64 backward against finite differences, its
 * forward against lib/ops/scan_loop.ts's oracle, the portable loop kernel passing it, and
 * deliberately wrong kernels failing it.
 */
import type { ScanGrads, ScanInputs, ScanKernel } from "../lib/ops/scan_kernel.ts";
import { loopKernel, scanForward64 } from "../lib/ops/scan_loop.ts";
import { assert, assertAllClose, assertEquals, assertThrows } from "../lib/util/assert.ts";
import {
  caseName,
  checkKernelAgainstReference,
  compareKernelToReference,
  makeCaseInputs,
  MAMBA_TOL,
  referenceBackward64,
  referenceForward64,
  type RefInputs,
  type ScanCase,
} from "./scan_harness.ts";

const TINY: ScanCase[] = [
  { batch: 1, dim: 2, len: 5, dstate: 2, groups: 1 },
  { batch: 2, dim: 4, len: 4, dstate: 3, groups: 2, deltaSoftplus: false, seed: 2 },
  { batch: 1, dim: 2, len: 6, dstate: 1, groups: 2, withD: false, withBias: false, seed: 3 },
  { batch: 1, dim: 2, len: 5, dstate: 2, groups: 1, delta: "large", seed: 4 },
];

Deno.test("harness: referenceForward64 equals loop.ts scanForward64", () => {
  const cases: ScanCase[] = [...TINY, { batch: 2, dim: 4, len: 37, dstate: 5, groups: 4 }];
  for (const c of cases) {
    const { x } = makeCaseInputs(c);
    assertAllClose(referenceForward64(x), scanForward64(x), 1e-12, 1e-12, caseName(c));
  }
});

type ArrayName = "u" | "delta" | "A" | "B" | "C" | "D" | "deltaBias";
const GRAD_OF: Record<ArrayName, keyof ScanGrads> = {
  u: "du",
  delta: "ddelta",
  A: "dA",
  B: "dB",
  C: "dC",
  D: "dD",
  deltaBias: "ddeltaBias",
};

/** Central differences of L = Σ y·dy with respect to every element of every input. */
function finiteDifferences(x: ScanInputs, dy: Float32Array): Record<string, Float64Array> {
  const eps = 1e-6;
  const x64: RefInputs = { ...x };
  for (const k of Object.keys(GRAD_OF) as ArrayName[]) {
    if (x[k]) x64[k] = Float64Array.from(x[k]!);
  }
  const loss = (): number => {
    const y = referenceForward64(x64);
    let s = 0;
    for (let i = 0; i < y.length; i++) s += y[i] * dy[i];
    return s;
  };
  const out: Record<string, Float64Array> = {};
  for (const k of Object.keys(GRAD_OF) as ArrayName[]) {
    const arr = x64[k] as Float64Array | undefined;
    if (!arr) continue;
    const g = new Float64Array(arr.length);
    for (let i = 0; i < arr.length; i++) {
      const v = arr[i];
      arr[i] = v + eps;
      const lp = loss();
      arr[i] = v - eps;
      const lm = loss();
      arr[i] = v;
      g[i] = (lp - lm) / (2 * eps);
    }
    out[GRAD_OF[k]] = g;
  }
  return out;
}

Deno.test("harness: referenceBackward64 matches central finite differences", () => {
  for (const c of TINY) {
    const { x, dy } = makeCaseInputs(c);
    const fd = finiteDifferences(x, dy);
    const g = referenceBackward64(x, dy);
    for (const k of Object.keys(GRAD_OF) as ArrayName[]) {
      const f = GRAD_OF[k];
      assertEquals(g[f] !== undefined, fd[f] !== undefined, `${caseName(c)} ${f} presence`);
      if (fd[f]) assertAllClose(g[f]!, fd[f], 1e-6, 1e-6, `${caseName(c)} ${f}`);
    }
  }
});

/** The loop kernel on the GPU test shapes, scaled down for the TS loop's speed. */
const LOOP_CASES: ScanCase[] = [
  { batch: 2, dim: 4, len: 1, dstate: 1, groups: 1 },
  { batch: 2, dim: 4, len: 255, dstate: 4, groups: 2, deltaSoftplus: false, withBias: false },
  { batch: 1, dim: 4, len: 256, dstate: 16, groups: 4, withD: false },
  { batch: 1, dim: 2, len: 1024, dstate: 64, groups: 1, seed: 5 },
  { batch: 2, dim: 2, len: 300, dstate: 4, groups: 1, delta: "large", seed: 6 },
];

Deno.test("harness: loopKernel passes with mamba_ssm tolerances", () => {
  const reports = checkKernelAgainstReference(loopKernel, LOOP_CASES, MAMBA_TOL);
  // y + 5 gradients always, dD / ddeltaBias reported even when absent (as "both absent").
  assertEquals(reports.length, LOOP_CASES.length * 8);
  assert(reports.every((r) => r.ok));
});

/** A kernel that runs the loop kernel and then applies `mutate` to its outputs. */
function wrong(
  name: string,
  mutate: {
    forward?: (y: Float32Array, x: ScanInputs) => Float32Array;
    backward?: (g: ScanGrads, x: ScanInputs) => ScanGrads;
  },
): ScanKernel {
  return {
    name,
    forward: (x) => (mutate.forward ?? ((y) => y))(loopKernel.forward(x), x),
    backward: (x, dy) => (mutate.backward ?? ((g) => g))(loopKernel.backward(x, dy), x),
  };
}

const NEG_CASES: ScanCase[] = [
  { batch: 2, dim: 4, len: 40, dstate: 3, groups: 2, seed: 11 },
  { batch: 1, dim: 2, len: 30, dstate: 2, groups: 1, delta: "large", seed: 12 },
];

/** Asserts the harness rejects `kernel`, naming every field in `fields`. */
function assertRejected(kernel: ScanKernel, fields: string[]): void {
  const reports = compareKernelToReference(kernel, NEG_CASES);
  const failed = new Set(reports.filter((r) => !r.ok).map((r) => r.field));
  for (const f of fields) assert(failed.has(f), `${kernel.name}: expected ${f} to fail`);
  const err = assertThrows(() => checkKernelAgainstReference(kernel, NEG_CASES));
  assert(err.message.includes(`"${kernel.name}"`), err.message);
  assert(err.message.includes(fields[0]), err.message);
}

Deno.test("harness: deliberately wrong kernels fail", () => {
  assertRejected(
    wrong("forward-without-D", {
      forward: (y, x) => {
        const l = x.len;
        return y.map((v, i) => v - x.D![Math.floor(i / l) % x.dim] * x.u[i]);
      },
    }),
    ["y"],
  );
  assertRejected(
    wrong("no-softplus-derivative", {
      backward: (g, x) => {
        // undo the sigmoid factor: what a kernel forgetting d softplus would return
        const ddelta = g.ddelta.map((v, i) => {
          const z = x.delta[i] + x.deltaBias![Math.floor(i / x.len) % x.dim];
          return z > 20 ? v : v * (1 + Math.exp(-z));
        });
        return { ...g, ddelta };
      },
    }),
    ["ddelta"],
  );
  assertRejected(
    wrong("dB-of-group-0-only", {
      backward: (g, x) => {
        const per = x.dstate * x.len;
        const dB = g.dB.map((v, i) => (Math.floor(i / per) % x.groups === 0 ? v : 0));
        return { ...g, dB };
      },
    }),
    ["dB"],
  );
  assertRejected(wrong("dA-halved", { backward: (g) => ({ ...g, dA: g.dA.map((v) => v / 2) }) }), [
    "dA",
  ]);
  assertRejected(
    wrong("dC-shifted", {
      backward: (g) => ({ ...g, dC: g.dC.map((_, i, a) => a[(i + 1) % a.length]) }),
    }),
    ["dC"],
  );
  assertRejected(
    wrong("du-missing-D-term", {
      backward: (g, x) => ({
        ...g,
        du: g.du.map((v, i) => v - x.D![Math.floor(i / x.len) % x.dim] * 0.5),
      }),
    }),
    ["du"],
  );
  assertRejected(wrong("dD-dropped", { backward: (g) => ({ ...g, dD: undefined }) }), ["dD"]);
  assertRejected(
    wrong("one-nan", {
      forward: (y) => {
        y[y.length - 1] = NaN;
        return y;
      },
    }),
    ["y"],
  );
});

Deno.test("harness: gradients for absent D / deltaBias must be absent", () => {
  const extra = wrong("extra-dD", {
    backward: (g, x) => ({ ...g, dD: g.dD ?? new Float32Array(x.dim) }),
  });
  const reports = compareKernelToReference(extra, [
    { batch: 1, dim: 2, len: 8, dstate: 2, groups: 1, withD: false },
  ]);
  const dD = reports.find((r) => r.field === "dD")!;
  assert(!dD.ok && dD.problem?.includes("not given"), JSON.stringify(dD));
});

Deno.test("harness: tolerance is element-wise atol + rtol·|expected|", () => {
  const c: ScanCase[] = [{ batch: 1, dim: 2, len: 20, dstate: 2, groups: 1, seed: 21 }];
  // 0.5 × tolerance everywhere passes; 1.5 × fails.
  const scaled = (f: number): ScanKernel =>
    wrong(`y-off-by-${f}-tol`, {
      forward: (y) => {
        const ref = scanForward64(makeCaseInputs(c[0]).x);
        return y.map((_, i) => ref[i] + f * (MAMBA_TOL.atol + MAMBA_TOL.rtol * Math.abs(ref[i])));
      },
    });
  assert(compareKernelToReference(scaled(0.5), c).every((r) => r.ok));
  const bad = compareKernelToReference(scaled(1.5), c).filter((r) => !r.ok);
  assertEquals(bad.map((r) => r.field), ["y"]);
  assert(Math.abs(bad[0].worstRatio - 1.5) < 1e-3, String(bad[0].worstRatio));
});
