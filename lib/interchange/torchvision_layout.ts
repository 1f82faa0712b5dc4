/**
 * starmamba's ResNet-18 (lib/model/resnet.ts) ↔ torchvision's `resnet18` state_dict. The names
 * are torchvision's already (`conv1.weight`, `layer2.0.downsample.0.weight`, `fc.bias` …), so
 * only layouts change: convolutions HWIO ↔ (out, in, kh, kw), fc (in, out) ↔ (out, in); and every
 * BatchNorm gains its `num_batches_tracked` (int64 0), so the file holds exactly the keys, in the
 * order, of `torchvision.models.resnet18().state_dict()` (tests/resnet_test.ts checks both
 * against torchvision's list). PyTorch reads `num_batches_tracked` only when a BatchNorm's
 * momentum is None; torchvision's is 0.1, as starmamba's.
 *
 * With the small stem, `conv1.weight` is (64, in, 3, 3) and there is no max-pool (it has no
 * parameters, so no key changes): a torchvision resnet18 loads the file strictly after
 * {@link torchvisionRecipe}'s two lines.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { ParamStore } from "../model/params.ts";
import type { ResnetConfig, ResnetStem } from "../model/resnet.ts";
import { StarmambaError } from "../util/errors.ts";
import { type NamedArray, paramArrays, permute } from "./medmamba_layout.ts";
import type { StoredTensor, TensorToWrite } from "./safetensors.ts";

/**
 * The axis permutation taking starmamba's layout of ResNet parameter `name` (of rank `rank`) to
 * torchvision's (`out[i]` is axis `perm[i]` of the input), or null when they agree.
 */
export function torchvisionPermutation(name: string, rank: number): number[] | null {
  if (rank === 4) return [3, 2, 0, 1]; // conv HWIO → OIHW
  if (name === "fc.weight") return [1, 0]; // (in, out) → (out, in)
  return null;
}

/** The inverse of an axis permutation. */
function invert(perm: number[]): number[] {
  const q = new Array<number>(perm.length);
  perm.forEach((p, i) => q[p] = i);
  return q;
}

/**
 * A ResNet's torchvision state_dict (`network` is a built ResNet-18, or anything holding its
 * parameters): every parameter in torchvision's layout, in torchvision's order, with each
 * BatchNorm's `num_batches_tracked` (int64 0) after its running_var.
 */
export function resnetStateDict(network: { params: ParamStore }): Map<string, TensorToWrite> {
  const out = new Map<string, TensorToWrite>();
  for (const [name, a] of paramArrays(network.params)) {
    const perm = torchvisionPermutation(name, a.shape.length);
    out.set(name, perm ? permute(a, perm) : a);
    if (name.endsWith(".running_var")) {
      out.set(name.replace(/running_var$/, "num_batches_tracked"), {
        shape: [],
        data: new BigInt64Array(1),
      });
    }
  }
  return out;
}

/**
 * Reads a ResNet's parameters (starmamba's names and layouts) out of a torchvision state_dict.
 * `expected` maps every parameter name to its shape (from the network the checkpoint is for).
 * A `module.` prefix (nn.DataParallel) is removed first; `num_batches_tracked` is ignored. A
 * missing key, a key of the wrong shape or type, or an unexpected key is one StarmambaError
 * naming each and `file`.
 */
export function fromTorchvisionStateDict(
  state: Map<string, StoredTensor>,
  expected: Map<string, number[]>,
  file: string,
): Map<string, NamedArray> {
  const byKey = new Map<string, StoredTensor>();
  for (const [k, v] of state) byKey.set(k.replace(/^module\./, ""), v);
  const out = new Map<string, NamedArray>();
  const problems: string[] = [];
  for (const [name, shape] of expected) {
    const perm = torchvisionPermutation(name, shape.length);
    const want = perm ? perm.map((p) => shape[p]) : shape;
    const t = byKey.get(name);
    if (!t) {
      problems.push(`${name} is missing (needs [${want}])`);
      continue;
    }
    if (!(t.data instanceof Float32Array)) {
      problems.push(`${name} is ${t.dtype}, expected a float type`);
      continue;
    }
    if (t.shape.join() !== want.join()) {
      problems.push(`${name} is [${t.shape}] but the network needs [${want}]`);
      continue;
    }
    const a = { shape: t.shape, data: t.data };
    out.set(name, perm ? permute(a, invert(perm)) : a);
  }
  for (const k of byKey.keys()) {
    if (!expected.has(k) && !k.endsWith(".num_batches_tracked")) {
      problems.push(`${k} is not a parameter of torchvision's resnet18`);
    }
  }
  if (problems.length) {
    const shown = problems.slice(0, 12).join("; ");
    const more = problems.length > 12 ? `; … and ${problems.length - 12} more` : "";
    throw new StarmambaError(
      `${file}: not the state_dict of this ResNet-18: ${shown}${more}; check data.channels, ` +
        "the classes and model.stem (or let them be read from the file's shapes)",
    );
  }
  return out;
}

