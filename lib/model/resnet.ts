/**
 * ResNet-18 (He et al., "Deep Residual Learning for Image Recognition", CVPR 2016, Table 1) in
 * torchvision's layout (torchvision/models/resnet.py, `resnet18`), so its weights export as a
 * torchvision state_dict key for key (lib/interchange/torchvision_layout.ts):
 *
 *   stem: conv1 → bn1 → ReLU [→ maxpool]
 *   layer1..layer4: two BasicBlocks each, widths w, 2w, 4w, 8w (w = 64); the first block of
 *     layer2..4 halves the side (stride 2 in its conv1, and a downsample: 1×1 conv stride 2 → BN)
 *   global average pool → fc
 *   BasicBlock: conv3×3 → BN → ReLU → conv3×3 → BN, + identity (or downsample(x)), → ReLU
 *
 * The stem is the one choice (`model.stem`): `imagenet` is torchvision's (conv 7×7 stride 2
 * padding 3, max-pool 3×3 stride 2 padding 1: the side shrinks 4× before layer1, so 64 px ends at
 * 2×2 in layer4); `small` (the default) is a conv 3×3 stride 1 padding 1 and no max-pool, as
 * He et al.'s CIFAR networks (§4.2) and the usual ResNets for 32–64 px inputs, keeping 64 px to
 * 8×8 in layer4. docs/networks.md gives the reasons and the two lines a PyTorch user changes.
 *
 * Convolutions have no bias (BatchNorm follows each). Parameters are stored as tfjs wants them
 * (conv HWIO, fc (in, out)); the export permutes to PyTorch's OIHW and (out, in).
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { ExperimentConfig } from "../config/schema.ts";
import { batchNorm, type ForwardContext, initBatchNorm, initConvWeight } from "./layers.ts";
import type { Network, NetworkEntry, NetworkShape } from "./network.ts";
import { ParamStore, uniform } from "./params.ts";
import { type Rng, rng } from "../util/rng.ts";
import { capabilities } from "../ops/capabilities.ts";
import { StarmambaError } from "../util/errors.ts";

/** ResNet-18's name in the network registry (`model.arch`) and in model.json. */
export const RESNET18_ARCH = "resnet18";

/** A stem: `small` (conv 3×3 stride 1, no max-pool) or `imagenet` (torchvision's). */
export type ResnetStem = "small" | "imagenet";

/** The stems `model.stem` offers (see the module doc). */
export const RESNET_STEMS: readonly ResnetStem[] = ["small", "imagenet"];

/** BasicBlocks per stage of ResNet-18 (He et al. Table 1). */
export const RESNET18_BLOCKS: readonly number[] = [2, 2, 2, 2];

/** Everything that defines a ResNet-18's shape. */
export interface ResnetConfig extends NetworkShape {
  /** The stem (`model.stem`). */
  stem: ResnetStem;
  /**
   * Channels of conv1 and layer1; layer i has width·2^(i−1). 64 in ResNet-18 (and the only
   * width the config offers); tests build narrower ones to check gradients quickly.
   */
  width: number;
}

/** ResNet-18's config for data of `shape`: width 64, the given stem (default small). */
export function resnetConfig(shape: NetworkShape, stem: ResnetStem = "small"): ResnetConfig {
  const cfg: ResnetConfig = {
    in_channels: shape.in_channels,
    num_classes: shape.num_classes,
    image_size: shape.image_size,
    stem,
    width: 64,
  };
  validateResnetConfig(cfg);
  return cfg;
}

/** Throws a StarmambaError naming the key when `cfg` (perhaps read from a file) can't build. */
export function validateResnetConfig(cfg: ResnetConfig): void {
  if (!(RESNET_STEMS as readonly string[]).includes(cfg.stem)) {
    throw new StarmambaError(
      `model.stem ${JSON.stringify(cfg.stem)} is not a ResNet stem: use ${
        RESNET_STEMS.join(" or ")
      }`,
    );
  }
  const ints: [string, number, number][] = [
    ["data.channels (in_channels)", cfg.in_channels, 1],
    ["the number of classes (num_classes)", cfg.num_classes, 1],
    ["data.size (image_size)", cfg.image_size, 1],
    ["width", cfg.width, 1],
  ];
  for (const [key, v, min] of ints) {
    if (!Number.isInteger(v) || v < min) {
      throw new StarmambaError(`resnet18: ${key} is ${v}; it must be an integer ≥ ${min}`);
    }
  }
}

/** Channels of stage i (0-based): width·2^i. */
function stageWidth(cfg: ResnetConfig, i: number): number {
  return cfg.width * 2 ** i;
}

