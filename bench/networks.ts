/**
 * The networks `deno task bench --presets` measures, by name: each MedMamba preset (`cpu`,
 * `tiny`, …, the names and JSON keys of earlier results), a MedMamba preset with one half of
 * every block switched off (`cpu-conv-only`, `cpu-ssm-only`: model.ssm_branch / conv_branch
 * false), the ConvNet of Kim & Brunner (`convnet`) and ResNet-18 (`resnet18`, small stem;
 * `resnet18-imagenet`, torchvision's). Each is built through the network registry
 * (createNetwork) on 3×64×64 inputs and 2 classes, with its analytic FLOPs and how its PyTorch
 * equivalent runs for `--peer`.
 * @module
 */
import { modelConfig, PRESETS } from "../lib/model/config.ts";
import { MEDMAMBA_ARCH } from "../lib/model/medmamba.ts";
import { CONVNET_ARCH, convnetConfigFor, convnetFlops } from "../lib/model/convnet.ts";
import { RESNET18_ARCH, resnetConfig, resnetFlops, type ResnetStem } from "../lib/model/resnet.ts";
import type { NetworkDescription, NetworkShape } from "../lib/model/network.ts";
import { StarmambaError } from "../lib/util/errors.ts";
import type { ExperimentConfig } from "../lib/config/schema.ts";
import { type FlopCount, flopsPerImage } from "./flops.ts";

/** The bench's input: random 3×64×64 images, 2 classes (as every earlier result). */
export const BENCH_SHAPE: NetworkShape = { in_channels: 3, num_classes: 2, image_size: 64 };

/** How the PyTorch equivalent of a network runs beside it (`--peer`). */
export type PeerSpec =
  /** ../shared/peer's MedMamba through its bench.sh (official variant), this preset. */
  | { kind: "medmamba"; preset: string }
  /** bench/peer_cnn.py with these arguments (before batch, warm-up and steps). */
  | { kind: "script"; args: string[] };

/** One network of the bench. */
export interface BenchNetwork {
  /** Its name on the command line and in the JSON figures (`<name>.train.images_per_s`). */
  name: string;
  /** What it is, in words, for the tables and docs. */
  label: string;
  /** What createNetwork builds. */
  description: NetworkDescription;
  /** Analytic FLOPs per image (bench/flops.ts's convention). */
  flops: FlopCount;
  /** Its PyTorch equivalent. */
  peer: PeerSpec;
}

/** The suffixes that switch off one half of every MedMamba block. */
const BRANCH_SUFFIXES: Record<string, Branches> = {
  "-conv-only": { conv_branch: true, ssm_branch: false, words: "conv half only (no SS2D)" },
  "-ssm-only": { conv_branch: false, ssm_branch: true, words: "SS2D half only (no convs)" },
};

/** The ResNet-18 names and their stems. */
const RESNETS: Record<string, ResnetStem> = {
  [RESNET18_ARCH]: "small",
  [`${RESNET18_ARCH}-imagenet`]: "imagenet",
};

/** Every name the bench takes (MedMamba's other presets and branch switches included). */
export function benchNetworkNames(): string[] {
  const presets = Object.keys(PRESETS);
  return [
    ...presets,
    ...presets.flatMap((p) => Object.keys(BRANCH_SUFFIXES).map((s) => `${p}${s}`)),
    CONVNET_ARCH,
    ...Object.keys(RESNETS),
  ];
}

/** A MedMamba preset's switches for one half of every block, and how a table says it. */
interface Branches {
  conv_branch: boolean;
  ssm_branch: boolean;
  words: string;
}

/** MedMamba `preset` (the official variant, as `deno task experiment` builds it), perhaps halved. */
function medmamba(name: string, preset: string, branches: Branches | null): BenchNetwork {
  const over = branches
    ? { conv_branch: branches.conv_branch, ssm_branch: branches.ssm_branch }
    : {};
  const config = modelConfig(preset, { ...BENCH_SHAPE, ...over });
  const title = preset === "tiny" ? "MedMamba-T" : `MedMamba \`${preset}\` preset`;
  // The shared peer has no branch switches: bench/peer_cnn.py builds its network without them.
  const off = [
    ...(config.conv_branch ? [] : ["--no-conv"]),
    ...(config.ssm_branch ? [] : ["--no-ssm"]),
  ];
  return {
    name,
    label: branches ? `${title}, ${branches.words}` : title,
    description: { arch: MEDMAMBA_ARCH, config },
    flops: flopsPerImage(config),
    peer: branches
      ? { kind: "script", args: ["medmamba", "--preset", preset, ...off] }
      : { kind: "medmamba", preset },
  };
}

/** The network called `name`; an unknown name is a StarmambaError listing the known ones. */
export function benchNetwork(name: string): BenchNetwork {
  if (Object.hasOwn(PRESETS, name)) return medmamba(name, name, null);
  for (const [suffix, b] of Object.entries(BRANCH_SUFFIXES)) {
    const preset = name.slice(0, -suffix.length);
    if (name.endsWith(suffix) && Object.hasOwn(PRESETS, preset)) {
      return medmamba(name, preset, b);
    }
  }
  if (name === CONVNET_ARCH) {
    const config = convnetConfigFor({} as ExperimentConfig["model"], BENCH_SHAPE);
    const f = convnetFlops(config);
    return {
      name,
      label: "ConvNet (Kim & Brunner 2017)",
      description: { arch: CONVNET_ARCH, config },
      flops: { matmul: f.matmul, conv: f.conv, scan: 0, forward: f.forward, train: f.train },
      peer: { kind: "script", args: ["convnet"] },
    };
  }
  if (Object.hasOwn(RESNETS, name)) {
    const stem = RESNETS[name];
    const config = resnetConfig(BENCH_SHAPE, stem);
    const f = resnetFlops(config);
    return {
      name,
      label: `ResNet-18, ${stem} stem`,
      description: { arch: RESNET18_ARCH, config },
      flops: { matmul: f.matmul, conv: f.conv, scan: 0, forward: f.forward, train: f.train },
      peer: { kind: "script", args: ["resnet18", "--stem", stem] },
    };
  }
  throw new StarmambaError(
    `--presets: unknown model preset or network "${name}": choose from ${
      benchNetworkNames().join(", ")
    }`,
  );
}
