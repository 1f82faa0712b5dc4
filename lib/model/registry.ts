/**
 * Networks by name (as timm's `create_model`): the one table `NETWORKS` maps `model.arch` to its
 * entry, and {@link createNetwork} builds one from its description. Adding an architecture is
 * one file (its layers, its config, its {@link NetworkEntry}), one line in `NETWORKS`, and its
 * tests; the trainer, evaluation, prediction and the cards need no change.
 * @module
 */
import type { ExperimentConfig } from "../config/schema.ts";
import { StarmambaError } from "../util/errors.ts";
import { MEDMAMBA_ARCH, MEDMAMBA_ENTRY } from "./medmamba.ts";
import { CONVNET_ARCH, CONVNET_ENTRY } from "./convnet.ts";
import { RESNET18_ARCH, RESNET18_ENTRY } from "./resnet.ts";
import type { Network, NetworkDescription, NetworkEntry, NetworkShape } from "./network.ts";

/** Every network by name (the config key `model.arch`). */
export const NETWORKS: Readonly<Record<string, NetworkEntry>> = {
  [MEDMAMBA_ARCH]: MEDMAMBA_ENTRY,
  [CONVNET_ARCH]: CONVNET_ENTRY,
  [RESNET18_ARCH]: RESNET18_ENTRY,
};

/** The registered names, in registration order. */
export function networkNames(): string[] {
  return Object.keys(NETWORKS);
}

/**
 * The entry called `arch`; an unknown name is a StarmambaError listing the known ones. `where`
 * names what gave the name (a config file, a model.json) at the start of the message; `fix`
 * says what to do (default: set model.arch to a known name).
 */
export function networkEntry(
  arch: string,
  where = "model.arch",
  fix = "set model.arch to one of them",
): NetworkEntry {
  const entry = Object.hasOwn(NETWORKS, arch) ? NETWORKS[arch] : undefined;
  if (!entry) {
    throw new StarmambaError(
      `${where}: no network called ${JSON.stringify(arch)}; the networks are ${
        networkNames().join(", ")
      } (lib/model/registry.ts): ${fix}`,
    );
  }
  return entry;
}

/**
 * The network a model.json (its metadata `meta`, read from `file`) records: `arch` and
 * `modelConfig`. Files written before the registry have no `arch`: they are MedMamba.
 */
export function storedNetwork(meta: Record<string, unknown>, file: string): NetworkDescription {
  const arch = meta.arch ?? MEDMAMBA_ARCH;
  const config = meta.modelConfig;
  if (typeof arch !== "string" || typeof config !== "object" || config === null) {
    throw new StarmambaError(
      `${file}: no network recorded (arch and modelConfig); the model folder is damaged or ` +
        "not starmamba's — retrain, or check it with deno task verify-results",
    );
  }
  networkEntry(
    arch,
    file,
    "this version of starmamba cannot build it; use the commit that trained it",
  );
  return { arch, config: config as NetworkShape };
}

/**
 * Adds `entry` under `arch` (e.g. a network defined outside this package, or in a test) and
 * returns the function that removes it again. A name already taken is an error.
 */
export function registerNetwork<C extends NetworkShape>(
  arch: string,
  entry: NetworkEntry<C>,
): () => void {
  if (Object.hasOwn(NETWORKS, arch)) {
    throw new StarmambaError(`a network called "${arch}" is already registered`);
  }
  const table = NETWORKS as Record<string, NetworkEntry>;
  table[arch] = entry as unknown as NetworkEntry;
  return () => {
    if (table[arch] === (entry as unknown)) delete table[arch];
  };
}

/**
 * The description of the network an experiment's `model` section names (`model.arch`, default
 * `medmamba`) for data of `shape`: what {@link createNetwork} builds and model.json records.
 */
export function networkFor(
  model: ExperimentConfig["model"],
  shape: NetworkShape,
): NetworkDescription {
  return { arch: model.arch, config: networkEntry(model.arch).configFor(model, shape) };
}

/**
 * Builds the network a description names, its initial weights drawn from `seed` (the same
 * description and seed give the same weights, bit for bit, on every backend).
 *
 * @example Build the `cpu` MedMamba and run a batch through it
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { createNetwork, evalContext, modelConfig, openRuntime } from "@starmamba/starmamba";
 * await openRuntime({ backend: "cpu", model: { scan_kernel: "loop" } });
 * const net = createNetwork({ arch: "medmamba", config: modelConfig("cpu") }, 1);
 * const logits = net.forward(tf.zeros([2, 64, 64, 3]) as tf.Tensor4D, evalContext());
 * console.log(net.arch, logits.shape, net.params.countTrainable()); // medmamba [2, 2] 1516290
 * net.params.dispose();
 * ```
 */
export function createNetwork(description: NetworkDescription, seed: number): Network {
  const net = networkEntry(description.arch).create(description.config, seed);
  if (net.arch !== description.arch) {
    net.params.dispose();
    throw new Error(`network "${description.arch}" built a network called "${net.arch}"`);
  }
  return net;
}
