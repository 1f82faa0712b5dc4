/**
 * Selective-scan kernels on raw arrays: the float64 oracle against hand-worked values, the loop
 * kernel against the oracle and against finite differences of the oracle's loss for every input,
 * and the native C kernel (both builds) against the loop kernel, plus its determinism.
 */
import { assert, assertAllClose, assertEquals, assertThrows } from "../lib/util/assert.ts";
import { rng } from "../lib/util/rng.ts";
import type { ScanGrads, ScanInputs, ScanKernel } from "../lib/ops/scan_kernel.ts";
import {
  loopKernel,
  scanForward64,
  scanLoss64,
  softplus,
  softplusGrad,
} from "../lib/ops/scan_loop.ts";
import { loadNativeKernel, nativeKernelError } from "../lib/backends/wasm/native.ts";

interface Shape {
  batch: number;
  dim: number;
  len: number;
  dstate: number;
  groups: number;
}

interface Options {
  softplus: boolean;
  D: boolean;
  bias: boolean;
  /** range of delta before bias/softplus */
  delta?: [number, number];
  /** range of −A */
  negA?: [number, number];
}

function randomArray(n: number, lo: number, hi: number, r: ReturnType<typeof rng>): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = r.uniform(lo, hi);
  return a;
}

function makeInputs(seed: number, s: Shape, o: Options): ScanInputs {
  const r = rng(seed, "scan-kernels");
  const nu = s.batch * s.dim * s.len, nbc = s.batch * s.groups * s.dstate * s.len;
  const [dlo, dhi] = o.delta ?? (o.softplus ? [-3, 2] : [0.05, 1]);
  const [alo, ahi] = o.negA ?? [0.1, 3];
  return {
    ...s,
    u: randomArray(nu, -1, 1, r),
    delta: randomArray(nu, dlo, dhi, r),
    A: randomArray(s.dim * s.dstate, -ahi, -alo, r),
    B: randomArray(nbc, -1, 1, r),
    C: randomArray(nbc, -1, 1, r),
    D: o.D ? randomArray(s.dim, -1, 1, r) : undefined,
    deltaBias: o.bias ? randomArray(s.dim, -0.5, 0.5, r) : undefined,
    deltaSoftplus: o.softplus,
  };
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/**
 * |a − e| ≤ rtol·(|e| + max|e|): relative to each element and to the array's scale, because
 * gradients summed over many terms (dA over batch and len, dB over channels) cancel, and float32
 * error is relative to the terms, not to their small sum.
 */
function assertScaledClose(
  a: ArrayLike<number>,
  e: ArrayLike<number>,
  rtol: number,
  label: string,
) {
  assertAllClose(a, e, rtol, rtol * Math.max(maxAbs(e), 1e-30), label);
}

const GRAD_KEYS = ["du", "ddelta", "dA", "dB", "dC", "dD", "ddeltaBias"] as const;

function assertGradsClose(actual: ScanGrads, expected: ScanGrads, rtol: number, label: string) {
  for (const k of GRAD_KEYS) {
    assertEquals(actual[k] === undefined, expected[k] === undefined, `${label} ${k} presence`);
    if (expected[k]) assertScaledClose(actual[k]!, expected[k]!, rtol, `${label} ${k}`);
  }
}

/** dy with the same values as the float64 loss weights (both exactly float32-representable). */
function lossWeights(n: number, seed: number): { w: Float64Array; dy: Float32Array } {
  const dy = randomArray(n, -1, 1, rng(seed, "dy"));
  return { w: Float64Array.from(dy), dy };
}

// ---------------------------------------------------------------- oracle

Deno.test("softplus matches mamba_ssm's definition", () => {
  assertAllClose([softplus(0)], [Math.LN2], 1e-15, 0);
  assertEquals(softplus(25), 25);
  assertAllClose([softplus(-30)], [Math.exp(-30)], 1e-12, 0);
  assertAllClose([softplus(2)], [Math.log(1 + Math.exp(2))], 1e-15, 0);
  assertAllClose([softplusGrad(0), softplusGrad(3)], [0.5, 1 / (1 + Math.exp(-3))], 1e-15, 0);
  assertEquals(softplusGrad(21), 1);
});

Deno.test("scanForward64 reproduces a hand-worked scan", () => {
  // h0 = 0.5·2·1 = 1; y0 = 1·1 + 0.5·1 = 1.5
  // h1 = e^{-1}·1 + 1·3·2 = 6.3678794; y1 = −1·h1 + 0.5·2 = −5.3678794
  const x: ScanInputs = {
    batch: 1,
    dim: 1,
    len: 2,
    dstate: 1,
    groups: 1,
    u: new Float32Array([1, 2]),
    delta: new Float32Array([0.5, 1]),
    A: new Float32Array([-1]),
    B: new Float32Array([2, 3]),
    C: new Float32Array([1, -1]),
    D: new Float32Array([0.5]),
    deltaSoftplus: false,
  };
  assertAllClose(scanForward64(x), [1.5, -5.3678794411714423], 1e-15, 1e-15);
  // with a bias of −0.5 and softplus: dt = softplus(0) = ln 2, softplus(0.5)
  const dt0 = Math.LN2, dt1 = Math.log1p(Math.exp(0.5));
  const h0 = dt0 * 2, h1 = Math.exp(-dt1) * h0 + dt1 * 3 * 2;
  const y = scanForward64({ ...x, deltaBias: new Float32Array([-0.5]), deltaSoftplus: true });
  assertAllClose(y, [h0 + 0.5, -h1 + 1], 1e-14, 1e-15);
});

Deno.test("scanForward64 maps channels to groups as d / (dim / groups)", () => {
  // dim 4, groups 2: channels 0,1 read group 0, channels 2,3 group 1. Zero group 1's B:
  // channels 2,3 then output only D·u, channels 0,1 more.
  const x = makeInputs(1, { batch: 2, dim: 4, len: 3, dstate: 2, groups: 2 }, {
    softplus: true,
    D: true,
    bias: false,
  });
  for (let b = 0; b < 2; b++) x.B.fill(0, (b * 2 + 1) * 2 * 3, (b * 2 + 2) * 2 * 3);
  const y = scanForward64(x);
  for (let b = 0; b < 2; b++) {
    for (let d = 0; d < 4; d++) {
      for (let t = 0; t < 3; t++) {
        const i = (b * 4 + d) * 3 + t, du = x.D![d] * x.u[i];
        if (d >= 2) assertAllClose([y[i]], [du], 1e-12, 1e-12, `b${b} d${d} t${t}`);
        else assert(Math.abs(y[i] - du) > 1e-6, `b${b} d${d} t${t} should see group 0's B`);
      }
    }
  }
});

// ---------------------------------------------------------------- loop kernel

const LOOP_SHAPES: [Shape, Options][] = [
  [{ batch: 2, dim: 6, len: 9, dstate: 4, groups: 3 }, { softplus: true, D: true, bias: true }],
  [{ batch: 1, dim: 4, len: 1, dstate: 1, groups: 1 }, { softplus: false, D: false, bias: false }],
  [{ batch: 3, dim: 8, len: 20, dstate: 16, groups: 2 }, {
    softplus: true,
    D: true,
    bias: false,
    delta: [-4, 5],
    negA: [0.1, 16],
  }],
];

Deno.test("loopKernel.forward matches scanForward64", () => {
  LOOP_SHAPES.forEach(([shape, opts], i) => {
    const x = makeInputs(10 + i, shape, opts);
    const y64 = scanForward64(x);
    assertAllClose(loopKernel.forward(x), y64, 1e-5, 1e-7 * maxAbs(y64), `shape ${i}`);
  });
});

const FD_CASES: Options[] = [
  { softplus: true, D: true, bias: true },
  { softplus: false, D: false, bias: false },
  { softplus: true, D: true, bias: false },
  { softplus: false, D: false, bias: true },
];

Deno.test("loopKernel.backward matches finite differences for every input", () => {
  const shape: Shape = { batch: 2, dim: 4, len: 6, dstate: 3, groups: 2 };
  FD_CASES.forEach((opts, c) => {
    const x = makeInputs(20 + c, shape, opts);
    const { w, dy } = lossWeights(shape.batch * shape.dim * shape.len, 20 + c);
    const grads = loopKernel.backward(x, dy);
    const inputs: [keyof ScanGrads, Float32Array | undefined][] = [
      ["du", x.u],
      ["ddelta", x.delta],
      ["dA", x.A],
      ["dB", x.B],
      ["dC", x.C],
      ["dD", x.D],
      ["ddeltaBias", x.deltaBias],
    ];
    for (const [key, arr] of inputs) {
      assertEquals(grads[key] === undefined, arr === undefined, `case ${c} ${key} presence`);
      if (!arr) continue;
      const fd = new Float64Array(arr.length);
      for (let i = 0; i < arr.length; i++) {
        const x0 = arr[i];
        arr[i] = x0 + 1e-3;
        const xp = arr[i], lp = scanLoss64(x, w);
        arr[i] = x0 - 1e-3;
        const xm = arr[i], lm = scanLoss64(x, w);
        arr[i] = x0;
        fd[i] = (lp - lm) / (xp - xm); // the float32-rounded step, exactly
      }
      assertScaledClose(grads[key]!, fd, 1e-4, `case ${c} ${key}`);
    }
  });
});

Deno.test("kernels reject arrays whose length does not match the shape", () => {
  const x = makeInputs(3, { batch: 1, dim: 4, len: 5, dstate: 2, groups: 2 }, {
    softplus: true,
    D: true,
    bias: true,
  });
  assertThrows(() => loopKernel.forward({ ...x, B: x.B.subarray(1) }), Error, "B has");
  assertThrows(() => loopKernel.forward({ ...x, groups: 3 }), Error, "divide");
  assertThrows(() => loopKernel.backward(x, new Float32Array(3)), Error, "dy has");
});

// ---------------------------------------------------------------- native kernel

const native = loadNativeKernel({ threads: 2, quiet: true });
const nativeReason = native ? "" : ` [ignored: ${nativeKernelError()}]`;
const portable = native ? loadNativeKernel({ threads: 2, quiet: true, portable: true }) : null;
const portableReason = portable
  ? ""
  : ` [ignored: ${nativeKernelError({ portable: true }) ?? nativeReason}]`;

/** Shapes covering: len 1 / not a multiple of 16 / past the 256-step chunk, dstate 1, 4, 8,
 * 16 and a generic 5, channels per group not a multiple of 16, groups split into parts. */
const NATIVE_SHAPES: [Shape, Options][] = [
  [{ batch: 2, dim: 32, len: 1, dstate: 16, groups: 1 }, { softplus: true, D: true, bias: true }],
  [{ batch: 1, dim: 40, len: 7, dstate: 4, groups: 4 }, { softplus: true, D: true, bias: false }],
  [{ batch: 2, dim: 24, len: 255, dstate: 16, groups: 2 }, {
    softplus: true,
    D: false,
    bias: true,
    delta: [-4, 5],
    negA: [0.1, 16],
  }],
  [{ batch: 1, dim: 64, len: 257, dstate: 16, groups: 4 }, {
    softplus: false,
    D: true,
    bias: true,
  }],
  [{ batch: 2, dim: 20, len: 33, dstate: 1, groups: 1 }, { softplus: true, D: true, bias: true }],
  [{ batch: 1, dim: 36, len: 300, dstate: 16, groups: 2 }, {
    softplus: true,
    D: true,
    bias: true,
    delta: [-4, 5],
    negA: [0.5, 16],
  }],
  [{ batch: 3, dim: 48, len: 513, dstate: 8, groups: 3 }, { softplus: true, D: true, bias: true }],
  [{ batch: 1, dim: 16, len: 64, dstate: 5, groups: 1 }, { softplus: true, D: false, bias: false }],
  [{ batch: 2, dim: 68, len: 40, dstate: 16, groups: 4 }, { softplus: true, D: true, bias: true }],
  [{ batch: 8, dim: 1024, len: 3, dstate: 4, groups: 1 }, { softplus: true, D: true, bias: true }],
  [{ batch: 2, dim: 160, len: 20, dstate: 16, groups: 1 }, {
    softplus: true,
    D: true,
    bias: true,
    delta: [-4, 5],
  }],
];

function checkAgainstLoop(kernel: ScanKernel, shapes: [Shape, Options][], seed: number): void {
  shapes.forEach(([shape, opts], i) => {
    const label = `${kernel.name} shape ${i} ${JSON.stringify(shape)}`;
    const x = makeInputs(seed + i, shape, opts);
    const y64 = scanForward64(x);
    // measured worst error is below 1e-6 of scale (float32 sums); 1e-5 leaves margin for other
    // compilers and CPUs while still catching a 1e-4 relative slip in any one term
    assertScaledClose(kernel.forward(x), y64, 1e-5, `${label} y`);
    const { dy } = lossWeights(shape.batch * shape.dim * shape.len, seed + i);
    assertGradsClose(kernel.backward(x, dy), loopKernel.backward(x, dy), 1e-5, label);
  });
}

Deno.test({
  name: `native kernel matches the loop kernel and the oracle${nativeReason}`,
  ignore: native === null,
  fn: () => checkAgainstLoop(native!, NATIVE_SHAPES, 100),
});

Deno.test({
  name: `portable native build (no -march=native) matches the loop kernel${portableReason}`,
  ignore: portable === null,
  fn: () => checkAgainstLoop(portable!, NATIVE_SHAPES.filter((_, i) => i % 2 === 0), 200),
});

Deno.test({
  name: `native kernel is deterministic, whatever the thread count${nativeReason}`,
  ignore: native === null,
  fn: () => {
    const x = makeInputs(7, { batch: 4, dim: 96, len: 130, dstate: 16, groups: 4 }, {
      softplus: true,
      D: true,
      bias: true,
    });
    const { dy } = lossWeights(4 * 96 * 130, 7);
    const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);
    const one = loadNativeKernel({ threads: 1, quiet: true })!;
    const runs = [native!, native!, one].map((k) => ({ y: k.forward(x), g: k.backward(x, dy) }));
    for (const r of runs.slice(1)) {
      assertEquals(bits(r.y), bits(runs[0].y), "y");
      for (const k of GRAD_KEYS) assertEquals(bits(r.g[k]!), bits(runs[0].g[k]!), k);
    }
  },
});

