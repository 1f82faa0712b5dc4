/**
 * SVG figures for experiment reports, rendered headlessly with Vega-Lite → Vega (renderer
 * "none", no DOM or canvas). Every function returns the SVG text for fixed-size charts, and the
 * same input always gives the same bytes: nothing time-dependent is drawn, and Vega's
 * process-global clip/gradient ids are renumbered per document (see {@link canonicalIds}).
 * Curves come from lib/metrics/metrics.ts, so figures and tables agree.
 * @module
 */
import * as vl from "vega-lite";
import * as vega from "vega";
import {
  averagePrecision,
  confidenceAndCorrect,
  ece,
  positiveScores,
  prCurve,
  reliabilityBins,
  resolvePositiveClass,
  rocAuc,
  rocCurve,
  validatePredictions,
} from "../metrics/metrics.ts";

/** One epoch of training history, as logged by the trainer. */
export interface HistoryRow {
  /** 1-based epoch number. */
  epoch: number;
  /** Mean training loss over the epoch. */
  trainLoss: number;
  /** Training accuracy over the epoch. */
  trainAcc: number;
  /** Validation loss after the epoch. */
  valLoss: number;
  /** Validation accuracy after the epoch. */
  valAcc: number;
}

/** One bar of an ablation chart: a metric's mean ± std over seeds for one variant. */
export interface BarRow {
  /** Variant name (x axis), e.g. "no SS2D". */
  variant: string;
  /** Metric name (one panel per metric), e.g. "accuracy". */
  metric: string;
  /** Mean over seeds. */
  mean: number;
  /** Standard deviation over seeds (error bar is mean ± std). */
  std: number;
}

/** One estimate with its interval, for {@link intervalsSvg}. */
export interface IntervalRow {
  /** The thing measured (one line of the chart), e.g. a network. */
  row: string;
  /** Which estimate (colour; several per row side by side), e.g. "out of fold". */
  series: string;
  /** Which figure (one panel per figure), e.g. "accuracy %". */
  panel: string;
  value: number;
  lo: number;
  hi: number;
}

/**
 * A forest plot: per panel, each row's estimates as a point with its interval as a line, the
 * series of a row side by side in their colours, the value printed beside the interval. Rows
 * and series keep their first-seen order.
 */
export function intervalsSvg(rows: IntervalRow[], title: string): Promise<string> {
  const order = (k: keyof IntervalRow) => [...new Set(rows.map((r) => String(r[k])))];
  const values = rows.map((r) => ({ ...r, label: r.value.toFixed(1) }));
  const series = order("series");
  const y: VlSpec = {
    field: "row",
    type: "nominal",
    title: null,
    sort: order("row"),
    axis: { labelLimit: 320 },
  };
  const x = (field: string): VlSpec => ({
    field,
    type: "quantitative",
    title: null,
    scale: { zero: false, nice: true },
  });
  const color: VlSpec = {
    field: "series",
    type: "nominal",
    title: null,
    sort: series,
    legend: { orient: "bottom", direction: "vertical", labelLimit: 480 },
  };
  const yOffset: VlSpec = { field: "series", type: "nominal", sort: series };
  return renderSvg({
    title,
    data: { values },
    facet: { column: { field: "panel", type: "nominal", title: null, sort: order("panel") } },
    resolve: { scale: { x: "independent" } },
    spec: {
      width: 260,
      height: { step: 12 * series.length + 8 },
      encoding: { y, yOffset, color },
      layer: [
        {
          mark: { type: "rule", strokeWidth: 2 },
          encoding: { x: x("lo"), x2: { field: "hi" } },
        },
        { mark: { type: "point", filled: true, size: 50 }, encoding: { x: x("value") } },
        {
          mark: { type: "text", align: "left", dx: 5, fontSize: 10 },
          encoding: { x: x("hi"), text: { field: "label", type: "nominal" } },
        },
      ],
    },
  });
}

