/**
 * A run's model out to, and a checkpoint in from, PyTorch as a safetensors file
 * (lib/interchange): MedMamba as the official code's state_dict, ResNet-18 as torchvision's
 * `resnet18` state_dict. The export carries everything needed to use the weights elsewhere in
 * `__metadata__`: how to build the PyTorch module (the VSSM constructor arguments, or
 * torchvision's constructor and the stem's two lines), starmamba's model config, class names,
 * input preprocessing and where the weights came from. The import turns a checkpoint (from our
 * export, the official MedMamba code or torchvision) into a run folder that predict accepts.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { basename, dirname, join, resolve } from "node:path";
import { createHash } from "node:crypto";
import { canonicalJson, loadConfigObject, type LoadedConfig } from "../config/load.ts";
import type { ExperimentConfig } from "../config/schema.ts";
import { type ModelConfig, modelConfig, modelOverrides } from "../model/config.ts";
import { MEDMAMBA_ARCH } from "../model/medmamba.ts";
import { RESNET18_ARCH, type ResnetConfig } from "../model/resnet.ts";
import { createNetwork } from "../model/registry.ts";
import type { NetworkDescription } from "../model/network.ts";
import { openRuntime } from "../backends/runtime.ts";
import { resolveDataRoot } from "../data/imagefolder.ts";
import { saveTensors } from "../train/checkpoint.ts";
import { checksumFiles } from "../results/write.ts";
import { type ImportedRunRecord, writeRunRecord } from "../results/run_record.ts";
import { codeVersion, environment } from "../results/provenance.ts";
import {
  decodeSafetensors,
  encodeSafetensors,
  type StoredTensor,
  type TensorToWrite,
} from "../interchange/safetensors.ts";
import {
  fromOfficialStateDict,
  inferModelConfig,
  type NamedArray,
  officialStateDict,
  paramArrays,
  variantNotes,
} from "../interchange/medmamba_layout.ts";
import {
  fromTorchvisionStateDict,
  inferResnetConfig,
  resnetStateDict,
  torchvisionRecipe,
} from "../interchange/torchvision_layout.ts";
import { type LoadedRun, loadRun } from "./predict.ts";
import { medmambaOnnx } from "../interchange/onnx/medmamba.ts";
import { resnetOnnx } from "../interchange/onnx/resnet.ts";
import type { OnnxScanForm } from "../interchange/onnx/selective_scan.ts";
import { PRIOR_CORRECTION_METADATA, priorCorrectionOf } from "../results/prior.ts";
import { StarmambaError } from "../util/errors.ts";
import { exists, writeFileAtomic, writeJsonAtomic } from "../util/fs.ts";

/** What {@link exportSafetensors} and {@link exportOnnx} wrote. */
export interface ExportSummary {
  /** The file written. */
  file: string;
  /** Number of tensors (safetensors: parameters, running statistics, num_batches_tracked). */
  tensors: number;
  /** Bytes written. */
  bytes: number;
  /** The code whose network the file holds: "the official MedMamba", "torchvision's resnet18". */
  layout: string;
  /** How the network departs from that code's (empty: it is that code's network). */
  variant: string[];
}

/** The VSSM(...) keyword arguments of the official code that build `cfg`'s network. */
export function vssmKwargs(cfg: ModelConfig): Record<string, unknown> {
  return {
    patch_size: cfg.patch_size,
    in_chans: cfg.in_channels,
    num_classes: cfg.num_classes,
    depths: cfg.depths,
    dims: cfg.depths.map((_, i) => cfg.dim * 2 ** i),
    d_state: cfg.d_state,
    drop_path_rate: cfg.drop_path_rate,
  };
}

/** A network's state_dict in its reference code's layout, and what the file says about it. */
interface StateDictExport {
  /** The tensors, by the reference code's keys, in its order. */
  state: Map<string, TensorToWrite>;
  /** `__metadata__` (besides `format`). */
  metadata: Record<string, string>;
  /** {@link ExportSummary.layout}. */
  layout: string;
  /** {@link ExportSummary.variant}. */
  variant: string[];
}

