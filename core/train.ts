/**
 * The SFT loop, after the paper's recipe (§4.1): AdamW (β 0.9/0.95, weight decay 0.01), cosine
 * schedule with 10% warm-up, gradient clipping at 1.0, a step with a non-finite gradient norm
 * skipped and counted (a run that skips more than `maxSkippedShare` of its steps stops with an
 * error rather than report a broken model), the same learning rate and data order for every objective, prompt tokens
 * masked out of the loss. Each step runs inside `tf.tidy`; the tfjs tensor count is the same after
 * every step. A running cell checkpoints its weights and optimizer state so that a killed run
 * resumes where it stopped and ends with the same numbers.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Effect } from "effect";
import { CheckpointError, OutputError, PluginError } from "./errors.ts";
import { accumulate } from "./backend/fused_kernels.ts";
import { batchLoss, defaultChunkPositions } from "./batch_loss.ts";
import { denominatorEpsilon } from "./loss.ts";
import { AdamW, cosineLearningRate } from "./optimizer.ts";
import type { LanguageModel, Objective, Recompute } from "./plugin.ts";
import { mixSeed, shuffled } from "./random.ts";
import { type EncodedPair, makeBatch } from "./sft_batches.ts";
import { loadState, saveState } from "./state_file.ts";

/** The recipe's settings, all given. */
export interface TrainSettings {
  /** Optimizer steps. */
  readonly steps: number;
  /** Sequences per step. */
  readonly batchSize: number;
  /** Peak learning rate. */
  readonly learningRate: number;
  /** Warm-up share. */
  readonly warmupRatio: number;
  /** Decoupled weight decay. */
  readonly weightDecay: number;
  /** AdamW β1. */
  readonly beta1: number;
  /** AdamW β2. */
  readonly beta2: number;
  /** Gradient-norm clip. */
  readonly clipNorm: number;
  /** Steps between checkpoints (0: never). */
  readonly checkpointEvery: number;
  /**
   * Most share of the steps that may be skipped for a non-finite loss or gradient before the run
   * stops with an error. @default 0.1
   */
  readonly maxSkippedShare?: number;
  /**
   * Sequences per forward/backward pass: a step of `batchSize` sequences runs as
   * ⌈batchSize / microBatchSize⌉ micro-batches whose gradients are accumulated before one
   * optimizer step (gradient accumulation). @default batchSize (no accumulation)
   */
  readonly microBatchSize?: number;
  /**
   * How micro-batch losses combine: `micro-batch-mean`, the mean over micro-batches of each
   * micro-batch's token mean (the official code's semantics, paper.md §2.3), or `token-mean`, one
   * token mean over the whole step (equal to the unaccumulated step for any split).
   * @default "micro-batch-mean"
   */
  readonly lossAggregation?: LossAggregation;
  /**
   * Positions per chunk of the LM head and loss (core/batch_loss.ts); 0 never chunks.
   * @default {@link defaultChunkPositions}
   */
  readonly lossChunkPositions?: number;
  /**
   * Recompute block activations in the backward pass (gradient checkpointing): every block
   * (`true`: a step holds one block's activations instead of every block's, for about a third
   * more compute), none, or the first n blocks (memory and compute in between). @default false
   */
  readonly recompute?: Recompute;
}

/** How the losses of a step's micro-batches combine (see {@link TrainSettings}). */
export type LossAggregation = "micro-batch-mean" | "token-mean";

/** The default of {@link TrainSettings.maxSkippedShare}. */
export const defaultMaxSkippedShare = 0.1;

/** The paper's recipe. */
export const paperRecipe: TrainSettings = {
  steps: 0,
  batchSize: 32,
  learningRate: 5e-4,
  warmupRatio: 0.1,
  weightDecay: 0.01,
  beta1: 0.9,
  beta2: 0.95,
  clipNorm: 1,
  checkpointEvery: 50,
};

/** What one step reports (written to metrics.jsonl). */
export interface StepMetrics {
  /** 1-based step. */
  readonly step: number;
  /** The objective's reduced loss. */
  readonly loss: number;
  /** Plain NLL over supervised tokens. */
  readonly nll: number;
  /** Mean p of supervised targets. */
  readonly meanP: number;
  /** Share of supervised tokens the objective's gate dropped. */
  readonly maskedShare: number;
  /** Learning rate of the step. */
  readonly learningRate: number;
  /** Gradient norm before clipping. */
  readonly gradNorm: number;
  /** Whether the step was skipped (non-finite loss or gradient norm). */
  readonly skipped: boolean;
  /** Supervised tokens per second of this step. */
  readonly tokensPerSecond: number;
}

