/**
 * Where the CUDA backward's time goes, at bench/scan_bench.ts's SS2D shape (batch 32, dim 1536,
 * len 256, d_state 16, 4 groups), on device buffers: forward, backward under three dB/dC scratch
 * limits (how many batch slices), and the backward with one channel per group (no scratch and no
 * group sum: the backward kernel's own cost), and forward and backward with each compiled tile
 * forced (threads × items per chunk) at len 256, 1024 and 4096. With ONCE=1 it runs one forward and one backward and
 * exits, for a profiler:
 *
 *   deno run -A bench/cuda_profile.ts
 *   ONCE=1 ncu --section SpeedOfLight --section Occupancy deno run -A bench/cuda_profile.ts
 * @module
 */
import { loadCudaKernel } from "../lib/backends/cuda/cuda.ts";

const r = loadCudaKernel();
if (!r.ok) {
  console.log(`cuda: not profiled (${r.reason})`);
  Deno.exit(0);
}
const s = r.kernel.lib.symbols;
const [batch, dim, len, dstate, groups] = [32, 1536, 256, 16, 4];

/** A device buffer of n floats holding a smooth deterministic pattern of amplitude v. */
function devicePattern(n: number, v = 0.1): Deno.PointerObject {
  const p = s.ss_cuda_alloc(BigInt(n * 4));
  if (p === null) throw new Error(`cuda: alloc of ${n} floats failed`);
  const h = new Float32Array(n);
  for (let i = 0; i < n; i++) h[i] = v * Math.sin(i * 0.37 + v);
  if (s.ss_cuda_memcpy_h2d(p, h, BigInt(n * 4)) !== 0) throw new Error("cuda: copy failed");
  return p;
}

/** Median ms of n timed calls after 2 warm-ups. */
function medianMs(f: () => number, n = 9): string {
  const t: number[] = [];
  for (let i = 0; i < n + 2; i++) {
    const t0 = performance.now();
    if (f() !== 0) throw new Error("cuda: call failed");
    if (i >= 2) t.push(performance.now() - t0);
  }
  t.sort((a, b) => a - b);
  return t[n >> 1].toFixed(2);
}

const nu = batch * dim * len, na = dim * dstate, nbc = batch * groups * dstate * len;
const A = s.ss_cuda_alloc(BigInt(na * 4))!;
const aHost = new Float32Array(na).map((_, i) => -((i % dstate) + 1));
s.ss_cuda_memcpy_h2d(A, aHost, BigInt(na * 4));
const [u, delta, D, bias] = [
  devicePattern(nu, 1),
  devicePattern(nu, 0.5),
  devicePattern(dim),
  devicePattern(dim),
];
const [B, C] = [devicePattern(nbc, 1), devicePattern(nbc, 0.9)];
const [y, dy, du, dd, dA, dD, db] = [
  devicePattern(nu),
  devicePattern(nu, 1),
  devicePattern(nu),
  devicePattern(nu),
  devicePattern(na),
  devicePattern(dim),
  devicePattern(dim),
];
const [dB, dC] = [devicePattern(nbc), devicePattern(nbc)];
const shape = [batch, dim, len, dstate, groups, 1] as const;
const fwd = () => s.ss_cuda_fwd_dev(...shape, u, delta, A, B, C, D, bias, y);
const bwd = () =>
  s.ss_cuda_bwd_dev(...shape, u, delta, A, B, C, D, bias, dy, du, dd, dA, dB, dC, dD, db);

if (Deno.env.get("ONCE")) {
  console.log(`forward rc ${fwd()}, backward rc ${bwd()}`);
  Deno.exit(0);
}
console.log(`${r.kernel.device}; ${batch}x${dim}x${len} N${dstate} G${groups}`);
console.log(`forward ${medianMs(fwd)} ms`);
for (const mib of [256, 1024, 4096]) {
  s.ss_cuda_set_scratch_limit(BigInt(mib) * 2n ** 20n);
  console.log(`backward, dB/dC scratch ${mib} MiB: ${medianMs(bwd)} ms`);
}
// One channel per group: the kernel writes dB/dC in place (no scratch, no group sum).
const nbcD = batch * dim * dstate * len;
const [BD, CD, dBD, dCD] = [
  devicePattern(nbcD, 1),
  devicePattern(nbcD, 0.9),
  devicePattern(nbcD),
  devicePattern(nbcD),
];
const shapeD = [batch, dim, len, dstate, dim, 1] as const;
const bwdD = () =>
  s.ss_cuda_bwd_dev(...shapeD, u, delta, A, BD, CD, D, bias, dy, du, dd, dA, dBD, dCD, dD, db);
console.log(`backward, groups = dim (no scratch): ${medianMs(bwdD)} ms`);

s.ss_cuda_set_scratch_limit(256n * 2n ** 20n);
// The same buffers hold batch × len = 8192 steps per channel at every length.
for (const [b, l] of [[32, 256], [8, 1024], [2, 4096]]) {
  const sh = [b, dim, l, dstate, groups, 1] as const;
  const f = () => s.ss_cuda_fwd_dev(...sh, u, delta, A, B, C, D, bias, y);
  const g = () =>
    s.ss_cuda_bwd_dev(...sh, u, delta, A, B, C, D, bias, dy, du, dd, dA, dB, dC, dD, db);
  for (const [threads, items] of [[0, 0], [32, 4], [32, 8], [64, 8], [128, 8]]) {
    if (s.ss_cuda_set_tile(threads, items) !== 0) throw new Error(`tile ${threads}x${items}`);
    const name = threads ? `tile ${threads} x ${items}` : "tile auto";
    console.log(`${b}x${dim}x${l}, ${name}: forward ${medianMs(f)} ms, backward ${medianMs(g)} ms`);
  }
}
s.ss_cuda_set_tile(0, 0);