/** The official MedMamba's layout of a run's MedMamba. */
function medmambaExport(run: LoadedRun, source: string): StateDictExport {
  const cfg = run.model.config as ModelConfig;
  return {
    state: officialStateDict(paramArrays(run.model.params), cfg),
    metadata: exportMetadata(run, source),
    layout: "the official MedMamba",
    variant: variantNotes(cfg),
  };
}

/**
 * torchvision's layout of a run's ResNet-18; `torchvision.recipe` is the Python that builds the
 * module it loads into with `strict=True` (lib/interchange/torchvision_layout.ts).
 */
function resnetExport(run: LoadedRun, source: string): StateDictExport {
  const cfg = run.model.config as ResnetConfig;
  const variant: string[] = [];
  if (cfg.stem === "small") variant.push("small stem: conv1 3×3 stride 1, no max-pool");
  if (cfg.in_channels !== 3) variant.push(`conv1 takes ${cfg.in_channels} channel(s)`);
  if (cfg.width !== 64) variant.push(`width ${cfg.width} (torchvision's is 64)`);
  return {
    state: resnetStateDict(run.model),
    metadata: {
      "torchvision.recipe": torchvisionRecipe(cfg).join("\n"),
      ...starmambaMetadata(run, source),
    },
    layout: "torchvision's resnet18",
    variant,
  };
}

/** The safetensors layouts by model.arch: one line here per network with a PyTorch layout. */
const SAFETENSORS_LAYOUTS: Readonly<
  Record<string, (run: LoadedRun, source: string) => StateDictExport>
> = {
  [MEDMAMBA_ARCH]: medmambaExport,
  [RESNET18_ARCH]: resnetExport,
};

/** A run's network has no layout in `format` (the ones that do are `have`): one line. */
function noLayout(run: LoadedRun, format: string, have: string[]): StarmambaError {
  return new StarmambaError(
    `${run.dir}: its network is "${run.model.arch}" (model.arch), and --format ${format} ` +
      `has a layout for ${have.join(" and ")} only; export a run of model.arch ${
        have.join(" or ")
      } (a layout for "${run.model.arch}" does not exist yet)`,
  );
}

/** What an exported MedMamba says about its model: for users of the weights outside starmamba. */
function exportMetadata(run: LoadedRun, source: string): Record<string, string> {
  const cfg = run.model.config as ModelConfig;
  const variant = variantNotes(cfg);
  return {
    "medmamba.vssm_kwargs": JSON.stringify(vssmKwargs(cfg)),
    "medmamba.variant": variant.length ? variant.join("; ") : "official",
    ...starmambaMetadata(run, source),
  };
}

/** {@link PRIOR_CORRECTION_METADATA}: the run's prior correction, when it has one. */
function priorMetadata(run: LoadedRun): Record<string, string> {
  const c = priorCorrectionOf(run.result);
  return c ? { [PRIOR_CORRECTION_METADATA]: JSON.stringify(c) } : {};
}

/** What every export says about the run: its network, classes, inputs, config and source. */
function starmambaMetadata(run: LoadedRun, source: string): Record<string, string> {
  const code = run.result.code as { commit?: string } | undefined;
  const artifacts = (run.result.artifacts ?? {}) as Record<string, string>;
  return {
    "starmamba.model_config": JSON.stringify(run.model.config),
    "starmamba.class_names": JSON.stringify(run.classNames),
    "starmamba.input": JSON.stringify(inputDescription(run.config)),
    // The whole run config: `import` takes the inputs (size, channels, field context, stretch,
    // normalisation) and the network from it, and refuses a --config that says otherwise.
    "starmamba.config": JSON.stringify(run.config),
    // The decision rule travels with the weights: an import decides as the run did.
    ...priorMetadata(run),
    "starmamba.source": JSON.stringify({
      run: source,
      commit: code?.commit ?? "unknown",
      weights_sha256: Object.entries(artifacts).find(([k]) => k.endsWith(".bin"))?.[1] ?? null,
      experiment: run.result.experiment,
      seed: run.result.seed,
    }),
  };
}

