/**
 * The ConvNet of Kim & Brunner (2017, MNRAS 464, 4463, "Star-galaxy classification using deep
 * convolutional neural networks"; arXiv:1608.04369), the astronomy community's reference CNN
 * for star/galaxy separation, as published (Table 1 of the paper; the authors' Lasagne code,
 * github.com/EdwardJKim/dl4astro scripts/train_cnn.py). Only the input is adapted: its side
 * (the paper's 44×44 crops; here `data.size`) and its channels (the paper's five bands ugriz;
 * here `data.channels`, e.g. field context's three).
 *
 *   conv11 5×5 valid → conv12 3×3 → maxpool 2×2      (32 filters)
 *   conv21 → conv22 → conv23, all 3×3 → maxpool 2×2   (64)
 *   conv31 → conv32 → conv33, all 3×3 → maxpool 2×2   (128)
 *   flatten → dropout 0.5 → hidden4 2048 → dropout 0.5 → hidden5 2048 → output (classes)
 *
 * Every convolution and hidden layer is followed by a leaky ReLU of slope 0.01; the 3×3
 * convolutions pad by 1 pixel (the resolution is kept); pooling drops an odd last row and
 * column. The output's softmax is in the loss. docs/networks.md sets it beside the paper.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { ExperimentConfig } from "../config/schema.ts";
import type { Network, NetworkEntry, NetworkShape } from "./network.ts";
import {
  conv,
  convValid,
  dropout,
  type ForwardContext,
  leakyRelu,
  linear,
  maxPool2x2,
} from "./layers.ts";
import { constant, normal, ParamStore } from "./params.ts";
import { rng } from "../util/rng.ts";
import { StarmambaError } from "../util/errors.ts";

/** The ConvNet's name in the network registry (lib/model/registry.ts) and in model.json. */
export const CONVNET_ARCH = "convnet";

/**
 * A ConvNet's config: the data's shape and the widths of its layers. Experiments always get the
 * paper's widths ({@link CONVNET_PAPER}); the widths are recorded so a model.json says what it
 * holds, and so tests can build small instances of the same code.
 */
export interface ConvNetConfig extends NetworkShape {
  /** Filters of every convolution in each stage (paper: 32, 64, 128). */
  filters: number[];
  /** Convolutions per stage (paper: 2, 3, 3); each stage ends in 2×2 max pooling. */
  convs: number[];
  /** Units of each hidden fully connected layer (paper: 2048, 2048). */
  hidden: number[];
  /** Dropout probability on the input of each hidden fully connected layer (paper: 0.5). */
  dropout: number;
}

/** The published widths (Table 1 of the paper). */
export const CONVNET_PAPER: Omit<ConvNetConfig, keyof NetworkShape> = {
  filters: [32, 64, 128],
  convs: [2, 3, 3],
  hidden: [2048, 2048],
  dropout: 0.5,
};

/** Kernel of the first convolution, unpadded (paper: 5×5, "padding –"); the rest are 3×3, pad 1. */
export const FIRST_KERNEL = 5;

/** Negative slope of every leaky ReLU (paper, section 3.1; Lasagne's `leaky_rectify`). */
export const LEAK = 0.01;

/** Initial biases (paper, Table 1): 0.1 in the convolutions, 0.01 in the dense layers. */
const CONV_BIAS = 0.1, DENSE_BIAS = 0.01;

/** The He gain for a leaky ReLU of slope {@link LEAK}, as the authors' Orthogonal(gain) uses. */
const GAIN = Math.sqrt(2 / (1 + LEAK * LEAK));

/** A built ConvNet. */
export type ConvNet = Network<ConvNetConfig>;

/** Name of convolution j (0-based) of stage s (0-based): the authors' `conv11` … `conv33`. */
export function convName(s: number, j: number): string {
  return `conv${s + 1}${j + 1}`;
}

/** Name of hidden layer i (0-based): the authors' `hidden4`, `hidden5` (numbered after the stages). */
export function hiddenName(cfg: ConvNetConfig, i: number): string {
  return `hidden${cfg.convs.length + 1 + i}`;
}