/** One SFT run. */
export interface TrainJob {
  /** The model to fine-tune in place. */
  readonly model: LanguageModel;
  /** The objective. */
  readonly objective: Objective<unknown>;
  /** Its decoded (and resolved) params. */
  readonly params: unknown;
  /** The tokenized SFT pairs. */
  readonly pairs: ReadonlyArray<EncodedPair>;
  /** Seed of the data order. */
  readonly seed: number;
  /** The recipe. */
  readonly settings: TrainSettings;
  /** The frozen base model, for objectives that need reference logits. */
  readonly reference?: LanguageModel;
  /** A file for the running checkpoint; resumed from if it exists. */
  readonly checkpointPath?: string;
  /** Called after every step. */
  onStep(metrics: StepMetrics): void;
}

/** What a finished run reports. */
export interface TrainSummary {
  /** Steps run (including skipped). */
  readonly steps: number;
  /** Steps skipped for a non-finite loss or gradient norm. */
  readonly skippedSteps: number;
  /** The step it resumed after (0 for a fresh run). */
  readonly resumedFrom: number;
}

/**
 * The pairs of step `step` (0-based): consecutive slices of seed-shuffled epochs, so that the
 * order depends only on the seed and the step (the same for every objective, and on resume).
 *
 * @param pairs All pairs.
 * @param batchSize Rows per batch.
 * @param seed Data-order seed.
 * @param step The step.
 * @returns The rows of that step.
 */
export function batchPairs<T>(
  pairs: ReadonlyArray<T>,
  batchSize: number,
  seed: number,
  step: number,
): T[] {
  const out: T[] = [];
  let index = step * batchSize;
  let epoch = -1;
  let order: T[] = [];
  while (out.length < batchSize) {
    const e = Math.floor(index / pairs.length);
    if (e !== epoch) {
      epoch = e;
      order = shuffled(pairs, mixSeed(seed, epoch));
    }
    out.push(order[index % pairs.length]!);
    index += 1;
  }
  return out;
}

function trainStep(
  job: TrainJob,
  optimizer: AdamW,
  step: number,
): StepMetrics {
  const started = performance.now();
  const settings = job.settings;
  const pairs = batchPairs(job.pairs, settings.batchSize, job.seed, step);
  const microSize = Math.max(1, Math.min(settings.microBatchSize ?? pairs.length, pairs.length));
  const micro: ReturnType<typeof makeBatch>[] = [];
  for (let k = 0; k < pairs.length; k += microSize) {
    micro.push(makeBatch(pairs.slice(k, k + microSize), job.model.tokenizer.padId));
  }
  const tokenMean = (settings.lossAggregation ?? "micro-batch-mean") === "token-mean";
  const learningRate = cosineLearningRate(step, {
    peak: settings.learningRate,
    totalSteps: settings.steps,
    warmupRatio: settings.warmupRatio,
  });
  let values = { loss: NaN, nll: NaN, meanP: NaN, maskedShare: NaN };
  let report = { gradNorm: NaN, skipped: true };
  let accumulated: tf.Tensor[] | undefined;
  const diagnostics: tf.Tensor[] = [];
  try {
    for (const batch of micro) {
      const { grads, stats } = microStep(job, batch, step, tokenMean ? 1 : micro.length, tokenMean);
      diagnostics.push(stats);
      if (accumulated === undefined) accumulated = grads;
      else accumulated = accumulated.map((a, k) => accumulate(a, grads[k]!));
    }
    // One device read per step: [loss, nll, meanP, sum, kept, tokens, maskedShare] per
    // micro-batch.
    const read = tf.tidy(() => tf.stack(diagnostics).dataSync() as Float32Array);
    const rows = Array.from({ length: micro.length }, (_, k) => read.subarray(7 * k, 7 * k + 7));
    const total = (column: number) => rows.reduce((a, r) => a + r[column]!, 0);
    const [sum, kept, tokens] = [total(3), total(4), total(5)];
    if (micro.length === 1) {
      const [loss, nll, meanP, , , , maskedShare] = rows[0]!;
      values = { loss: loss!, nll: nll!, meanP: meanP!, maskedShare: maskedShare! };
    } else {
      const weighted = (column: number) =>
        rows.reduce((a, r) => a + r[column]! * r[5]!, 0) / (tokens + denominatorEpsilon);
      values = {
        loss: tokenMean ? sum / (kept + denominatorEpsilon) : total(0) / micro.length,
        nll: weighted(1),
        meanP: weighted(2),
        maskedShare: (tokens - kept) / Math.max(tokens, 1),
      };
    }
    if (Number.isFinite(values.loss)) {
      const grads = tokenMean
        ? tf.tidy(() => accumulated!.map((g) => tf.div(g, kept + denominatorEpsilon)))
        : accumulated!;
      report = optimizer.apply(grads, learningRate);
      if (grads !== accumulated) tf.dispose(grads);
    }
  } catch (error) {
    _disposeStaleTape();
    throw error;
  } finally {
    tf.dispose([...(accumulated ?? []), ...diagnostics]);
  }
  const seconds = (performance.now() - started) / 1000;
  const tokens = micro.reduce((n, b) => n + b.mask.reduce((a, x) => a + x, 0), 0);
  return {
    step: step + 1,
    ...values,
    learningRate,
    gradNorm: report.gradNorm,
    skipped: report.skipped,
    tokensPerSecond: tokens / Math.max(seconds, 1e-9),
  };
}