/**
 * Writes a run's model (its best weights, as predict uses them) as a PyTorch state_dict in a
 * safetensors file: a MedMamba as the official code's, a ResNet-18 as torchvision's `resnet18`
 * (docs/interchange.md); another network is refused. `source` describes the run in the metadata
 * (e.g. the registry name).
 *
 * @example Export a released model for PyTorch
 * ```ts
 * import { join } from "node:path";
 * import { exportSafetensors } from "@starmamba/starmamba";
 * const dir = await Deno.makeTempDir();
 * const s = await exportSafetensors("aries-cpu-ctx-s1", join(dir, "aries-cpu-ctx-s1.safetensors"));
 * console.log(s.tensors, s.layout, s.variant); // 287 the official MedMamba []
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function exportSafetensors(
  runDir: string,
  out: string,
  source = runDir,
): Promise<ExportSummary> {
  const run = await loadRun(runDir);
  let x: StateDictExport;
  try {
    const layout = Object.hasOwn(SAFETENSORS_LAYOUTS, run.model.arch)
      ? SAFETENSORS_LAYOUTS[run.model.arch]
      : undefined;
    if (!layout) throw noLayout(run, "safetensors", Object.keys(SAFETENSORS_LAYOUTS));
    x = layout(run, source);
  } finally {
    run.model.params.dispose();
  }
  const bytes = encodeSafetensors(x.state, { format: "pt", ...x.metadata });
  writeFileAtomic(out, bytes);
  return {
    file: out,
    tensors: x.state.size,
    bytes: bytes.length,
    layout: x.layout,
    variant: x.variant,
  };
}

/** A run's network as one ONNX graph, and the layout and variant notes export reports. */
interface OnnxExport {
  bytes: Uint8Array;
  layout: string;
  variant: string[];
}

/** The ONNX graphs by model.arch: one line here per network with a graph writer. */
const ONNX_LAYOUTS: Readonly<
  Record<string, (run: LoadedRun, scan: OnnxScanForm, source: string) => OnnxExport>
> = {
  [MEDMAMBA_ARCH]: (run, scan, source) => {
    const cfg = run.model.config as ModelConfig;
    return {
      bytes: medmambaOnnx(paramArrays(run.model.params), cfg, {
        scan,
        metadata: exportMetadata(run, source),
      }),
      layout: "the official MedMamba",
      variant: variantNotes(cfg),
    };
  },
  // torchvision's forward op for op, from the state_dict the safetensors export writes.
  [RESNET18_ARCH]: (run, _scan, source) => {
    const x = resnetExport(run, source);
    return {
      bytes: resnetOnnx(x.state, run.model.config as ResnetConfig, x.metadata),
      layout: x.layout,
      variant: x.variant,
    };
  },
};

/** The ONNX export of a loaded run; a network without a graph writer is one line. */
function onnxExportOf(run: LoadedRun, scan: OnnxScanForm, source: string): OnnxExport {
  const layout = Object.hasOwn(ONNX_LAYOUTS, run.model.arch)
    ? ONNX_LAYOUTS[run.model.arch]
    : undefined;
  if (!layout) throw noLayout(run, "onnx", Object.keys(ONNX_LAYOUTS));
  return layout(run, scan, source);
}

/**
 * The ONNX graph of a loaded run (what `export --format onnx` writes and predict can run): a
 * MedMamba with its selective scan written as `scan`, a ResNet-18 as torchvision's forward.
 * @throws {StarmambaError} for a network with no ONNX graph writer (model.arch).
 */
export function onnxModelOf(
  run: LoadedRun,
  scan: OnnxScanForm = "scan",
  source = run.dir,
): Uint8Array {
  return onnxExportOf(run, scan, source).bytes;
}

/** Writes a run's model as one ONNX graph (MedMamba with its selective scan, or ResNet-18). */
export async function exportOnnx(
  runDir: string,
  out: string,
  scan: OnnxScanForm = "scan",
  source = runDir,
): Promise<ExportSummary> {
  const run = await loadRun(runDir);
  let x: OnnxExport, n: number;
  try {
    x = onnxExportOf(run, scan, source);
    n = run.model.params.params.size;
  } finally {
    run.model.params.dispose();
  }
  writeFileAtomic(out, x.bytes);
  return { file: out, tensors: n, bytes: x.bytes.length, layout: x.layout, variant: x.variant };
}

