/**
 * Train/validation splits: stratified random (what the reference 91.45% used), grouped by sky
 * position (the honest estimate for new fields: overlapping cutouts of one patch of sky never
 * straddle the split), and k-fold versions of both. All are deterministic given the seed.
 * @module
 */
import { type Rng, rng, shuffle } from "../util/rng.ts";
import { StarmambaError } from "../util/errors.ts";

/** Indices into the dataset, each list sorted ascending. */
export interface Split {
  /** Dataset indices of the training images. */
  train: number[];
  /** Dataset indices of the validation images. */
  val: number[];
}

/** A grouped split plus the side each sky group went to. */
export interface GroupedSplit extends Split {
  /** Side of each sky group, keyed by {@link skyGroupOf}. */
  groups: Record<string, "train" | "val">;
}

/** Random restarts of the grouped-split search; each ends in a local optimum. */
const RESTARTS = 64;
/** Above this many groups the O(G²) swap moves are skipped (single flips are enough then). */
const MAX_GROUPS_FOR_SWAPS = 300;
/** Cost differences below this are ties, so float noise cannot make the result seed-unstable. */
const EPS = 1e-12;

/**
 * Stratified random split: within each class, a seeded shuffle puts round(n_c · valFraction)
 * images in val. Overlapping cutouts of one frame can land on both sides (see
 * {@link groupedSplit}).
 */
export function randomSplit(labels: ArrayLike<number>, valFraction: number, seed: number): Split {
  checkFraction(valFraction);
  const r = rng(seed, "split/random");
  const val: number[] = [];
  for (const members of indicesByClass(labels)) {
    const idx = shuffle([...members], r);
    val.push(...idx.slice(0, Math.round(idx.length * valFraction)));
  }
  return complement(labels.length, val);
}

/**
 * The frame (exposure) of an ARIES-style file name `<frame>_<x>_<y>_<code>.<ext>`: the name
 * without its folder, extension and the trailing position and class code. Unlike the sky group
 * ({@link skyGroupOf}), two exposures of the same sky stay apart here: their seeing differs.
 */
export function frameOf(file: string): string {
  const base = file.slice(Math.max(file.lastIndexOf("/"), file.lastIndexOf("\\")) + 1);
  const stem = base.replace(/\.[^.]*$/, "");
  return stem.replace(/_\d+(?:\.\d+)?_\d+(?:\.\d+)?_\d+$/, "") || stem;
}

/**
 * Group key of a cutout by sky position, from its file name `<field>_<x>_<y>_<code>.<ext>`
 * (a directory prefix is ignored).
 *
 * Fields named by J2000 coordinates (`J<hhmm…>{p|m|+|-}<ddmm…>…`) map to "J" + RA hhmm + sign +
 * Dec ddmm, so frames of the same patch of sky observed under different names share a key:
 * J1530p2310_r_01 and J153044p231014_001_001 → "J1530+2310"; j1612p5118_r_01 and
 * J161245p511816_001_010 → "J1612+5118"; J1252p2640_r_01_10 and J125219p264053_001_010 →
 * "J1252+2640". Other fields are named after their target; the key is the target name (the
 * first "_"-separated token without a trailing filter/frame tag such as "-H01" or "-R001"),
 * upper-cased: IC3521-H01 → "IC3521", WASP-24_R01 → "WASP-24", xo-1-R001 → "XO-1",
 * hd145457_R_30_01 → "HD145457". Keys are case-insensitive.
 */
export function skyGroupOf(file: string): string {
  const field = frameOf(file);
  const m = /^J(\d{2})(\d{2})\d*(?:\.\d*)?([pm+-])(\d{2})(\d{2})/i.exec(field);
  if (m) {
    const sign = m[3] === "p" || m[3] === "P" || m[3] === "+" ? "+" : "-";
    return `J${m[1]}${m[2]}${sign}${m[4]}${m[5]}`;
  }
  const target = field.split("_")[0].replace(/-[A-Za-z]+\d+$/, "") || field;
  return target.toUpperCase();
}

