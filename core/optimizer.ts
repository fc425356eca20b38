/**
 * AdamW with global-norm gradient clipping and a skipped step on a non-finite gradient norm, and
 * the cosine learning-rate schedule with linear warm-up: the paper's recipe (AdamW β = 0.9/0.95,
 * weight decay 0.01, clip 1.0, warm-up ratio 0.1). tfjs has no AdamW; this is decoupled weight
 * decay on top of Adam's update, as in `torch.optim.AdamW`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { adamWInPlace, fusedOptimizerActive, runKernel } from "./backend/fused_kernels.ts";

/** Settings of {@link AdamW}. */
export interface AdamWOptions {
  /** First-moment decay. @default 0.9 */
  readonly beta1?: number;
  /** Second-moment decay. @default 0.95 */
  readonly beta2?: number;
  /** Denominator epsilon. @default 1e-8 */
  readonly epsilon?: number;
  /** Decoupled weight decay. @default 0.01 */
  readonly weightDecay?: number;
  /** Global gradient-norm clip; 0 disables. @default 1.0 */
  readonly clipNorm?: number;
}

/** What one optimizer step did. */
export interface StepReport {
  /** Global gradient norm before clipping. */
  readonly gradNorm: number;
  /** True when the norm was not finite and the step was skipped. */
  readonly skipped: boolean;
}

/** The optimizer state, for checkpoints. */
export interface AdamWState {
  /** Steps taken. */
  readonly step: number;
  /** First moments, one per variable, in variable order. */
  readonly m: ReadonlyArray<tf.Tensor>;
  /** Second moments. */
  readonly v: ReadonlyArray<tf.Tensor>;
}

/** AdamW over a fixed list of variables. */
export class AdamW {
  readonly #variables: ReadonlyArray<tf.Variable>;
  readonly #m: tf.Variable[];
  readonly #v: tf.Variable[];
  readonly #beta1: number;
  readonly #beta2: number;
  readonly #epsilon: number;
  readonly #weightDecay: number;
  readonly #clipNorm: number;
  #step = 0;

  /**
   * @param variables The weights to update.
   * @param options Betas, epsilon, weight decay and clipping.
   */
  constructor(variables: ReadonlyArray<tf.Variable>, options: AdamWOptions = {}) {
    this.#variables = variables;
    this.#beta1 = options.beta1 ?? 0.9;
    this.#beta2 = options.beta2 ?? 0.95;
    this.#epsilon = options.epsilon ?? 1e-8;
    this.#weightDecay = options.weightDecay ?? 0.01;
    this.#clipNorm = options.clipNorm ?? 1.0;
    this.#m = variables.map((v) => tf.tidy(() => tf.variable(tf.zerosLike(v), false)));
    this.#v = variables.map((v) => tf.tidy(() => tf.variable(tf.zerosLike(v), false)));
  }

  /** Steps taken so far (skipped steps not counted). */
  get step(): number {
    return this.#step;
  }