/** Side of the feature maps after each stage: conv11 takes FIRST_KERNEL − 1, pooling halves (floor). */
export function stageSides(cfg: ConvNetConfig): number[] {
  let side = cfg.image_size - (FIRST_KERNEL - 1);
  return cfg.convs.map(() => (side = Math.floor(side / 2)));
}

/** Inputs of the first dense layer: the last stage's filters × side² (128·7·7 at 64×64). */
export function flatFeatures(cfg: ConvNetConfig): number {
  const side = stageSides(cfg).at(-1)!;
  return cfg.filters.at(-1)! * side * side;
}

/** The smallest input side the stages leave at least one pixel for (12 for the paper's). */
export function minImageSize(cfg: Pick<ConvNetConfig, "convs">): number {
  return 2 ** cfg.convs.length + FIRST_KERNEL - 1;
}

const positiveInts = (v: unknown, max: number): boolean =>
  Array.isArray(v) && v.length > 0 &&
  v.every((n) => Number.isInteger(n) && n >= 1 && n <= max);

/** Throws a StarmambaError naming what is wrong when `cfg` cannot build a ConvNet. */
export function validateConvNetConfig(cfg: ConvNetConfig): void {
  for (const key of ["in_channels", "num_classes", "image_size"] as const) {
    if (!Number.isInteger(cfg[key]) || cfg[key] < 1) {
      throw new StarmambaError(`convnet: ${key} must be a positive integer (got ${cfg[key]})`);
    }
  }
  // Up to 9 stages of up to 9 convolutions keep the authors' two-digit names unambiguous.
  if (!positiveInts(cfg.convs, 9) || cfg.convs.length > 9) {
    throw new StarmambaError(
      `convnet: convs must list 1 to 9 stages of 1 to 9 convolutions (got ${
        JSON.stringify(cfg.convs)
      })`,
    );
  }
  if (!positiveInts(cfg.filters, 65536) || cfg.filters.length !== cfg.convs.length) {
    throw new StarmambaError(
      `convnet: filters must give one positive count per stage, ${cfg.convs.length} (got ${
        JSON.stringify(cfg.filters)
      })`,
    );
  }
  if (!Array.isArray(cfg.hidden) || !cfg.hidden.every((n) => Number.isInteger(n) && n >= 1)) {
    throw new StarmambaError(
      `convnet: hidden must list positive layer widths (got ${JSON.stringify(cfg.hidden)})`,
    );
  }
  if (!(typeof cfg.dropout === "number" && cfg.dropout >= 0 && cfg.dropout < 1)) {
    throw new StarmambaError(`convnet: dropout must be in [0, 1) (got ${cfg.dropout})`);
  }
  const min = minImageSize(cfg);
  if (cfg.image_size < min) {
    throw new StarmambaError(
      `data.size ${cfg.image_size} is too small for the ConvNet: its 5×5 unpadded first ` +
        `convolution and ${cfg.convs.length} poolings need at least ${min} pixels; use a ` +
        `data.size of ${min} or more`,
    );
  }
}

/**
 * Initial weights N(0, gain²/max(fan_in, fan_out)) with the authors' gain √(2/(1 + 0.01²)):
 * the per-entry scale of their Orthogonal(gain) initialiser (a random matrix of orthonormal rows
 * or columns in Lasagne's flat shape (fan_out, fan_in) for convolutions, (fan_in, fan_out) for
 * dense layers has entries of variance 1/max of its sides), without the orthogonality itself: a
 * Haar-orthogonal 6272×2048 matrix costs ~10¹¹ FLOPs in TypeScript at every build (predict
 * and evaluate build the network before loading its weights). docs/networks.md says so.
 */
function initWeight(fanIn: number, fanOut: number, size: number, r: ReturnType<typeof rng>) {
  return normal(size, GAIN / Math.sqrt(Math.max(fanIn, fanOut)), r);
}

