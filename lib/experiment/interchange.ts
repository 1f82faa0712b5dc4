/**
 * A run's model out to, and a MedMamba checkpoint in from, the official PyTorch state_dict as a
 * safetensors file (lib/interchange). The export carries everything needed to use the weights
 * elsewhere in `__metadata__`: the VSSM constructor arguments, starmamba's model config, class
 * names, input preprocessing and where the weights came from. The import turns a checkpoint
 * (from our export or from the official code) into a run folder that predict accepts.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { basename, dirname, join, resolve } from "node:path";
import { createHash } from "node:crypto";
import { canonicalJson, loadConfigObject, type LoadedConfig } from "../config/load.ts";
import type { ExperimentConfig } from "../config/schema.ts";
import { type ModelConfig, modelConfig, modelOverrides } from "../model/config.ts";
import { buildMedMamba, MEDMAMBA_ARCH } from "../model/medmamba.ts";
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
} from "../interchange/safetensors.ts";
import {
  fromOfficialStateDict,
  inferModelConfig,
  officialStateDict,
  paramArrays,
  variantNotes,
} from "../interchange/medmamba_layout.ts";
import { type LoadedRun, loadRun } from "./predict.ts";
import { medmambaOnnx } from "../interchange/onnx/medmamba.ts";
import type { OnnxScanForm } from "../interchange/onnx/selective_scan.ts";
import { StarmambaError } from "../util/errors.ts";
import { exists, writeFileAtomic, writeJsonAtomic } from "../util/fs.ts";

/** What {@link exportSafetensors} wrote. */
export interface ExportSummary {
  /** The file written. */
  file: string;
  /** Number of tensors (safetensors: parameters, running statistics, num_batches_tracked). */
  tensors: number;
  /** Bytes written. */
  bytes: number;
  /** How the network departs from the official code (empty: it is the official one). */
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

/**
 * The MedMamba config of a loaded run: the safetensors and ONNX layouts are MedMamba's, so a run
 * of another architecture (model.arch) is refused.
 */
function medmambaConfigOf(run: LoadedRun, format: string): ModelConfig {
  if (run.model.arch === MEDMAMBA_ARCH) return run.model.config as ModelConfig;
  throw new StarmambaError(
    `${run.dir}: its network is "${run.model.arch}" (model.arch), and --format ${format} ` +
      `writes MedMamba's layout only; export runs of model.arch ${MEDMAMBA_ARCH}`,
  );
}

/** {@link loadRun} for an export: a run whose network is not MedMamba is refused (and freed). */
async function loadForExport(
  runDir: string,
  format: string,
): Promise<{ run: LoadedRun; cfg: ModelConfig }> {
  const run = await loadRun(runDir);
  try {
    return { run, cfg: medmambaConfigOf(run, format) };
  } catch (e) {
    run.model.params.dispose();
    throw e;
  }
}

/** What an exported file says about its model: for users of the weights outside starmamba. */
function exportMetadata(run: LoadedRun, source: string): Record<string, string> {
  const cfg = run.model.config as ModelConfig;
  const variant = variantNotes(cfg);
  const code = run.result.code as { commit?: string } | undefined;
  const artifacts = (run.result.artifacts ?? {}) as Record<string, string>;
  return {
    "medmamba.vssm_kwargs": JSON.stringify(vssmKwargs(cfg)),
    "medmamba.variant": variant.length ? variant.join("; ") : "official",
    "starmamba.model_config": JSON.stringify(cfg),
    "starmamba.class_names": JSON.stringify(run.classNames),
    "starmamba.input": JSON.stringify(inputDescription(run.config)),
    // The whole run config: `import` takes the inputs (size, channels, field context, stretch,
    // normalisation) and the preset from it, and refuses a --config that says otherwise.
    "starmamba.config": JSON.stringify(run.config),
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
 * Writes a run's model (its best weights, as predict uses them) as the official MedMamba
 * state_dict in a safetensors file. `source` describes the run in the metadata (e.g. the
 * registry name).
 */
export async function exportSafetensors(
  runDir: string,
  out: string,
  source = runDir,
): Promise<ExportSummary> {
  const { run, cfg } = await loadForExport(runDir, "safetensors");
  const state = officialStateDict(paramArrays(run.model.params), cfg);
  const metadata = { format: "pt", ...exportMetadata(run, source) };
  run.model.params.dispose();
  const bytes = encodeSafetensors(state, metadata);
  writeFileAtomic(out, bytes);
  return { file: out, tensors: state.size, bytes: bytes.length, variant: variantNotes(cfg) };
}

/** The ONNX graph of a loaded run (what `export --format onnx` writes and predict can run). */
export function onnxModelOf(
  run: LoadedRun,
  scan: OnnxScanForm = "scan",
  source = run.dir,
): Uint8Array {
  return medmambaOnnx(paramArrays(run.model.params), medmambaConfigOf(run, "onnx"), {
    scan,
    metadata: exportMetadata(run, source),
  });
}

/** Writes a run's model as one ONNX graph, the selective scan included. */
export async function exportOnnx(
  runDir: string,
  out: string,
  scan: OnnxScanForm = "scan",
  source = runDir,
): Promise<ExportSummary> {
  const { run, cfg } = await loadForExport(runDir, "onnx");
  const bytes = onnxModelOf(run, scan, source);
  const n = run.model.params.params.size;
  run.model.params.dispose();
  writeFileAtomic(out, bytes);
  return { file: out, tensors: n, bytes: bytes.length, variant: variantNotes(cfg) };
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
 * Makes a run folder (model/model.json + shard, result.json) from a MedMamba checkpoint in
 * safetensors form. The network's shape is read from the checkpoint and checked against the
 * config's model section; image size and channels come from the config's data section. A file
 * from our export describes its inputs itself: with `loaded` null its own config is used (with
 * `opts.set` applied), and a given config that describes other inputs is refused. Weights that
 * hold NaN or ±Inf are refused. Returns the run folder.
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
  const config = loaded.config;
  if (config.model.arch !== MEDMAMBA_ARCH) {
    throw new StarmambaError(
      `${file}: import reads MedMamba checkpoints, but the config's model.arch is ` +
        `"${config.model.arch}"; set model.arch: ${MEDMAMBA_ARCH} (or leave it out)`,
    );
  }
  const mcfg = checkpointModelConfig(file, metadata, inferModelConfig(tensors, file), config);
  const classNames = opts.classNames ?? metadataClassNames(metadata, file) ??
    folderClassNames(loaded);
  if (!classNames || classNames.length !== mcfg.num_classes) {
    throw new StarmambaError(
      `${file}: the head has ${mcfg.num_classes} classes but ${
        classNames ? `${classNames.length} class names were given` : "no class names are known"
      }; pass --classes name1,name2,… in label order`,
    );
  }
  await openRuntime(config, { quiet: true, threads: 0 });
  const model = buildMedMamba(mcfg, 0);
  const expected = new Map(
    [...model.params.params.values()].map((p) => [p.name, p.variable.shape]),
  );
  model.params.dispose();
  const arrays = fromOfficialStateDict(tensors, expected, mcfg, file);

  const runDir = resolve(
    opts.outDir ?? join("scratch", "imported", basename(file, ".safetensors")),
  );
  if (exists(join(runDir, "result.json"))) {
    throw new StarmambaError(`${runDir} already holds a run; pass another --out`);
  }
  const shard = await saveImportedWeights(runDir, arrays, mcfg, file);
  writeJsonAtomic(join(runDir, "run.json"), { status: "imported" });
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
      arch: MEDMAMBA_ARCH,
      config: mcfg,
      parameters: [...arrays.values()].reduce((s, a) => s + a.data.length, 0),
    },
    artifacts: await checksumFiles(runDir, ["model/model.json", shard]),
  });
  return runDir;
}

