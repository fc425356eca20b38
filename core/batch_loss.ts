/**
 * The loss of one (micro-)batch of a model, with the LM head and the loss applied chunk by chunk
 * of positions when the model exposes its hidden states and head weight
 * ({@link LanguageModel.hidden}, {@link LanguageModel.headWeight}): no `[batch, time, vocab]`
 * tensor is ever held, only one `[chunk, vocab]` block at a time, in the forward pass and in the
 * backward pass (which recomputes each block's logits from the saved hidden states: one more
 * head product, the price of the memory).
 *
 * The value and the gradient equal the unchunked path's (the same sums of the one reduction,
 * {@link tokenSums}, added over chunks; `loss = Σ sum / (Σ kept + 1e-8)`): an objective's
 * per-token loss only ever sees the positions of its chunk, with their logits when it declares
 * `needs.logits` and the frozen model's when it declares `needs.referenceLogits`. A stochastic
 * objective (one that draws from `view.seed`) draws per chunk, so its draws differ from the
 * unchunked path's.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import {
  fromSums,
  makeTokenView,
  type Reduced,
  targetLogProb,
  type TokenSums,
  tokenSums,
} from "./loss.ts";
import { accumulate } from "./backend/fused_kernels.ts";
import { gradsInBackward, stopGradient } from "./ops.ts";
import type { LanguageModel, Objective, Recompute } from "./plugin.ts";

/** The float32 logits a loss chunk may hold by default, in bytes (128 MiB). */
export const defaultChunkBytes = 128 * 1024 * 1024;

/**
 * The default positions per chunk: 0 (unchunked) when a batch's float32 logits fit in
 * {@link defaultChunkBytes}, else as many positions as fit in it.
 *
 * @param positions Positions in the batch (rows × time).
 * @param vocab The vocabulary size.
 * @returns Positions per chunk, or 0.
 */
export function defaultChunkPositions(positions: number, vocab: number): number {
  const perPosition = vocab * 4;
  return positions * perPosition <= defaultChunkBytes
    ? 0
    : Math.max(1, Math.floor(defaultChunkBytes / perPosition));
}

/** One (micro-)batch as tensors. */
export interface BatchTensors {
  /** Inputs `[batch, time]` int32. */
  readonly inputs: tf.Tensor2D;
  /** Targets `[batch, time]` int32. */
  readonly targets: tf.Tensor2D;
  /** Supervision mask `[batch, time]` float32. */
  readonly mask: tf.Tensor2D;
}

/** What {@link batchLoss} needs besides the batch. */
export interface BatchLossOptions {
  /** The objective and its decoded params. */
  readonly objective: Objective<unknown>;
  readonly params: unknown;
  /** The frozen base model, for objectives that need reference logits. */
  readonly reference?: LanguageModel;
  /** The view's seed. */
  readonly seed: number;
  /**
   * Positions per chunk of the LM head and the loss; 0 (or a model without hidden states)
   * computes the whole `[batch, time, vocab]` logits at once.
   */
  readonly chunkPositions: number;
  /** Blocks that recompute their activations in the backward pass (models with hidden states). */
  readonly recompute?: Recompute;
}

/** The LM head of a model for a product: `[d, vocab]`, or `[vocab, d]` rows used transposed. */
interface Head {
  readonly w: tf.Tensor2D;
  readonly transposed: boolean;
}

/** The head of a model the caller checked has {@link LanguageModel.headWeight}. */
function headOf(model: LanguageModel): Head {
  const rows = model.headRows?.();
  return rows ? { w: rows, transposed: true } : { w: model.headWeight!(), transposed: false };
}

/** `x · head`: `[n, d]` hidden states to `[n, vocab]` logits. */
function headProduct(x: tf.Tensor, w: tf.Tensor, transposed: boolean): tf.Tensor2D {
  return tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D, false, transposed);
}

