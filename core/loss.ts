/**
 * The one reduction. Objectives compute per-token values; this module builds the
 * {@link TokenView} from logits, applies the supervision mask and the objective's optional gate,
 * and takes the token mean (over kept tokens when gated; 0 for an all-masked batch). It also
 * computes the diagnostics every step reports beside the objective: plain NLL, mean p and the
 * share of supervised tokens the gate dropped.
 *
 * Semantics follow the official code of Li et al. (2025): `sum(loss · mask) / (sum(mask) + 1e-8)`
 * per batch, where a gate multiplies into the mask (so it shrinks the denominator too).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { stopGradient } from "./ops.ts";
import { fastPathsActive, runKernel } from "./backend/fused_kernels.ts";
import type { Objective, PerTokenLoss, TokenView } from "./plugin.ts";

/** Added to the kept-token count, as in the official code. */
export const denominatorEpsilon = 1e-8;

/** Inputs for a {@link TokenView}. */
export interface TokenViewInput {
  /** Model logits `[batch, time, vocab]`. */
  readonly logits: tf.Tensor3D;
  /** Target ids `[batch, time]` (int32). */
  readonly targets: tf.Tensor2D;
  /** Supervision mask `[batch, time]` (1 = supervised). */
  readonly mask: tf.Tensor2D;
  /** Frozen base-model logits, when the objective needs them. */
  readonly referenceLogits?: tf.Tensor3D;
  /** Per-step seed. */
  readonly seed?: number;
}

/**
 * The logit of each target token, `logits[b, t, targets[b, t]]`, read by a gather (no
 * `[batch, time, vocab]` one-hot in the forward pass) with its own gradient (the wasm backend
 * has no gather gradient): d/dlogits = one-hot(target) · dy.
 *
 * @param logits `[batch, time, vocab]`.
 * @param targets `[batch, time]` int32.
 * @returns `[batch, time]`.
 */
export function targetLogit(logits: tf.Tensor3D, targets: tf.Tensor2D): tf.Tensor2D {
  const [batch, time, vocab] = logits.shape;
  const positions = batch * time;
  const ids = tf.reshape(tf.cast(targets, "int32"), [positions]);
  const read = tf.customGrad(
    ((z: tf.Tensor, save: tf.GradSaveFunc) => {
      save([ids]);
      // A target outside the vocabulary (only ever on a masked position) reads 0, as the
      // one-hot product it replaces did.
      const inside = tf.logicalAnd(tf.greaterEqual(ids, 0), tf.less(ids, vocab));
      const flat = tf.add(
        tf.mul(tf.range(0, positions, 1, "int32"), tf.scalar(vocab, "int32")),
        // tf.where, not clipByValue: the wasm backend's ClipByValue misreads int32 tensors.
        tf.where(inside, ids, tf.zerosLike(ids)),
      );
      const read = tf.gather(tf.reshape(z, [positions * vocab]), flat);
      return {
        value: tf.reshape(tf.where(inside, read, tf.zerosLike(read)), [batch, time]),
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
          tf.mul(
            tf.reshape(tf.oneHot(saved[0]!, vocab), [batch, time, vocab]),
            tf.expandDims(dy, -1),
          ),
      };
    }) as unknown as Parameters<typeof tf.customGrad>[0],
  );
  return read(logits) as tf.Tensor2D;
}

/**
 * log p of each target token: `logits[target] − logsumexp(logits)`, in fp32.
 *
 * @param logits `[batch, time, vocab]`.
 * @param targets `[batch, time]` int32.
 * @returns `[batch, time]`.
 */
export function targetLogProb(logits: tf.Tensor3D, targets: tf.Tensor2D): tf.Tensor2D {
  if (fastPathsActive() && logits.dtype === "float32") return fusedTargetLogProb(logits, targets);
  return tf.tidy(() =>
    tf.sub(targetLogit(logits, targets), tf.logSumExp(logits, -1)) as tf.Tensor2D
  );
}

/**
 * {@link targetLogProb} as one kernel forward and one backward (wasm and cpu-blas, fast paths on;
 * `core/backend/target_log_prob_kernels.ts`): `logp = z[target] − lse(z)` per position, and
 * `dz = dy·(one-hot(target) − softmax(z))`, the same values as the tfjs composition to float
 * rounding.
 */