/** Output side of a conv or pool with kernel k, stride s and padding (k − 1)/2 (PyTorch's floor). */
export function stridedSide(side: number, stride: number): number {
  return Math.floor((side - 1) / stride) + 1;
}

/**
 * Every second row and column of x, starting at 0 (x[:, ::2, ::2, :]): a reshape and a slice, so
 * its gradient is the registered one (a pad) on every backend. An odd side is padded by one first.
 */
export function subsample2(x: tf.Tensor4D): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  const xp = h % 2 || w % 2 ? tf.pad(x, [[0, 0], [0, h % 2], [0, w % 2], [0, 0]]) : x;
  const h2 = stridedSide(h, 2), w2 = stridedSide(w, 2);
  const rows = tf.reshape(xp, [b * h2, 2, w2, 2 * c]);
  return tf.reshape(tf.slice(rows, [0, 0, 0, 0], [b * h2, 1, w2, c]), [b, h2, w2, c]);
}

/** Kernel of the strided convolution (x, filter; attrs {stride}), which a backend may offer. */
export const CONV_STRIDED = "StarmambaConv2DStrided";
/** Kernel of its filter gradient (x, dy; attrs {k, stride}). */
export const CONV_STRIDED_FILTER_GRAD = "StarmambaConv2DStridedFilterGrad";
/** Kernel of its input gradient (dy, filter; attrs {stride, height, width}: x's sides). */
export const CONV_STRIDED_INPUT_GRAD = "StarmambaConv2DStridedInputGrad";

let stridedGradient = false;

/** Registers the strided convolution's gradient once (lazy closures: dx only when needed). */
function registerStridedGradient(): void {
  if (stridedGradient) return;
  stridedGradient = true;
  tf.registerGradient({
    kernelName: CONV_STRIDED,
    inputsToSave: ["x", "filter"],
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
      const g = dy as tf.Tensor4D;
      const [x, filter] = saved as [tf.Tensor4D, tf.Tensor4D];
      const { stride } = attrs as unknown as { stride: number };
      const run = (name: string, inputs: tf.NamedTensorMap, a: Record<string, number>) =>
        tf.engine().runKernel(name, inputs, a as never) as tf.Tensor;
      return {
        x: () =>
          run(CONV_STRIDED_INPUT_GRAD, { dy: g, filter }, {
            stride,
            height: x.shape[1],
            width: x.shape[2],
          }),
        filter: () => run(CONV_STRIDED_FILTER_GRAD, { x, dy: g }, { k: filter.shape[0], stride }),
      };
    },
  });
}

/**
 * Whether the active backend runs the strided convolution itself: wasm with the native library
 * (its kernels come with the native convolutions, whose capability is convFilterGrad).
 */
function stridedConvAvailable(): boolean {
  return capabilities().convFilterGrad() && tf.getKernel(CONV_STRIDED, tf.getBackend()) != null;
}

/**
 * A bias-free conv k×k (k odd) with PyTorch's padding (k − 1)/2 and stride 1 or 2, on NHWC.
 * 1×1: a matmul (after subsampling for stride 2). k > 1, stride 2: the native strided
 * convolution where the backend has it (wasm with the native library: native/cpu/conv.c);
 * elsewhere the stride-1 SAME conv, subsampled — output (i, j) of the strided conv is output
 * (2i, 2j) of the stride-1 one, the same products — because that is the conv with a registered
 * gradient on every backend (lib/ops/grads.ts); it costs 4× the strided conv's multiply-adds in
 * the three strided convs of layer2..4 (and the imagenet stem's conv1). The two routes sum the
 * same terms in the same order, forward and backward: the same bits (up to the sign of an exact
 * zero; tests/cnn_kernels_test.ts).
 */
export function convStrided(x: tf.Tensor4D, w: tf.Tensor4D, stride: 1 | 2): tf.Tensor4D {
  const [k, , cin, cout] = w.shape;
  if (k === 1) {
    const xs = stride === 2 ? subsample2(x) : x;
    const [b, h, wd] = xs.shape;
    const y = tf.matMul(tf.reshape(xs, [b * h * wd, cin]), tf.reshape(w, [cin, cout]));
    return tf.reshape(y, [b, h, wd, cout]);
  }
  if (stride === 2 && stridedConvAvailable()) {
    registerStridedGradient();
    return tf.engine().runKernel(
      CONV_STRIDED,
      { x, filter: w },
      { stride } as never,
    ) as tf.Tensor4D;
  }
  const y = tf.conv2d(x, w, 1, "same");
  return stride === 2 ? subsample2(y) : y;
}

