/**
 * Whole telescope frames (issue 32): a FITS image opened and read in bands of rows without
 * loading the file ({@link openFitsFrame}), its world coordinates by the FITS WCS standard (TAN
 * and SIN, CD or PC + CDELT, SIP distortion; {@link parseWcs}, {@link pixelToWorld},
 * {@link worldToPixel}), and its sources found as Source Extractor and SEP find them
 * ({@link measureBackground}, {@link detectSources}, {@link detectFrame}). Cutouts of 64×64 files
 * are lib/data's; a frame's cutouts go through the same pipeline (lib/experiment/classify.ts).
 * @module
 */
export * from "./open.ts";
export * from "./wcs.ts";
export * from "./background.ts";
export * from "./detect.ts";
export type { FitsValue } from "../data/fits.ts";
export * from "./synthetic.ts";
export * from "./cutouts.ts";
export * from "./sources_csv.ts";
export * from "./bintable.ts";
export * from "./regions.ts";
export * from "./preview.ts";
export type { DataSection, ExperimentConfig } from "../config/schema.ts";
export type { CatalogTable, Dataset } from "../data/types.ts";
