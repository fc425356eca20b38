/**
 * Generic machinery for checking objectives against the theory of Li et al. (2025), §3 and
 * App. D–E: gradients through the real training reduction ({@link lossAndGradOf}) against the
 * closed form ∂ℓ/∂z_i = −s_f(p)·(δ_iy − p_i) with s_f = W_f/(1 − p), finite differences in float64,
 * the argmax and curvature of the descent weight W_f on a grid, sum-to-zero over the vocabulary,
 * an equivalence detector for two objective choices, and the gradient-flow risk rate of the
 * theorem (Corollary E.6).
 *
 * Sign convention: W_f(p) = −f′(p)·p·(1 − p) is the *descent* weight, −∂ℓ/∂z_y. The paper's
 * Lemma 3.1 prints "∂L/∂z_i = s_f(δ − p)", which is the negative gradient; everything here uses
 * the true gradient ∂ℓ/∂z_i = −s_f(p_y)·(δ_iy − p_i).
 *
 * This module knows no particular objective: objectives are arguments.
 *
 * @module
 */
import { type LossAndGradInput, lossAndGradOf } from "./loss.ts";
import type { Objective } from "./plugin.ts";
import { makeRandom } from "./random.ts";

/** The outcome of one theory check, as `deno task theory` prints it. */
export interface TheoryCheck {
  /** What is checked, e.g. "T2 DFT ≡ −p in gradient". */
  readonly name: string;
  /** The numbers behind the verdict, as one line of text. */
  readonly figures: string;
  /** Whether the check holds. */
  readonly pass: boolean;
}

/**
 * A small deterministic generator (mulberry32) of uniform numbers in [0, 1).
 *
 * @param seed Any integer.
 * @returns A function that yields the next number.
 */
export function seededRandom(seed: number): () => number {
  return makeRandom(seed);
}

/**
 * A standard normal draw (Box–Muller).
 *
 * @param random A uniform generator.
 * @returns One N(0, 1) sample.
 */