/**
 * Max-pool 3×3, stride 2, padding 1 (torchvision's stem): tfjs's MaxPool with PyTorch's explicit
 * padding (the padding is never a maximum; the side is ⌊(side − 1)/2⌋ + 1). Its gradient routes
 * each output's gradient to the first maximum of its window in row-major order, as PyTorch does,
 * on every backend: on wasm through starmamba's MaxPoolGrad
 * (lib/backends/wasm/kernels/max_pool_grad.ts), tfjs-backend-wasm 4.22's own being wrong on some
 * shapes (e.g. 2 × 32 × 32 × 64, this stem's at batch 2 and 64 px).
 */
export function maxPool3x3s2(x: tf.Tensor4D): tf.Tensor4D {
  return tf.maxPool(x, 3, 2, 1);
}

/** Conv (no bias) → BatchNorm, by torchvision's names `conv` and `bn`. */
function convBn(
  ps: ParamStore,
  conv: string,
  bn: string,
  x: tf.Tensor4D,
  stride: 1 | 2,
  ctx: ForwardContext,
): tf.Tensor4D {
  return batchNorm(ps, bn, convStrided(x, ps.get(`${conv}.weight`) as tf.Tensor4D, stride), ctx);
}

/** One BasicBlock's parameters, in torchvision's state_dict order. */
function initBasicBlock(
  ps: ParamStore,
  name: string,
  cin: number,
  planes: number,
  downsample: boolean,
  r: Rng,
): void {
  initConvWeight(ps, `${name}.conv1`, 3, cin, planes, r);
  initBatchNorm(ps, `${name}.bn1`, planes);
  initConvWeight(ps, `${name}.conv2`, 3, planes, planes, r);
  initBatchNorm(ps, `${name}.bn2`, planes);
  if (downsample) {
    initConvWeight(ps, `${name}.downsample.0`, 1, cin, planes, r);
    initBatchNorm(ps, `${name}.downsample.1`, planes);
  }
}

/** BasicBlock: relu(bn2(conv2(relu(bn1(conv1(x))))) + identity), identity = downsample(x) if any. */
function basicBlock(
  ps: ParamStore,
  name: string,
  x: tf.Tensor4D,
  stride: 1 | 2,
  ctx: ForwardContext,
): tf.Tensor4D {
  let y = tf.relu(convBn(ps, `${name}.conv1`, `${name}.bn1`, x, stride, ctx));
  y = convBn(ps, `${name}.conv2`, `${name}.bn2`, y, 1, ctx);
  const identity = ps.params.has(`${name}.downsample.0.weight`)
    ? convBn(ps, `${name}.downsample.0`, `${name}.downsample.1`, x, stride, ctx)
    : x;
  return tf.relu(tf.add(y, identity));
}

/** Stride of stage i's first block: 1 in layer1, 2 after. */
function stageStride(i: number): 1 | 2 {
  return i === 0 ? 1 : 2;
}

/**
 * Builds a ResNet-18 with weights drawn from `seed` (stream "init", in parameter order): convs
 * He normal, fan-out; BatchNorm γ = 1, β = 0, running mean 0 and variance 1; fc weight and bias
 * uniform ±1/√fan_in (PyTorch's Linear default) — torchvision's initialisation, with
 * zero_init_residual off (its default). The same config and seed give the same bits everywhere.
 */