/**
 * The gradients of one micro-batch: of its token-mean loss divided by `divisor`, or of its loss
 * sum (`token-mean` aggregation, scaled by the step's kept-token count afterwards), in the order
 * of the model's variables, and its statistics `[loss, nll, meanP, sum, kept, tokens,
 * maskedShare]`.
 */
function microStep(
  job: TrainJob,
  batch: ReturnType<typeof makeBatch>,
  step: number,
  divisor: number,
  tokenMean: boolean,
): { grads: tf.Tensor[]; stats: tf.Tensor } {
  return tf.tidy(() => {
    const tensors = {
      inputs: tf.tensor2d(batch.inputs, [batch.batch, batch.time], "int32"),
      targets: tf.tensor2d(batch.targets, [batch.batch, batch.time], "int32"),
      mask: tf.tensor2d(batch.mask, [batch.batch, batch.time], "float32"),
    };
    let stats: tf.Tensor | undefined;
    const { value, grads } = tf.variableGrads(() => {
      const reduced = batchLoss(job.model, tensors, {
        objective: job.objective,
        params: job.params,
        ...(job.reference ? { reference: job.reference } : {}),
        seed: mixSeed(job.seed, step, 17),
        chunkPositions: job.settings.lossChunkPositions ??
          defaultChunkPositions(batch.batch * batch.time, job.model.vocabSize),
        recompute: job.settings.recompute ?? false,
      });
      stats = tf.keep(
        tf.stack([
          reduced.loss,
          reduced.nll,
          reduced.meanP,
          reduced.sum,
          reduced.kept,
          reduced.tokens,
          reduced.maskedShare,
        ]),
      );
      if (tokenMean) return reduced.sum;
      return divisor === 1 ? reduced.loss : tf.div(reduced.loss, divisor) as tf.Scalar;
    }, [...job.model.variables]);
    value.dispose();
    return { grads: job.model.variables.map((v) => grads[v.name]!), stats: stats! };
  });
}

/**
 * After an exception inside `tf.variableGrads` (an objective that throws or returns a bad shape),
 * tfjs leaves the tensors it saved for the backward pass on its tape: `tidy` does not free kept
 * tensors. Frees them, so that a failing cell does not leak its activations.
 */
function _disposeStaleTape(): void {
  const state = (tf.engine() as unknown as {
    state?: { activeTape?: Array<{ saved?: tf.Tensor[] }> | null; gradientDepth?: number };
  }).state;
  if (!state || state.gradientDepth !== 0 || !Array.isArray(state.activeTape)) return;
  for (const node of state.activeTape) {
    for (const t of node.saved ?? []) if (!t.isDisposed) t.dispose();
  }
  state.activeTape = null;
}

async function saveCheckpoint(
  path: string,
  job: TrainJob,
  optimizer: AdamW,
  step: number,
  skipped: number,
): Promise<void> {
  const state = optimizer.state();
  try {
    await saveState(path, [
      ...job.model.variables.map((v, i) => [`w${i}`, v] as const),
      ...state.m.map((m, i) => [`m${i}`, m] as const),
      ...state.v.map((v, i) => [`v${i}`, v] as const),
    ], {
      step: String(step),
      optimizerStep: String(state.step),
      skipped: String(skipped),
    });
  } finally {
    for (const t of [...state.m, ...state.v]) t.dispose();
  }
}