/** What starmamba.input says the channels are under field context. */
const FIELD_CONTEXT_CHANNELS =
  "0: cutout, 1: median cutout of its frame, 2: 0.5 + (cutout - median) / 2";

/** How images must be prepared for the network: what a user of the weights elsewhere needs. */
function inputDescription(c: ExperimentConfig): Record<string, unknown> {
  return {
    layout: "NCHW for PyTorch (starmamba itself is NHWC)",
    size: c.data.center_crop ?? c.data.size,
    channels: c.data.field_context
      ? FIELD_CONTEXT_CHANNELS
      : c.data.channels === 3
      ? "RGB"
      : "grey",
    scale: "pixels / 255, then (x - mean) / std per channel",
    normalize_mean: c.augment.normalize_mean,
    normalize_std: c.augment.normalize_std,
  };
}

/** Options of {@link importSafetensors}. */
export interface ImportOptions {
  /** Class names in label order; default: the file's metadata, else the data folder's classes. */
  classNames?: string[];
  /** Run folder to create; default scratch/imported/<file stem>. */
  outDir?: string;
  /** Without a config: `--set` overrides applied to the config the file's metadata carries. */
  set?: string[];
}

/**
 * Makes a run folder (model/model.json + shard, result.json) from a checkpoint in safetensors
 * form: a torchvision ResNet-18 state_dict (its keys conv1.weight, layer1.0.conv1.weight,
 * fc.weight) becomes a `resnet18` run, anything else is read as a MedMamba checkpoint. The
 * network's shape is read from the checkpoint and checked against the config's model section
 * (model.arch included); image size and channels come from the config's data section. A file
 * from our export describes its inputs itself: with `loaded` null its own config is used (with
 * `opts.set` applied), and a given config that describes other inputs is refused. Weights that
 * hold NaN or ±Inf are refused. Returns the run folder.
 *
 * @example Export a released model and import it back as a run folder that predict reads
 * ```ts
 * import { join } from "node:path";
 * import { exportSafetensors, importSafetensors, loadRun } from "@starmamba/starmamba";
 * const dir = await Deno.makeTempDir();
 * const { file } = await exportSafetensors("aries-cpu-ctx-s1", join(dir, "m.safetensors"));
 * // The export carries its run's config, so no config is given (null); a checkpoint of the
 * // official code or of torchvision needs loadConfig("<yaml describing its inputs>").
 * const runDir = await importSafetensors(file, null, { outDir: join(dir, "imported") });
 * const run = await loadRun(runDir);
 * console.log(run.model.arch, run.classNames, run.result.experiment); // medmamba […] imported
 * run.model.params.dispose();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function importSafetensors(
  file: string,
  given: LoadedConfig | null,
  opts: ImportOptions = {},
): Promise<string> {
  if (!exists(file)) throw new StarmambaError(`${file}: no such file`);
  const bytes = Deno.readFileSync(file);
  const { tensors, metadata } = decodeSafetensors(bytes, file);
  refuseNonFinite(tensors, file);
  const loaded = given ?? configOfFile(file, metadata, opts.set ?? []);
  refuseOtherInputs(file, metadata, loaded, given !== null);
  const layout = importLayoutOf(tensors, file, loaded.config);
  const net = layout.describe(file, metadata, tensors, loaded.config);
  const classNames = importClassNames(file, metadata, loaded, opts, net.config.num_classes);
  await openRuntime(loaded.config, { quiet: true, threads: 0 });
  const arrays = layout.read(tensors, expectedShapes(net), net, file);

  const runDir = resolve(
    opts.outDir ?? join("scratch", "imported", basename(file, ".safetensors")),
  );
  if (exists(join(runDir, "result.json"))) {
    throw new StarmambaError(`${runDir} already holds a run; pass another --out`);
  }
  const shard = await saveImportedWeights(runDir, arrays, net, file);
  writeJsonAtomic(join(runDir, "run.json"), { status: "imported" });
  const config = loaded.config;
  writeRunRecord<ImportedRunRecord>(runDir, {
    experiment: "imported",
    version: basename(runDir),
    description: `imported from ${file}`,
    created: new Date().toISOString(),
    config,
    config_hash: loaded.hash,
    config_files: loaded.files,
    overrides: loaded.overrides,
    seed: config.seed,
    code: codeVersion("."),
    imported: {
      file: resolve(file),
      sha256: createHash("sha256").update(bytes).digest("hex"),
      metadata,
    },
    data: { class_names: classNames },
    environment: environment(),
    model: {
      arch: net.arch,
      config: net.config,
      parameters: [...arrays.values()].reduce((s, a) => s + a.data.length, 0),
    },
    artifacts: await checksumFiles(runDir, ["model/model.json", shard]),
  });
  return runDir;
}

/** How import reads the checkpoints of one network. */
interface ImportLayout {
  /** The network's name in the registry (model.arch). */
  arch: string;
  /** What such a checkpoint is, for messages. */
  name: string;
  /** The network a checkpoint holds: its shapes' settings completed from the config, checked. */
  describe(
    file: string,
    metadata: Record<string, string>,
    tensors: Map<string, StoredTensor>,
    config: ExperimentConfig,
  ): NetworkDescription;
  /** The parameters by starmamba name, each of the shape `expected` gives. */
  read(
    tensors: Map<string, StoredTensor>,
    expected: Map<string, number[]>,
    net: NetworkDescription,
    file: string,
  ): Map<string, NamedArray>;
}

