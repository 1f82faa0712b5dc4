/**
 * The plots written beside every run: training curves, ROC, PR, confusion matrix and
 * reliability diagram, as SVG file contents keyed by file name.
 * @module
 */
import {
  confusionSvg,
  type HistoryRow,
  prSvg,
  reliabilitySvg,
  rocSvg,
  trainingCurvesSvg,
} from "./plots.ts";

/** Renders every per-run plot; returns file name → SVG text. */
export async function renderRunPlots(
  history: HistoryRow[],
  valLabels: number[],
  probs: number[],
  classNames: string[],
  confusion: number[][],
): Promise<Record<string, string>> {
  return {
    "curves.svg": await trainingCurvesSvg(history),
    "roc.svg": await rocSvg(valLabels, probs, classNames),
    "pr.svg": await prSvg(valLabels, probs, classNames),
    "confusion.svg": await confusionSvg(confusion, classNames),
    "reliability.svg": await reliabilitySvg(valLabels, probs, classNames),
  };
}
