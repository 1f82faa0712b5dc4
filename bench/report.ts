/**
 * Tables for bench/bench.ts: the run's own figures, and the ratios between two result files.
 * @module
 */
import { StarmambaError } from "../lib/util/errors.ts";

/** Rows of cells, left-aligned first column, right-aligned others. */
export function table(header: string[], rows: string[][]): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) =>
    r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

/** A number with `digits` decimals, or "–" when missing. */
export function fmt(x: number | null | undefined, digits = 1): string {
  return x === null || x === undefined || !Number.isFinite(x) ? "–" : x.toFixed(digits);
}

/** A result file's headline figures and the settings they were measured with. */
export interface ResultSummary {
  figures: Record<string, number>;
  /** Settings that change what a figure means (batch, backend, …), as text. */
  settings: Record<string, string>;
}

/** Reads a result file; a StarmambaError says what is wrong with it. */
export function readResult(path: string): ResultSummary {
  let data: unknown;
  try {
    data = JSON.parse(Deno.readTextFileSync(path));
  } catch (e) {
    throw new StarmambaError(
      `--compare: cannot read ${path} as JSON (${(e as Error).message.split("\n")[0]}): pass ` +
        "two files written by `deno task bench` (bench/results/*.json)",
    );
  }
  const figures = (data as { figures?: unknown }).figures;
  if (!figures || typeof figures !== "object") {
    throw new StarmambaError(
      `--compare: ${path} has no "figures" object: pass files written by \`deno task bench\``,
    );
  }
  const d = data as {
    command?: { options?: Record<string, unknown> };
    backend?: string;
    scanKernel?: { name?: string; threads?: number };
    code?: { commit?: string; dirty?: boolean };
  };
  const opt = d.command?.options ?? {};
  return {
    figures: Object.fromEntries(
      Object.entries(figures as Record<string, unknown>).filter(([, v]) => typeof v === "number"),
    ) as Record<string, number>,
    settings: {
      commit: `${d.code?.commit?.slice(0, 7) ?? "?"}${d.code?.dirty ? " (dirty)" : ""}`,
      backend: String(d.backend ?? "?"),
      "scan kernel": `${d.scanKernel?.name ?? "?"} ×${d.scanKernel?.threads ?? "?"}`,
      batch: String(opt.batch ?? "?"),
      "scan batch": String(opt.scanBatch ?? "?"),
      "warm-up + steps": `${opt.warmup ?? "?"} + ${opt.steps ?? "?"}`,
    },
  };
}

/** Lines naming the settings in which two results differ. */
export function settingsDiff(a: ResultSummary, b: ResultSummary): string[] {
  return Object.keys(a.settings)
    .filter((k) => a.settings[k] !== b.settings[k])
    .map((k) => `${k}: a ${a.settings[k]}, b ${b.settings[k]}`);
}

/** The ratio table b ÷ a over the figures both files share, plus figures only one has. */
export function compareTable(
  a: Record<string, number>,
  b: Record<string, number>,
  names: [string, string],
): string {
  const keys = Object.keys(a).filter((k) => k in b);
  const rows = keys.map((k) => {
    const ratio = a[k] !== 0 ? b[k] / a[k] : NaN;
    return [k, fmt(a[k], 3), fmt(b[k], 3), fmt(ratio, 2)];
  });
  let out = `ratio = b ÷ a   (a: ${names[0]}, b: ${names[1]})\n` +
    "For images/s and GFLOP/s, ratio > 1 means b is faster; for ms, ratio < 1 means b is faster.\n\n" +
    table(["figure", "a", "b", "ratio"], rows);
  const onlyA = Object.keys(a).filter((k) => !(k in b));
  const onlyB = Object.keys(b).filter((k) => !(k in a));
  if (onlyA.length) out += `\n\nonly in a: ${onlyA.join(", ")}`;
  if (onlyB.length) out += `\n\nonly in b: ${onlyB.join(", ")}`;
  return out;
}