/**
 * A Vega-Lite (sub)spec or field definition. Vega-Lite's package exports only `TopLevelSpec`,
 * not the types of its parts, and deep imports don't resolve through the import map, so parts
 * are plain objects and `vl.compile` validates the assembled spec.
 */
type VlSpec = Record<string, unknown>;

/** Shared look: readable fonts, white background, one font family so PNG conversion matches. */
const CONFIG: VlSpec = {
  font: "DejaVu Sans, Helvetica, Arial, sans-serif",
  background: "white",
  padding: 12,
  title: { fontSize: 15, fontWeight: "bold", anchor: "middle", offset: 10 },
  axis: { labelFontSize: 12, titleFontSize: 13, titlePadding: 8, grid: true, gridOpacity: 0.5 },
  legend: { labelFontSize: 12, titleFontSize: 12 },
  header: { labelFontSize: 13, titleFontSize: 13 },
  view: { stroke: "#888" },
};

/** Train/val colours (Tableau blue/orange), fixed so every figure uses the same mapping. */
const SPLIT_COLORS = { domain: ["train", "val"], range: ["#1f77b4", "#ff7f0e"] };

/** Square size of the ROC, PR and reliability panels, in pixels. */
const CURVE_SIZE = 320;

/** Formats an area metric for a title; NaN (one class absent) prints as "n/a". */
function fmtArea(x: number): string {
  return Number.isNaN(x) ? "n/a" : x.toFixed(4);
}

/**
 * Vega numbers its clip paths and gradients with process-global counters, so the same chart
 * rendered twice gets different ids. Renumbering ids in order of first appearance makes the
 * SVG depend only on the chart.
 */