/**
 * Split that keeps every sky group ({@link skyGroupOf}) on one side, holding out about
 * `valFraction` of the images with class ratios as close to the whole set's as the groups allow.
 *
 * Search: 64 seeded restarts, each adding groups in a random order while that lowers
 * the cost, then hill-climbing on single-group flips and train↔val swaps; the lowest cost wins.
 * cost = |val share − valFraction| + ½ Σ_c |val class share_c − overall class share_c|.
 *
 * On ARIES (3,986 images: 942 galaxy, 3,044 star; 27 frames) there are 24 groups, listed as
 * key images (galaxy/star) [frames when several]:
 * J1530+2310 663 (183/480) [J1530p2310_r_01, J153044p231014_001_001];
 * J1612+5118 598 (141/457) [j1612p5118_r_01, J161245p511816_001_010];
 * J1603+3002 492 (161/331); J1252+2640 358 (137/221) [J1252p2640_r_01_10,
 * J125219p264053_001_010]; J1429+3859 284 (118/166); J15050326 237 (18/219);
 * J1400+3539 178 (60/118); GRB0422A 135 (3/132); XO-1 115 (7/108); WASP-24 112 (4/108);
 * J1219+4715 97 (41/56); WR083 88 (12/76); NGC5665 87 (3/84); NGC5147 77 (5/72);
 * UM439 77 (4/73); IC745 75 (9/66); SN12C01 75 (11/64); MRK475 66 (3/63); NGC3381 62 (15/47);
 * IC3521 54 (7/47); HD146116 51 (0/51); HD150902 3 (0/3); HD145457 1 (0/1); HD233517 1 (0/1).
 * Seed 1, valFraction 0.2 → val 796 images (188 galaxy = 23.6%, 608 star) in groups
 * J1530+2310, NGC5147, HD146116, HD150902, HD145457, HD233517; train 3,190 (754 galaxy = 23.6%,
 * 2,436 star). (A stratified random split of the same data has 22 of the 24 groups on both sides.)
 */
export function groupedSplit(
  labels: ArrayLike<number>,
  files: string[],
  valFraction: number,
  seed: number,
  groupKey: (name: string) => string = skyGroupOf,
): GroupedSplit {
  checkFraction(valFraction);
  const g = buildGroups(labels, files, groupKey);
  if (g.keys.length < 2) {
    throw new StarmambaError(
      `A grouped split needs at least 2 sky groups, found ${g.keys.length} ` +
        `(${g.keys.join(", ")}); use a random split for this data.`,
    );
  }
  const inVal = searchAssignment(g, valFraction, rng(seed, "split/grouped"));
  const val: number[] = [];
  const groups: Record<string, "train" | "val"> = {};
  g.keys.forEach((key, j) => {
    groups[key] = inVal[j] ? "val" : "train";
    if (inVal[j]) val.push(...g.members[j]);
  });
  return { ...complement(labels.length, val), groups };
}

/**
 * k folds; fold i's val is one k-th of the data and its train the rest, so every image is in
 * exactly one val fold. Random folds are stratified (each class dealt round-robin after a seeded
 * shuffle); grouped folds keep each sky group in one fold, balanced per class greedily
 * (largest groups first) and then by single-group moves.
 */
export function kfoldSplits(
  labels: ArrayLike<number>,
  files: string[] | null,
  k: number,
  seed: number,
  grouped: boolean,
  groupKey: (name: string) => string = skyGroupOf,
): Split[] {
  if (!Number.isInteger(k) || k < 2 || k > labels.length) {
    throw new StarmambaError(
      `Invalid number of folds k = ${k}: expected an integer from 2 to ${labels.length}.`,
    );
  }
  const foldOf = new Int32Array(labels.length);
  if (!grouped) {
    const r = rng(seed, "split/kfold");
    let pos = 0; // continues across classes so fold sizes also differ by at most one
    for (const members of indicesByClass(labels)) {
      for (const i of shuffle([...members], r)) foldOf[i] = pos++ % k;
    }
  } else {
    if (files === null) {
      throw new StarmambaError("Grouped k-fold needs the file names (the dataset has none).");
    }
    const g = buildGroups(labels, files, groupKey);
    if (g.keys.length < k) {
      throw new StarmambaError(
        `Grouped k-fold with k = ${k} needs at least ${k} sky groups, found ${g.keys.length}; ` +
          `lower k or use random folds.`,
      );
    }
    const groupFold = assignGroupsToFolds(g, k, rng(seed, "split/kfold-grouped"));
    g.members.forEach((m, j) => m.forEach((i) => foldOf[i] = groupFold[j]));
  }
  return Array.from({ length: k }, (_, f) => {
    const val: number[] = [];
    foldOf.forEach((fo, i) => {
      if (fo === f) val.push(i);
    });
    return complement(labels.length, val);
  });
}