function chunkedSums(
  model: LanguageModel & Required<Pick<LanguageModel, "hidden" | "headWeight">>,
  batch: BatchTensors,
  options: BatchLossOptions,
): TokenSums {
  const [rows, time] = batch.inputs.shape;
  const positions = rows * time;
  const needs = options.objective.needs ?? {};
  const hidden = model.hidden(batch.inputs, { recompute: options.recompute ?? false });
  const width = hidden.shape[2];
  const h = tf.reshape(hidden, [positions, width]) as tf.Tensor2D;
  const head = headOf(model);
  const vocab = head.w.shape[head.transposed ? 0 : 1];
  const targets = tf.reshape(batch.targets, [positions]);
  const mask = tf.reshape(batch.mask, [positions]);
  const referenceModel = options.reference;
  const reference = needs.referenceLogits && referenceModel?.hidden && referenceModel.headWeight
    ? {
      h: tf.reshape(referenceModel.hidden(batch.inputs), [positions, width]),
      ...headOf(referenceModel),
    }
    : undefined;
  const size = options.chunkPositions > 0 ? Math.floor(options.chunkPositions) : positions;
  const starts: number[] = [];
  for (let s = 0; s < positions; s += size) starts.push(s);
  // What the backward pass reads again: saved with the inputs (the forward scope frees the rest).
  const context = [targets, mask, ...(reference ? [reference.h, reference.w] : [])];
  // The sums of one chunk of positions, from its hidden states, the head and the context.
  const chunk = (
    hc: tf.Tensor,
    w: tf.Tensor,
    start: number,
    [t, m, rh, rw]: tf.Tensor[],
  ): TokenSums => {
    const n = hc.shape[0]!;
    const logits = tf.reshape(headProduct(hc, w, head.transposed), [1, n, vocab]) as tf.Tensor3D;
    const slice = (x: tf.Tensor) => tf.reshape(tf.slice(x, [start], [n]), [1, n]) as tf.Tensor2D;
    const view = makeTokenView({
      logits,
      targets: slice(t!),
      mask: slice(m!),
      seed: options.seed,
      ...(rh && rw
        ? {
          referenceLogits: tf.reshape(
            headProduct(tf.slice(rh, [start, 0], [n, width]), rw, reference!.transposed),
            [1, n, vocab],
          ) as tf.Tensor3D,
        }
        : {}),
    }, needs);
    return tokenSums(options.objective, options.params, view);
  };
  // The forward pass returns the five sums stacked; only the first carries a gradient.
  const headSums = tf.customGrad(
    ((hIn: tf.Tensor, wIn: tf.Tensor, save: tf.GradSaveFunc) => {
      save([hIn, wIn, ...context]);
      let totals: tf.Tensor = tf.zeros([5]);
      for (const start of starts) {
        const n = Math.min(size, positions - start);
        const part = tf.tidy(() => {
          const sums = chunk(tf.slice(hIn, [start, 0], [n, width]), wIn, start, context);
          return tf.stack([sums.sum, sums.kept, sums.tokens, sums.nllSum, sums.pSum]);
        });
        const next = tf.add(totals, part);
        tf.dispose([totals, part]);
        totals = next;
      }
      return {
        value: totals,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const [hs, ws, ...kept] = saved as [tf.Tensor2D, tf.Tensor2D, ...tf.Tensor[]];
          const dySum = tf.reshape(tf.slice(dy, [0], [1]), []);
          const dh: tf.Tensor[] = [];
          let dw: tf.Tensor | undefined;
          for (const start of starts) {
            const n = Math.min(size, positions - start);
            const [gh, gw] = tf.tidy(() => {
              const hc = tf.slice(hs, [start, 0], [n, width]);
              return gradsInBackward((x, y) => chunk(x, y, start, kept).sum, [hc, ws], dySum);
            });
            dh.push(gh!);
            dw = dw === undefined ? gw! : accumulate(dw, gw!);
          }
          const out = [tf.concat(dh, 0), dw!];
          tf.dispose([...dh, dySum]);
          return out;
        },
      };
    }) as unknown as Parameters<typeof tf.customGrad>[0],
  );
  const sums = headSums(h, head.w);
  const at = (k: number) => tf.reshape(tf.slice(sums, [k], [1]), []) as tf.Scalar;
  return {
    sum: at(0),
    kept: stopGradient(at(1)) as tf.Scalar,
    tokens: stopGradient(at(2)) as tf.Scalar,
    nllSum: stopGradient(at(3)) as tf.Scalar,
    pSum: stopGradient(at(4)) as tf.Scalar,
  };
}

