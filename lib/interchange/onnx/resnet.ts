/**
 * ResNet-18 as one ONNX graph (opset 17), built from its torchvision state_dict
 * (lib/interchange/torchvision_layout.ts): NCHW float32 images in, logits and softmax
 * probabilities out (lib/interchange/onnx/graph.ts's {@link encodeClassifier}). The graph is
 * torchvision's `ResNet.forward` op for op — conv1, bn1, relu, maxpool (the ImageNet stem only),
 * layer1…layer4 of BasicBlocks, global average pool, fc — with BatchNorm in inference mode (its
 * running statistics), as starmamba's forward pass in eval mode (lib/model/resnet.ts).
 * @module
 */
import type { ResnetConfig } from "../../model/resnet.ts";
import { RESNET18_BLOCKS } from "../../model/resnet.ts";
import type { TensorToWrite } from "../safetensors.ts";
import { encodeClassifier, OnnxGraph } from "./graph.ts";

/** BatchNorm epsilon of torchvision's ResNet (nn.BatchNorm2d's default) and starmamba's. */
const EPS = 1e-5;

/**
 * The serialised ONNX model of a ResNet-18 of config `cfg` whose torchvision state_dict is
 * `state` (float32 tensors in torchvision's layout; its int64 num_batches_tracked are unused).
 *
 * @example Export a freshly built ResNet-18 and look at the graph's size
 * ```ts
 * import "@tensorflow/tfjs-backend-cpu"; // buildResnet makes tensors: any tfjs backend
 * import { buildResnet, resnetConfig } from "../../model/resnet.ts";
 * import { resnetStateDict } from "../torchvision_layout.ts";
 * import { resnetOnnx } from "./resnet.ts";
 * const cfg = resnetConfig({ in_channels: 3, num_classes: 2, image_size: 64 }, "imagenet");
 * const net = buildResnet(cfg, 1);
 * const bytes = resnetOnnx(resnetStateDict(net), cfg);
 * console.log(bytes.length > 4 * net.params.countTrainable()); // true: every weight inside
 * net.params.dispose();
 * ```
 */
export function resnetOnnx(
  state: Map<string, TensorToWrite>,
  cfg: ResnetConfig,
  metadata: Record<string, string> = {},
): Uint8Array {
  const g = new OnnxGraph("resnet18");
  const w = (key: string): string => {
    const t = state.get(key);
    if (!t || !(t.data instanceof Float32Array)) {
      throw new Error(`ONNX export: no float32 tensor ${key} in the ResNet state_dict`);
    }
    return g.floats(key, t.data, t.shape);
  };
  /** Conv (no bias, padding (k − 1)/2 as torchvision's) → BatchNorm in inference mode. */
  const convBn = (x: string, conv: string, bn: string, k: number, stride: number): string => {
    const pad = (k - 1) / 2;
    const y = g.op1("Conv", [x, w(`${conv}.weight`)], {
      kernel_shape: { ints: [k, k] },
      strides: { ints: [stride, stride] },
      pads: { ints: [pad, pad, pad, pad] },
    });
    const stats = ["weight", "bias", "running_mean", "running_var"].map((s) => w(`${bn}.${s}`));
    return g.op1("BatchNormalization", [y, ...stats], { epsilon: { f: EPS } });
  };
  /** BasicBlock: relu(bn2(conv2(relu(bn1(conv1(x))))) + identity), identity downsampled if so. */
  const basicBlock = (x: string, name: string, stride: number): string => {
    const y = g.op1("Relu", [convBn(x, `${name}.conv1`, `${name}.bn1`, 3, stride)]);
    const z = convBn(y, `${name}.conv2`, `${name}.bn2`, 3, 1);
    const identity = state.has(`${name}.downsample.0.weight`)
      ? convBn(x, `${name}.downsample.0`, `${name}.downsample.1`, 1, stride)
      : x;
    return g.op1("Relu", [g.op1("Add", [z, identity])]);
  };

  const small = cfg.stem === "small";
  let x = g.op1("Relu", [convBn("images", "conv1", "bn1", small ? 3 : 7, small ? 1 : 2)]);
  if (!small) {
    x = g.op1("MaxPool", [x], {
      kernel_shape: { ints: [3, 3] },
      strides: { ints: [2, 2] },
      pads: { ints: [1, 1, 1, 1] },
    });
  }
  RESNET18_BLOCKS.forEach((blocks, i) => {
    for (let j = 0; j < blocks; j++) {
      x = basicBlock(x, `layer${i + 1}.${j}`, j === 0 && i > 0 ? 2 : 1);
    }
  });
  const pooled = g.op1("Flatten", [g.op1("GlobalAveragePool", [x])], { axis: { i: 1 } });
  // fc.weight is (out, in) in torchvision's layout: Gemm transposes it.
  const logits = g.op1("Gemm", [pooled, w("fc.weight"), w("fc.bias")], { transB: { i: 1 } });
  return encodeClassifier(g, logits, cfg, metadata);
}
