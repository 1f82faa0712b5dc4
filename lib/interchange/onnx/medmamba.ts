/**
 * MedMamba as one ONNX graph (opset 17): NCHW float32 images in, logits and softmax
 * probabilities out, the selective scan included (lib/interchange/onnx/selective_scan.ts), so
 * onnxruntime or any ONNX runtime runs the whole network. The graph follows starmamba's forward
 * pass (lib/model/medmamba.ts) op for op, in the official network's NHWC-between-blocks form;
 * weights enter in PyTorch layout where the ONNX op wants it (Conv: (out, in, kh, kw)).
 * @module
 */
import type { ModelConfig } from "../../model/config.ts";
import { type NamedArray, officialPermutation, permute } from "../medmamba_layout.ts";
import { encodeClassifier, ONNX_OPSET, OnnxGraph } from "./graph.ts";
import { type OnnxScanForm, selectiveScanOnnx } from "./selective_scan.ts";

/** LayerNorm and BatchNorm epsilon of the official code (and starmamba's NORM_EPS). */
const EPS = 1e-5;
export { ONNX_OPSET };

/** Options of {@link medmambaOnnx}. */
export interface OnnxExportOptions {
  /** How the selective scan is written (default "doubling", the faster one measured). */
  scan?: OnnxScanForm;
  /** Strings stored in the model's metadata_props (class names, preprocessing, provenance). */
  metadata?: Record<string, string>;
}

/** Serialised ONNX model of the network `cfg` with parameters `params` (starmamba layout). */
export function medmambaOnnx(
  params: Map<string, NamedArray>,
  cfg: ModelConfig,
  opts: OnnxExportOptions = {},
): Uint8Array {
  const g = new OnnxGraph("medmamba");
  const net = new Net(g, params, cfg, opts.scan ?? "doubling");
  return encodeClassifier(g, net.forward("images"), cfg, opts.metadata);
}

/** The network's layers as ONNX nodes; each method returns its output tensor's name. */
class Net {
  constructor(
    private readonly g: OnnxGraph,
    private readonly params: Map<string, NamedArray>,
    private readonly cfg: ModelConfig,
    private readonly scan: OnnxScanForm,
  ) {}

  /** A parameter as an initializer, in PyTorch layout if `torchLayout`, optionally reshaped. */
  w(name: string, torchLayout = false, shape?: number[]): string {
    const p = this.params.get(name);
    if (!p) throw new Error(`ONNX export: no parameter ${name}`);
    const perm = torchLayout ? officialPermutation(name, p.shape.length) : null;
    const a = perm ? permute(p, perm) : p;
    return this.g.floats(name + (shape ? `@${shape.join("x")}` : ""), a.data, shape ?? a.shape);
  }

  forward(images: string): string {
    const { g, cfg } = this;
    const p = cfg.patch_size;
    const conv = g.op1(
      "Conv",
      [images, this.w("patch_embed.proj.weight", true), this.w("patch_embed.proj.bias")],
      { kernel_shape: { ints: [p, p] }, strides: { ints: [p, p] } },
    );
    let x = this.layerNorm(nhwc(g, conv), "patch_embed.norm");
    let size = cfg.image_size / p;
    let dim = cfg.dim;
    cfg.depths.forEach((depth, i) => {
      for (let j = 0; j < depth; j++) x = this.block(x, `layers.${i}.blocks.${j}`, dim, size);
      if (i < cfg.depths.length - 1) {
        x = this.patchMerging(x, `layers.${i}.downsample`, size);
        size /= 2;
        dim *= 2;
      }
    });
    if (cfg.head_norm) x = this.layerNorm(x, "norm");
    const pooled = g.op1("ReduceMean", [x], { axes: { ints: [1, 2] }, keepdims: { i: 0 } });
    return g.op1("Add", [g.op1("MatMul", [pooled, this.w("head.weight")]), this.w("head.bias")]);
  }

