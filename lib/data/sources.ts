/**
 * Data sources by name (`data.source`): each turns a config's data section (and the folder of
 * its config file) into a {@link Dataset} of decoded, display-stretched images with their
 * labels, file names, groups and frames — the first step of the pipeline (lib/data/pipeline.ts
 * takes it from there). Adding a source is one file (its loader, ending in a {@link DataSource})
 * and one line in {@link DATA_SOURCES}; tests/pipeline_test.ts checks that the schema's
 * `data.source` values name exactly these.
 *
 * The display stretch belongs to this step, per cutout, because a FITS cutout is stretched from
 * its physical values (float64, any range), which no later step sees. Here too are the readers
 * prediction uses for images it is given without a config: {@link readCutouts} (files) and
 * {@link loadCatalogToPredict} (a catalogue), through the same decode and stretch.
 * @module
 */
import { dirname, resolve } from "node:path";
import type { DataSection } from "../config/schema.ts";
import type { Dataset } from "./types.ts";
import { StarmambaError } from "../util/errors.ts";
import { generateSynthetic } from "./synthetic.ts";
import { loadImageFolder, resolveDataRoot } from "./imagefolder.ts";
import {
  type CatalogDataset,
  type CutoutOptions,
  decodeCutout,
  FITS_PATTERN,
  loadCatalog,
  parseGroupBy,
  stretchOptions,
} from "./catalog.ts";
import { applyStretch, type StretchOptions } from "./stretch.ts";
import { frameOf } from "./splits.ts";

/** Where a source is loaded from besides the data section. */
export interface SourceContext {
  /** The folder of the config file: relative `data.root` and `data.catalog` start there. */
  configDir: string;
  /** Called as images are decoded (done, total); absent: silent. */
  progress?: (done: number, total: number) => void;
}

/** One data source: how it loads, and where its file names are relative to. */
export interface DataSource {
  /**
   * The images `d` names, decoded to [0, 1] and display-stretched, NHWC at `d.size` with
   * `d.channels`; labels, and where the source has them file names, groups and frames.
   */
  load(d: DataSection, ctx: SourceContext): Promise<Dataset>;
  /** The folder its file names are relative to (resolved as `load` does); null: no files. */
  root(d: DataSection, configDir: string): string | null;
}

/** The built-in synthetic sky (lib/data/synthetic.ts); `data.stretch` does not apply to it. */
const SYNTHETIC: DataSource = {
  load: (d) =>
    Promise.resolve(generateSynthetic({
      n: d.synthetic_n,
      size: d.size,
      channels: d.channels,
      galaxyFraction: d.galaxy_fraction,
      seed: d.synthetic_seed,
    })),
  root: () => null,
};

/** An ImageFolder (`<root>/<class>/<image>`, lib/data/imagefolder.ts). */
const FOLDER: DataSource = {
  async load(d, ctx) {
    const groupBy = parseGroupBy(d.group_by);
    if (groupBy === "sky" || groupBy.startsWith("column:")) {
      throw new StarmambaError(
        `data.group_by: ${groupBy} needs positions or columns from a catalogue ` +
          "(data.source: catalog); an image folder groups by name or frame",
      );
    }
    const ds = await loadImageFolder({
      root: FOLDER.root(d, ctx.configDir)!,
      size: d.size,
      channels: d.channels,
      resize: d.resize,
      onBadFile: d.on_bad_file,
      progress: ctx.progress,
    });
    // The decode cache holds the pixels before the stretch, so it serves every stretch.
    stretchCutouts(ds, stretchOptions(d));
    return groupBy === "frame" ? { ...ds, groups: ds.files.map(frameOf) } : ds;
  },
  root: (d, configDir) => resolveDataRoot(d.root ?? undefined, configDir),
};

/** A catalogue CSV of cutouts (lib/data/catalog.ts). */
const CATALOG: DataSource = {
  async load(d, ctx) {
    const groupBy = parseGroupBy(d.group_by);
    if (!d.catalog) {
      throw new StarmambaError(
        "data.source: catalog needs data.catalog: the CSV listing the cutouts (path, label, " +
          "optional frame, ra, dec), relative to the config file",
      );
    }
    return await loadCatalog({
      file: resolve(ctx.configDir, d.catalog),
      // data.root, when set, is where the catalogue's paths start (the data stays outside the
      // project); else they are relative to the catalogue itself.
      base: d.root ? resolve(ctx.configDir, d.root) : undefined,
      ...cutoutOptions(d),
      onBadFile: d.on_bad_file,
      requireLabels: true,
      classes: d.classes,
      groupBy,
      groupRadiusArcsec: d.group_radius_arcsec,
      pixelScaleArcsec: d.pixel_scale_arcsec,
      progress: ctx.progress,
    });
  },
  root: (d, configDir) => resolve(configDir, d.root ?? dirname(d.catalog ?? ".")),
};

