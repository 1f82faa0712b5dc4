/**
 * Metrics per group of images (on ARIES: per sky field). One accuracy over a random split hides
 * how unevenly a model does across fields — seeing, depth and the display stretch differ from
 * frame to frame — and a user classifying a new field wants to know that spread.
 * @module
 */
import { argmaxRows } from "./metrics.ts";

/** Counts and rates of one group. */
export interface GroupMetrics {
  /** Group key, e.g. a sky position "J1429+3859". */
  group: string;
  /** Images in the group. */
  n: number;
  /** Images classified correctly (arg-max = label). */
  correct: number;
  /** correct / n. */
  accuracy: number;
  /** Per class name: images of that class in the group, how many of them were recognised, and their ratio (null if none). */
  perClass: Record<string, { support: number; recognised: number; recall: number | null }>;
}

/**
 * Arg-max accuracy and per-class recall for each group `groupOf(file)`, groups sorted by key.
 * `probs` is row-major n × classNames.length.
 */
export function metricsByGroup(
  files: readonly string[],
  labels: ArrayLike<number>,
  probs: ArrayLike<number>,
  classNames: readonly string[],
  groupOf: (file: string) => string,
): GroupMetrics[] {
  const k = classNames.length, n = files.length;
  if (labels.length !== n || probs.length !== n * k) {
    throw new RangeError(
      `metricsByGroup: ${n} files, ${labels.length} labels, ${probs.length} probabilities for ${k} classes`,
    );
  }
  const acc = new Map<string, { support: number[]; recognised: number[] }>();
  const preds = argmaxRows(probs, k);
  for (let i = 0; i < n; i++) {
    const arg = preds[i];
    const key = groupOf(files[i]);
    let g = acc.get(key);
    if (!g) acc.set(key, g = { support: new Array(k).fill(0), recognised: new Array(k).fill(0) });
    g.support[labels[i]]++;
    if (arg === labels[i]) g.recognised[labels[i]]++;
  }
  return [...acc.keys()].sort().map((key) => {
    const g = acc.get(key)!;
    const total = g.support.reduce((a, b) => a + b, 0);
    const correct = g.recognised.reduce((a, b) => a + b, 0);
    const perClass: GroupMetrics["perClass"] = {};
    classNames.forEach((name, c) => {
      perClass[name] = {
        support: g.support[c],
        recognised: g.recognised[c],
        recall: g.support[c] > 0 ? g.recognised[c] / g.support[c] : null,
      };
    });
    return { group: key, n: total, correct, accuracy: correct / total, perClass };
  });
}

/** Markdown table of {@link metricsByGroup}: one row per group, recall as "k/n (p%)". */
export function formatGroupsMarkdown(
  rows: readonly GroupMetrics[],
  classNames: readonly string[],
): string {
  const pct = (a: number, b: number) => b > 0 ? `${a}/${b} (${(100 * a / b).toFixed(0)}%)` : "–";
  const lines = [
    `| group | n | accuracy | ${classNames.map((c) => `${c} recall`).join(" | ")} |`,
    `|---|---:|---:|${classNames.map(() => "---:").join("|")}|`,
  ];
  for (const r of rows) {
    const cells = classNames.map((c) => pct(r.perClass[c].recognised, r.perClass[c].support));
    lines.push(`| ${r.group} | ${r.n} | ${pct(r.correct, r.n)} | ${cells.join(" | ")} |`);
  }
  return lines.join("\n") + "\n";
}
