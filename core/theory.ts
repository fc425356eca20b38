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
import * as tf from "@tensorflow/tfjs";
import { batchLoss } from "./batch_loss.ts";
import { type LossAndGradInput, lossAndGradOf, makeTokenView, tokenSums } from "./loss.ts";
import type { LanguageModel, Objective } from "./plugin.ts";
import { makeRandom } from "./random.ts";

/** The outcome of one theory check, as `deno task theory` prints it. */
export interface TheoryCheck {
  /** What is checked, e.g. "T2 DFT ≡ −p in gradient". */
  readonly name: string;
  /** The numbers behind the verdict, as one line of text. */
  readonly figures: string;
  /** Whether the check holds (true when it was skipped). */
  readonly pass: boolean;
  /** Why the check did not run (a closed form it needs is not declared), when it did not. */
  readonly skipped?: string;
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

// ---------------------------------------------------------------------------------------------
// T1 over many positions, through the training loss

/**
 * Closed forms of an objective whose loss is a function of the target's probability p. The
 * independent checks write them from the paper's formulas, never reading them back from the
 * objective; {@link declaredForms} gives the objective's own, for the self-consistency checks.
 */
export interface ClosedForms<P> {
  /** f(p), the per-token value the reduction sums; absent: the loss value is not checked. */
  readonly loss?: (p: number, params: P) => number;
  /** The descent weight W_f(p) = −∂ℓ/∂z_y; absent: the gradient is not checked. */
  readonly weight?: (p: number, params: P) => number;
  /** Whether a supervised token of probability p is kept (a gate); absent: every one is. */
  readonly kept?: (p: number, params: P) => boolean;
}

/**
 * The closed forms an objective declares itself: `lossAt`, `descentWeight` and `keptAt`.
 *
 * @param objective Any objective.
 * @returns Its declared forms (a missing hook leaves its form absent).
 */
export function declaredForms<P>(objective: Objective<P>): ClosedForms<P> {
  return {
    ...(objective.lossAt ? { loss: (p: number, q: P) => objective.lossAt!(p, q) } : {}),
    ...(objective.descentWeight
      ? { weight: (p: number, q: P) => objective.descentWeight!(p, q) }
      : {}),
    ...(objective.keptAt ? { kept: (p: number, q: P) => objective.keptAt!(p, q) } : {}),
  };
}

/** A batch of positions as plain numbers: `rows × time` positions over a vocabulary. */
export interface BatchCase {
  /** Logits `rows × time × vocab` (fp32 values). */
  readonly logits: ReadonlyArray<ReadonlyArray<ReadonlyArray<number>>>;
  /** The frozen model's logits, same shape, for objectives that need them. */
  readonly referenceLogits: ReadonlyArray<ReadonlyArray<ReadonlyArray<number>>>;
  /** Target ids `rows × time`. */
  readonly targets: ReadonlyArray<ReadonlyArray<number>>;
  /** Supervision mask `rows × time` (1 = supervised). */
  readonly mask: ReadonlyArray<ReadonlyArray<number>>;
}

/** The size and seed of a {@link randomBatch}. */
export interface BatchCaseOptions {
  /** Rows (sequences). @default 3 */
  readonly rows?: number;
  /** Positions per row. @default 8 */
  readonly time?: number;
  /** Vocabulary size. @default 9 */
  readonly vocab?: number;
  /** Seed. @default 1 */
  readonly seed?: number;
  /** Share of supervised positions (the first one always is). @default 0.7 */
  readonly supervised?: number;
}

/**
 * A random batch whose target probabilities spread over (0, 1): logits uniform in ±3 with the
 * target's raised by a uniform amount in [0, 9), so that thresholds at any p split it; about 30%
 * of the positions unsupervised.
 *
 * @param options Size, seed and supervised share.
 * @returns The batch (logits rounded to fp32, so that float64 sees what tfjs sees).
 */
export function randomBatch(options: BatchCaseOptions = {}): BatchCase {
  const { rows = 3, time = 8, vocab = 9, seed = 1, supervised = 0.7 } = options;
  const random = seededRandom(seed);
  const targets = Array.from(
    { length: rows },
    () => Array.from({ length: time }, () => Math.floor(random() * vocab)),
  );
  const logits = targets.map((row) =>
    row.map((y) => {
      const z = Array.from({ length: vocab }, () => 6 * (random() - 0.5));
      z[y] = z[y]! + 9 * random();
      return z.map(Math.fround);
    })
  );
  const referenceLogits = targets.map((row) =>
    row.map(() => Array.from({ length: vocab }, () => Math.fround(6 * (random() - 0.5))))
  );
  const mask = targets.map((row, r) =>
    row.map((_, t) => (r === 0 && t === 0) || random() < supervised ? 1 : 0)
  );
  return { logits, referenceLogits, targets, mask };
}

/** The reduced loss of a batch and its gradient with respect to the logits. */
export interface BatchLossAndGrad {
  /** The reduced loss. */
  readonly loss: number;
  /** d loss / d logits, `rows × time × vocab`. */
  readonly gradLogits: number[][][];
}

/**
 * How a check computes the loss of a batch and its gradient: {@link trainingLossAndGrad} (the
 * training step's own path), or a deliberately wrong reduction in a mutation test.
 */
export type BatchEvaluator = (
  objective: Objective<unknown>,
  params: unknown,
  input: BatchCase,
  chunkPositions: number,
) => Promise<BatchLossAndGrad>;

/**
 * The loss and gradient of a batch through the training step's own loss, {@link batchLoss}: a
 * stand-in model whose logits are the batch's (and whose hidden states are the identity, so that
 * with `chunkPositions` in (0, positions) the LM head and the loss run chunk by chunk, as for a
 * large vocabulary), the objective's per-token loss, the mask, the gate and the token mean.
 *
 * @param objective The objective.
 * @param params Its decoded params.
 * @param input The batch.
 * @param chunkPositions Positions per loss chunk; 0 computes the whole logits at once.
 * @returns The loss and d loss / d logits.
 */
export async function trainingLossAndGrad(
  objective: Objective<unknown>,
  params: unknown,
  input: BatchCase,
  chunkPositions: number,
): Promise<BatchLossAndGrad> {
  const rows = input.targets.length;
  const time = input.targets[0]?.length ?? 0;
  const vocab = input.logits[0]?.[0]?.length ?? 0;
  const positions = rows * time;
  const flat = (x: BatchCase["logits"]) => x.flatMap((row) => row.flatMap((z) => [...z]));
  const result = tf.tidy(() => {
    const z = tf.tensor2d(flat(input.logits), [positions, vocab]);
    const zRef = tf.tensor2d(flat(input.referenceLogits), [positions, vocab]);
    const eye = tf.reshape(tf.eye(positions), [rows, time, positions]) as tf.Tensor3D;
    const stub = (weight: tf.Tensor2D): LanguageModel =>
      ({
        vocabSize: vocab,
        logits: () => tf.reshape(weight, [rows, time, vocab]) as tf.Tensor3D,
        hidden: () => eye,
        headWeight: () => weight,
      }) as unknown as LanguageModel;
    const batch = {
      inputs: tf.zeros([rows, time], "int32") as tf.Tensor2D,
      targets: tf.tensor2d(input.targets.flatMap((r) => [...r]), [rows, time], "int32"),
      mask: tf.tensor2d(input.mask.flatMap((r) => [...r]), [rows, time], "float32"),
    };
    const f = (w: tf.Tensor) =>
      batchLoss(stub(w as tf.Tensor2D), batch, {
        objective,
        params,
        reference: stub(zRef),
        seed: 0,
        chunkPositions,
      }).loss;
    return tf.valueAndGrad(f)(z);
  });
  try {
    const loss = (await result.value.data())[0]!;
    const g = await result.grad.data();
    const gradLogits = Array.from(
      { length: rows },
      (_, r) =>
        Array.from(
          { length: time },
          (_, t) => Array.from(g.subarray((r * time + t) * vocab, (r * time + t + 1) * vocab)),
        ),
    );
    return { loss, gradLogits };
  } finally {
    result.value.dispose();
    result.grad.dispose();
  }
}

/** What the paper's reduction gives on a batch, from closed forms, in float64. */
export interface ExpectedReduction {
  /** Σ gate·f(p) / (Σ gate + 1e-8) over supervised positions; NaN without a `loss` form. */
  readonly loss: number;
  /** −gate·s_f(p_y)(δ_iy − p_i) / (Σ gate + 1e-8), `rows × time × vocab`. */
  readonly gradLogits: number[][][];
  /** Whether each position is supervised and kept, `rows × time`. */
  readonly counted: boolean[][];
  /** Supervised positions. */
  readonly supervised: number;
  /** Supervised positions the gate keeps. */
  readonly kept: number;
}

/**
 * The official code's reduction (paper notes §2.3) computed from closed forms: a token mean over
 * the supervised positions the gate keeps, `sum(ℓ·mask·gate) / (sum(mask·gate) + 1e-8)`, with
 * ∂ℓ/∂z_i = −s_f(p_y)(δ_iy − p_i), s_f = W_f/(1 − p_y), on kept positions and exactly 0 elsewhere.
 *
 * @param forms The closed forms (`weight` is required).
 * @param params Their params.
 * @param input The batch.
 * @returns The expected loss, gradient and counts.
 */
export function expectedReduction<P>(
  forms: ClosedForms<P>,
  params: P,
  input: BatchCase,
): ExpectedReduction {
  const weight = forms.weight;
  if (!weight) throw new TypeError("Cannot compute the expected gradient without a weight form");
  const probs = input.logits.map((row) => row.map((z) => softmax(z)));
  const counted = input.targets.map((row, r) =>
    row.map((y, t) =>
      input.mask[r]![t]! > 0 && (forms.kept ? forms.kept(probs[r]![t]![y]!, params) : true)
    )
  );
  const supervised = input.mask.reduce((n, row) => n + row.filter((m) => m > 0).length, 0);
  const kept = counted.reduce((n, row) => n + row.filter(Boolean).length, 0);
  const denominator = kept + 1e-8;
  let sum = 0;
  const gradLogits = input.targets.map((row, r) =>
    row.map((y, t) => {
      const p = probs[r]![t]!;
      if (!counted[r]![t]) return p.map(() => 0);
      const py = p[y]!;
      if (forms.loss) sum += forms.loss(py, params);
      const s = weight(py, params) / (1 - py);
      return p.map((pi, i) => (-s * ((i === y ? 1 : 0) - pi)) / denominator);
    })
  );
  return {
    loss: forms.loss ? sum / denominator : NaN,
    gradLogits,
    counted,
    supervised,
    kept,
  };
}

/** How far the training path is from the closed forms on one batch. */
export interface ReductionErrors {
  /** |loss − expected| / max(1, |expected|); NaN when the forms give no loss. */
  readonly loss: number;
  /** max |g − expected| / max |expected| over the batch. */
  readonly gradient: number;
  /** Largest |g| on a masked or gated-out position (it must be exactly 0). */
  readonly leak: number;
  /** Supervised positions. */
  readonly supervised: number;
  /** Supervised positions the forms' gate keeps. */
  readonly kept: number;
}

/** The batch, the chunking and the evaluator of {@link reductionErrors}. */
export interface ReductionCheckOptions extends BatchCaseOptions {
  /** Positions per loss chunk (0: unchunked). @default 0 */
  readonly chunkPositions?: number;
  /** The loss and gradient to check. @default trainingLossAndGrad */
  readonly evaluate?: BatchEvaluator;
}

/**
 * T1 over many positions at once, with masks and gates, through the training loss: the reduced
 * loss and its gradient against {@link expectedReduction} of closed forms.
 *
 * @param objective The objective.
 * @param params Its decoded params.
 * @param forms Closed forms to compare with (`weight` required; `loss`, `kept` optional).
 * @param options The batch, the chunking and the evaluator.
 * @returns The errors and counts.
 */
export async function reductionErrors<P>(
  objective: Objective<P>,
  params: P,
  forms: ClosedForms<P>,
  options: ReductionCheckOptions = {},
): Promise<ReductionErrors> {
  const input = randomBatch(options);
  const evaluate = options.evaluate ?? trainingLossAndGrad;
  const got = await evaluate(
    objective as Objective<unknown>,
    params,
    input,
    options.chunkPositions ?? 0,
  );
  const expected = expectedReduction(forms, params, input);
  const scale = Math.max(
    1e-12,
    ...expected.gradLogits.flatMap((row) => row.flatMap((g) => g.map(Math.abs))),
  );
  let gradient = 0;
  let leak = 0;
  expected.gradLogits.forEach((row, r) =>
    row.forEach((g, t) =>
      g.forEach((e, i) => {
        const value = got.gradLogits[r]![t]![i]!;
        gradient = Math.max(gradient, Math.abs(value - e) / scale);
        if (!expected.counted[r]![t]) leak = Math.max(leak, Math.abs(value));
      })
    )
  );
  return {
    loss: Math.abs(got.loss - expected.loss) / Math.max(1, Math.abs(expected.loss)),
    gradient,
    leak,
    supervised: expected.supervised,
    kept: expected.kept,
  };
}

/**
 * The descent weight of an objective measured by autodiff, for objectives that declare none:
 * −∂ℓ/∂z_y at two-token logits (logit(p), 0) with target 0, per position of one batch (the gated
 * sum, before the token mean: a gated-out p reads 0).
 *
 * @param objective Any objective (reference logits, when needed, equal the logits).
 * @param params Its decoded params.
 * @param grid Probabilities in (0, 1).
 * @returns W_f at each grid point.
 */
export function measuredDescentWeight<P>(
  objective: Objective<P>,
  params: P,
  grid: ReadonlyArray<number>,
): number[] {
  const n = grid.length;
  const logits = grid.map((p) => [Math.log(p) - Math.log1p(-p), 0]);
  const grad = tf.tidy(() => {
    const targets = tf.zeros([1, n], "int32") as tf.Tensor2D;
    const mask = tf.ones([1, n]) as tf.Tensor2D;
    const referenceLogits = tf.tensor3d([logits], [1, n, 2]);
    const f = (z: tf.Tensor) =>
      tokenSums(
        objective,
        params,
        makeTokenView(
          { logits: z as tf.Tensor3D, targets, mask, referenceLogits, seed: 0 },
          objective.needs,
        ),
      ).sum;
    return tf.grad(f)(tf.tensor3d([logits], [1, n, 2]));
  });
  try {
    const g = grad.dataSync();
    return grid.map((_, k) => -g[2 * k]!);
  } finally {
    grad.dispose();
  }
}

// ---------------------------------------------------------------------------------------------
// The checks of one or several objective choices (the built-ins, or a plugin's)

/** An objective with params, as a check receives it. */
export interface CheckedChoice {
  /** How the figures name it, e.g. "GF a=10". */
  readonly label: string;
  /** The objective. */
  readonly objective: Objective<unknown>;
  /** Its decoded params. */
  readonly params: unknown;
  /** Closed forms written apart from the objective (the paper's), when there are any. */
  readonly reference?: ClosedForms<unknown>;
  /** Its loss value is not the potential of its gradient (a stop-gradient, as DFT and GFT). */
  readonly stopGradient?: boolean;
}

/** Options shared by the checks over choices. */
export interface ChoiceCheckOptions {
  /** The loss and gradient under test. @default trainingLossAndGrad */
  readonly evaluate?: BatchEvaluator;
  /** What the reference forms are called in check names. @default "the paper's closed forms" */
  readonly referenceName?: string;
}

function _fmtError(x: number): string {
  return Number.isNaN(x) ? "n/a" : x === 0 ? "0" : x.toExponential(1);
}

/**
 * Runs `one` on every choice that has what it needs and folds the results into one check (a
 * single choice's figures leave out its label, which the caller puts in the name).
 */
async function _overChoices(
  name: string,
  choices: ReadonlyArray<CheckedChoice>,
  needs: (c: CheckedChoice) => string | undefined,
  one: (c: CheckedChoice) => Promise<{ readonly figure: string; readonly pass: boolean }>,
): Promise<TheoryCheck> {
  const single = choices.length === 1;
  const figures: string[] = [];
  const skipped: string[] = [];
  let pass = true;
  for (const c of choices) {
    const missing = needs(c);
    if (missing !== undefined) {
      skipped.push(single ? missing : `${c.label}: ${missing}`);
      continue;
    }
    const result = await one(c);
    pass &&= result.pass;
    const figure = `${result.figure}${result.pass ? "" : " FAIL"}`;
    figures.push(single ? figure : `${c.label} ${figure}`);
  }
  if (figures.length === 0) {
    return { name, figures: skipped.join("; "), pass: true, skipped: skipped.join("; ") };
  }
  if (skipped.length > 0) figures.push(`skipped ${skipped.join("; ")}`);
  return { name, figures: figures.join("; "), pass };
}

/**
 * Loss and gradient tolerances of the reduction checks, fp32 autodiff against float64: at
 * p ≈ 0.999 the fp32 1 − p is good to about 1e-4 relative, which W = p(1 − p)/(1 − p + ε) of
 * log(1 − p + ε) magnifies to about 1e-4 of the largest gradient entry.
 */
const _reductionTolerance = { loss: 1e-5, gradient: 1e-3 };

/** Two random batches of 3 × 8 positions, each through the unchunked and the chunked loss. */
async function _reductionOver(
  c: CheckedChoice,
  forms: ClosedForms<unknown>,
  evaluate: BatchEvaluator | undefined,
): Promise<{ readonly figure: string; readonly pass: boolean }> {
  let [loss, gradient, leak, kept, supervised] = [0, 0, 0, 0, 0];
  for (const seed of [1, 2]) {
    for (const chunkPositions of [0, 5]) {
      const e = await reductionErrors(c.objective, c.params, forms, {
        seed,
        chunkPositions,
        ...(evaluate ? { evaluate } : {}),
      });
      loss = Math.max(loss, Number.isNaN(e.loss) ? 0 : e.loss);
      gradient = Math.max(gradient, e.gradient);
      leak = Math.max(leak, e.leak);
      if (chunkPositions === 0) [kept, supervised] = [kept + e.kept, supervised + e.supervised];
    }
  }
  const pass = loss <= _reductionTolerance.loss && gradient <= _reductionTolerance.gradient &&
    leak === 0;
  const value = forms.loss ? `loss ${_fmtError(loss)}, ` : "";
  const gate = forms.kept ? `, kept ${kept} of ${supervised}` : "";
  return { figure: `${value}grad ${_fmtError(gradient)}, leak ${_fmtError(leak)}${gate}`, pass };
}

/**
 * T1 through the training loss, over 2 random batches of 3 × 8 positions with masked positions,
 * each unchunked and in loss chunks of 5 positions: the reduced loss (≤ 1e-5) and its gradient
 * (≤ 1e-3 of the largest entry) equal the paper's token mean of closed forms over the supervised
 * positions the gate keeps, and masked or gated-out positions get exactly zero gradient.
 *
 * @param choices The objectives with params.
 * @param against `"declared"`: each objective's own `lossAt`/`descentWeight`/`keptAt`;
 *   `"reference"`: the choice's `reference` forms, written apart from the objective.
 * @param options The evaluator and the name of the reference forms.
 * @returns One check over all choices (a choice without the forms it needs is skipped, by name).
 */
export function reductionCheck(
  choices: ReadonlyArray<CheckedChoice>,
  against: "declared" | "reference",
  options: ChoiceCheckOptions = {},
): Promise<TheoryCheck> {
  const referenceName = options.referenceName ?? "the paper's closed forms";
  const formsOf = (c: CheckedChoice) =>
    against === "declared" ? declaredForms(c.objective) : c.reference;
  return _overChoices(
    `T1 reduction (3x8 positions, masks, gates; loss unchunked and chunked): loss and gradient ` +
      `= ${
        against === "declared"
          ? "the declared closed forms (lossAt, descentWeight, keptAt)"
          : referenceName
      }`,
    choices,
    (c) =>
      against === "reference" && !c.reference
        ? `${referenceName} cover no "${c.objective.id}"`
        : !formsOf(c)?.weight
        ? "declares no descentWeight"
        : undefined,
    (c) => _reductionOver(c, formsOf(c)!, options.evaluate),
  );
}

/**
 * The declared closed forms (`lossAt`, `descentWeight`, `keptAt`) against the reference forms on
 * 999 points of (0, 1), in float64 (relative error ≤ 1e-9; the gate must agree everywhere).
 *
 * @param choices The objectives with params and reference forms.
 * @param options The name of the reference forms.
 * @returns One check over all choices.
 */
export function closedFormGridCheck(
  choices: ReadonlyArray<CheckedChoice>,
  options: ChoiceCheckOptions = {},
): Promise<TheoryCheck> {
  const referenceName = options.referenceName ?? "the paper's closed forms";
  const grid = probabilityGrid(1000);
  return _overChoices(
    `T1 declared closed forms (lossAt, descentWeight, keptAt) = ${referenceName} on a grid of p`,
    choices,
    (c) =>
      !c.reference
        ? `${referenceName} cover no "${c.objective.id}"`
        : !c.objective.lossAt && !c.objective.descentWeight
        ? "declares no lossAt or descentWeight"
        : undefined,
    (c) => {
      const declared = declaredForms(c.objective);
      const ref = c.reference!;
      const keep = (f: ClosedForms<unknown>, p: number) => (f.kept ? f.kept(p, c.params) : true);
      let worst = 0;
      let gateDisagrees = 0;
      for (const p of grid) {
        const pairs: Array<[number, number]> = [];
        if (declared.loss && ref.loss) {
          pairs.push([declared.loss(p, c.params), ref.loss(p, c.params)]);
        }
        if (declared.weight && ref.weight) {
          pairs.push([declared.weight(p, c.params), ref.weight(p, c.params)]);
        }
        for (const [a, b] of pairs) {
          worst = Math.max(worst, Math.abs(a - b) / Math.max(1, Math.abs(b)));
        }
        if (keep(declared, p) !== keep(ref, p)) gateDisagrees += 1;
      }
      return Promise.resolve({
        figure: `${_fmtError(worst)}${
          gateDisagrees > 0 ? `, gate differs at ${gateDisagrees} p` : ""
        }`,
        pass: worst <= 1e-9 && gateDisagrees === 0,
      });
    },
  );
}

/**
 * Masked and gated-out positions get exactly zero gradient and a kept supervised position does
 * not (on random batches through the training loss; the gate is the declared `keptAt`, if any).
 * Needs no closed form.
 *
 * @param choices The objectives with params.
 * @param options The evaluator.
 * @returns One check over all choices.
 */
export function zeroGradientCheck(
  choices: ReadonlyArray<CheckedChoice>,
  options: ChoiceCheckOptions = {},
): Promise<TheoryCheck> {
  const evaluate = options.evaluate ?? trainingLossAndGrad;
  return _overChoices(
    "T1 masked and gated-out tokens get exactly zero gradient, kept ones do not",
    choices,
    () => undefined,
    async (c) => {
      let leak = 0;
      let live = false;
      let [kept, dropped] = [0, 0];
      for (const seed of [3, 4]) {
        const input = randomBatch({ seed });
        const { gradLogits } = await evaluate(c.objective, c.params, input, 0);
        input.targets.forEach((row, r) =>
          row.forEach((y, t) => {
            const p = softmax(input.logits[r]![t]!)[y]!;
            const supervised = input.mask[r]![t]! > 0;
            const counted = supervised && (c.objective.keptAt?.(p, c.params) ?? true);
            if (supervised) counted ? kept++ : dropped++;
            const g = gradLogits[r]![t]!;
            if (!counted) leak = Math.max(leak, ...g.map(Math.abs));
            else if (g.some((x) => x !== 0)) live = true;
          })
        );
      }
      const gate = c.objective.keptAt ? `, gate kept ${kept}, dropped ${dropped}` : "";
      return { figure: `leak ${_fmtError(leak)}${gate}`, pass: leak === 0 && live };
    },
  );
}

/**
 * T1 by float64 central differences of the declared `lossAt` through softmax, against the
 * autodiff gradient (≤ 1e-5) and against the declared `descentWeight` (≤ 1e-6), on 8 random
 * single positions. Skipped for objectives whose loss value is not the potential of their
 * gradient (a stop-gradient).
 *
 * @param choices The objectives with params.
 * @returns One check over all choices.
 */
export function finiteDifferenceCheck(choices: ReadonlyArray<CheckedChoice>): Promise<TheoryCheck> {
  return _overChoices(
    "T1 finite differences (float64) of lossAt = autodiff (<= 1e-5) and descentWeight (<= 1e-6)",
    choices,
    (c) =>
      !c.objective.lossAt
        ? "declares no lossAt"
        : c.stopGradient
        ? "its loss value is not the potential of its gradient (stop-gradient)"
        : undefined,
    async (c) => {
      if (!c.objective.descentWeight) {
        // Autodiff against finite differences only.
        const probe = { ...c.objective, descentWeight: () => 0 } as Objective<unknown>;
        const e = await finiteDifferenceError(probe, c.params, { trials: 8, seed: 11 });
        return { figure: `${_fmtError(e.autodiff)}/no descentWeight`, pass: e.autodiff <= 1e-5 };
      }
      const e = await finiteDifferenceError(c.objective, c.params, { trials: 8, seed: 11 });
      return {
        figure: `${_fmtError(e.autodiff)}/${_fmtError(e.closedForm)}`,
        pass: e.autodiff <= 1e-5 && e.closedForm <= 1e-6,
      };
    },
  );
}

/**
 * Proposition 3.2 on the declared closed forms: a concave f has its W_f argmax at p ≥ ½, a
 * convex f at p ≤ ½, a linear one at ½ (an f that is neither, e.g. a gated one, is reported).
 *
 * @param choices The objectives with params.
 * @returns One check over all choices.
 */
export function curvatureCheck(choices: ReadonlyArray<CheckedChoice>): Promise<TheoryCheck> {
  const grid = probabilityGrid(10000);
  return _overChoices(
    "T3 Prop. 3.2: concave f -> argmax of W_f >= 1/2, convex f -> argmax <= 1/2",
    choices,
    (c) =>
      !c.objective.lossAt
        ? "declares no lossAt"
        : !c.objective.descentWeight
        ? "declares no descentWeight"
        : undefined,
    (c) => {
      const curvature = curvatureOf(c.objective, c.params);
      const peak = descentWeightArgmax(c.objective, c.params, grid);
      const pass = curvature === "concave"
        ? peak >= 0.5
        : curvature === "convex"
        ? peak <= 0.5
        : curvature === "linear"
        ? Math.abs(peak - 0.5) <= 1e-4
        : true;
      return Promise.resolve({ figure: `${curvature}, argmax ${peak.toFixed(3)}`, pass });
    },
  );
}

/**
 * T4: Σ_i ∂ℓ/∂z_i = 0 (≤ 1e-6) on random single positions. Needs no closed form.
 *
 * @param choices The objectives with params.
 * @returns One check over all choices.
 */
export function sumToZeroCheck(choices: ReadonlyArray<CheckedChoice>): Promise<TheoryCheck> {
  return _overChoices(
    "T4 sum over the vocabulary of dl/dz_i = 0 (<= 1e-6)",
    choices,
    () => undefined,
    async (c) => {
      const error = await sumToZeroError(c.objective, c.params, { trials: 4, seed: 13 });
      return { figure: _fmtError(error), pass: error <= 1e-6 };
    },
  );
}