/**
 * Loads a torchvision state_dict into the parameters of `network`, a built ResNet-18 of the
 * checkpoint's shape (running statistics included), and
 * returns the arrays it assigned, by starmamba name. Errors as {@link fromTorchvisionStateDict}.
 */
export function loadResnetStateDict(
  network: { params: ParamStore },
  state: Map<string, StoredTensor>,
  file: string,
): Map<string, NamedArray> {
  const expected = new Map(
    [...network.params.params.values()].map((p) => [p.name, p.variable.shape]),
  );
  const arrays = fromTorchvisionStateDict(state, expected, file);
  for (const [name, a] of arrays) {
    const t = tf.tensor(a.data, a.shape, "float32");
    network.params.get(name).assign(t);
    t.dispose();
  }
  return arrays;
}

/**
 * The settings a torchvision ResNet-18 state_dict's shapes determine: input channels and width
 * (conv1.weight is (width, in, k, k)), the stem (k = 3: small, 7: imagenet) and the classes
 * (fc.weight is (classes, 8·width)). image_size is not visible in weights and is left out.
 */
export function inferResnetConfig(
  state: Map<string, StoredTensor>,
  file: string,
): Pick<ResnetConfig, "in_channels" | "num_classes" | "stem" | "width"> {
  const get = (k: string): StoredTensor => {
    const t = state.get(k) ?? state.get(`module.${k}`);
    if (!t) {
      throw new StarmambaError(
        `${file}: ${k} is missing, so this is not a torchvision ResNet state_dict`,
      );
    }
    return t;
  };
  const conv1 = get("conv1.weight").shape;
  const fc = get("fc.weight").shape;
  if (conv1.length !== 4 || (conv1[2] !== 3 && conv1[2] !== 7) || fc.length !== 2) {
    throw new StarmambaError(
      `${file}: conv1.weight is [${conv1}] and fc.weight [${fc}]; a ResNet-18 has a 3×3 ` +
        "(small stem) or 7×7 (imagenet stem) conv1 and a 2-D fc.weight",
    );
  }
  const stem: ResnetStem = conv1[2] === 3 ? "small" : "imagenet";
  return { in_channels: conv1[1], width: conv1[0], stem, num_classes: fc[0] };
}

/**
 * The Python that builds the torchvision module a ResNet export loads into with
 * `load_state_dict(state, strict=True)` (docs/networks.md): torchvision's resnet18 with the
 * classes, and conv1/maxpool replaced where the stem or the input channels differ from
 * torchvision's.
 */
export function torchvisionRecipe(cfg: ResnetConfig): string[] {
  const lines = [
    "import torch.nn as nn; from torchvision.models import resnet18",
    `net = resnet18(num_classes=${cfg.num_classes})`,
  ];
  if (cfg.stem === "small") {
    lines.push(
      `net.conv1 = nn.Conv2d(${cfg.in_channels}, ${cfg.width}, kernel_size=3, stride=1, ` +
        "padding=1, bias=False)",
      "net.maxpool = nn.Identity()",
    );
  } else if (cfg.in_channels !== 3) {
    lines.push(
      `net.conv1 = nn.Conv2d(${cfg.in_channels}, ${cfg.width}, kernel_size=7, stride=2, ` +
        "padding=3, bias=False)",
    );
  }
  return lines;
}
