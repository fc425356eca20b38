/**
 * The test behind the reports' "clear": Welch's unequal-variance t-test of two means (Welch
 * 1947), two-sided, with the Welch–Satterthwaite degrees of freedom, and the 95% confidence
 * interval of the difference. The Student t distribution is computed from the regularized
 * incomplete beta function (continued fraction, as in Numerical Recipes §6.4).
 *
 * @module
 */

/** Welch's t-test of mean(b) − mean(a). */
export interface WelchTest {
  /** mean(b) − mean(a). */
  readonly difference: number;
  /** Standard error of the difference, √(s_a²/n_a + s_b²/n_b). */
  readonly standardError: number;
  /** Welch–Satterthwaite degrees of freedom. */
  readonly degreesOfFreedom: number;
  /** The t statistic (difference / standard error). */
  readonly t: number;
  /** Two-sided p-value; NaN with fewer than 2 values on a side. */
  readonly pValue: number;
  /** 95% confidence interval of the difference. */
  readonly interval: readonly [number, number];
}

function logGamma(x: number): number {
  // Lanczos approximation (g = 7, n = 9), accurate to ~1e-15 for x > 0.
  const c = [
    0.99999999999980993,
    676.5203681218851,
    -1259.1392167224028,
    771.32342877765313,
    -176.61502916214059,
    12.507343278686905,
    -0.13857109526572012,
    9.9843695780195716e-6,
    1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const z = x - 1;
  let a = c[0]!;
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += c[i]! / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

function betaContinuedFraction(a: number, b: number, x: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - (a + b) * x / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 300; m++) {
    const m2 = 2 * m;
    let aa = m * (b - m) * x / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const step = d * c;
    h *= step;
    if (Math.abs(step - 1) < 1e-15) break;
  }
  return h;
}

/**
 * The regularized incomplete beta function I_x(a, b).
 *
 * @param x In [0, 1].
 * @param a > 0.
 * @param b > 0.
 * @returns I_x(a, b).
 */
export function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(
    logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x),
  );
  return x < (a + 1) / (a + b + 2)
    ? front * betaContinuedFraction(a, b, x) / a
    : 1 - front * betaContinuedFraction(b, a, 1 - x) / b;
}

/**
 * The two-sided tail probability P(|T| ≥ |t|) of Student's t distribution.
 *
 * @param t The statistic.
 * @param degreesOfFreedom > 0 (need not be an integer).
 * @returns The probability.
 */
export function studentTwoSided(t: number, degreesOfFreedom: number): number {
  if (!Number.isFinite(t)) return Number.isNaN(t) ? NaN : 0;
  const v = degreesOfFreedom;
  return incompleteBeta(v / (v + t * t), v / 2, 0.5);
}

/**
 * The quantile of Student's t distribution (bisection on the tail probability).
 *
 * @param probability In (0, 1), e.g. 0.975.
 * @param degreesOfFreedom > 0.
 * @returns t with P(T ≤ t) = probability.
 */
export function studentQuantile(probability: number, degreesOfFreedom: number): number {
  if (probability === 0.5) return 0;
  const upper = probability > 0.5;
  const tail = 2 * (upper ? 1 - probability : probability);
  let low = 0;
  let high = 1;
  while (studentTwoSided(high, degreesOfFreedom) > tail) high *= 2;
  for (let i = 0; i < 200; i++) {
    const mid = (low + high) / 2;
    if (studentTwoSided(mid, degreesOfFreedom) > tail) low = mid;
    else high = mid;
  }
  const t = (low + high) / 2;
  return upper ? t : -t;
}

function meanAndVariance(xs: ReadonlyArray<number>): { mean: number; variance: number } {
  const n = xs.length;
  const mean = xs.reduce((s, x) => s + x, 0) / n;
  const variance = n > 1 ? xs.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1) : NaN;
  return { mean, variance };
}

/**
 * Welch's t-test of mean(b) − mean(a), two-sided. With no variance on either side the
 * difference is exact: p is 0 when the means differ and 1 when they do not.
 *
 * @param a The reference sample (non-finite values are dropped).
 * @param b The other sample.
 * @returns The difference, its standard error, degrees of freedom, t, p and 95% interval.
 */
export function welchTest(a: ReadonlyArray<number>, b: ReadonlyArray<number>): WelchTest {
  const xs = a.filter(Number.isFinite);
  const ys = b.filter(Number.isFinite);
  const sa = meanAndVariance(xs);
  const sb = meanAndVariance(ys);
  const difference = sb.mean - sa.mean;
  if (xs.length < 2 || ys.length < 2) {
    return {
      difference,
      standardError: NaN,
      degreesOfFreedom: NaN,
      t: NaN,
      pValue: NaN,
      interval: [NaN, NaN],
    };
  }
  const va = sa.variance / xs.length;
  const vb = sb.variance / ys.length;
  const standardError = Math.sqrt(va + vb);
  if (standardError === 0) {
    return {
      difference,
      standardError: 0,
      degreesOfFreedom: xs.length + ys.length - 2,
      t: difference === 0 ? 0 : Math.sign(difference) * Infinity,
      pValue: difference === 0 ? 1 : 0,
      interval: [difference, difference],
    };
  }
  const degreesOfFreedom = (va + vb) ** 2 /
    (va ** 2 / (xs.length - 1) + vb ** 2 / (ys.length - 1));
  const t = difference / standardError;
  const half = studentQuantile(0.975, degreesOfFreedom) * standardError;
  return {
    difference,
    standardError,
    degreesOfFreedom,
    t,
    pValue: studentTwoSided(t, degreesOfFreedom),
    interval: [difference - half, difference + half],
  };
}