/** Sky groups present in both train and val of `split` (sorted); empty means no leak. */
export function verifyNoGroupLeak(
  split: Split,
  files: string[],
  groupKey: (name: string) => string = skyGroupOf,
): string[] {
  const trainGroups = new Set(split.train.map((i) => groupKey(files[i])));
  const both = new Set<string>();
  for (const i of split.val) {
    const key = groupKey(files[i]);
    if (trainGroups.has(key)) both.add(key);
  }
  return [...both].sort();
}

/** The sky groups of a dataset: sorted keys, member indices and per-class counts. */
export interface SkyGroups {
  keys: string[];
  members: number[][];
  /** counts[j][c]: images of class c in group j. */
  counts: number[][];
  /** Images per class in the whole set. */
  classTotals: number[];
}

/**
 * Groups the images by `groupKey` of their names ({@link skyGroupOf}; the identity when `files`
 * already holds group keys, as a catalogue's `data.group_by` gives them); keys sorted so the
 * result is order-independent.
 */
export function buildGroups(
  labels: ArrayLike<number>,
  files: string[],
  groupKey: (name: string) => string = skyGroupOf,
): SkyGroups {
  if (files.length !== labels.length) {
    throw new StarmambaError(
      `Grouped split: ${files.length} file names for ${labels.length} labels; they must match.`,
    );
  }
  const numClasses = indicesByClass(labels).length;
  const byKey = new Map<string, number[]>();
  for (let i = 0; i < files.length; i++) {
    const key = groupKey(files[i]);
    const list = byKey.get(key);
    if (list) list.push(i);
    else byKey.set(key, [i]);
  }
  const keys = [...byKey.keys()].sort();
  const members = keys.map((key) => byKey.get(key)!);
  const counts = members.map((m) => {
    const c = new Array<number>(numClasses).fill(0);
    for (const i of m) c[labels[i]]++;
    return c;
  });
  const classTotals = new Array<number>(numClasses).fill(0);
  for (let i = 0; i < labels.length; i++) classTotals[labels[i]]++;
  return { keys, members, counts, classTotals };
}

/** Throws unless 0 < f < 1 (it comes from the config). */
function checkFraction(f: number): void {
  if (!(f > 0 && f < 1)) {
    throw new StarmambaError(
      `Invalid validation fraction ${f}: expected a number strictly between 0 and 1 (e.g. 0.2).`,
    );
  }
}

/** Indices of each class 0..max(label), in ascending order. */
function indicesByClass(labels: ArrayLike<number>): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < labels.length; i++) {
    const c = labels[i];
    if (!Number.isInteger(c) || c < 0) throw new Error(`label ${c} at index ${i} is not a class`);
    while (out.length <= c) out.push([]);
    out[c].push(i);
  }
  return out;
}

/** {train: every index not in val, val} both sorted ascending. */
function complement(n: number, val: number[]): Split {
  const isVal = new Uint8Array(n);
  for (const i of val) isVal[i] = 1;
  const train: number[] = [];
  const sortedVal: number[] = [];
  for (let i = 0; i < n; i++) (isVal[i] ? sortedVal : train).push(i);
  return { train, val: sortedVal };
}

/** Running totals of the val side, so a flip is costed in O(classes). */
interface ValState {
  size: number;
  perClass: number[];
}

/** Cost of a val side: size error plus half the L1 distance of class shares; ∞ if a side is empty. */
function splitCost(s: ValState, g: SkyGroups, total: number, target: number): number {
  if (s.size <= 0 || s.size >= total) return Infinity;
  let mismatch = 0;
  g.classTotals.forEach((t, c) => mismatch += Math.abs(s.perClass[c] / s.size - t / total));
  return Math.abs(s.size / total - target) + 0.5 * mismatch;
}

/** Val state after moving group j in (sign +1) or out (sign −1) of val. */
function moved(s: ValState, g: SkyGroups, j: number, sign: number): ValState {
  const size = s.size + sign * g.members[j].length;
  return { size, perClass: s.perClass.map((v, c) => v + sign * g.counts[j][c]) };
}

/** Seeded multi-restart local search for the val groups; returns inVal per group. */
function searchAssignment(g: SkyGroups, target: number, r: Rng): boolean[] {
  const total = g.classTotals.reduce((a, b) => a + b, 0);
  const cost = (s: ValState): number => splitCost(s, g, total, target);
  let best: boolean[] = [];
  let bestCost = Infinity;
  for (let restart = 0; restart < RESTARTS; restart++) {
    const inVal = new Array<boolean>(g.keys.length).fill(false);
    let s: ValState = { size: 0, perClass: g.classTotals.map(() => 0) };
    let c = Infinity;
    for (const j of shuffle(g.keys.map((_, j) => j), r)) {
      const t = moved(s, g, j, 1);
      if (cost(t) < c - EPS || s.size === 0) [s, c, inVal[j]] = [t, cost(t), true];
    }
    ({ s, c } = hillClimb(g, inVal, s, c, cost));
    if (c < bestCost - EPS) [best, bestCost] = [inVal, c];
  }
  return best;
}

