/**
 * SVG plots: well-formed, deterministic, and carrying the numbers they claim.
 */
import { assert, assertEquals, assertThrows } from "../lib/util/assert.ts";
import {
  barChartSvg,
  canonicalIds,
  confusionSvg,
  type HistoryRow,
  prSvg,
  reliabilitySvg,
  rocSvg,
  trainingCurvesSvg,
} from "../lib/results/plots.ts";

const NAMES = ["star", "galaxy"];
// The hand-worked example of tests/metrics_test.ts: AUC 0.8125, AP 111/140, ECE 0.214.
const LABELS = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0];
const PGAL = [0.91, 0.83, 0.62, 0.28, 0.71, 0.38, 0.18, 0.09, 0.04, 0.62];
const PROBS = PGAL.flatMap((p) => [1 - p, p]);

const HISTORY: HistoryRow[] = [1, 2, 3, 4].map((epoch) => ({
  epoch,
  trainLoss: 0.7 / epoch,
  trainAcc: 1 - 0.3 / epoch,
  valLoss: 0.8 / epoch,
  valAcc: 1 - 0.35 / epoch,
}));

const BARS = [
  { variant: "full", metric: "accuracy", mean: 0.951, std: 0.004 },
  { variant: "no SS2D", metric: "accuracy", mean: 0.912, std: 0.011 },
  { variant: "full", metric: "ece", mean: 0.021, std: 0.003 },
  { variant: "no SS2D", metric: "ece", mean: 0.048, std: 0.006 },
];

/** Text of every <text> element, entities decoded; what a reader sees. */
function texts(svg: string): string[] {
  return [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) =>
    m[1].replaceAll("&amp;", "&").replaceAll("&lt;", "<").replaceAll("&gt;", ">")
      .replaceAll("&quot;", '"').replaceAll("&#39;", "'")
  );
}

/**
 * Minimal XML well-formedness check (no DOMParser in Deno): a single <svg> root, every tag
 * closed in order, attributes quoted, no stray '<' or '&' in text.
 */