Deno.test({
  name:
    `native forwardInto/backwardInto overwrite given arrays like forward/backward${nativeReason}`,
  ignore: native === null,
  fn: () => {
    const x = makeInputs(8, { batch: 2, dim: 40, len: 21, dstate: 16, groups: 2 }, {
      softplus: true,
      D: true,
      bias: false,
    });
    const { dy } = lossWeights(2 * 40 * 21, 8);
    const y = new Float32Array(2 * 40 * 21).fill(NaN);
    native!.forwardInto(x, y);
    assertEquals(y, native!.forward(x));
    const expected = native!.backward(x, dy);
    const g: ScanGrads = {
      du: new Float32Array(expected.du.length).fill(NaN),
      ddelta: new Float32Array(expected.ddelta.length).fill(NaN),
      dA: new Float32Array(expected.dA.length).fill(NaN),
      dB: new Float32Array(expected.dB.length).fill(NaN),
      dC: new Float32Array(expected.dC.length).fill(NaN),
      dD: new Float32Array(40).fill(NaN),
    };
    native!.backwardInto(x, dy, g);
    assertEquals<ScanGrads>(g, expected);
    assertThrows(() => native!.backwardInto(x, dy, { ...g, dD: undefined }), Error, "dD");
    assertThrows(() => native!.forwardInto(x, y.subarray(1)), Error, "output y");
  },
});

Deno.test({
  name: `native kernel rejects bad shapes before calling C${nativeReason}`,
  ignore: native === null,
  fn: () => {
    const x = makeInputs(3, { batch: 1, dim: 4, len: 5, dstate: 2, groups: 2 }, {
      softplus: true,
      D: true,
      bias: true,
    });
    assertThrows(() => native!.forward({ ...x, u: x.u.subarray(2) }), Error, "u has");
    assertThrows(() => native!.backward(x, new Float32Array(1)), Error, "dy has");
    const info = native!.info;
    assert(info.path.endsWith("libss.so") && info.flags.includes("-O3"));
  },
});
