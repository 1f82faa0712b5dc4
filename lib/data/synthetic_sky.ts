/**
 * The synthetic sky written out as a user's survey would arrive: one FITS (or PNG) file per
 * cutout plus a catalogue `sources.csv` with columns source_id, path, label, frame, ra, dec.
 * It is the worked example of `data.source: catalog` (README, "your own cutouts").
 *
 * Sky layout: frames of `cutoutsPerFrame` cutouts; every field is observed in two frames
 * ("a" and "b", offset by half a grid step), fields 3° apart. Inside a frame the cutouts sit on a
 * grid with a step of a quarter cutout width, so with `group_by: sky` at the default radius (half
 * a cutout's width) each field — both of its frames — is one group, as overlapping ARIES cutouts
 * of one patch of sky are.
 * @module
 */
import sharp from "sharp";
import * as path from "node:path";
import { generateSynthetic } from "./synthetic.ts";
import { writeFitsFloat32 } from "./fits.ts";
import { StarmambaError } from "../util/errors.ts";
import { exists, writeFileAtomic } from "../util/fs.ts";

/** Options of {@link writeSyntheticSky}. */
export interface SyntheticSkyOptions {
  /** Number of cutouts. */
  n: number;
  /** Cutout side in pixels. */
  size: number;
  /** Seed of the synthetic sky. */
  seed: number;
  /** Share of galaxies. */
  galaxyFraction: number;
  /** FITS (BITPIX −32) or 8-bit grey PNG. */
  format: "fits" | "png";
  /** Pixel scale in arcsec per pixel (sets the positions' spacing). */
  pixelScaleArcsec: number;
  /** Cutouts per frame (the last frame may hold fewer). */
  cutoutsPerFrame: number;
  /** Write into a folder that already holds a catalogue (its files are overwritten). */
  force?: boolean;
}

/** What {@link writeSyntheticSky} wrote. */
export interface SyntheticSkySummary {
  /** The catalogue file. */
  catalog: string;
  /** Cutouts written. */
  n: number;
  /** Frames and fields (two frames per field). */
  frames: number;
  /** Fields: the sky groups `group_by: sky` finds at the default radius. */
  fields: number;
}

/** Defaults of the README example. */
export const DEFAULT_SKY: Readonly<SyntheticSkyOptions> = Object.freeze({
  n: 400,
  size: 64,
  seed: 1,
  galaxyFraction: 0.25,
  format: "fits",
  pixelScaleArcsec: 0.4,
  cutoutsPerFrame: 40,
});

/**
 * Writes `opts.n` synthetic cutouts under `outDir/cutouts/` and `outDir/sources.csv`. Pixel
 * values are quantised to 8 bits (k / 255) in both formats, so the FITS and PNG versions of one
 * sky hold the same numbers and train the same network (the identity stretch reads FITS values
 * as they are).
 */
export async function writeSyntheticSky(
  outDir: string,
  opts: SyntheticSkyOptions,
): Promise<SyntheticSkySummary> {
  if (!opts.force) refuseExistingCatalogue(outDir);
  const ds = generateSynthetic({
    n: opts.n,
    size: opts.size,
    channels: 1,
    galaxyFraction: opts.galaxyFraction,
    seed: opts.seed,
  });
  const s = opts.size, plane = s * s;
  await Deno.mkdir(path.join(outDir, "cutouts"), { recursive: true });
  const rows: string[] = ["source_id,path,label,frame,ra,dec"];
  const step = (s * opts.pixelScaleArcsec) / 4 / 3600; // degrees: a quarter cutout width
  const columns = 8;
  for (let i = 0; i < ds.n; i++) {
    const f = Math.floor(i / opts.cutoutsPerFrame), j = i % opts.cutoutsPerFrame;
    const field = f >> 1, second = f % 2 === 1;
    const frame = `SKY${String(field).padStart(3, "0")}${second ? "b" : "a"}`;
    const dec0 = -30 + 6 * (field % 10), ra0 = (150 + 3 * Math.floor(field / 10)) % 360;
    const dec = dec0 + step * (Math.floor(j / columns) + (second ? 0.5 : 0));
    const ra = ra0 +
      (step * ((j % columns) + (second ? 0.5 : 0))) / Math.cos((dec * Math.PI) / 180);
    const q = Float64Array.from(
      ds.images.subarray(i * plane, (i + 1) * plane),
      (v) => Math.round(v * 255),
    );
    const name = `cutouts/${frame}_${String(j).padStart(3, "0")}.${opts.format}`;
    const file = path.join(outDir, name);
    if (opts.format === "png") {
      await sharp(Uint8Array.from(q), { raw: { width: s, height: s, channels: 1 } }).png()
        .toFile(file);
    } else {
      // FITS stores the bottom row first (DS9's convention), so rows go in reversed.
      const bottomUp = new Float32Array(plane);
      for (let y = 0; y < s; y++) {
        for (let x = 0; x < s; x++) bottomUp[(s - 1 - y) * s + x] = q[y * s + x] / 255;
      }
      writeFileAtomic(
        file,
        writeFitsFloat32(s, s, bottomUp, { OBJECT: `SYN-${i}`, RA: ra, DEC: dec }),
      );
    }
    const label = ds.classNames[ds.labels[i]];
    rows.push(
      `SYN-${String(i).padStart(6, "0")},${name},${label},${frame},${ra.toFixed(7)},${
        dec.toFixed(7)
      }`,
    );
  }
  const catalog = path.join(outDir, "sources.csv");
  writeFileAtomic(catalog, rows.join("\n") + "\n");
  const frames = Math.ceil(ds.n / opts.cutoutsPerFrame);
  return { catalog, n: ds.n, frames, fields: Math.ceil(frames / 2) };
}

/**
 * A folder that already holds a catalogue (sources.csv, or files in cutouts/) would be partly
 * overwritten: a smaller or other-format sky replaces some cutouts and the catalogue, and leaves
 * the rest beside them. Refused unless the caller forces it.
 */
function refuseExistingCatalogue(outDir: string): void {
  const catalog = path.join(outDir, "sources.csv"), cutouts = path.join(outDir, "cutouts");
  let files = 0;
  try {
    files = [...Deno.readDirSync(cutouts)].length;
  } catch {
    // No cutouts/ folder yet: nothing to overwrite there.
  }
  if (!exists(catalog) && files === 0) return;
  const held = [exists(catalog) ? "sources.csv" : "", files ? `${files} file(s) in cutouts/` : ""]
    .filter(Boolean).join(" and ");
  throw new StarmambaError(
    `${outDir} already holds a catalogue (${held}); writing a sky there would overwrite part ` +
      "of it: choose a new folder, or pass --force to overwrite it",
  );
}