/** Adds every parameter, in forward order, drawing weights from `r`. */
function initParams(ps: ParamStore, cfg: ConvNetConfig, r: ReturnType<typeof rng>): void {
  let cin = cfg.in_channels;
  cfg.convs.forEach((n, s) => {
    const cout = cfg.filters[s];
    for (let j = 0; j < n; j++) {
      const k = s === 0 && j === 0 ? FIRST_KERNEL : 3;
      const name = convName(s, j);
      ps.add(
        `${name}.weight`,
        [k, k, cin, cout],
        initWeight(k * k * cin, cout, k * k * cin * cout, r),
      );
      ps.add(`${name}.bias`, [cout], constant(cout, CONV_BIAS));
      cin = cout;
    }
  });
  let fin = flatFeatures(cfg);
  const dense = (name: string, fout: number) => {
    ps.add(`${name}.weight`, [fin, fout], initWeight(fin, fout, fin * fout, r));
    ps.add(`${name}.bias`, [fout], constant(fout, DENSE_BIAS));
    fin = fout;
  };
  cfg.hidden.forEach((units, i) => dense(hiddenName(cfg, i), units));
  // The paper gives the output layer 0.01 too (the authors' code leaves Lasagne's 0): a bias
  // shared by every class cancels in the softmax, so the two are the same network.
  dense("output", cfg.num_classes);
}

/** The forward pass of `cfg` over the parameters in `ps`. */
function forwardPass(
  ps: ParamStore,
  cfg: ConvNetConfig,
  x: tf.Tensor4D,
  ctx: ForwardContext,
): tf.Tensor2D {
  const [, h, w, c] = x.shape;
  if (h !== cfg.image_size || w !== cfg.image_size || c !== cfg.in_channels) {
    throw new StarmambaError(
      `input images are ${h}×${w}×${c} but the model expects ` +
        `${cfg.image_size}×${cfg.image_size}×${cfg.in_channels} (model.image_size / ` +
        `model.in_channels, data.size / data.channels must agree)`,
    );
  }
  let y = x;
  cfg.convs.forEach((n, s) => {
    for (let j = 0; j < n; j++) {
      const name = convName(s, j);
      y = s === 0 && j === 0 ? convValid(ps, name, y) : conv(ps, name, y);
      y = leakyRelu(y, LEAK) as tf.Tensor4D;
    }
    y = maxPool2x2(y);
  });
  // Flatten in (channel, row, column) order, as Lasagne and PyTorch do on NCHW maps, so the
  // first dense weight's rows are theirs (its [in, out] layout is their [out, in] transposed).
  let f: tf.Tensor = tf.reshape(tf.transpose(y, [0, 3, 1, 2]), [y.shape[0], -1]);
  cfg.hidden.forEach((_, i) => {
    f = dropout(f, cfg.dropout, ctx);
    f = leakyRelu(linear(ps, hiddenName(cfg, i), f, true), LEAK);
  });
  return linear(ps, "output", f, true) as tf.Tensor2D;
}

/**
 * Builds the ConvNet `config` describes, its initial weights drawn from `seed` (the same config
 * and seed give the same weights, bit for bit). Parameters are named as the authors' layers
 * (`conv11` … `conv33`, `hidden4`, `hidden5`, `output`) with PyTorch's `.weight` / `.bias`;
 * convolution weights are [k, k, in, out], dense weights [in, out].
 */
export function buildConvNet(config: ConvNetConfig, seed: number): ConvNet {
  validateConvNetConfig(config);
  const cfg: ConvNetConfig = {
    ...config,
    filters: [...config.filters],
    convs: [...config.convs],
    hidden: [...config.hidden],
  };
  const ps = new ParamStore();
  initParams(ps, cfg, rng(seed, "init"));
  return {
    arch: CONVNET_ARCH,
    config: cfg,
    params: ps,
    forward: (x, ctx) => forwardPass(ps, cfg, x, ctx),
  };
}

/** The ConvNet's config for data of `shape`: the paper's widths. It reads no `model` key. */
export function convnetConfigFor(
  _model: ExperimentConfig["model"],
  shape: NetworkShape,
): ConvNetConfig {
  const cfg: ConvNetConfig = {
    in_channels: shape.in_channels,
    num_classes: shape.num_classes,
    image_size: shape.image_size,
    ...structuredClone(CONVNET_PAPER),
  };
  validateConvNetConfig(cfg);
  return cfg;
}

