/**
 * Analytic FLOP counts of a MedMamba network, and an estimate of the machine's peak FLOP rate.
 *
 * Counted: every matmul and convolution (a multiply-add is 2 FLOPs; biases, norms, activations
 * and other element-wise work are left out, as is usual for model FLOPs) and the selective scan
 * at 9·B·D·L·N forward (per state update: exp, two multiplies for Δ·A and Δ·B·u, the
 * multiply-add of the recurrence and the multiply-add of C·h, rounded to 9).
 * A training step is counted as 3× the forward (backward ≈ 2× forward, the usual convention).
 * @module
 */
import type { ModelConfig } from "../lib/model/config.ts";
import { ss2dDims } from "../lib/model/ss2d.ts";

/** Forward FLOPs per image, by kind. */
export interface FlopCount {
  /** Linear layers and 1×1 convolutions run as matmuls (patch embed, projections, head). */
  matmul: number;
  /** 3×3 convolutions of the conv branch and SS2D's depthwise 3×3. */
  conv: number;
  /** Selective scan, 9·D·L·N per image. */
  scan: number;
  /** matmul + conv + scan. */
  forward: number;
  /** 3 × forward: one training step's forward + backward. */
  train: number;
}

/** Scan FLOPs of one forward call: 9·batch·dim·len·dstate. */
export function scanFlops(batch: number, dim: number, len: number, dstate: number): number {
  return 9 * batch * dim * len * dstate;
}

/** FLOPs per image of one forward pass of the network `cfg` describes (see module comment). */
export function flopsPerImage(cfg: ModelConfig): FlopCount {
  let matmul = 0, conv = 0, scan = 0;
  const side0 = cfg.image_size / cfg.patch_size;
  const p2 = cfg.patch_size * cfg.patch_size;
  matmul += 2 * side0 * side0 * p2 * cfg.in_channels * cfg.dim; // patch embed
  let c = cfg.dim, L = side0 * side0;
  cfg.depths.forEach((depth, i) => {
    const half = c / 2;
    for (let j = 0; j < depth; j++) {
      if (cfg.conv_branch) {
        conv += 2 * (2 * L * 9 * half * half); // two 3×3 convs
        matmul += 2 * L * half * half; // 1×1 conv
      }
      if (cfg.ssm_branch) {
        const { d_model: dm, d_inner: di, dt_rank: R, d_state: N, K } = ss2dDims(
          half,
          cfg.d_state,
          cfg.directions,
        );
        matmul += 2 * L * dm * 2 * di; // in_proj
        conv += 2 * L * 9 * di; // depthwise 3×3
        matmul += 2 * L * K * di * (R + 2 * N); // x_proj
        matmul += 2 * L * K * R * di; // dt_proj
        scan += scanFlops(1, K * di, L, N);
        matmul += 2 * L * di * dm; // out_proj
      }
    }
    if (i < cfg.depths.length - 1) {
      L /= 4;
      matmul += 2 * L * (4 * c) * (2 * c); // patch merging's reduction
      c *= 2;
    }
  });
  matmul += 2 * c * cfg.num_classes; // head
  const forward = matmul + conv + scan;
  return { matmul, conv, scan, forward, train: 3 * forward };
}

/** An estimate of the machine's peak float32 FLOP rate. */
export interface PeakEstimate {
  /** Estimated peak, GFLOP/s (float32, all cores). */
  gflops: number;
  cores: number;
  ghz: number;
  flopsPerCycle: number;
  /** How the estimate was made, in words. */
  basis: string;
}

/**
 * Float32 FLOPs per cycle per core from the CPU's feature flags. AVX-512 and AVX2+FMA both count
 * as 32 (two 256-bit FMA pipes, or one 512-bit: Zen 2–4, most client Intel); Xeons with two
 * 512-bit FMA units reach 64, which we don't try to detect.
 */
export function flopsPerCycle(flags: string[]): { flops: number; isa: string } {
  const has = (f: string) => flags.includes(f);
  if (has("avx512f")) return { flops: 32, isa: "AVX-512 FMA" };
  if (has("avx2") && has("fma")) return { flops: 32, isa: "AVX2 FMA (2×256-bit)" };
  if (has("avx")) return { flops: 16, isa: "AVX (256-bit mul + add)" };
  return { flops: 8, isa: "SSE (128-bit mul + add)" };
}

/**
 * Peak estimate from /proc/cpuinfo text: logical CPUs × FLOPs/cycle × the reported clock.
 * Returns null when the text has no clock (non-Linux, or an unusual cpuinfo).
 */
export function estimatePeak(cpuinfo: string): PeakEstimate | null {
  const lines = cpuinfo.split("\n");
  const field = (key: string): string | undefined =>
    lines.find((l) => l.startsWith(key))?.split(":").slice(1).join(":").trim();
  const mhz = Number(field("cpu MHz"));
  const cores = lines.filter((l) => /^processor\s*:/.test(l)).length;
  if (!Number.isFinite(mhz) || mhz <= 0 || cores === 0) return null;
  const { flops, isa } = flopsPerCycle((field("flags") ?? "").split(/\s+/));
  const ghz = mhz / 1000;
  return {
    gflops: cores * flops * ghz,
    cores,
    ghz,
    flopsPerCycle: flops,
    basis: `ESTIMATE: ${cores} logical CPUs × ${flops} FLOP/cycle (${isa}, float32) × ` +
      `${ghz.toFixed(3)} GHz (cpu MHz in /proc/cpuinfo; boost clocks not counted)`,
  };
}