/** MedMamba: the official code's state_dict (or our export of one). */
const MEDMAMBA_IMPORT: ImportLayout = {
  arch: MEDMAMBA_ARCH,
  name: "a MedMamba checkpoint",
  describe: (file, metadata, tensors, config) => ({
    arch: MEDMAMBA_ARCH,
    config: checkpointModelConfig(file, metadata, inferModelConfig(tensors, file), config),
  }),
  read: (tensors, expected, net, file) =>
    fromOfficialStateDict(tensors, expected, net.config as ModelConfig, file),
};

/** ResNet-18: torchvision's `resnet18` state_dict (or our export of one). */
const RESNET_IMPORT: ImportLayout = {
  arch: RESNET18_ARCH,
  name: "a torchvision ResNet-18 state_dict",
  describe: (file, _metadata, tensors, config) => ({
    arch: RESNET18_ARCH,
    config: resnetCheckpointConfig(file, tensors, config),
  }),
  read: (tensors, expected, _net, file) => fromTorchvisionStateDict(tensors, expected, file),
};

/** Keys only a torchvision ResNet's state_dict has (MedMamba's: patch_embed…, layers…, head…). */
const RESNET_KEYS = ["conv1.weight", "layer1.0.conv1.weight", "fc.weight"];

/**
 * How to read `tensors`: torchvision's ResNet layout when it has that network's keys, else
 * MedMamba's. A config naming another network (model.arch) is refused.
 */
function importLayoutOf(
  tensors: Map<string, StoredTensor>,
  file: string,
  config: ExperimentConfig,
): ImportLayout {
  const keys = new Set([...tensors.keys()].map((k) => k.replace(/^module\./, "")));
  const layout = RESNET_KEYS.every((k) => keys.has(k)) ? RESNET_IMPORT : MEDMAMBA_IMPORT;
  if (config.model.arch === layout.arch) return layout;
  throw new StarmambaError(
    `${file} is ${layout.name}, but the config's model.arch is "${config.model.arch}"; ` +
      `set model.arch: ${layout.arch}` +
      (layout.arch === MEDMAMBA_ARCH ? " (or leave it out)" : ` (--set model.arch=${layout.arch})`),
  );
}

/**
 * The ResNet-18 a torchvision state_dict holds: channels, width, stem and classes from its
 * shapes, the image size from the config's data section (data.center_crop, else data.size). A
 * config whose data.channels or model.stem says otherwise is refused, naming both values.
 */