export function buildResnet(cfg: ResnetConfig, seed: number): Network<ResnetConfig> {
  validateResnetConfig(cfg);
  const r = rng(seed, "init");
  const ps = new ParamStore();
  const stemK = cfg.stem === "small" ? 3 : 7;
  initConvWeight(ps, "conv1", stemK, cfg.in_channels, cfg.width, r);
  initBatchNorm(ps, "bn1", cfg.width);
  let cin = cfg.width;
  RESNET18_BLOCKS.forEach((blocks, i) => {
    const planes = stageWidth(cfg, i);
    for (let j = 0; j < blocks; j++) {
      const down = j === 0 && (stageStride(i) !== 1 || cin !== planes);
      initBasicBlock(ps, `layer${i + 1}.${j}`, cin, planes, down, r);
      cin = planes;
    }
  });
  const bound = 1 / Math.sqrt(cin);
  ps.add("fc.weight", [cin, cfg.num_classes], uniform(cin * cfg.num_classes, bound, r));
  ps.add("fc.bias", [cfg.num_classes], uniform(cfg.num_classes, bound, r));

  const forward = (x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor2D => {
    const [, h, w, c] = x.shape;
    if (h !== cfg.image_size || w !== cfg.image_size || c !== cfg.in_channels) {
      throw new StarmambaError(
        `input images are ${h}×${w}×${c} but the model expects ` +
          `${cfg.image_size}×${cfg.image_size}×${cfg.in_channels} (data.size / data.channels ` +
          "must be those the model was built for)",
      );
    }
    let y = tf.relu(convBn(ps, "conv1", "bn1", x, cfg.stem === "small" ? 1 : 2, ctx));
    if (cfg.stem === "imagenet") y = maxPool3x3s2(y);
    RESNET18_BLOCKS.forEach((blocks, i) => {
      for (let j = 0; j < blocks; j++) {
        y = basicBlock(ps, `layer${i + 1}.${j}`, y, j === 0 ? stageStride(i) : 1, ctx);
      }
    });
    const pooled = tf.mean(y, [1, 2]) as tf.Tensor2D;
    return tf.add(tf.matMul(pooled, ps.get("fc.weight")), ps.get("fc.bias")) as tf.Tensor2D;
  };
  return { arch: RESNET18_ARCH, config: cfg, params: ps, forward };
}

/** Forward FLOPs per image of a ResNet, by kind (bench/flops.ts's convention). */
export interface ResnetFlops {
  /** Convolutions wider than 1×1: conv1 and the BasicBlocks' 3×3s. */
  conv: number;
  /** 1×1 convolutions (the downsamples) and fc, which run as matmuls. */
  matmul: number;
  /** conv + matmul. */
  forward: number;
  /** 3 × forward: one training step's forward and backward. */
  train: number;
}

/**
 * Analytic FLOPs per image of the network `cfg` describes, counted as bench/flops.ts counts
 * MedMamba's: 2 per multiply-add of every convolution and matmul at its true (strided) output
 * size; BatchNorm, ReLU, pooling and the residual adds left out; training = 3× forward.
 * (Without the native strided convolution the strided convs run at stride 1, see
 * {@link convStrided}: the work done is more.)
 */
export function resnetFlops(cfg: ResnetConfig): ResnetFlops {
  let conv = 0, matmul = 0;
  const convAt = (side: number, k: number, cin: number, cout: number) =>
    2 * side * side * k * k * cin * cout;
  let side = cfg.image_size;
  if (cfg.stem === "small") conv += convAt(side, 3, cfg.in_channels, cfg.width);
  else {
    side = stridedSide(side, 2);
    conv += convAt(side, 7, cfg.in_channels, cfg.width);
    side = stridedSide(side, 2); // max-pool
  }
  let cin = cfg.width;
  RESNET18_BLOCKS.forEach((blocks, i) => {
    const planes = stageWidth(cfg, i);
    for (let j = 0; j < blocks; j++) {
      const stride = j === 0 ? stageStride(i) : 1;
      side = stridedSide(side, stride);
      conv += convAt(side, 3, cin, planes) + convAt(side, 3, planes, planes);
      if (j === 0 && (stride !== 1 || cin !== planes)) matmul += convAt(side, 1, cin, planes);
      cin = planes;
    }
  });
  matmul += 2 * cin * cfg.num_classes;
  const forward = conv + matmul;
  return { conv, matmul, forward, train: 3 * forward };
}

/** ResNet-18's config from an experiment's model section (`model.stem`) and the data's shape. */
export function resnetConfigFor(
  model: ExperimentConfig["model"],
  shape: NetworkShape,
): ResnetConfig {
  return resnetConfig(shape, model.stem);
}

/** ResNet-18 in the network registry (`model.arch: resnet18`; `model.stem` picks the stem). */
export const RESNET18_ENTRY: NetworkEntry<ResnetConfig> = {
  doc: "ResNet-18 in torchvision's layout (exports as its state_dict); model.stem: small " +
    "(3×3 conv, no max-pool) or imagenet",
  configFor: resnetConfigFor,
  create: buildResnet,
  label: (cfg) => (cfg.stem === "small" ? "ResNet-18" : "ResNet-18 (ImageNet stem)"),
  summary: (cfg, parameters) =>
    `ResNet-18 (torchvision's layout), ${
      cfg.stem === "small"
        ? "small stem (conv 3×3 stride 1, no max-pool)"
        : "torchvision's ImageNet stem (conv 7×7 stride 2, max-pool)"
    }, ${cfg.in_channels}×${cfg.image_size}×${cfg.image_size} → ${cfg.num_classes} classes, ` +
    `${parameters.toLocaleString("en")} parameters`,
  paper: "ResNet's paper (He et al. 2016, CVPR, arXiv:1512.03385)",
};
