/**
 * `deno task import <file.safetensors> --config <yaml> [--classes a,b] [--out <dir>]` — turns a
 * MedMamba checkpoint (the official code's state_dict, or our export) or a torchvision resnet18
 * state_dict (torchvision's, or our export of a resnet18 run) into a run folder that
 * `deno task predict --model <dir>` uses.
 * @module
 */
import { importSafetensors } from "../lib/experiment/interchange.ts";
import { loadConfig } from "../lib/config/load.ts";
import { parseArgs, runMain } from "../lib/util/cli.ts";
import { StarmambaError } from "../lib/util/errors.ts";
import { checkOutputDir } from "../lib/util/fs.ts";

const USAGE = `usage: deno task import <file.safetensors> [--config <yaml>] [options]

Makes a run folder from a checkpoint in safetensors form (convert a .pth with
safetensors.torch.save_file(torch.load(path), out)), or from a file of deno task export:
  MedMamba: the official MedMamba code's state_dict. The network's shape (dim, depths, patch
    size, d_state, directions, classes) is read from the weights and must agree with the
    config's model section.
  ResNet-18: a torchvision resnet18 state_dict (keys conv1.weight, layer1.0.conv1.weight, …,
    fc.weight). Channels, stem (conv1 3×3: small, 7×7: imagenet) and classes are read from the
    weights and must agree with the config's data.channels and model.stem; the config must say
    model.arch: resnet18.
Image size, channels, normalisation and field context come from the config's data and augment
sections. A file from deno task export carries its run's config: without --config it is used,
and a --config that describes other inputs or another network is refused.

options:
  --config <yaml>      experiment config describing the inputs (e.g. configs/aries/best.yaml);
                       needed unless the file carries its own
  --set key=value      override a config key (repeatable)
  --classes a,b        class names in label order (default: the file's metadata, else the
                       config's data folder's class folders, sorted as torchvision does)
  --out <dir>          run folder to create (default scratch/imported/<file name>)
  -h, --help           this help

example:
  deno task import medmamba.safetensors --config configs/aries/best.yaml --classes galaxy,star
  deno task import resnet18.safetensors --config configs/aries/resnet18.yaml --classes galaxy,star
  deno task predict --model scratch/imported/medmamba cutouts/`;

async function main(): Promise<number> {
  const { values, positionals } = parseArgs(Deno.args, {
    config: { type: "string" },
    set: { type: "string", multiple: true },
    classes: { type: "string" },
    out: { type: "string" },
  }, USAGE);
  if (positionals.length !== 1) {
    throw new StarmambaError(`give one .safetensors file\n\n${USAGE}`);
  }
  if (values.out) checkOutputDir(values.out as string, "--out"); // before the weights are read
  const set = (values.set as string[] | undefined) ?? [];
  const loaded = values.config ? loadConfig(values.config as string, set) : null;
  const classNames = values.classes
    ? (values.classes as string).split(",").map((s) => s.trim()).filter(Boolean)
    : undefined;
  const dir = await importSafetensors(positionals[0], loaded, {
    classNames,
    outDir: values.out as string | undefined,
    set,
  });
  console.error(`imported ${positionals[0]} → ${dir}\n  deno task predict --model ${dir} <images>`);
  return 0;
}

if (import.meta.main) await runMain(main);
