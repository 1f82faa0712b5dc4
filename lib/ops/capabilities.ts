/**
 * What the active backend does fast, as the ops' gradients ask it. The ops cannot import the
 * backends (they sit below them); a backend's registration sets these when its kernels are
 * installed (lib/backends/wasm/register.ts), and the defaults describe a backend with no
 * acceleration.
 * @module
 */

/** The questions an op may ask. */
export interface Capabilities {
  /** BatchMatMul with transpose flags runs as fast as without (true except on plain XNNPACK). */
  transposedMatMulFast(): boolean;
  /** A CONV_FILTER_GRAD kernel can run now (lib/ops/grads.ts). */
  convFilterGrad(): boolean;
  /** The fused SS-Conv-SSM block can run now (lib/ops/ss_conv_ssm.ts). */
  ssConvSsm(): boolean;
  /** The active backend runs the fused SS2D core (lib/ops/ss2d_core.ts) natively; where it
   * does not (cuda, for now) the model composes the core from separate ops. */
  fusedSS2DCore(): boolean;
}

let current: Capabilities = {
  transposedMatMulFast: () => true,
  convFilterGrad: () => false,
  ssConvSsm: () => false,
  fusedSS2DCore: () => true,
};

/** The capabilities of the active backend. */
export function capabilities(): Capabilities {
  return current;
}

/** Replaces some capabilities (the others stay). */
export function setCapabilities(c: Partial<Capabilities>): void {
  current = { ...current, ...c };
}