function fusedTargetLogProb(logits: tf.Tensor3D, targets: tf.Tensor2D): tf.Tensor2D {
  const [batch, time, vocab] = logits.shape;
  const positions = batch * time;
  const ids = tf.tidy(() => tf.reshape(tf.cast(targets, "int32"), [positions]));
  const read = tf.customGrad(
    ((z: tf.Tensor, save: tf.GradSaveFunc) => {
      const flat = tf.reshape(z, [positions, vocab]);
      const [logp, lse] = runKernel("ProbsftTargetLogProb", { z: flat, ids });
      save([flat, ids, lse!]);
      return {
        value: tf.reshape(logp!, [batch, time]),
        gradFunc: (dy: tf.Tensor, [sz, sids, slse]: tf.Tensor[]) =>
          tf.reshape(
            runKernel("ProbsftTargetLogProbGrad", {
              dy: tf.reshape(dy, [positions]),
              z: sz!,
              ids: sids!,
              lse: slse!,
            })[0]!,
            [batch, time, vocab],
          ),
      };
    }) as unknown as Parameters<typeof tf.customGrad>[0],
  );
  const out = read(logits) as tf.Tensor2D;
  ids.dispose();
  return out;
}

/**
 * Builds the view an objective reads.
 *
 * @param input Logits, targets, mask and optional reference logits.
 * @param needs What the objective declared it needs.
 * @returns The view (its tensors belong to the enclosing tidy scope).
 */
export function makeTokenView(
  input: TokenViewInput,
  needs: Objective<unknown>["needs"] = {},
): TokenView {
  const view: TokenView = {
    logProbTarget: targetLogProb(input.logits, input.targets),
    mask: input.mask,
    targets: input.targets,
    seed: input.seed ?? 0,
    ...(needs.logits ? { logits: input.logits } : {}),
    ...(needs.referenceLogits && input.referenceLogits
      ? { referenceLogits: input.referenceLogits }
      : {}),
  };
  return view;
}

/** The reduced loss and the diagnostics of one batch. */
export interface Reduced {
  /** The objective's token mean (scalar, differentiable). */
  readonly loss: tf.Scalar;
  /** Plain NLL token mean over supervised tokens (no gradient use). */
  readonly nll: tf.Scalar;
  /** Mean p of the target over supervised tokens. */
  readonly meanP: tf.Scalar;
  /** Share of supervised tokens the objective's gate dropped. */
  readonly maskedShare: tf.Scalar;
  /** Number of supervised tokens. */
  readonly tokens: tf.Scalar;
  /** The numerator of {@link Reduced.loss}: Σ loss · gate over supervised tokens (differentiable). */
  readonly sum: tf.Scalar;
  /** The denominator of {@link Reduced.loss} without ε: the kept-token count (a constant). */
  readonly kept: tf.Scalar;
}

/** The sums a batch (or a chunk of its positions) contributes to {@link Reduced}. */
export interface TokenSums {
  /** Σ loss · gate over supervised tokens (differentiable). */
  readonly sum: tf.Scalar;
  /** Σ gate over supervised tokens (no gradient). */
  readonly kept: tf.Scalar;
  /** Σ mask. */
  readonly tokens: tf.Scalar;
  /** Σ −log p · mask (no gradient). */
  readonly nllSum: tf.Scalar;
  /** Σ p · mask (no gradient). */
  readonly pSum: tf.Scalar;
}

/**
 * Checks an objective's per-token output against the batch shape.
 *
 * @param out The objective's output.
 * @param shape `[batch, time]`.
 * @param id The objective id, named in the error.
 */
export function checkPerToken(out: PerTokenLoss, shape: ReadonlyArray<number>, id: string): void {
  const same = (t: tf.Tensor) =>
    t.shape.length === shape.length && t.shape.every((d, i) => d === shape[i]);
  if (!(out?.loss instanceof tf.Tensor) || !same(out.loss)) {
    throw new TypeError(
      `Objective "${id}" returned a per-token loss of shape ${
        JSON.stringify(out?.loss?.shape ?? null)
      }, expected ${JSON.stringify(shape)}`,
    );
  }
  if (out.keep !== undefined && (!(out.keep instanceof tf.Tensor) || !same(out.keep))) {
    throw new TypeError(
      `Objective "${id}" returned a gate of shape ${
        JSON.stringify(out.keep?.shape ?? null)
      }, expected ${JSON.stringify(shape)}`,
    );
  }
}

/**
 * The sums of the one reduction over a view (a batch, or a chunk of its positions): an
 * objective's per-token loss masked, gated and summed, with the counts and diagnostic sums.
 *
 * @param objective The objective.
 * @param params Its decoded params.
 * @param view The token view.
 * @returns The sums (tensors of the enclosing tidy scope).
 */
