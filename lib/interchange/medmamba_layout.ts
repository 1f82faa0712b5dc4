/**
 * starmamba's parameters ↔ the official MedMamba PyTorch state_dict
 * (github.com/YubiaoYue/MedMamba, class VSSM). The names already follow the official code
 * except inside the conv half of a block, which PyTorch keeps as an `nn.Sequential` and so
 * numbers by position (`conv33conv33conv11.{0,2,5}` BatchNorm, `.{1,4,7}` Conv2d; ReLUs hold
 * the other indices). Layouts differ where tfjs and PyTorch store the same weight differently:
 * convolutions HWIO ↔ (out, in, kh, kw), the depthwise conv (kh, kw, C, 1) ↔ (C, 1, kh, kw),
 * Linear (in, out) ↔ (out, in). SS2D's raw parameters (x_proj_weight, dt_projs_*, A_logs, Ds)
 * are stored as the official code stores them.
 * @module
 */
import type { ModelConfig } from "../model/config.ts";
import type { ParamStore } from "../model/params.ts";
import { StarmambaError } from "../util/errors.ts";
import type { StoredTensor, TensorToWrite } from "./safetensors.ts";

/** A float32 array with its shape. */
export interface NamedArray {
  /** Shape, outermost first. */
  shape: number[];
  /** Row-major values. */
  data: Float32Array;
}

/** A network's parameters as named float32 arrays (starmamba layout, canonical order). */
export function paramArrays(params: ParamStore): Map<string, NamedArray> {
  const out = new Map<string, NamedArray>();
  for (const p of params.params.values()) {
    out.set(p.name, { shape: p.variable.shape, data: p.variable.dataSync() as Float32Array });
  }
  return out;
}

/** Position of each conv-half layer in the official nn.Sequential, with and without bn0. */
const SEQUENTIAL_INDEX = {
  withPreBn: { bn0: 0, conv1: 1, bn1: 2, conv2: 4, bn2: 5, conv3: 7 },
  withoutPreBn: { conv1: 0, bn1: 1, conv2: 3, bn2: 4, conv3: 6 },
} as const;

const CONV_HALF = /^(.*\.conv33conv33conv11)\.(bn0|conv1|bn1|conv2|bn2|conv3)\.(.+)$/;

/** The official state_dict key of starmamba parameter `name`. */
export function officialName(name: string, cfg: ModelConfig): string {
  const m = CONV_HALF.exec(name);
  if (!m) return name;
  const table: Record<string, number> = cfg.conv_pre_bn
    ? SEQUENTIAL_INDEX.withPreBn
    : SEQUENTIAL_INDEX.withoutPreBn;
  return `${m[1]}.${table[m[2]]}.${m[3]}`;
}

/**
 * The axis permutation taking starmamba's layout of `name` to PyTorch's (`out[i]` is axis
 * `perm[i]` of the input), or null when the layouts agree.
 */
export function officialPermutation(name: string, rank: number): number[] | null {
  if (/self_attention\.conv2d\.weight$/.test(name)) return [2, 3, 0, 1]; // (kh,kw,C,1) → (C,1,kh,kw)
  if (rank === 4 && /\.weight$/.test(name)) return [3, 2, 0, 1]; // HWIO → OIHW
  if (/(in_proj|out_proj|reduction)\.weight$|^head\.weight$/.test(name)) return [1, 0];
  return null;
}

/** Transposes a row-major array: output axis i is input axis perm[i]. */
export function permute(a: NamedArray, perm: number[]): NamedArray {
  const shape = perm.map((p) => a.shape[p]);
  const inStrides = a.shape.map((_, i) => a.shape.slice(i + 1).reduce((x, y) => x * y, 1));
  const strides = perm.map((p) => inStrides[p]);
  const out = new Float32Array(a.data.length);
  const idx = new Array(shape.length).fill(0);
  for (let o = 0; o < out.length; o++) {
    let src = 0;
    for (let i = 0; i < idx.length; i++) src += idx[i] * strides[i];
    out[o] = a.data[src];
    for (let i = idx.length - 1; i >= 0; i--) {
      if (++idx[i] < shape[i]) break;
      idx[i] = 0;
    }
  }
  return { shape, data: out };
}

/** The inverse of an axis permutation. */
function invert(perm: number[]): number[] {
  const q = new Array(perm.length);
  perm.forEach((p, i) => q[p] = i);
  return q;
}

/**
 * The official state_dict of a starmamba network: every parameter renamed and re-laid-out,
 * plus each BatchNorm's `num_batches_tracked` (int64 0: starmamba's BatchNorm uses a fixed
 * momentum, so PyTorch never reads it), in starmamba's canonical order.
 */
export function officialStateDict(
  params: Map<string, NamedArray>,
  cfg: ModelConfig,
): Map<string, TensorToWrite> {
  const out = new Map<string, TensorToWrite>();
  for (const [name, a] of params) {
    const perm = officialPermutation(name, a.shape.length);
    const key = officialName(name, cfg);
    out.set(key, perm ? permute(a, perm) : a);
    if (key.endsWith(".running_var")) {
      out.set(key.replace(/running_var$/, "num_batches_tracked"), {
        shape: [],
        data: new BigInt64Array(1),
      });
    }
  }
  return out;
}