/** Trainable parameters of `cfg`, from its layer table (no network is built). */
export function convnetParameters(cfg: ConvNetConfig): number {
  let n = 0, cin = cfg.in_channels;
  cfg.convs.forEach((count, s) => {
    for (let j = 0; j < count; j++) {
      const k = s === 0 && j === 0 ? FIRST_KERNEL : 3;
      n += k * k * cin * cfg.filters[s] + cfg.filters[s];
      cin = cfg.filters[s];
    }
  });
  let fin = flatFeatures(cfg);
  for (const fout of [...cfg.hidden, cfg.num_classes]) {
    n += fin * fout + fout;
    fin = fout;
  }
  return n;
}

/** Forward FLOPs per image of a ConvNet, by kind, and a training step's. */
export interface ConvNetFlops {
  /** The eight convolutions (at their output sizes: conv11's unpadded 60×60 at 64×64). */
  conv: number;
  /** The dense layers. */
  matmul: number;
  /** conv + matmul. */
  forward: number;
  /** 3 × forward: one training step's forward and backward. */
  train: number;
}

/**
 * Analytic FLOPs per image of one forward pass, counted as bench/flops.ts counts MedMamba's:
 * every multiply-add of a convolution or a dense layer is 2 FLOPs; biases, activations,
 * pooling and dropout are left out; a training step is 3× the forward. conv11 is counted at
 * its unpadded output (what the network computes); the implementation runs it padded and
 * crops (see convValid), (S/(S − 4))² of that layer's count.
 */
export function convnetFlops(cfg: ConvNetConfig): ConvNetFlops {
  let conv = 0, cin = cfg.in_channels, side = cfg.image_size - (FIRST_KERNEL - 1);
  cfg.convs.forEach((count, s) => {
    const cout = cfg.filters[s];
    for (let j = 0; j < count; j++) {
      const k = s === 0 && j === 0 ? FIRST_KERNEL : 3;
      conv += 2 * side * side * k * k * cin * cout;
      cin = cout;
    }
    side = Math.floor(side / 2);
  });
  let matmul = 0, fin = flatFeatures(cfg);
  for (const fout of [...cfg.hidden, cfg.num_classes]) {
    matmul += 2 * fin * fout;
    fin = fout;
  }
  const forward = conv + matmul;
  return { conv, matmul, forward, train: 3 * forward };
}

/** True when `cfg` has the published widths. */
function published(cfg: ConvNetConfig): boolean {
  return JSON.stringify([cfg.filters, cfg.convs, cfg.hidden, cfg.dropout]) ===
    JSON.stringify([
      CONVNET_PAPER.filters,
      CONVNET_PAPER.convs,
      CONVNET_PAPER.hidden,
      CONVNET_PAPER.dropout,
    ]);
}

/** The ConvNet in the network registry: `model.arch: convnet`; no other `model` key applies. */
export const CONVNET_ENTRY: NetworkEntry<ConvNetConfig> = {
  doc: "the ConvNet of Kim & Brunner 2017 (MNRAS 464, 4463): 8 convolutions with leaky ReLU " +
    "and max pooling, 2 dense layers of 2048 with dropout; reads no other model key",
  configFor: convnetConfigFor,
  create: buildConvNet,
  label: (cfg) => (published(cfg) ? "ConvNet" : "ConvNet (variant)"),
  paper: "Kim & Brunner's paper (2017, MNRAS 464, 4463, arXiv:1608.04369)",
  summary: (cfg, parameters) =>
    `ConvNet of Kim & Brunner (2017), ${
      published(cfg) ? "the published layers" : "a variant of the published layers"
    } (convolutions ${
      cfg.convs.map((n, s) => Array(n).fill(cfg.filters[s]).join("-")).join(" | ")
    }, dense ${cfg.hidden.join("-")}, dropout ${cfg.dropout}) on ` +
    `${cfg.in_channels}×${cfg.image_size}×${cfg.image_size} input, ` +
    `${parameters.toLocaleString("en")} parameters`,
};