/**
 * Saves imported weights as the run folder's model (model/model.json and its shard, recording
 * the checkpoint it came from); returns the shard's path relative to the run folder.
 */
async function saveImportedWeights(
  runDir: string,
  arrays: ReturnType<typeof fromOfficialStateDict>,
  mcfg: ModelConfig,
  file: string,
): Promise<string> {
  const named: Record<string, tf.Tensor> = {};
  for (const [name, a] of arrays) named[name] = tf.tensor(a.data, a.shape, "float32");
  try {
    await saveTensors(join(runDir, "model"), "model", named, {
      arch: MEDMAMBA_ARCH,
      modelConfig: mcfg,
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
 * preset and the network as built from it. `all` keeps every stretch parameter.
 */
function inputKeys(c: ExperimentConfig, all: boolean): Record<string, unknown> {
  const d = c.data;
  const net = modelConfig(c.model.preset, {
    ...modelOverrides(c.model),
    in_channels: d.channels,
    image_size: d.center_crop ?? d.size,
  });
  const out: Record<string, unknown> = {
    "data.size": d.size,
    "data.center_crop": d.center_crop,
    "data.channels": d.channels,
    "data.field_context": d.field_context,
    "data.stretch": d.stretch,
    "augment.normalize_mean": c.augment.normalize_mean,
    "augment.normalize_std": c.augment.normalize_std,
    "model.preset": c.model.preset,
  };
  if (all) out[INPUT_SIZE] = d.center_crop ?? d.size;
  const stretchKeys = all ? Object.values(STRETCH_KEYS).flat() : STRETCH_KEYS[d.stretch] ?? [];
  for (const k of stretchKeys) out[`data.${k}`] = (d as Record<string, unknown>)[k];
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
  const differ = Object.entries(described)
    .filter(([k, v]) => v !== undefined && canonicalJson(v) !== canonicalJson(have[k] ?? null))
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