export function normalSample(random: () => number): number {
  const u = Math.max(random(), 1e-300);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

/**
 * A Gamma(shape, 1) draw (Marsaglia–Tsang, with the u^{1/shape} boost for shape < 1).
 *
 * @param random A uniform generator.
 * @param shape The shape > 0.
 * @returns One sample.
 */
export function gammaSample(random: () => number, shape: number): number {
  if (shape < 1) return gammaSample(random, shape + 1) * Math.pow(random(), 1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    const x = normalSample(random);
    const v = Math.pow(1 + c * x, 3);
    if (v <= 0) continue;
    const u = random();
    if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v;
  }
}

/**
 * A Dirichlet(concentration·1) draw over `size` coordinates.
 *
 * @param random A uniform generator.
 * @param options Number of coordinates and the symmetric concentration.
 * @returns A point of the simplex.
 */
export function dirichletSample(
  random: () => number,
  options: { readonly size: number; readonly concentration: number },
): number[] {
  const g = Array.from({ length: options.size }, () => gammaSample(random, options.concentration));
  const total = g.reduce((a, b) => a + b, 0);
  return g.map((x) => x / total);
}

/**
 * softmax in float64.
 *
 * @param z Logits.
 * @returns Probabilities.
 */
export function softmax(z: ReadonlyArray<number>): number[] {
  const m = Math.max(...z);
  const e = z.map((x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

/** Random inputs of the gradient checks. */
export interface GradientCheckOptions {
  /** Number of random positions (each its own call). @default 8 */
  readonly trials?: number;
  /** Vocabulary size. @default 7 */
  readonly vocab?: number;
  /** Seed of the inputs. @default 1 */
  readonly seed?: number;
  /** Logits are uniform in ±scale/2. @default 6 */
  readonly scale?: number;
}

interface _Case {
  readonly logits: number[];
  readonly referenceLogits: number[];
  readonly target: number;
}

/** Random single-position cases; logits are rounded to fp32 so that float64 sees what tfjs sees. */
function _cases(options: GradientCheckOptions): _Case[] {
  const random = seededRandom(options.seed ?? 1);
  const vocab = options.vocab ?? 7;
  const scale = options.scale ?? 6;
  return Array.from({ length: options.trials ?? 8 }, () => ({
    logits: Array.from({ length: vocab }, () => Math.fround(scale * (random() - 0.5))),
    referenceLogits: Array.from({ length: vocab }, () => Math.fround(scale * (random() - 0.5))),
    target: Math.floor(random() * vocab),
  }));
}

function _input(c: _Case): LossAndGradInput {
  return { logits: [c.logits], targets: [c.target], referenceLogits: [c.referenceLogits] };
}

/**
 * The closed-form gradient of a per-token loss f(p_y) with respect to the logits:
 * ∂ℓ/∂z_i = −s_f(p_y)·(δ_iy − p_i), s_f = W_f(p_y)/(1 − p_y) (float64).
 *
 * @param objective An objective that declares `descentWeight`.
 * @param params Its decoded params.
 * @param input The logits of one position and its target.
 * @returns The gradient over the vocabulary.
 */
export function closedFormGradient<P>(
  objective: Objective<P>,
  params: P,
  input: { readonly logits: ReadonlyArray<number>; readonly target: number },
): number[] {
  if (!objective.descentWeight) {
    throw new TypeError(`Objective "${objective.id}" declares no closed-form descentWeight`);
  }
  const p = softmax(input.logits);
  const py = p[input.target]!;
  const s = objective.descentWeight(py, params) / (1 - py);
  return p.map((pi, i) => -s * ((i === input.target ? 1 : 0) - pi));
}

function _maxRelative(a: ReadonlyArray<number>, b: ReadonlyArray<number>): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const scale = Math.max(1, Math.abs(b[i]!));
    worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / scale);
  }
  return worst;
}

/**
 * T1 through the real reduction: the largest error (relative to max(1, |g|)) between the
 * autodiff gradient of {@link lossAndGradOf} (fp32) and {@link closedFormGradient} (float64) on
 * random logits. fp32 gives about 1e-7.
 *
 * @param objective An objective that declares `descentWeight`.
 * @param params Its decoded params.
 * @param options The random inputs.
 * @returns The largest error.
 */
export async function gradientShapeError<P>(
  objective: Objective<P>,
  params: P,
  options: GradientCheckOptions = {},
): Promise<number> {
  let worst = 0;
  for (const c of _cases(options)) {
    const { gradLogits } = await lossAndGradOf(objective, params, _input(c));
    const expected = closedFormGradient(objective, params, c);
    worst = Math.max(worst, _maxRelative(gradLogits[0]!, expected));
  }
  return worst;
}

/** The errors of {@link finiteDifferenceError}. */
export interface FiniteDifferenceErrors {
  /** Autodiff (fp32, through the reduction) against float64 central differences of `lossAt`. */
  readonly autodiff: number;
  /** `descentWeight`'s closed form against the same central differences (float64). */
  readonly closedForm: number;
}

/**
 * T1 by central finite differences in float64 of ℓ(z) = lossAt(softmax(z)_y), step 1e-6,
 * compared with the autodiff gradient and with the closed form from `descentWeight`. Only
 * meaningful when `lossAt` is the potential of the gradient: objectives with a stop-gradient
 * (DFT, GFT) have a loss value whose derivative is not their gradient.
 *
 * @param objective An objective that declares `lossAt` and `descentWeight`.
 * @param params Its decoded params.
 * @param options The random inputs.
 * @returns The largest errors (relative to max(1, |g|)).
 */
export async function finiteDifferenceError<P>(
  objective: Objective<P>,
  params: P,
  options: GradientCheckOptions = {},
): Promise<FiniteDifferenceErrors> {
  const lossAt = objective.lossAt;
  if (!lossAt) throw new TypeError(`Objective "${objective.id}" declares no closed-form lossAt`);
  const h = 1e-6;
  let autodiff = 0;
  let closedForm = 0;
  for (const c of _cases(options)) {
    const f = (z: number[]) => lossAt(softmax(z)[c.target]!, params);
    const numeric = c.logits.map((_, i) => {
      const up = [...c.logits];
      const down = [...c.logits];
      up[i] = up[i]! + h;
      down[i] = down[i]! - h;
      return (f(up) - f(down)) / (2 * h);
    });
    const { gradLogits } = await lossAndGradOf(objective, params, _input(c));
    autodiff = Math.max(autodiff, _maxRelative(gradLogits[0]!, numeric));
    closedForm = Math.max(
      closedForm,
      _maxRelative(closedFormGradient(objective, params, c), numeric),
    );
  }
  return { autodiff, closedForm };
}

/**
 * T4: the largest |Σ_i ∂ℓ/∂z_i| over random positions (softmax invariance: it must be 0).
 *
 * @param objective Any objective.
 * @param params Its decoded params.
 * @param options The random inputs.
 * @returns The largest row sum.
 */
export async function sumToZeroError<P>(
  objective: Objective<P>,
  params: P,
  options: GradientCheckOptions = {},
): Promise<number> {
  let worst = 0;
  for (const c of _cases(options)) {
    const { gradLogits } = await lossAndGradOf(objective, params, _input(c));
    worst = Math.max(worst, Math.abs(gradLogits[0]!.reduce((a, b) => a + b, 0)));
  }
  return worst;
}

/**
 * Whether the gradient of an objective on an input is exactly zero everywhere (a masked or a
 * gated-out token must receive no gradient at all).
 *
 * @param objective Any objective.
 * @param params Its decoded params.
 * @param input The input (reference logits are filled in when absent).
 * @returns True when every entry of the gradient is exactly 0.
 */
export async function gradientIsZero<P>(
  objective: Objective<P>,
  params: P,
  input: LossAndGradInput,
): Promise<boolean> {
  const full: LossAndGradInput = input.referenceLogits
    ? input
    : { ...input, referenceLogits: input.logits.map((row) => row.map((x) => x / 2)) };
  const { gradLogits } = await lossAndGradOf(objective, params, full);
  return gradLogits.every((row) => row.every((g) => g === 0));
}

/**
 * The largest difference between the gradients of two objective choices on the same random
 * multi-position inputs (relative to max(1, largest |g|) of the first).
 *
 * @param a The first objective.
 * @param paramsA Its params.
 * @param b The second objective.
 * @param paramsB Its params.
 * @param trials Number of random inputs (each 3 positions, vocabulary 7).
 * @returns The largest relative difference.
 */
export async function maxGradientDifference<A, B>(
  a: Objective<A>,
  paramsA: A,
  b: Objective<B>,
  paramsB: B,
  trials = 6,
): Promise<number> {
  const random = seededRandom(20251001);
  const [positions, vocab] = [3, 7];
  let worst = 0;
  for (let t = 0; t < trials; t++) {
    const matrix = () =>
      Array.from(
        { length: positions },
        () => Array.from({ length: vocab }, () => Math.fround(6 * (random() - 0.5))),
      );
    const input: LossAndGradInput = {
      logits: matrix(),
      referenceLogits: matrix(),
      targets: Array.from({ length: positions }, () => Math.floor(random() * vocab)),
      mask: Array.from({ length: positions }, (_, i) => (i === 0 || random() < 0.8 ? 1 : 0)),
    };
    const ga = (await lossAndGradOf(a, paramsA, input)).gradLogits.flat();
    const gb = (await lossAndGradOf(b, paramsB, input)).gradLogits.flat();
    const scale = Math.max(1e-12, ...ga.map(Math.abs), ...gb.map(Math.abs));
    for (let i = 0; i < ga.length; i++) {
      worst = Math.max(worst, Math.abs(ga[i]! - gb[i]!) / scale);
    }
  }
  return worst;
}

/**
 * The equivalence detector: true when two objective choices give the same gradient (to 1e-5
 * relative, fp32) on random inputs, i.e. they train identically and a sweep should not count
 * them as two arms. DFT and `neg-prob` are the known pair (test T2).
 *
 * @param a The first objective.
 * @param paramsA Its params.
 * @param b The second objective.
 * @param paramsB Its params.
 * @param trials Number of random inputs. @default 6
 * @returns Whether the gradients agree.
 */
export async function gradientsAgree<A, B>(
  a: Objective<A>,
  paramsA: A,
  b: Objective<B>,
  paramsB: B,
  trials = 6,
): Promise<boolean> {
  return (await maxGradientDifference(a, paramsA, b, paramsB, trials)) <= 1e-5;
}

/**
 * The points p_k = k/n, k = 1 … n − 1, of the open interval (0, 1).
 *
 * @param n Number of intervals. @default 10000
 * @returns The grid.
 */
export function probabilityGrid(n = 10000): number[] {
  return Array.from({ length: n - 1 }, (_, k) => (k + 1) / n);
}

/**
 * T3: the argmax of the descent weight W_f on a grid of (0, 1) (the first one on ties).
 *
 * @param objective An objective that declares `descentWeight`.
 * @param params Its decoded params.
 * @param grid The probabilities to try. @default probabilityGrid()
 * @returns The p with the largest W_f(p).
 */
export function descentWeightArgmax<P>(
  objective: Objective<P>,
  params: P,
  grid: ReadonlyArray<number> = probabilityGrid(),
): number {
  const w = objective.descentWeight;
  if (!w) throw new TypeError(`Objective "${objective.id}" declares no closed-form descentWeight`);
  let best = grid[0]!;
  let bestValue = -Infinity;
  for (const p of grid) {
    const value = w(p, params);
    if (value > bestValue) {
      bestValue = value;
      best = p;
    }
  }
  return best;
}

/** The shape of f on (0, 1), as Proposition 3.2 needs it. */
export type Curvature = "concave" | "convex" | "linear" | "neither";

/**
 * The curvature of f = `lossAt` on a grid of (0, 1), from second differences (relative
 * tolerance 1e-9 of the largest one).
 *
 * @param objective An objective that declares `lossAt`.
 * @param params Its decoded params.
 * @param grid The probabilities (evenly spaced). @default probabilityGrid(2000)
 * @returns "linear", "concave", "convex" or "neither".
 */
export function curvatureOf<P>(
  objective: Objective<P>,
  params: P,
  grid: ReadonlyArray<number> = probabilityGrid(2000),
): Curvature {
  const f = objective.lossAt;
  if (!f) throw new TypeError(`Objective "${objective.id}" declares no closed-form lossAt`);
  const values = grid.map((p) => f(p, params));
  const second: number[] = [];
  for (let k = 1; k + 1 < values.length; k++) {
    second.push(values[k + 1]! - 2 * values[k]! + values[k - 1]!);
  }
  const scale = Math.max(1e-300, ...second.map(Math.abs));
  const tol = 1e-9 * scale + 1e-13;
  const nonPositive = second.every((d) => d <= tol);
  const nonNegative = second.every((d) => d >= -tol);
  if (nonPositive && nonNegative) return "linear";
  if (nonPositive) return "concave";
  if (nonNegative) return "convex";
  return "neither";
}

/** One population point of the gradient-flow analysis (App. E), for one x. */
export interface RiskPoint {
  /** The model's distribution q over the vocabulary. */
  readonly q: ReadonlyArray<number>;
  /** The true label y*. */
  readonly yStar: number;
  /** The training label ỹ (≠ y* for a noisy token). */
  readonly yTilde: number;
}

/**
 * The rate at which the population risk R = −E[rᵀq] falls at t = 0 under gradient flow on an
 * objective, for one x with ΦᵀΦ = I (Corollary E.6): Ṙ = v*ᵀ v_f, where v* = (rᵀq)q − r⊙q = ∂R/∂z
 * and v_f = β − ⟨β, 1⟩q = ∂ℓ/∂z with β = T⊙q⊙f′(q). f′ comes from the closed-form descent
 * weight: q_ỹ·f′(q_ỹ) = −W_f(q_ỹ)/(1 − q_ỹ). Positive Ṙ means the risk falls.
 *
 * @param objective An objective that declares `descentWeight`.
 * @param params Its decoded params.
 * @param point q, y* and ỹ.
 * @returns Ṙ for this x.
 */
export function riskRate<P>(objective: Objective<P>, params: P, point: RiskPoint): number {
  const w = objective.descentWeight;
  if (!w) throw new TypeError(`Objective "${objective.id}" declares no closed-form descentWeight`);
  const { q, yStar, yTilde } = point;
  const qStar = q[yStar]!;
  const qTilde = q[yTilde]!;
  const betaTilde = -w(qTilde, params) / (1 - qTilde); // q_ỹ·f′(q_ỹ)
  let rate = 0;
  for (let i = 0; i < q.length; i++) {
    const vStar = qStar * q[i]! - (i === yStar ? qStar : 0);
    const v = (i === yTilde ? betaTilde : 0) - betaTilde * q[i]!;
    rate += vStar * v;
  }
  return rate;
}