function assertWellFormedSvg(svg: string): void {
  assert(svg.startsWith("<svg"), `does not start with <svg: ${svg.slice(0, 40)}`);
  assert(svg.trimEnd().endsWith("</svg>"), "does not end with </svg>");
  assert(/^<svg[^>]*\swidth="\d+(\.\d+)?"[^>]*\sheight="\d+(\.\d+)?"/.test(svg), "no fixed size");
  const stack: string[] = [];
  const tag = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"]*")*)\s*(\/?)>/y;
  let i = 0;
  while (i < svg.length) {
    const lt = svg.indexOf("<", i);
    const textPart = svg.slice(i, lt < 0 ? svg.length : lt);
    assert(!/&(?!(amp|lt|gt|quot|#\d+|#x[0-9a-fA-F]+|apos);)/.test(textPart), `bad & near ${i}`);
    if (lt < 0) break;
    tag.lastIndex = lt;
    const m = tag.exec(svg);
    assert(m !== null, `malformed tag at ${lt}: ${svg.slice(lt, lt + 80)}`);
    const [whole, close, name, , selfClose] = m;
    if (close) {
      assertEquals(stack.pop(), name, `mismatched </${name}> at ${lt}`);
    } else if (!selfClose) {
      stack.push(name);
    }
    if (stack.length === 0) {
      assert(svg.slice(lt + whole.length).trim() === "", "content after root");
    }
    i = lt + whole.length;
  }
  assertEquals(stack, [], "unclosed tags");
}

/** Renders twice and checks well-formedness and byte-identical output. */
async function renderTwice(make: () => Promise<string>): Promise<string> {
  const a = await make();
  const b = await make();
  assertWellFormedSvg(a);
  assert(a === b, "same input rendered twice gave different SVG");
  assert(!/\d{4}-\d{2}-\d{2}T\d{2}:/.test(a), "SVG contains a timestamp");
  return a;
}

Deno.test("trainingCurvesSvg: two panels with titles and epoch axis", async () => {
  const svg = await renderTwice(() => trainingCurvesSvg(HISTORY));
  const t = texts(svg);
  for (const want of ["Training curves", "loss (cross-entropy)", "accuracy", "epoch", "val"]) {
    assert(t.includes(want), `missing "${want}" in ${t.join(" | ")}`);
  }
  // Two line marks per panel (train, val).
  assertEquals(svg.match(/aria-roledescription="line mark"/g)?.length, 4);
});

Deno.test("trainingCurvesSvg tolerates an empty or diverged history", async () => {
  assertWellFormedSvg(await trainingCurvesSvg([]));
  const diverged = [...HISTORY, { ...HISTORY[3], epoch: 5, trainLoss: NaN, valLoss: Infinity }];
  assertWellFormedSvg(await trainingCurvesSvg(diverged));
});

Deno.test("rocSvg: AUC in the title, diagonal and curve drawn", async () => {
  const svg = await renderTwice(() => rocSvg(LABELS, PROBS, NAMES));
  const t = texts(svg);
  assert(t.includes("ROC curve: galaxy (AUC = 0.8125)"), t.join(" | "));
  assert(t.includes("false positive rate") && t.includes("true positive rate"));
  assertEquals(svg.match(/aria-roledescription="line mark"/g)?.length, 2);
  const star = await rocSvg(LABELS, PROBS, NAMES, "star");
  assert(texts(star).includes("ROC curve: star (AUC = 0.8125)"));
});

Deno.test("rocSvg/prSvg: one class absent gives n/a, not a crash", async () => {
  const svg = await rocSvg([0, 0], [0.9, 0.1, 0.2, 0.8], NAMES);
  assertWellFormedSvg(svg);
  assert(texts(svg).includes("ROC curve: galaxy (AUC = n/a)"));
  assert(texts(await prSvg([0, 0], [0.9, 0.1, 0.2, 0.8], NAMES)).some((s) => s.includes("n/a")));
});

Deno.test("prSvg: AP and prevalence in the titles", async () => {
  const svg = await renderTwice(() => prSvg(LABELS, PROBS, NAMES));
  const t = texts(svg);
  assert(t.includes("Precision–recall: galaxy (AP = 0.7929)"), t.join(" | "));
  assert(t.some((s) => s.includes("prevalence 0.400")), t.join(" | "));
  assert(t.includes("recall") && t.includes("precision"));
});

Deno.test("confusionSvg: every count appears in a cell, class names on both axes", async () => {
  const svg = await renderTwice(() => confusionSvg([[4, 2], [1, 3]], NAMES));
  const t = texts(svg);
  for (const want of ["Confusion matrix", "predicted class", "true class", "4", "2", "1", "3"]) {
    assert(t.includes(want), `missing "${want}"`);
  }
  assertEquals(t.filter((s) => s === "star").length, 2);
  assertEquals(t.filter((s) => s === "galaxy").length, 2);
  assertEquals(svg.match(/aria-roledescription="rect mark"/g)?.length, 4);
  assertThrows(() => confusionSvg([[1, 2]], NAMES), Error, "2 × 2");
});

Deno.test("reliabilitySvg: ECE in the title, bars only for filled bins", async () => {
  const svg = await renderTwice(() => reliabilitySvg(LABELS, PROBS, NAMES));
  const t = texts(svg);
  assert(t.includes("Reliability diagram (ECE = 0.2140)"), t.join(" | "));
  assert(t.includes("confidence (max probability)") && t.includes("accuracy in bin"));
  // Five filled bins (see metrics_test), each drawn once in the accuracy panel and once in the
  // counts panel.
  assertEquals(svg.match(/aria-roledescription="rect mark"/g)?.length, 10);
});

Deno.test("barChartSvg: one panel per metric, means printed, input order kept", async () => {
  const svg = await renderTwice(() => barChartSvg(BARS));
  const t = texts(svg);
  assert(t.includes("Ablation: mean ± std over seeds"), t.join(" | "));
  for (const want of ["accuracy", "ece", "0.951", "0.912", "0.021", "0.048"]) {
    assert(t.includes(want), `missing "${want}"`);
  }
  // Variants keep input order on the axis: "full" before "no SS2D" in each panel.
  const order = t.filter((s) => s === "full" || s === "no SS2D");
  assertEquals(order, ["full", "no SS2D", "full", "no SS2D"]);
  assertWellFormedSvg(await barChartSvg([]));
});

Deno.test("canonicalIds renumbers ids and their url() references consistently", () => {
  const svg = '<svg><clipPath id="clip7"/><g clip-path="url(#clip7)"/><g id="clip3"/></svg>';
  assertEquals(
    canonicalIds(svg),
    '<svg><clipPath id="sm1"/><g clip-path="url(#sm1)"/><g id="sm2"/></svg>',
  );
});

Deno.test("plots reject malformed predictions", () => {
  assertThrows(() => rocSvg([0, 1], [0.5, 0.5], NAMES), Error, "probs has 2 values");
  assertThrows(() => reliabilitySvg([3], [0.5, 0.5], NAMES), Error, "label 3");
});
