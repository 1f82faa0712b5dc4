/**
 * Tables for bench/bench.ts: the run's own figures, and the ratios between two result files.
 * @module
 */
import { StarmambaError } from "../lib/util/errors.ts";
import type { PeakEstimate } from "./flops.ts";
import type { PresetResult, ScanResult } from "./measure.ts";
import type { BenchOptions, Measured, PeerSection } from "./sitting.ts";

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

function presetTable(rs: PresetResult[], peak: PeakEstimate | null): string {
  const pct = (g: number) => (peak ? `${fmt((100 * g) / peak.gflops, 1)}%` : "–");
  return table(
    [
      "network",
      "params",
      "GFLOP/img",
      "train img/s",
      "step ms",
      "GFLOP/s",
      "%peak",
      "infer img/s",
      "step ms",
      "GFLOP/s",
      "%peak",
      "peak RSS MiB",
    ],
    rs.map((r) => [
      r.preset,
      r.params.toLocaleString("en-US"),
      fmt(r.flopsPerImage.forward / 1e9, 3),
      fmt(r.train.imagesPerSec, 1),
      fmt(r.train.step.median, 0),
      fmt(r.train.gflops, 2),
      pct(r.train.gflops),
      fmt(r.infer.imagesPerSec, 1),
      fmt(r.infer.step.median, 0),
      fmt(r.infer.gflops, 2),
      pct(r.infer.gflops),
      fmt(r.peakRssMiB, 0),
    ]),
  );
}

function scanTable(ss: ScanResult[]): string {
  return table(
    ["kernel", "shape (B×D×L, N, G)", "threads", "fwd ms", "fwd+bwd ms", "fwd GFLOP/s"],
    ss.map((s) => [
      `${s.kernel} (${s.label})`,
      `${s.shape.batch}×${s.shape.dim}×${s.shape.len}, N${s.shape.dstate}, G${s.shape.groups}`,
      String(s.threads ?? "–"),
      `${fmt(s.forwardMs.median, 1)} (min ${fmt(s.forwardMs.min, 1)})`,
      `${fmt(s.forwardBackwardMs.median, 1)} (min ${fmt(s.forwardBackwardMs.min, 1)})`,
      fmt(s.forwardGflops, 2),
    ]),
  );
}

function peerTable(
  rs: PresetResult[],
  scans: ScanResult[],
  peer: PeerSection,
  figures: Record<string, number>,
  rounds: number,
): string {
  const rows: string[][] = [];
  for (const r of rs) {
    const p = peer.presets[r.preset];
    if (!p) continue;
    rows.push([
      `${r.preset} train img/s`,
      fmt(r.train.imagesPerSec, 1),
      fmt(p.trainImagesPerSec, 1),
      fmt(figures[`ratio.${r.preset}.train`], 2),
    ]);
    rows.push([
      `${r.preset} infer img/s`,
      fmt(r.infer.imagesPerSec, 1),
      fmt(p.inferImagesPerSec, 1),
      fmt(figures[`ratio.${r.preset}.infer`], 2),
    ]);
  }
  const s = scans.find((x) => x.kernel === "native" && x.label === "tiny-stage1");
  if (peer.scan && s) {
    rows.push([
      "scan fwd ms (tiny-stage1)",
      fmt(s.forwardMs.median, 1),
      fmt(peer.scan.forwardMs, 1),
      fmt(figures["ratio.scan.fwd"], 2),
    ]);
    rows.push([
      "scan fwd+bwd ms (tiny-stage1)",
      fmt(s.forwardBackwardMs.median, 1),
      fmt(peer.scan.forwardBackwardMs, 1),
      fmt(figures["ratio.scan.fwd_bwd"], 2),
    ]);
  }
  const mismatch = Object.values(peer.presets).filter((p) => p.paramsMatch === false)
    .map((p) => `\nwarning: the peer's ${p.preset} has ${p.params} parameters, not ours`);
  const withheld = Object.keys(Object.values(peer.presets)[0]?.environment?.withheld ?? {});
  return table(["figure", "starmamba", "peer (torch)", "speed ratio"], rows) +
    "\nspeed ratio > 1: starmamba faster (images/s ours ÷ peer; ms peer ÷ ours)" +
    (rounds > 1
      ? `\nfigures: medians over ${rounds} rounds; ratio: the median of the per-round ratios`
      : "") +
    (withheld.length ? `\npeer ran without this process's ${withheld.join(", ")}` : "") +
    mismatch.join("");
}

export function printReport(o: BenchOptions, m: Measured): void {
  const { kinfo, peak, results, scans, peer } = m;
  console.log(
    `\nModel throughput: backend ${m.backend}, scan kernel ${kinfo.name}` +
      `${kinfo.threads ? ` ×${kinfo.threads} threads` : ""}, batch ${o.batch}, ` +
      `median of ${o.steps} steps after ${o.warmup} warm-up` +
      (o.rounds > 1 ? `, median over ${o.rounds} rounds` : ""),
  );
  console.log(presetTable(results, peak));
  console.log(
    peak
      ? `peak ≈ ${fmt(peak.gflops, 1)} GFLOP/s — ${peak.basis}. The wasm backend runs one ` +
        "thread with 128-bit SIMD, so its own ceiling is a small fraction of this."
      : "peak: unknown (no clock in /proc/cpuinfo)",
  );
  console.log("FLOPs: analytic (matmuls + convs + scan 9·B·D·L·N forward); training = 3× forward.");
  if (scans.length) console.log(`\nSelective scan alone:\n${scanTable(scans)}`);
  if (peer && !peer.status.available) console.log(`\npeer: not run: ${peer.status.reason}`);
  else if (peer) {
    console.log(`\nPyTorch peer (torch ${peer.status.torch}, same sitting, official variant):`);
    console.log(peerTable(results, scans, peer, m.figures, o.rounds));
    for (const e of peer.errors) console.log(`peer error: ${e}`);
  }
  if (m.loadEnd) {
    console.log(
      `\nload average (1 min) at start ${fmt(m.loadStart?.[0], 2)}, end ${fmt(m.loadEnd[0], 2)}`,
    );
  }
}