function resnetCheckpointConfig(
  file: string,
  tensors: Map<string, StoredTensor>,
  config: ExperimentConfig,
): ResnetConfig {
  const inferred = inferResnetConfig(tensors, file);
  const differ: string[] = [];
  if (inferred.in_channels !== config.data.channels) {
    const [have, want] = [inferred.in_channels, config.data.channels];
    differ.push(`data.channels: the checkpoint has ${have}, the config ${want}`);
  }
  if (inferred.stem !== config.model.stem) {
    differ.push(`model.stem: the checkpoint has ${inferred.stem}, the config ${config.model.stem}`);
  }
  if (differ.length) {
    throw new StarmambaError(
      `${file} does not fit ${loadedLabel(config)}: ${differ.join("; ")}; set those keys in ` +
        "the config (--set model.stem=… etc.) to the checkpoint's values",
    );
  }
  return {
    in_channels: inferred.in_channels,
    num_classes: inferred.num_classes,
    image_size: config.data.center_crop ?? config.data.size,
    stem: inferred.stem,
    width: inferred.width,
  };
}

/** Every parameter's shape in the network `net` describes (built once, then freed). */
function expectedShapes(net: NetworkDescription): Map<string, number[]> {
  const built = createNetwork(net, 0);
  try {
    return new Map([...built.params.params.values()].map((p) => [p.name, p.variable.shape]));
  } finally {
    built.params.dispose();
  }
}

/**
 * The class names of an import, one per output of the head: `opts.classNames`, else the file's
 * metadata, else the config's data folder's classes; none, or another number, is refused.
 */
function importClassNames(
  file: string,
  metadata: Record<string, string>,
  loaded: LoadedConfig,
  opts: ImportOptions,
  classes: number,
): string[] {
  const classNames = opts.classNames ?? metadataClassNames(metadata, file) ??
    folderClassNames(loaded);
  if (classNames && classNames.length === classes) return classNames;
  throw new StarmambaError(
    `${file}: the head has ${classes} classes but ${
      classNames ? `${classNames.length} class names were given` : "no class names are known"
    }; pass --classes name1,name2,… in label order`,
  );
}

/**
 * Saves imported weights as the run folder's model (model/model.json and its shard, recording
 * the network and the checkpoint it came from); returns the shard's path relative to the run
 * folder.
 */
async function saveImportedWeights(
  runDir: string,
  arrays: Map<string, NamedArray>,
  net: NetworkDescription,
  file: string,
): Promise<string> {
  const named: Record<string, tf.Tensor> = {};
  for (const [name, a] of arrays) named[name] = tf.tensor(a.data, a.shape, "float32");
  try {
    await saveTensors(join(runDir, "model"), "model", named, {
      arch: net.arch,
      modelConfig: net.config,
      imported: file,
    });
  } finally {
    tf.dispose(Object.values(named));
  }
  const manifest = JSON.parse(Deno.readTextFileSync(join(runDir, "model", "model.json")));
  return `model/${manifest.weightsManifest[0].paths[0]}`;
}

/**
 * The network a checkpoint holds: starmamba's own config when our export wrote one, else the
 * shapes' settings completed from the config (image size and channels from data, the rest
 * from model). Any setting the config gives differently from the checkpoint is an error.
 */
function checkpointModelConfig(
  file: string,
  metadata: Record<string, string>,
  inferred: Partial<ModelConfig>,
  config: ExperimentConfig,
): ModelConfig {
  const m = config.model;
  const fromConfig: Partial<ModelConfig> = {
    ...modelOverrides(m),
    in_channels: config.data.channels,
    image_size: config.data.center_crop ?? config.data.size,
  };
  const stored = metadata["starmamba.model_config"];
  const base: Partial<ModelConfig> = stored ? JSON.parse(stored) : {};
  const mismatches: string[] = [];
  for (const [k, v] of Object.entries(inferred)) {
    const c = (fromConfig as Record<string, unknown>)[k];
    if (c !== undefined && JSON.stringify(c) !== JSON.stringify(v)) {
      const key = k === "in_channels" ? "data.channels" : `model.${k}`;
      mismatches.push(
        `${key}: the checkpoint has ${JSON.stringify(v)}, the config ${JSON.stringify(c)}`,
      );
    }
  }
  if (mismatches.length) {
    throw new StarmambaError(
      `${file} does not fit ${loadedLabel(config)}:\n  ${mismatches.join("\n  ")}\n` +
        "set those keys in the config (--set model.dim=… etc.) to the checkpoint's values",
    );
  }
  const preset = base.preset ?? m.preset;
  return modelConfig(preset, { ...fromConfig, ...base, ...inferred, preset });
}