  layerNorm(x: string, name: string): string {
    return this.g.op1("LayerNormalization", [x, this.w(`${name}.weight`), this.w(`${name}.bias`)], {
      axis: { i: -1 },
      epsilon: { f: EPS },
    });
  }

  batchNorm(x: string, name: string): string {
    const w = (s: string) => this.w(`${name}.${s}`);
    return this.g.op1(
      "BatchNormalization",
      [x, w("weight"), w("bias"), w("running_mean"), w("running_var")],
      { epsilon: { f: EPS } },
    );
  }

  conv(x: string, name: string, k: number, group = 1): string {
    const pad = (k - 1) / 2;
    return this.g.op1("Conv", [x, this.w(`${name}.weight`, true), this.w(`${name}.bias`)], {
      kernel_shape: { ints: [k, k] },
      pads: { ints: [pad, pad, pad, pad] },
      group: { i: group },
    });
  }

  /** SS-Conv-SSM: split channels, conv half and SSM half, concat, channel shuffle, + input. */
  block(x: string, name: string, dim: number, size: number): string {
    const { g, cfg } = this;
    const half = dim / 2;
    const [left, right] = g.op("Split", [x, g.ints([half, half])], { axis: { i: -1 } }, 2);
    let s = right;
    if (cfg.ssm_branch) {
      s = this.ss2d(this.layerNorm(right, `${name}.ln_1`), `${name}.self_attention`, half, size);
      if (cfg.ssm_residual) s = g.op1("Add", [right, s]);
    }
    let c = left;
    if (cfg.conv_branch) {
      const n = `${name}.conv33conv33conv11`;
      let y = nchw(g, left);
      if (cfg.conv_pre_bn) y = this.batchNorm(y, `${n}.bn0`);
      y = g.op1("Relu", [this.batchNorm(this.conv(y, `${n}.conv1`, 3), `${n}.bn1`)]);
      y = g.op1("Relu", [this.batchNorm(this.conv(y, `${n}.conv2`, 3), `${n}.bn2`)]);
      c = nhwc(g, g.op1("Relu", [this.conv(y, `${n}.conv3`, 1)]));
    }
    const cat = g.op1("Concat", [c, s], { axis: { i: -1 } });
    const grouped = g.op1("Reshape", [cat, g.ints([0, 0, 0, 2, half])]);
    const shuffled = g.op1("Transpose", [grouped], { perm: { ints: [0, 1, 2, 4, 3] } });
    return g.op1("Add", [g.op1("Reshape", [shuffled, g.ints([0, 0, 0, dim])]), x]);
  }