export function tokenSums<P>(objective: Objective<P>, params: P, view: TokenView): TokenSums {
  const out = objective.perToken(view, params);
  checkPerToken(out, view.mask.shape, objective.id);
  const mask = tf.cast(view.mask, "float32");
  const gate = out.keep === undefined ? mask : tf.mul(mask, stopGradient(out.keep));
  // where() rather than a product, so that an infinite loss on a masked token cannot give NaN.
  // The condition goes through step() (gate > 0 ? 1 : 0), which has a registered gradient:
  // tf.greater has none, so a gate computed from the logits would break backpropagation.
  const masked = tf.where(tf.cast(tf.step(gate), "bool"), out.loss, tf.zerosLike(out.loss));
  const logP = stopGradient(view.logProbTarget);
  return {
    sum: tf.sum(tf.mul(masked, gate)) as tf.Scalar,
    kept: stopGradient(tf.sum(gate)) as tf.Scalar,
    tokens: tf.sum(mask) as tf.Scalar,
    nllSum: tf.sum(tf.mul(tf.neg(logP), mask)) as tf.Scalar,
    pSum: tf.sum(tf.mul(tf.exp(logP), mask)) as tf.Scalar,
  };
}

/**
 * The reduced loss and diagnostics from sums: `loss = sum / (kept + 1e-8)`, NLL and mean p over
 * supervised tokens, the share of them the gate dropped.
 *
 * @param sums The sums of a batch.
 * @returns The reduced loss and diagnostics.
 */
export function fromSums(sums: TokenSums): Reduced {
  const denom = tf.add(sums.tokens, denominatorEpsilon);
  return {
    loss: tf.div(sums.sum, tf.add(sums.kept, denominatorEpsilon)) as tf.Scalar,
    nll: tf.div(sums.nllSum, denom) as tf.Scalar,
    meanP: tf.div(sums.pSum, denom) as tf.Scalar,
    maskedShare: tf.div(tf.sub(sums.tokens, sums.kept), tf.maximum(sums.tokens, 1)) as tf.Scalar,
    tokens: sums.tokens,
    sum: sums.sum,
    kept: sums.kept,
  };
}

/**
 * The one reduction: masks, gates and token-averages an objective's per-token loss.
 *
 * @param objective The objective.
 * @param params Its decoded params.
 * @param view The batch's token view.
 * @returns The loss and diagnostics (tensors of the enclosing tidy scope).
 */
export function reduce<P>(objective: Objective<P>, params: P, view: TokenView): Reduced {
  return fromSums(tokenSums(objective, params, view));
}

/** Input of {@link lossAndGradOf}: one sequence, logits as plain numbers. */
export interface LossAndGradInput {
  /** Logits, positions × vocabulary. */
  readonly logits: ReadonlyArray<ReadonlyArray<number>>;
  /** Target id per position. */
  readonly targets: ReadonlyArray<number>;
  /** 1 = supervised (default all 1). */
  readonly mask?: ReadonlyArray<number>;
  /** Frozen reference logits, positions × vocabulary, for objectives that need them. */
  readonly referenceLogits?: ReadonlyArray<ReadonlyArray<number>>;
}

/** The reduced loss and its gradient with respect to the logits. */
export interface LossAndGrad {
  /** The reduced loss. */
  readonly loss: number;
  /** d loss / d logits, positions × vocabulary. */
  readonly gradLogits: number[][];
}

/**
 * The reduced loss of an objective on one sequence and its gradient with respect to the logits,
 * through the same view and reduction that training uses.
 *
 * @param objective The objective.
 * @param params Its decoded params.
 * @param input Logits, targets and mask.
 * @returns Loss and gradient as plain numbers.
 */
export async function lossAndGradOf<P>(
  objective: Objective<P>,
  params: P,
  input: LossAndGradInput,
): Promise<LossAndGrad> {
  const positions = input.targets.length;
  if (input.logits.length !== positions) {
    throw new RangeError(
      `Cannot compute the loss as logits has ${input.logits.length} rows: expected one per target (${positions})`,
    );
  }
  const vocab = input.logits[0]?.length ?? 0;
  const result = tf.tidy(() => {
    const logits = tf.tensor3d([input.logits.map((row) => [...row])], [1, positions, vocab]);
    const targets = tf.tensor2d([[...input.targets]], [1, positions], "int32");
    const mask = tf.tensor2d([input.mask ? [...input.mask] : new Array(positions).fill(1)], [
      1,
      positions,
    ]);
    const referenceLogits = input.referenceLogits
      ? tf.tensor3d([input.referenceLogits.map((row) => [...row])], [1, positions, vocab])
      : undefined;
    const f = (z: tf.Tensor) =>
      reduce(
        objective,
        params,
        makeTokenView({
          logits: z as tf.Tensor3D,
          targets,
          mask,
          ...(referenceLogits ? { referenceLogits } : {}),
        }, objective.needs),
      ).loss;
    const { value, grad } = tf.valueAndGrad(f)(logits);
    return { value, grad };
  });
  try {
    const loss = (await result.value.data())[0]!;
    const flat = await result.grad.data();
    const gradLogits: number[][] = [];
    for (let t = 0; t < positions; t++) {
      gradLogits.push(Array.from(flat.subarray(t * vocab, (t + 1) * vocab)));
    }
    return { loss, gradLogits };
  } finally {
    result.value.dispose();
    result.grad.dispose();
  }
}