/**
 * Reads starmamba parameters out of a MedMamba state_dict. `expected` maps every starmamba
 * parameter name to its shape (from the network built with `cfg`). A missing key, a key of the
 * wrong shape or an unexpected key is a {@link StarmambaError} naming it and `file`; a
 * `module.` prefix (nn.DataParallel) is removed first.
 */
export function fromOfficialStateDict(
  state: Map<string, StoredTensor>,
  expected: Map<string, number[]>,
  cfg: ModelConfig,
  file: string,
): Map<string, NamedArray> {
  const byKey = new Map<string, StoredTensor>();
  for (const [k, v] of state) byKey.set(k.replace(/^module\./, ""), v);
  const used = new Set<string>();
  const out = new Map<string, NamedArray>();
  const problems: string[] = [];
  for (const [name, shape] of expected) {
    const key = officialName(name, cfg);
    const t = byKey.get(key);
    const perm = officialPermutation(name, shape.length);
    const want = perm ? perm.map((p) => shape[p]) : shape;
    if (!t) {
      problems.push(`${key} is missing (needs [${want}])`);
      continue;
    }
    used.add(key);
    if (!(t.data instanceof Float32Array)) {
      problems.push(`${key} is ${t.dtype}, expected a float type`);
      continue;
    }
    if (t.shape.join() !== want.join()) {
      problems.push(`${key} is [${t.shape}] but the model config needs [${want}]`);
      continue;
    }
    const a = { shape: t.shape, data: t.data };
    out.set(name, perm ? permute(a, invert(perm)) : a);
  }
  for (const k of byKey.keys()) {
    if (!used.has(k) && !k.endsWith(".num_batches_tracked")) {
      problems.push(`${k} is not a parameter of this MedMamba`);
    }
  }
  if (problems.length) {
    const shown = problems.slice(0, 12).join("\n  ");
    const more = problems.length > 12 ? `\n  … and ${problems.length - 12} more` : "";
    throw new StarmambaError(
      `${file}: does not match the model config:\n  ${shown}${more}\n` +
        "check model.preset/dim/depths/d_state/directions in the config (or drop them and let " +
        "them be read from the checkpoint's shapes)",
    );
  }
  return out;
}

/**
 * The model settings a MedMamba state_dict's keys and shapes determine (embedding dim, depths,
 * patch size, input channels, classes, d_state, directions, which halves and norms exist).
 * image_size and ssm_residual are not visible in weights and are left out.
 */
export function inferModelConfig(
  state: Map<string, StoredTensor>,
  file: string,
): Partial<ModelConfig> {
  const keys = new Set([...state.keys()].map((k) => k.replace(/^module\./, "")));
  const get = (k: string): StoredTensor => {
    const t = state.get(k) ?? state.get(`module.${k}`);
    if (!t) {
      throw new StarmambaError(
        `${file}: ${k} is missing, so this is not a MedMamba (VSSM) state_dict`,
      );
    }
    return t;
  };
  const proj = get("patch_embed.proj.weight").shape; // (dim, in, p, p)
  const depths: number[] = [];
  for (let i = 0; hasBlock(keys, i); i++) {
    let j = 0;
    while (hasBlock(keys, i, j)) j++;
    depths.push(j);
  }
  const sa = [...keys].find((k) => k.endsWith("self_attention.A_logs"));
  const xp = [...keys].find((k) => k.endsWith("self_attention.x_proj_weight"));
  const cfg: Partial<ModelConfig> = {
    dim: proj[0],
    in_channels: proj[1],
    patch_size: proj[2],
    depths,
    num_classes: get("head.weight").shape[0],
    conv_branch: [...keys].some((k) => k.includes(".conv33conv33conv11.")),
    ssm_branch: sa !== undefined,
    conv_pre_bn: [...keys].some((k) => k.endsWith(".conv33conv33conv11.0.running_mean")),
    head_norm: keys.has("norm.weight"),
  };
  if (sa) cfg.d_state = get(sa).shape[1];
  if (xp) cfg.directions = get(xp).shape[0] as 1 | 2 | 4;
  return cfg;
}

/** Whether block j (any j when omitted) of stage i has any parameter. */
function hasBlock(keys: Set<string>, i: number, j?: number): boolean {
  const prefix = j === undefined ? `layers.${i}.blocks.` : `layers.${i}.blocks.${j}.`;
  for (const k of keys) if (k.startsWith(prefix)) return true;
  return false;
}

/**
 * How a config departs from the official code, one line each (empty: it is the official
 * network). The official VSSM has 4 directions, both halves, the leading BatchNorm, no
 * residual around SS2D and no LayerNorm before pooling.
 */
export function variantNotes(cfg: ModelConfig): string[] {
  const notes: string[] = [];
  if (cfg.directions !== 4) {
    notes.push(`directions=${cfg.directions}: SS2D scans ${cfg.directions} direction(s), not 4`);
  }
  if (!cfg.conv_branch) notes.push("conv_branch=false: no conv33conv33conv11 (left half passes)");
  if (!cfg.ssm_branch) notes.push("ssm_branch=false: no ln_1/self_attention (right half passes)");
  if (!cfg.conv_pre_bn) {
    notes.push("conv_pre_bn=false: no leading BatchNorm, so conv33conv33conv11 indices shift down");
  }
  if (cfg.ssm_residual) notes.push("ssm_residual=true: right half + SS2D (paper text)");
  if (cfg.head_norm) notes.push("head_norm=true: LayerNorm `norm` before pooling (paper text)");
  return notes;
}