export function canonicalIds(svg: string): string {
  const ids = new Map<string, string>();
  for (const m of svg.matchAll(/\sid="([^"]+)"/g)) {
    if (!ids.has(m[1])) ids.set(m[1], `sm${ids.size + 1}`);
  }
  if (ids.size === 0) return svg;
  return svg
    .replace(/\sid="([^"]+)"/g, (_s, id: string) => ` id="${ids.get(id)}"`)
    .replace(/url\(#([^)]+)\)/g, (s, id: string) => (ids.has(id) ? `url(#${ids.get(id)})` : s));
}

/** Compiles a Vega-Lite spec and renders it to deterministic SVG text. */
export async function renderSvg(spec: VlSpec): Promise<string> {
  const full = { ...spec, config: { ...CONFIG, ...(spec.config as VlSpec | undefined) } };
  const vgSpec = vl.compile(full as unknown as vl.TopLevelSpec).spec;
  const view = new vega.View(vega.parse(vgSpec), { renderer: "none", logLevel: vega.Error });
  try {
    return canonicalIds(await view.toSVG());
  } finally {
    view.finalize();
  }
}

/**
 * Loss and accuracy against epoch, train and validation, side by side. Non-finite values (a
 * diverged epoch) are left out of the lines rather than breaking the scale.
 */
export function trainingCurvesSvg(history: HistoryRow[]): Promise<string> {
  const values = history.flatMap((h) => [
    { epoch: h.epoch, split: "train", metric: "loss", value: h.trainLoss },
    { epoch: h.epoch, split: "val", metric: "loss", value: h.valLoss },
    { epoch: h.epoch, split: "train", metric: "accuracy", value: h.trainAcc },
    { epoch: h.epoch, split: "val", metric: "accuracy", value: h.valAcc },
  ]).filter((r) => Number.isFinite(r.value));
  const panel = (metric: string, yTitle: string): VlSpec => ({
    width: 340,
    height: 240,
    transform: [{ filter: { field: "metric", equal: metric } }],
    encoding: {
      x: {
        field: "epoch",
        type: "quantitative",
        title: "epoch",
        axis: { tickMinStep: 1, format: "d" },
        scale: { nice: false, zero: false },
      },
      y: {
        field: "value",
        type: "quantitative",
        title: yTitle,
        scale: { zero: false },
      },
      color: {
        field: "split",
        type: "nominal",
        title: "split",
        scale: SPLIT_COLORS,
      },
    },
    layer: [
      { mark: { type: "line", strokeWidth: 2 } },
      { mark: { type: "point", filled: true, size: 30 } },
    ],
  });
  return renderSvg({
    title: "Training curves",
    data: { values },
    hconcat: [panel("loss", "loss (cross-entropy)"), panel("accuracy", "accuracy")],
  });
}

/** Shared axis for rates and probabilities: fixed [0, 1] so curves of different runs compare. */
function unitAxis(field: string, title: string): VlSpec {
  return {
    field,
    type: "quantitative",
    title,
    scale: { domain: [0, 1], nice: false },
    axis: { tickCount: 5 },
  };
}

/**
 * ROC curve of the positive class with the chance diagonal; the title carries the AUC.
 * @param labels true class index per sample.
 * @param probs n × k row-major softmax probabilities.
 * @param classNames name of each class index.
 * @param positiveClass default "galaxy" if present, else classNames[1].
 */
export function rocSvg(
  labels: ArrayLike<number>,
  probs: ArrayLike<number>,
  classNames: string[],
  positiveClass?: string,
): Promise<string> {
  validatePredictions(labels, probs, classNames.length);
  const pos = resolvePositiveClass(classNames, positiveClass);
  const { scores, positive } = positiveScores(labels, probs, classNames.length, pos);
  const auc = rocAuc(scores, positive);
  const values = rocCurve(scores, positive)
    .map((p, i) => ({ i, fpr: p.fpr, tpr: p.tpr }))
    .filter((p) => Number.isFinite(p.fpr) && Number.isFinite(p.tpr));
  return renderSvg({
    title: {
      text: `ROC curve: ${classNames[pos]} (AUC = ${fmtArea(auc)})`,
      subtitle: `n = ${labels.length}`,
    },
    width: CURVE_SIZE,
    height: CURVE_SIZE,
    layer: [
      {
        data: { values: [{ x: 0, y: 0 }, { x: 1, y: 1 }] },
        mark: { type: "line", color: "#999", strokeDash: [6, 4], strokeWidth: 1.5 },
        encoding: {
          x: unitAxis("x", "false positive rate"),
          y: unitAxis("y", "true positive rate"),
        },
      },
      {
        data: { values },
        mark: { type: "line", color: "#1f77b4", strokeWidth: 2.5 },
        encoding: {
          x: unitAxis("fpr", "false positive rate"),
          y: unitAxis("tpr", "true positive rate"),
          order: { field: "i", type: "quantitative" },
        },
      },
    ],
  });
}

/**
 * Precision–recall curve of the positive class, drawn as the step function that average
 * precision integrates, with the chance level (positive prevalence); the title carries the AP.
 */
export function prSvg(
  labels: ArrayLike<number>,
  probs: ArrayLike<number>,
  classNames: string[],
  positiveClass?: string,
): Promise<string> {
  validatePredictions(labels, probs, classNames.length);
  const pos = resolvePositiveClass(classNames, positiveClass);
  const { scores, positive } = positiveScores(labels, probs, classNames.length, pos);
  const ap = averagePrecision(scores, positive);
  const nPos = positive.filter((p) => p).length;
  const prevalence = labels.length ? nPos / labels.length : 0;
  // Only the first point at each recall level enters AP (later thresholds at the same recall
  // add false positives only); drawing the others would add spikes the area does not contain.
  const values = prCurve(scores, positive)
    .filter((p, j, all) => j === 0 || p.recall !== all[j - 1].recall)
    .map((p, i) => ({ i, recall: p.recall, precision: p.precision }))
    .filter((p) => Number.isFinite(p.recall) && Number.isFinite(p.precision));
  return renderSvg({
    title: {
      text: `Precision–recall: ${classNames[pos]} (AP = ${fmtArea(ap)})`,
      subtitle: `n = ${labels.length}, chance level = prevalence ${prevalence.toFixed(3)}`,
    },
    width: CURVE_SIZE,
    height: CURVE_SIZE,
    layer: [
      {
        data: { values: [{ x: 0, y: prevalence }, { x: 1, y: prevalence }] },
        mark: { type: "line", color: "#999", strokeDash: [6, 4], strokeWidth: 1.5 },
        encoding: { x: unitAxis("x", "recall"), y: unitAxis("y", "precision") },
      },
      {
        data: { values },
        // AP credits each recall increment (R_{n-1}, R_n] with precision P_n: a step-before.
        mark: { type: "line", color: "#d62728", strokeWidth: 2.5, interpolate: "step-before" },
        encoding: {
          x: unitAxis("recall", "recall"),
          y: unitAxis("precision", "precision"),
          order: { field: "i", type: "quantitative" },
        },
      },
    ],
  });
}

/**
 * Confusion-matrix heat map, rows = true class, columns = predicted class. Cells show counts;
 * colour is the fraction of the true class (row-normalised) so a rare class's errors are as
 * visible as a common one's.
 */
export function confusionSvg(confusion: number[][], classNames: string[]): Promise<string> {
  const k = classNames.length;
  if (confusion.length !== k || confusion.some((r) => r.length !== k)) {
    throw new Error(`confusion matrix must be ${k} × ${k} to match classNames`);
  }
  const values = confusion.flatMap((row, t) => {
    const total = row.reduce((a, b) => a + b, 0);
    return row.map((count, p) => ({
      truth: classNames[t],
      pred: classNames[p],
      count,
      frac: total ? count / total : 0,
    }));
  });
  const cell = Math.max(70, Math.min(110, 420 / k));
  const classAxis = (field: string, title: string, orient: string): VlSpec => ({
    field,
    type: "nominal",
    title,
    sort: classNames,
    axis: { orient, labelAngle: 0, grid: false, ticks: false, domain: false, labelPadding: 6 },
  });
  return renderSvg({
    title: "Confusion matrix",
    data: { values },
    width: cell * k,
    height: cell * k,
    encoding: {
      // Predicted class on top, as in the usual [true][pred] table layout.
      x: classAxis("pred", "predicted class", "top"),
      y: classAxis("truth", "true class", "left"),
    },
    layer: [
      {
        mark: { type: "rect", stroke: "white", strokeWidth: 2 },
        encoding: {
          color: {
            field: "frac",
            type: "quantitative",
            title: "row fraction",
            scale: { scheme: "blues", domain: [0, 1] },
            legend: { format: ".0%", gradientLength: cell * k - 20 },
          },
        },
      },
      {
        mark: { type: "text", fontSize: 18, fontWeight: "bold" },
        encoding: {
          text: { field: "count", type: "quantitative", format: "d" },
          color: {
            condition: { test: "datum.frac > 0.55", value: "white" },
            value: "#222",
          },
        },
      },
    ],
  });
}

/**
 * Reliability diagram of the max probability (15 equal-width bins, as in the ECE): accuracy per
 * bin as bars against the diagonal of perfect calibration, and a panel of bin counts below so
 * near-empty bins are not over-read. The title carries the ECE.
 */
export function reliabilitySvg(
  labels: ArrayLike<number>,
  probs: ArrayLike<number>,
  classNames: string[],
): Promise<string> {
  const k = classNames.length;
  validatePredictions(labels, probs, k);
  const { confidence, correct } = confidenceAndCorrect(labels, probs, k);
  const bins = reliabilityBins(confidence, correct);
  const e = ece(confidence, correct);
  const filled = bins.filter((b) => b.count > 0);
  // Confidence of an argmax over k classes is at least 1/k: start the axis at the edge of the
  // bin holding 1/k so no bar hangs off the left of the plot.
  const lo = Math.max(0, Math.ceil((bins.length / k) - 1e-9) - 1) / bins.length;
  const xAxis = (title: string | null): VlSpec => ({
    field: "lo",
    type: "quantitative",
    title,
    scale: { domain: [lo, 1], nice: false },
    axis: title === null ? { labels: false, tickCount: 5 } : { tickCount: 5 },
  });
  return renderSvg({
    title: {
      text: `Reliability diagram (ECE = ${e.toFixed(4)})`,
      subtitle: [
        `n = ${labels.length}, ${bins.length} equal-width confidence bins`,
        "bars: accuracy, ◆: mean confidence, dashed: perfect calibration",
      ],
    },
    vconcat: [
      {
        width: CURVE_SIZE,
        height: CURVE_SIZE,
        layer: [
          {
            data: { values: filled },
            mark: { type: "rect", color: "#1f77b4", opacity: 0.8, stroke: "white" },
            encoding: {
              x: xAxis(null),
              x2: { field: "hi" },
              y: {
                field: "accuracy",
                type: "quantitative",
                title: "accuracy in bin",
                scale: { domain: [0, 1], nice: false },
              },
              y2: { datum: 0 },
            },
          },
          {
            data: { values: filled },
            mark: { type: "point", shape: "diamond", filled: true, color: "#d62728", size: 50 },
            encoding: {
              x: { field: "meanConfidence", type: "quantitative" },
              y: { field: "meanConfidence", type: "quantitative" },
            },
          },
          {
            data: { values: [{ lo, y: lo }, { lo: 1, y: 1 }] },
            mark: { type: "line", color: "#555", strokeDash: [6, 4], strokeWidth: 1.5 },
            encoding: {
              x: { field: "lo", type: "quantitative" },
              y: { field: "y", type: "quantitative" },
            },
          },
        ],
      },
      {
        width: CURVE_SIZE,
        height: 90,
        data: { values: filled },
        mark: { type: "rect", color: "#7f7f7f", stroke: "white" },
        encoding: {
          x: xAxis("confidence (max probability)"),
          x2: { field: "hi" },
          y: { field: "count", type: "quantitative", title: "samples", axis: { tickCount: 3 } },
          y2: { datum: 0 },
        },
      },
    ],
  });
}

/**
 * Ablation bar chart: one panel per metric (in first-seen order), one bar per variant (in
 * first-seen order) with a mean ± std error bar and the mean printed above it.
 */
export function barChartSvg(rows: BarRow[]): Promise<string> {
  const variants = [...new Set(rows.map((r) => r.variant))];
  const metrics = [...new Set(rows.map((r) => r.metric))];
  const values = rows.map((r) => ({
    ...r,
    lo: r.mean - r.std,
    hi: r.mean + r.std,
    label: r.mean.toFixed(3),
  }));
  const x: VlSpec = {
    field: "variant",
    type: "nominal",
    title: null,
    sort: variants,
    axis: { labelAngle: variants.length > 3 ? -30 : 0, labelLimit: 160 },
  };
  return renderSvg({
    title: "Ablation: mean ± std over seeds",
    data: { values },
    facet: { column: { field: "metric", type: "nominal", title: null, sort: metrics } },
    resolve: { scale: { y: "independent" } },
    spec: {
      width: Math.max(160, 55 * variants.length),
      height: 240,
      encoding: { x },
      layer: [
        {
          mark: { type: "bar", color: "#4c78a8", width: { band: 0.7 } },
          encoding: { y: { field: "mean", type: "quantitative", title: "value" } },
        },
        {
          mark: { type: "rule", color: "#222", strokeWidth: 1.5 },
          encoding: { y: { field: "lo", type: "quantitative" }, y2: { field: "hi" } },
        },
        {
          mark: { type: "text", dy: -8, fontSize: 11, color: "#222" },
          encoding: {
            y: { field: "hi", type: "quantitative" },
            text: { field: "label", type: "nominal" },
          },
        },
      ],
    },
  });
}
