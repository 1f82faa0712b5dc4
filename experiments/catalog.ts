/**
 * `deno task catalog` — writes catalogues for `data.source: catalog`: of an ImageFolder
 * (`from-folder`), or the synthetic sky as FITS/PNG files with positions and frames
 * (`synthetic`, the README's "your own cutouts" example).
 * @module
 */
import { catalogOfImageFolder } from "../lib/data/catalog.ts";
import { DEFAULT_SKY, writeSyntheticSky } from "../lib/data/synthetic_sky.ts";
import { toCsv } from "../lib/results/write.ts";
import { numberOption, parseArgs, runMain } from "../lib/util/cli.ts";
import { StarmambaError } from "../lib/util/errors.ts";
import { checkOutputFile, writeFileAtomic } from "../lib/util/fs.ts";

const USAGE = `usage: deno task catalog from-folder <data folder> --out <sources.csv>
       deno task catalog synthetic <out folder> [--n N] [--size S] [--format fits|png] [--force]

from-folder  lists an ImageFolder (<folder>/<class>/<image>) as a catalogue: columns path
             (relative to the folder: set data.root to it), label (the class folder) and frame
             (from ARIES-style <frame>_<x>_<y>_<code> names), in the order the folder loader
             reads them, so a run from the catalogue reproduces a run from the folder.
synthetic    writes the synthetic sky as one file per cutout under <out folder>/cutouts/ and
             <out folder>/sources.csv (source_id, path, label, frame, ra, dec): fields observed
             in two frames each, cutouts a quarter of their width apart (group_by: sky joins a
             field's frames), pixels quantised to 8 bits so FITS and PNG hold the same values.

options:
  --out <file>       from-folder: where to write the catalogue (default: standard output)
  --n <N>            synthetic: cutouts (default ${DEFAULT_SKY.n})
  --size <S>         synthetic: cutout side in pixels (default ${DEFAULT_SKY.size})
  --seed <N>         synthetic: seed of the sky (default ${DEFAULT_SKY.seed})
  --format <f>       synthetic: fits (BITPIX -32, default) or png
  --per-frame <N>    synthetic: cutouts per frame (default ${DEFAULT_SKY.cutoutsPerFrame})
  --force            synthetic: write into a folder that already holds a catalogue
  -h, --help         this help

examples:
  deno task catalog synthetic scratch/own-sky-data
  deno task catalog from-folder ../shared/data/aries --out scratch/aries-catalog.csv`;

async function main(): Promise<number> {
  const { values, positionals } = parseArgs(Deno.args, {
    out: { type: "string" },
    n: { type: "string" },
    size: { type: "string" },
    seed: { type: "string" },
    format: { type: "string" },
    "per-frame": { type: "string" },
    force: { type: "boolean" },
  }, USAGE);
  const [command, target, ...extra] = positionals;
  if (!command || !target || extra.length > 0) {
    throw new StarmambaError(`give a command and one folder\n\n${USAGE}`);
  }
  if (command === "from-folder") {
    if (values.out) checkOutputFile(values.out as string, "--out"); // before the folder is listed
    const csv = toCsv(await catalogOfImageFolder(target));
    if (values.out) writeFileAtomic(values.out as string, csv);
    else await Deno.stdout.write(new TextEncoder().encode(csv));
    return 0;
  }
  if (command !== "synthetic") {
    throw new StarmambaError(`unknown command "${command}": use from-folder or synthetic`);
  }
  const format = (values.format as string | undefined) ?? DEFAULT_SKY.format;
  if (format !== "fits" && format !== "png") {
    throw new StarmambaError(`--format ${format}: choose fits or png`);
  }
  const int = (name: string, min: number, max: number, fallback: number): number => {
    const v = numberOption(name, values[name] as string | undefined, min, max);
    if (v !== undefined && !Number.isInteger(v)) {
      throw new StarmambaError(`--${name} ${v}: expected a whole number`);
    }
    return v ?? fallback;
  };
  const summary = await writeSyntheticSky(target, {
    ...DEFAULT_SKY,
    n: int("n", 20, 1_000_000, DEFAULT_SKY.n),
    size: int("size", 32, 1024, DEFAULT_SKY.size),
    seed: int("seed", 0, 2 ** 31 - 1, DEFAULT_SKY.seed),
    cutoutsPerFrame: int("per-frame", 1, 100_000, DEFAULT_SKY.cutoutsPerFrame),
    format,
    force: values.force === true,
  });
  console.log(
    `wrote ${summary.n} ${format.toUpperCase()} cutouts in ${summary.frames} frames ` +
      `(${summary.fields} fields) and ${summary.catalog}`,
  );
  return 0;
}

if (import.meta.main) await runMain(main);