/**
 * The data sources by their `data.source` name. A new one: its file exporting a
 * {@link DataSource}, one line here, and its name in the schema's `data.source` values.
 */
export const DATA_SOURCES: Readonly<Record<DataSection["source"], DataSource>> = Object.freeze({
  synthetic: SYNTHETIC,
  folder: FOLDER,
  catalog: CATALOG,
});

/** The source `d.source` names; an unknown name is a {@link StarmambaError} listing them. */
export function dataSource(d: Pick<DataSection, "source">): DataSource {
  if (Object.hasOwn(DATA_SOURCES, d.source)) {
    return (DATA_SOURCES as Record<string, DataSource>)[d.source];
  }
  throw new StarmambaError(
    `data.source: ${JSON.stringify(d.source)} is not a data source; use one of ${
      Object.keys(DATA_SOURCES).join(", ")
    }`,
  );
}

/** The decode settings of a data section. */
export function cutoutOptions(d: DataSection): CutoutOptions {
  return {
    size: d.size,
    channels: d.channels,
    resize: d.resize,
    fitsHdu: d.fits_hdu,
    stretch: stretchOptions(d),
  };
}

/** Applies a per-cutout stretch to every image in place (the identity leaves them alone). */
export function stretchCutouts(ds: Dataset, stretch: StretchOptions): void {
  if (stretch.stretch === "identity") return;
  const per = ds.height * ds.width * ds.channels;
  for (let i = 0; i < ds.n; i++) {
    const img = ds.images.subarray(i * per, (i + 1) * per);
    applyStretch(img, stretch, img);
  }
}

/** Options of {@link readCutouts}. */
export interface ReadCutoutsOptions {
  /** Resize images of another size (bilinear, as `data.resize: resize`); FITS never are. */
  resize: boolean;
  /** The classes of the dataset returned (its labels are all 0: the files carry none). */
  classNames: string[];
}

/**
 * `files` (JPEG/PNG/TIFF/WebP or FITS, as given) decoded and stretched as a catalogue of them
 * would be with the data section `d`: a dataset with those file names, no labels, no frames
 * (field context reads them from the names). A file that cannot be used is a
 * {@link StarmambaError} naming it.
 */
export async function readCutouts(
  d: DataSection,
  files: string[],
  opts: ReadCutoutsOptions,
): Promise<Dataset> {
  const cut = { ...cutoutOptions(d), resize: opts.resize ? "resize" : "reject" } as const;
  const per = d.size * d.size * d.channels;
  const images = new Float32Array(files.length * per);
  for (const [j, f] of files.entries()) {
    const out = images.subarray(j * per, (j + 1) * per);
    const why = await decodeCutout({ path: f, name: f }, cut, out, { files: 0, pixels: 0 });
    if (why === null) continue;
    const fix = FITS_PATTERN.test(f) ? "" : "; replace or remove it";
    throw new StarmambaError(`${f}: ${why}${fix}`);
  }
  return {
    images,
    labels: new Int32Array(files.length),
    n: files.length,
    height: d.size,
    width: d.size,
    channels: d.channels,
    classNames: opts.classNames,
    files,
  };
}

/**
 * A catalogue to classify (labels optional, and if given among `classNames`), decoded and
 * stretched with the data section `d` of the run that classifies it; grouped by name (groups
 * are unused in prediction), every bad row an error.
 */
export async function loadCatalogToPredict(
  d: DataSection,
  file: string,
  classNames: string[],
  resize: boolean,
): Promise<CatalogDataset> {
  return await loadCatalog({
    file,
    ...cutoutOptions(d),
    resize: resize ? "resize" : "reject",
    onBadFile: "error",
    requireLabels: false,
    classNames,
    groupBy: "name",
    groupRadiusArcsec: null,
    pixelScaleArcsec: null,
  });
}