  /** SS2D: in_proj, depthwise conv + SiLU, cross-scan, selective scan, cross-merge, gate. */
  ss2d(x: string, name: string, dModel: number, size: number): string {
    const { g, cfg } = this;
    const K = cfg.directions;
    const di = 2 * dModel;
    const L = size * size;
    const N = cfg.d_state;
    const R = Math.ceil(dModel / 16);
    const [xp, z] = g.op("Split", [
      g.op1("MatMul", [x, this.w(`${name}.in_proj.weight`)]),
      g.ints([di, di]),
    ], {
      axis: { i: -1 },
    }, 2);
    const xc = silu(g, this.conv(nchw(g, xp), `${name}.conv2d`, 3, di)); // (N, d, H, W)
    // cross-scan: rows, columns, and both reversed → (N, K, d, L)
    const rows = g.op1("Reshape", [xc, g.ints([0, di, L])]);
    const cols = g.op1("Reshape", [
      g.op1("Transpose", [xc], { perm: { ints: [0, 1, 3, 2] } }),
      g.ints([0, di, L]),
    ]);
    const dirs = K === 4
      ? [rows, cols, reverse(g, rows, 2), reverse(g, cols, 2)]
      : K === 2
      ? [rows, reverse(g, rows, 2)]
      : [rows];
    const xs = g.op1("Concat", dirs.map((d) => g.op1("Unsqueeze", [d, g.ints([1])])), {
      axis: { i: 1 },
    });
    const xDbl = g.op1("MatMul", [this.w(`${name}.x_proj_weight`), xs]); // (N, K, R+2N, L)
    const [dts, B, C] = g.op("Split", [xDbl, g.ints([R, N, N])], { axis: { i: 2 } }, 3);
    const dt = g.op1("MatMul", [this.w(`${name}.dt_projs_weight`), dts]); // (N, K, d, L)
    const bias = this.w(`${name}.dt_projs_bias`, false, [K, di, 1]);
    const delta = g.op1("Softplus", [g.op1("Add", [dt, bias])]);
    const A = g.op1("Neg", [g.op1("Exp", [this.w(`${name}.A_logs`, false, [K, di, N])])]);
    const D = this.w(`${name}.Ds`, false, [K, di, 1]);
    const y = selectiveScanOnnx(g, { u: xs, delta, A, B, C, D }, L, this.scan);
    // cross-merge: every direction back to row-major order, summed → (N, d, L)
    const dir = (k: number) =>
      g.op1("Squeeze", [
        g.op1("Slice", [y, g.ints([k]), g.ints([k + 1]), g.ints([1])]),
        g.ints([1]),
      ]);
    let merged: string;
    if (K === 1) merged = dir(0);
    else if (K === 2) merged = g.op1("Add", [dir(0), reverse(g, dir(1), 2)]);
    else {
      const rowPart = g.op1("Add", [dir(0), reverse(g, dir(2), 2)]);
      const colPart = g.op1("Add", [dir(1), reverse(g, dir(3), 2)]);
      const colRows = g.op1("Reshape", [
        g.op1("Transpose", [g.op1("Reshape", [colPart, g.ints([0, di, size, size])])], {
          perm: { ints: [0, 1, 3, 2] },
        }),
        g.ints([0, di, L]),
      ]);
      merged = g.op1("Add", [rowPart, colRows]);
    }
    const yHW = g.op1("Reshape", [
      g.op1("Transpose", [merged], { perm: { ints: [0, 2, 1] } }),
      g.ints([0, size, size, di]),
    ]);
    const gated = g.op1("Mul", [this.layerNorm(yHW, `${name}.out_norm`), silu(g, z)]);
    return g.op1("MatMul", [gated, this.w(`${name}.out_proj.weight`)]);
  }

  /** PatchMerging: the 2×2 gather (x0 = [0::2, 0::2], x1 = [1::2, 0::2], …), LayerNorm, Linear. */
  patchMerging(x: string, name: string, size: number): string {
    const { g } = this;
    const part = (i: number, j: number) =>
      g.op1("Slice", [x, g.ints([i, j]), g.ints([size, size]), g.ints([1, 2]), g.ints([2, 2])]);
    const cat = g.op1("Concat", [part(0, 0), part(1, 0), part(0, 1), part(1, 1)], {
      axis: { i: -1 },
    });
    return g.op1("MatMul", [
      this.layerNorm(cat, `${name}.norm`),
      this.w(`${name}.reduction.weight`),
    ]);
  }
}

function nhwc(g: OnnxGraph, x: string): string {
  return g.op1("Transpose", [x], { perm: { ints: [0, 2, 3, 1] } });
}

function nchw(g: OnnxGraph, x: string): string {
  return g.op1("Transpose", [x], { perm: { ints: [0, 3, 1, 2] } });
}

function silu(g: OnnxGraph, x: string): string {
  return g.op1("Mul", [x, g.op1("Sigmoid", [x])]);
}

/** x reversed along `axis`. */
function reverse(g: OnnxGraph, x: string, axis: number): string {
  return g.op1("Slice", [x, g.ints([-1]), g.ints([-(2 ** 53)]), g.ints([axis]), g.ints([-1])]);
}