  /**
   * Clips, then applies one AdamW update at the given learning rate; skips it if the gradient
   * norm is not finite. The gradients are not disposed.
   *
   * @param grads One gradient per variable, in variable order.
   * @param learningRate The learning rate of this step.
   * @returns The gradient norm and whether the step was skipped.
   */
  apply(grads: ReadonlyArray<tf.Tensor>, learningRate: number): StepReport {
    const fused = fusedOptimizerActive() && grads.every((g) => g.dtype === "float32");
    const norm = fused
      ? Math.sqrt(grads.reduce((acc, g) => {
        const [s] = runKernel("ProbsftSumSquares", { x: g });
        const value = s!.dataSync()[0]!;
        s!.dispose();
        return acc + value;
      }, 0))
      : tf.tidy(() => tf.sqrt(tf.addN(grads.map((g) => tf.sum(tf.square(g))))).dataSync()[0]!);
    if (!Number.isFinite(norm)) return { gradNorm: norm, skipped: true };
    this.#step += 1;
    const t = this.#step;
    const scale = this.#clipNorm > 0 && norm > this.#clipNorm ? this.#clipNorm / (norm + 1e-6) : 1;
    const correction1 = 1 - this.#beta1 ** t;
    const correction2 = 1 - this.#beta2 ** t;
    if (fused) {
      // One pass per variable (cpu-blas): the same update as below, without its ~14 temporaries.
      const attrs = {
        lr: learningRate,
        beta1: this.#beta1,
        beta2: this.#beta2,
        epsilon: this.#epsilon,
        weightDecay: this.#weightDecay,
        scale,
        correction1,
        correction2,
      };
      this.#variables.forEach((variable, i) => {
        if (adamWInPlace(variable, grads[i]!, this.#m[i]!, this.#v[i]!, attrs)) return;
        const [w, m, v] = runKernel("ProbsftAdamW", {
          w: variable,
          g: grads[i]!,
          m: this.#m[i]!,
          v: this.#v[i]!,
        }, attrs) as [tf.Tensor, tf.Tensor, tf.Tensor];
        this.#m[i]!.assign(m);
        this.#v[i]!.assign(v);
        variable.assign(w);
        tf.dispose([w, m, v]);
      });
      return { gradNorm: norm, skipped: false };
    }
    tf.tidy(() => {
      this.#variables.forEach((variable, i) => {
        const g = scale === 1 ? grads[i]! : tf.mul(grads[i]!, scale);
        const m = tf.add(tf.mul(this.#m[i]!, this.#beta1), tf.mul(g, 1 - this.#beta1));
        const v = tf.add(tf.mul(this.#v[i]!, this.#beta2), tf.mul(tf.square(g), 1 - this.#beta2));
        this.#m[i]!.assign(m);
        this.#v[i]!.assign(v);
        const update = tf.div(
          tf.div(m, correction1),
          tf.add(tf.sqrt(tf.div(v, correction2)), this.#epsilon),
        );
        const decayed = this.#weightDecay > 0
          ? tf.mul(variable, 1 - learningRate * this.#weightDecay)
          : variable;
        variable.assign(tf.sub(decayed, tf.mul(update, learningRate)));
      });
    });
    return { gradNorm: norm, skipped: false };
  }

  /**
   * A copy of the state (the caller disposes its tensors).
   *
   * @returns Step count and moments.
   */
  state(): AdamWState {
    return {
      step: this.#step,
      m: this.#m.map((m) => tf.clone(m)),
      v: this.#v.map((v) => tf.clone(v)),
    };
  }

  /**
   * Restores a state saved by {@link AdamW.state}.
   *
   * @param state The saved state.
   */
  restore(state: AdamWState): void {
    this.#step = state.step;
    state.m.forEach((m, i) => this.#m[i]!.assign(m));
    state.v.forEach((v, i) => this.#v[i]!.assign(v));
  }

  /** Frees the moments. */
  dispose(): void {
    for (const t of [...this.#m, ...this.#v]) t.dispose();
  }
}

/** Shape of a learning-rate schedule. */
export interface ScheduleOptions {
  /** Peak learning rate. */
  readonly peak: number;
  /** Total steps of the schedule. */
  readonly totalSteps: number;
  /** Share of steps spent warming up linearly. @default 0.1 */
  readonly warmupRatio?: number;
  /** Floor of the cosine as a share of the peak. @default 0 */
  readonly minRatio?: number;
}

/**
 * The cosine schedule with linear warm-up (as `get_cosine_schedule_with_warmup`).
 *
 * @param step The 0-based step.
 * @param options Peak, length and warm-up.
 * @returns The learning rate at that step.
 */
export function cosineLearningRate(step: number, options: ScheduleOptions): number {
  const warmup = Math.floor((options.warmupRatio ?? 0.1) * options.totalSteps);
  const floor = options.minRatio ?? 0;
  // 1. Linear warm-up from peak/warmup to the peak.
  if (step < warmup) return options.peak * (step + 1) / warmup;
  // 2. After the end, stay at the floor.
  if (step >= options.totalSteps) return options.peak * floor;
  // 3. Half a cosine from the peak down to the floor.
  const progress = (step - warmup) / Math.max(1, options.totalSteps - warmup);
  return options.peak * (floor + (1 - floor) * 0.5 * (1 + Math.cos(Math.PI * progress)));
}