/** Applies improving single flips and train↔val swaps until none is left. */
function hillClimb(
  g: SkyGroups,
  inVal: boolean[],
  s: ValState,
  c: number,
  cost: (s: ValState) => number,
): { s: ValState; c: number } {
  const swaps = g.keys.length <= MAX_GROUPS_FOR_SWAPS;
  for (let improved = true; improved;) {
    improved = false;
    for (let j = 0; j < g.keys.length; j++) {
      const t = moved(s, g, j, inVal[j] ? -1 : 1);
      const tc = cost(t);
      if (tc < c - EPS) [s, c, inVal[j], improved] = [t, tc, !inVal[j], true];
    }
    if (!swaps) continue;
    for (let a = 0; a < g.keys.length; a++) {
      for (let b = 0; b < g.keys.length; b++) {
        if (!inVal[a] || inVal[b]) continue;
        const t = moved(moved(s, g, a, -1), g, b, 1);
        const tc = cost(t);
        if (tc < c - EPS) [s, c, inVal[a], inVal[b], improved] = [t, tc, false, true, true];
      }
    }
  }
  return { s, c };
}

/**
 * Fold per group: the k largest groups seed the k folds, the rest go (largest first, seeded
 * tie order) to the fold whose per-class counts move closest to n_c / k; then single-group moves
 * and cross-fold swaps that lower Σ_f Σ_c |count_fc − n_c / k|, never emptying a fold.
 */
function assignGroupsToFolds(g: SkyGroups, k: number, r: Rng): number[] {
  const order = shuffle(g.keys.map((_, j) => j), r)
    .sort((a, b) => g.members[b].length - g.members[a].length); // stable: shuffle breaks ties
  const ideal = g.classTotals.map((t) => t / k);
  const zero = ideal.map(() => 0);
  const fold = new Array<number>(g.keys.length).fill(-1);
  const cnt = Array.from({ length: k }, () => ideal.map(() => 0));
  const groupsIn = new Array<number>(k).fill(0);
  /** Deviation of fold f from the ideal per-class counts after adding `add` to it. */
  const dev = (f: number, add: number[]): number =>
    cnt[f].reduce((acc, v, c) => acc + Math.abs(v + add[c] - ideal[c]), 0);
  const neg = (v: number[]): number[] => v.map((x) => -x);
  const place = (j: number, f: number, sign: number): void => {
    cnt[f].forEach((_, c) => cnt[f][c] += sign * g.counts[j][c]);
    groupsIn[f] += sign;
    if (sign > 0) fold[j] = f;
  };
  order.forEach((j, rank) => {
    let bestF = rank;
    if (rank >= k) {
      let bestDelta = Infinity;
      for (let f = 0; f < k; f++) {
        const delta = dev(f, g.counts[j]) - dev(f, zero);
        if (delta < bestDelta - EPS) [bestF, bestDelta] = [f, delta];
      }
    }
    place(j, bestF, 1);
  });
  const swaps = g.keys.length <= MAX_GROUPS_FOR_SWAPS;
  for (let improved = true; improved;) {
    improved = false;
    for (const a of order) {
      for (let f = 0; f < k && groupsIn[fold[a]] > 1; f++) {
        const from = fold[a];
        if (f === from) continue;
        const before = dev(from, zero) + dev(f, zero);
        if (dev(from, neg(g.counts[a])) + dev(f, g.counts[a]) - before < -EPS) {
          place(a, from, -1);
          place(a, f, 1);
          improved = true;
        }
      }
      for (const b of swaps ? order : []) {
        const fa = fold[a], fb = fold[b];
        if (fa === fb) continue;
        const d = g.counts[b].map((v, c) => v - g.counts[a][c]);
        if (dev(fa, d) + dev(fb, neg(d)) - dev(fa, zero) - dev(fb, zero) < -EPS) {
          place(a, fa, -1);
          place(b, fb, -1);
          place(a, fb, 1);
          place(b, fa, 1);
          improved = true;
        }
      }
    }
  }
  return fold;
}