/** Weights holding NaN or ±Inf would predict NaN for every image: refused, naming the tensor. */
function refuseNonFinite(tensors: Map<string, StoredTensor>, file: string): void {
  for (const [name, t] of tensors) {
    if (!(t.data instanceof Float32Array)) continue;
    let bad = 0, first = -1;
    for (let i = 0; i < t.data.length; i++) {
      if (Number.isFinite(t.data[i])) continue;
      if (first < 0) first = i;
      bad++;
    }
    if (bad === 0) continue;
    const widened = t.dtype === "F32" ? "" : ` as float32 (stored ${t.dtype})`;
    throw new StarmambaError(
      `${file}: tensor "${name}" holds ${bad} NaN/Inf value(s)${widened}, the first at flat ` +
        `index ${first} (${t.data[first]}); the checkpoint is damaged or its training diverged: ` +
        "import one saved before that",
    );
  }
}

/** A JSON value of `__metadata__`, undefined when the key is absent. */
function metadataJson(meta: Record<string, string>, key: string, file: string): unknown {
  if (meta[key] === undefined) return undefined;
  try {
    return JSON.parse(meta[key]);
  } catch {
    throw new StarmambaError(`${file}: __metadata__ ${key} is not JSON; export the model again`);
  }
}

/** The config an exported file carries (starmamba.config), with `set` applied. */
function configOfFile(file: string, meta: Record<string, string>, set: string[]): LoadedConfig {
  const stored = metadataJson(meta, "starmamba.config", file);
  if (typeof stored !== "object" || stored === null || Array.isArray(stored)) {
    const why = meta["starmamba.input"] !== undefined
      ? "its metadata describes them only in part (no starmamba.config: exported before " +
        "export wrote it)"
      : "it carries no starmamba metadata (e.g. a checkpoint of the official code)";
    throw new StarmambaError(
      `${file}: give --config <yaml> describing the images the network expects; ${why}`,
    );
  }
  return loadConfigObject(
    stored as Record<string, unknown>,
    `${file} (__metadata__ starmamba.config)`,
    set,
  );
}

/** Label of the combined input size when only it is known (older exports). */
const INPUT_SIZE = "data.center_crop, else data.size";

/** The network keys compared as built (a preset's dim and depths included). */
const NET_KEYS = [
  "dim",
  "depths",
  "patch_size",
  "d_state",
  "directions",
  "conv_branch",
  "ssm_branch",
  "conv_pre_bn",
  "ssm_residual",
  "head_norm",
] as const;

/** Stretch parameters that matter under each stretch. */
const STRETCH_KEYS: Record<string, string[]> = {
  identity: [],
  minmax: [],
  linear: ["stretch_percentile"],
  asinh: ["stretch_percentile", "asinh_a"],
  zscale: ["zscale_contrast", "zscale_samples"],
};

/**
 * What a config says the network is fed and how it is built, by config key: image size and
 * crop, channels, field context, the stretch and the parameters it uses, normalisation, the
 * network (model.arch) and its settings (MedMamba: the preset and the network as built from
 * it; ResNet-18: the stem). `all` keeps every stretch parameter.
 */
function inputKeys(c: ExperimentConfig, all: boolean): Record<string, unknown> {
  const d = c.data;
  const out: Record<string, unknown> = {
    "data.size": d.size,
    "data.center_crop": d.center_crop,
    "data.channels": d.channels,
    "data.field_context": d.field_context,
    "data.stretch": d.stretch,
    "augment.normalize_mean": c.augment.normalize_mean,
    "augment.normalize_std": c.augment.normalize_std,
    "model.arch": c.model.arch,
  };
  if (all) out[INPUT_SIZE] = d.center_crop ?? d.size;
  const stretchKeys = all ? Object.values(STRETCH_KEYS).flat() : STRETCH_KEYS[d.stretch] ?? [];
  for (const k of stretchKeys) out[`data.${k}`] = (d as Record<string, unknown>)[k];
  if (c.model.arch === MEDMAMBA_ARCH) Object.assign(out, medmambaKeys(c));
  if (c.model.arch === RESNET18_ARCH) out["model.stem"] = c.model.stem;
  return out;
}