/**
 * The loss and diagnostics of one (micro-)batch: `model.logits` and the one reduction, or the
 * same chunk by chunk (see the module documentation). Call inside `tf.tidy` (and inside
 * `tf.variableGrads` for training).
 *
 * @param model The model.
 * @param batch Inputs, targets and mask.
 * @param options Objective, params, reference model, seed and chunk size.
 * @returns The reduced loss, its sum and kept count, and the diagnostics.
 */
export function batchLoss(
  model: LanguageModel,
  batch: BatchTensors,
  options: BatchLossOptions,
): Reduced {
  const [rows, time] = batch.inputs.shape;
  const recomputes = options.recompute !== undefined && options.recompute !== false &&
    options.recompute !== 0;
  const chunked = (recomputes ||
    (options.chunkPositions > 0 && options.chunkPositions < rows * time)) &&
    model.hidden !== undefined && model.headWeight !== undefined;
  if (chunked) {
    return fromSums(
      chunkedSums(
        model as LanguageModel & Required<Pick<LanguageModel, "hidden" | "headWeight">>,
        batch,
        options,
      ),
    );
  }
  const needs = options.objective.needs ?? {};
  const referenceLogits = needs.referenceLogits && options.reference
    ? options.reference.logits(batch.inputs)
    : undefined;
  const view = makeTokenView({
    logits: model.logits(batch.inputs),
    targets: batch.targets,
    mask: batch.mask,
    seed: options.seed,
    ...(referenceLogits ? { referenceLogits } : {}),
  }, needs);
  return fromSums(tokenSums(options.objective, options.params, view));
}

/**
 * log p of each target token `[batch, time]` without a gradient, through the chunked head when
 * the model has one and `chunkPositions` is positive (one `[chunk, vocab]` block at a time).
 *
 * @param model The model.
 * @param inputs `[batch, time]` int32.
 * @param targets `[batch, time]` int32.
 * @param chunkPositions Positions per chunk; 0 computes the whole logits.
 * @returns `[batch, time]` (a tensor of the enclosing tidy scope).
 */
export function targetLogProbs(
  model: LanguageModel,
  inputs: tf.Tensor2D,
  targets: tf.Tensor2D,
  chunkPositions: number,
): tf.Tensor2D {
  const [rows, time] = inputs.shape;
  const positions = rows * time;
  if (
    !(chunkPositions > 0 && chunkPositions < positions && model.hidden && model.headWeight)
  ) {
    return targetLogProb(model.logits(inputs), targets);
  }
  const hidden = model.hidden(inputs);
  const width = hidden.shape[2];
  const h = tf.reshape(hidden, [positions, width]);
  const { w, transposed } = headOf(model);
  const vocab = w.shape[transposed ? 0 : 1];
  const flat = tf.reshape(targets, [positions]);
  const parts: tf.Tensor[] = [];
  for (let start = 0; start < positions; start += chunkPositions) {
    const n = Math.min(chunkPositions, positions - start);
    parts.push(tf.tidy(() =>
      tf.reshape(
        targetLogProb(
          tf.reshape(headProduct(tf.slice(h, [start, 0], [n, width]), w, transposed), [
            1,
            n,
            vocab,
          ]) as tf.Tensor3D,
          tf.reshape(tf.slice(flat, [start], [n]), [1, n]) as tf.Tensor2D,
        ),
        [n],
      )
    ));
  }
  return tf.reshape(tf.concat(parts, 0), [rows, time]) as tf.Tensor2D;
}
