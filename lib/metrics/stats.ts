/**
 * Summary statistics over seeds.
 * @module
 */

/** Mean and sample standard deviation (n − 1) of a metric over seeds; null where undefined. */
export interface Stat {
  /** Seeds with a finite value. */
  n: number;
  /** Mean; null for n = 0. */
  mean: number | null;
  /** Sample std; null for n < 2. */
  std: number | null;
}

/** Mean and sample std (n − 1 denominator) of the finite values of `xs`. */
export function meanStd(xs: number[]): Stat {
  const v = xs.filter((x) => Number.isFinite(x));
  const n = v.length;
  if (n === 0) return { n, mean: null, std: null };
  const mean = v.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { n, mean, std: null };
  const ss = v.reduce((a, b) => a + (b - mean) ** 2, 0);
  return { n, mean, std: Math.sqrt(ss / (n - 1)) };
}