async function restoreCheckpoint(
  path: string,
  job: TrainJob,
  optimizer: AdamW,
): Promise<{ step: number; skipped: number }> {
  const { tensors, metadata } = await loadState(path);
  try {
    const get = (name: string, like: tf.Variable): tf.Tensor => {
      const t = tensors.get(name);
      if (t === undefined || t.shape.join(",") !== like.shape.join(",")) {
        throw new CheckpointError({
          message: `Cannot resume from ${path}: tensor ${name} is ${
            t === undefined ? "missing" : `of shape ${JSON.stringify(t.shape)}`
          }, expected ${JSON.stringify(like.shape)} (a checkpoint of another model)`,
          file: path,
        });
      }
      return t;
    };
    const variables = job.model.variables;
    const w = variables.map((v, i) => get(`w${i}`, v));
    const m = variables.map((v, i) => get(`m${i}`, v));
    const v = variables.map((x, i) => get(`v${i}`, x));
    const step = Number(metadata.step);
    const skipped = Number(metadata.skipped);
    if (!Number.isInteger(step) || step < 0 || !Number.isInteger(skipped) || skipped < 0) {
      throw new CheckpointError({
        message: `Cannot resume from ${path}: bad step ${JSON.stringify(metadata.step)}`,
        file: path,
      });
    }
    variables.forEach((variable, i) => variable.assign(w[i]!));
    optimizer.restore({ step: Number(metadata.optimizerStep), m, v });
    return { step, skipped };
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

/** Consecutive non-finite losses after which the objective is judged broken. */
const maxNonFiniteRun = 3;

/** The errors a training run can end with. */
export type TrainError = PluginError | OutputError | CheckpointError;

function asTyped(error: unknown): OutputError | CheckpointError {
  if (error instanceof OutputError || error instanceof CheckpointError) return error;
  throw error; // a defect of probsft: not a user error
}

/**
 * Runs SFT as an Effect: one interruptible step at a time, checkpointing every
 * `checkpointEvery` steps. An objective whose loss stays non-finite, or a run that skips more
 * than `maxSkippedShare` of its steps for a non-finite loss or gradient, fails with a
 * PluginError naming the objective; a checkpoint that cannot be written is an OutputError, one
 * that cannot be resumed from a CheckpointError.
 *
 * @param job The run.
 * @returns The summary.
 */
export function train(job: TrainJob): Effect.Effect<TrainSummary, TrainError> {
  const acquire = Effect.sync(() =>
    new AdamW(job.model.variables, {
      beta1: job.settings.beta1,
      beta2: job.settings.beta2,
      weightDecay: job.settings.weightDecay,
      clipNorm: job.settings.clipNorm,
    })
  );
  const release = (optimizer: AdamW) => Effect.sync(() => optimizer.dispose());
  return Effect.acquireUseRelease(acquire, (optimizer) => runSteps(job, optimizer), release);
}

function runSteps(job: TrainJob, optimizer: AdamW): Effect.Effect<TrainSummary, TrainError> {
  return Effect.gen(function* () {
    let start = 0;
    let skipped = 0;
    const maxShare = job.settings.maxSkippedShare ?? defaultMaxSkippedShare;
    const checkpoint = job.checkpointPath;
    if (checkpoint && (yield* Effect.promise(() => exists(checkpoint)))) {
      const restored = yield* Effect.tryPromise({
        try: () => restoreCheckpoint(checkpoint, job, optimizer),
        catch: asTyped,
      });
      start = restored.step;
      skipped = restored.skipped;
    }
    let nonFinite = 0;
    for (let step = start; step < job.settings.steps; step++) {
      const metrics = yield* Effect.try({
        try: () => trainStep(job, optimizer, step),
        catch: (error) =>
          new PluginError({
            message: `Objective "${job.objective.id}" failed at step ${step + 1}: ${
              String((error as Error)?.message ?? error).split("\n")[0]
            }`,
            plugin: job.objective.id,
          }),
      });
      if (metrics.skipped) skipped += 1;
      nonFinite = Number.isFinite(metrics.loss) ? 0 : nonFinite + 1;
      yield* Effect.try({ try: () => job.onStep(metrics), catch: asTyped });
      if (nonFinite >= maxNonFiniteRun) {
        return yield* new PluginError({
          message:
            `Objective "${job.objective.id}" gave a non-finite loss (${metrics.loss}) ${nonFinite} steps in a row, at step ${metrics.step}`,
          plugin: job.objective.id,
        });
      }
      if (skipped > maxShare * job.settings.steps) {
        return yield* new PluginError({
          message: `Training stopped at step ${metrics.step}: ${skipped} of ` +
            `${job.settings.steps} steps skipped for a non-finite loss or gradient, more than ` +
            `train.maxSkippedShare (${maxShare}); the model would be broken (objective ` +
            `"${job.objective.id}"; try a lower train.learningRate)`,
          plugin: job.objective.id,
        });
      }
      const every = job.settings.checkpointEvery;
      if (checkpoint && every > 0 && (step + 1) % every === 0) {
        yield* Effect.tryPromise({
          try: () => saveCheckpoint(checkpoint, job, optimizer, step + 1, skipped),
          catch: asTyped,
        });
      }
      yield* Effect.yieldNow;
    }
    return { steps: job.settings.steps, skippedSteps: skipped, resumedFrom: start };
  });
}
