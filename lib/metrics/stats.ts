/**
 * Statistics over runs: mean ± sample std over seeds, and McNemar's test of whether two models'
 * error rates differ on the same images.
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

/** Result of McNemar's test on paired correctness of two models on the same samples. */
export interface McNemarResult {
  /** Samples model A gets right and model B gets wrong. */
  b: number;
  /** Samples model A gets wrong and model B gets right. */
  c: number;
  /** Continuity-corrected chi-square statistic max(0, |b − c| − 1)² / (b + c); 0 when b + c = 0. */
  statistic: number;
  /** Two-sided p-value: exact binomial when b + c < 25, else chi-square (1 dof) on `statistic`. */
  pValue: number;
  /** Which p-value was used. */
  method: "exact" | "chi2";
}

/** Below this many discordant pairs McNemar uses the exact binomial test (chi-square is poor). */
const MCNEMAR_EXACT_BELOW = 25;

/**
 * Two-sided exact binomial p-value for min(b, c) successes out of b + c at p = 1/2. Only used for
 * b + c < 25, where the binomial coefficients are exact in double precision.
 */
function exactBinomialTwoSided(b: number, c: number): number {
  const n = b + c;
  let coef = 1, tail = 0;
  for (let i = 0; i <= Math.min(b, c); i++) {
    tail += coef;
    coef = (coef * (n - i)) / (i + 1);
  }
  return Math.min(1, (2 * tail) / 2 ** n);
}

/** Complementary error function (Numerical Recipes' Chebyshev fit `erfcc`, relative error < 1.2e-7). */
function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r = t * Math.exp(
    -z * z - 1.26551223 +
      t * (1.00002368 +
          t * (0.37409196 +
              t * (0.09678418 +
                  t * (-0.18628806 +
                      t * (0.27886807 +
                          t *
                            (-1.13520398 +
                              t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
  );
  return x >= 0 ? r : 2 - r;
}

/**
 * McNemar's test of whether two models' error rates differ on the same samples. Only the
 * discordant pairs matter: b (A right, B wrong) and c (A wrong, B right). Uses the exact
 * two-sided binomial test when b + c < 25, where the chi-square approximation is unreliable,
 * and the continuity-corrected chi-square (1 dof) otherwise.
 */
export function mcnemar(correctA: boolean[], correctB: boolean[]): McNemarResult {
  if (correctA.length !== correctB.length) {
    throw new Error(
      `McNemar needs paired results: correctA has ${correctA.length} samples, ` +
        `correctB has ${correctB.length}`,
    );
  }
  let b = 0, c = 0;
  for (let i = 0; i < correctA.length; i++) {
    if (correctA[i] && !correctB[i]) b++;
    else if (!correctA[i] && correctB[i]) c++;
  }
  const n = b + c;
  const statistic = n === 0 ? 0 : Math.max(0, Math.abs(b - c) - 1) ** 2 / n;
  if (n < MCNEMAR_EXACT_BELOW) {
    return { b, c, statistic, pValue: n === 0 ? 1 : exactBinomialTwoSided(b, c), method: "exact" };
  }
  // Chi-square with 1 dof: P(X > s) = P(|Z| > √s) = erfc(√(s/2)).
  return { b, c, statistic, pValue: erfc(Math.sqrt(statistic / 2)), method: "chi2" };
}