/** A MedMamba config's network keys: the preset, and the network as built from it. */
function medmambaKeys(c: ExperimentConfig): Record<string, unknown> {
  const net = modelConfig(c.model.preset, {
    ...modelOverrides(c.model),
    in_channels: c.data.channels,
    image_size: c.data.center_crop ?? c.data.size,
  });
  const out: Record<string, unknown> = { "model.preset": c.model.preset };
  for (const k of NET_KEYS) out[`model.${k}`] = net[k];
  return out;
}

/**
 * What an exported file's metadata says about its inputs, by config key: all of
 * {@link inputKeys} from starmamba.config, else what starmamba.input and starmamba.model_config
 * give (older exports); null for a file with neither (the official code's checkpoints).
 */
function describedInputs(
  meta: Record<string, string>,
  file: string,
): Record<string, unknown> | null {
  if (meta["starmamba.config"] !== undefined) {
    return inputKeys(configOfFile(file, meta, []).config, false);
  }
  const net = metadataJson(meta, "starmamba.model_config", file) as
    | Partial<ModelConfig>
    | undefined;
  const input = metadataJson(meta, "starmamba.input", file) as
    | { size?: number; channels?: string; normalize_mean?: number; normalize_std?: number }
    | undefined;
  if (!net || !input) return null;
  const out: Record<string, unknown> = {
    [INPUT_SIZE]: input.size,
    "data.channels": net.in_channels,
    "data.field_context": input.channels === FIELD_CONTEXT_CHANNELS,
    "augment.normalize_mean": input.normalize_mean,
    "augment.normalize_std": input.normalize_std,
    "model.preset": net.preset,
  };
  for (const k of NET_KEYS) out[`model.${k}`] = net[k];
  return out;
}

/**
 * A config that describes other inputs than the file's own metadata would feed the network
 * images it was not trained on (an RGB network given field-context channels predicts near
 * chance): refused, listing each key with both values.
 */
function refuseOtherInputs(
  file: string,
  meta: Record<string, string>,
  loaded: LoadedConfig,
  given: boolean,
): void {
  const described = describedInputs(meta, file);
  if (described === null) return;
  const have = inputKeys(loaded.config, true);
  // A key of another network's settings is not compared: model.arch differs, and says so.
  const differ = Object.entries(described)
    .filter(([k, v]) =>
      v !== undefined && k in have && canonicalJson(v) !== canonicalJson(have[k] ?? null)
    )
    .map(([k, v]) =>
      `${k}: the file has ${JSON.stringify(v)}, the config ${JSON.stringify(have[k])}`
    );
  if (differ.length === 0) return;
  const fix = !given
    ? "leave these keys out of --set"
    : meta["starmamba.config"] !== undefined
    ? "leave out --config to take them from the file, or set these keys to the file's values"
    : "set these keys to the file's values";
  const named = loaded.overrides.length
    ? `${loaded.path} (with --set ${loaded.overrides.join(", ")})`
    : loaded.path;
  throw new StarmambaError(
    `${file}'s metadata describes other inputs than ${named}: ${differ.join("; ")}; ${fix}`,
  );
}

/** How the config is named in errors. */
function loadedLabel(config: ExperimentConfig): string {
  return `the config of experiment "${config.experiment}"`;
}

/** Class names stored by our export, if any. */
function metadataClassNames(meta: Record<string, string>, file: string): string[] | undefined {
  const s = meta["starmamba.class_names"];
  if (!s) return undefined;
  try {
    const v = JSON.parse(s);
    if (Array.isArray(v) && v.every((x) => typeof x === "string")) return v;
  } catch { /* reported below */ }
  throw new StarmambaError(`${file}: __metadata__ starmamba.class_names is not a list of names`);
}

/** The class folders of the config's data root, sorted as ImageFolder (and torchvision) do. */
function folderClassNames(loaded: LoadedConfig): string[] | undefined {
  if (loaded.config.data.source !== "folder") return undefined;
  let root: string;
  try {
    root = resolveDataRoot(loaded.config.data.root ?? undefined, dirname(loaded.path));
  } catch {
    return undefined;
  }
  if (!exists(root)) return undefined;
  return [...Deno.readDirSync(root)].filter((e) => e.isDirectory).map((e) => e.name).sort();
}
