/**
 * A memory plan before step 1: what a training run will hold at its peak — weights, gradients
 * (twice while micro-batches accumulate), AdamW's two moments, the activations autodiff keeps for
 * one micro-batch, and the logits of one loss chunk — against what the tensor backend can hold
 * (the wasm heap's 4 GiB ceiling, the machine's available memory for the `cpu` backends). A run
 * that cannot fit stops before any work with one line naming the settings to lower.
 *
 * The activation figure comes from the model ({@link LanguageModel.activationBytes}); a model
 * that gives none is planned on its weights, optimizer and loss alone. Estimates, not
 * measurements: the check refuses what surely cannot fit and lets the rest run.
 *
 * @module
 */
import { defaultChunkPositions } from "./batch_loss.ts";
import { ConfigError } from "./errors.ts";
import type { Footprint, LanguageModel, Recompute } from "./plugin.ts";

export type { Footprint } from "./plugin.ts";

/** The figures of a plan, in bytes. */
export interface MemoryPlan {
  /** The trainable parameter count. */
  readonly parameters: number;
  /** float32 weights. */
  readonly weights: number;
  /** Gradients: one set, two while micro-batches accumulate. */
  readonly gradients: number;
  /** AdamW's first and second moments. */
  readonly optimizer: number;
  /** Activations of one micro-batch kept for the backward pass. */
  readonly activations: number;
  /** Logits of one loss chunk (or of the whole micro-batch when unchunked), with their gradient. */
  readonly lossChunk: number;
  /** The sum. */
  readonly total: number;
  /** What the backend can hold (Infinity when unknown). */
  readonly limit: number;
  /** The backend the limit is for. */
  readonly backend: string;
  /** Rows and positions of a micro-batch. */
  readonly microBatch: { readonly rows: number; readonly time: number };
  /** Positions per loss chunk (0: unchunked). */
  readonly chunkPositions: number;
  /** Which blocks recompute their activations (all, none or the first n). */
  readonly recompute: Recompute;
}

/**
 * The footprint of a built model.
 *
 * @param model The model.
 * @returns Its parameter count, vocabulary, context and activation estimate.
 */
export function footprintOf(model: LanguageModel): Footprint {
  return {
    parameters: model.variables.reduce((n, v) => n + v.size, 0),
    vocabSize: model.vocabSize,
    contextLength: model.contextLength,
    ...(model.activationBytes
      ? {
        activationBytes: (r: number, t: number, recompute?: Recompute) =>
          model.activationBytes!(r, t, recompute),
      }
      : {}),
  };
}

/** What a plan is made for. */
export interface PlanInput {
  /** Rows per micro-batch. */
  readonly rows: number;
  /** Longest sequence (positions). */
  readonly time: number;
  /** Whether micro-batches accumulate gradients (more than one per step). */
  readonly accumulating: boolean;
  /** Positions per loss chunk (0: unchunked). */
  readonly chunkPositions: number;
  /** The tensor backend's name. */
  readonly backend: string;
  /** Which blocks recompute their activations in the backward pass. */
  readonly recompute?: Recompute;
}

const gib = 1024 ** 3;

/** What the wasm heap can hold for tensors: its 4 GiB address space less 512 MiB of headroom. */
export const wasmLimitBytes: number = 4 * gib - 512 * 1024 ** 2;

/**
 * The bytes a backend can hold: `PROBSFT_MEMORY_LIMIT_MB` when set; the wasm heap's ceiling for
 * `wasm`; the machine's available memory less 1 GiB for the `cpu` backends; Infinity (unknown)
 * for GPU backends.
 *
 * @param backend The backend name.
 * @returns Bytes.
 */
export function backendLimitBytes(backend: string): number {
  const override = Number(Deno.env.get("PROBSFT_MEMORY_LIMIT_MB") ?? NaN);
  if (Number.isFinite(override) && override > 0) return override * 1024 ** 2;
  if (backend === "wasm") return wasmLimitBytes;
  if (backend.startsWith("cpu")) {
    try {
      return Math.max(Deno.systemMemoryInfo().available - gib, 0);
    } catch {
      return Infinity;
    }
  }
  return Infinity;
}

/** The settings of a training run that its memory plan reads (a cell's or a preset's `train`). */
export interface PlannedTraining {
  /** Sequences per optimizer step. */
  readonly batchSize: number;
  /** Sequences per micro-batch (the whole batch when unset). */
  readonly microBatchSize?: number;
  /** Positions per loss chunk (automatic when unset). */
  readonly lossChunkPositions?: number;
  /** Which blocks recompute their activations. */
  readonly recompute?: Recompute;
}

/**
 * The memory plan of a training run: micro-batches of `microBatchSize` rows (accumulated when
 * smaller than the batch) of `time` positions, the loss chunked as the training step chunks it.
 *
 * @param model The model's footprint.
 * @param train The run's batch, micro-batch, chunk and recomputation settings.
 * @param time Positions per row (the longest sequence).
 * @param backend The tensor backend's name.
 * @returns The plan.
 */
export function trainingPlan(
  model: Footprint,
  train: PlannedTraining,
  time: number,
  backend: string,
): MemoryPlan {
  const rows = Math.min(train.microBatchSize ?? train.batchSize, train.batchSize);
  return memoryPlan(model, {
    rows,
    time,
    accumulating: rows < train.batchSize,
    chunkPositions: train.lossChunkPositions ??
      defaultChunkPositions(rows * time, model.vocabSize),
    backend,
    recompute: train.recompute ?? false,
  });
}

/**
 * The memory plan of training a model (see the module documentation).
 *
 * @param model The model's footprint ({@link footprintOf} for a built one).
 * @param input Micro-batch shape, accumulation, chunking and backend.
 * @returns The plan.
 */
export function memoryPlan(model: Footprint, input: PlanInput): MemoryPlan {
  const parameters = model.parameters;
  const weights = parameters * 4;
  const gradients = weights * (input.accumulating ? 2 : 1);
  const optimizer = weights * 2;
  const activations = model.activationBytes?.(input.rows, input.time, input.recompute) ?? 0;
  const positions = input.chunkPositions > 0
    ? Math.min(input.chunkPositions, input.rows * input.time)
    : input.rows * input.time;
  // Logits, their softmax and their gradient (and the recomputed block in the backward pass).
  const lossChunk = positions * model.vocabSize * 4 * (input.chunkPositions > 0 ? 4 : 3);
  return {
    parameters,
    weights,
    gradients,
    optimizer,
    activations,
    lossChunk,
    total: weights + gradients + optimizer + activations + lossChunk,
    limit: backendLimitBytes(input.backend),
    backend: input.backend,
    microBatch: { rows: input.rows, time: input.time },
    chunkPositions: input.chunkPositions,
    recompute: input.recompute ?? false,
  };
}

const gb = (bytes: number): string => `${(bytes / gib).toFixed(2)} GiB`;

/**
 * A plan in one line: the total against the limit and each part.
 *
 * @param plan The plan.
 * @returns The line.
 */
export function describePlan(plan: MemoryPlan): string {
  const limit = Number.isFinite(plan.limit)
    ? `${gb(plan.limit)} on backend ${plan.backend}`
    : `an unknown limit on backend ${plan.backend}`;
  return `${gb(plan.total)} of ${limit}: weights ${gb(plan.weights)} (${
    (plan.parameters / 1e6).toFixed(1)
  }M parameters), gradients ${gb(plan.gradients)}, AdamW ${gb(plan.optimizer)}, activations ${
    gb(plan.activations)
  } (micro-batch ${plan.microBatch.rows} × ${plan.microBatch.time}${
    plan.recompute === true
      ? ", blocks recomputed"
      : plan.recompute
      ? `, first ${plan.recompute} blocks recomputed`
      : ""
  }), loss ${gb(plan.lossChunk)} (${
    plan.chunkPositions > 0 ? `chunks of ${plan.chunkPositions} positions` : "unchunked"
  })`;
}

/**
 * Refuses a plan that cannot fit, before any work, naming what to lower.
 *
 * @param plan The plan.
 * @param where The cell or run, for the message.
 * @returns Nothing when it fits.
 * @throws ConfigError (one line) when it does not.
 */
export function checkPlan(plan: MemoryPlan, where: string): void {
  if (plan.total <= plan.limit) return;
  const lower = [
    plan.microBatch.rows > 1 ? `train.microBatchSize (now ${plan.microBatch.rows})` : undefined,
    "the sequence length",
    plan.recompute === true ? undefined : "or set train.recompute true (or a number of blocks)",
    plan.lossChunk > plan.activations / 4
      ? `train.lossChunkPositions (now ${plan.chunkPositions || "unchunked"})`
      : undefined,
    plan.backend === "wasm" ? "or use --backend cpu-blas (no 4 GiB ceiling)" : undefined,
  ].filter((x) => x !== undefined);
  throw new ConfigError({
    message: `${where} cannot fit in memory before step 1: it needs ${describePlan(plan)}; lower ${
      lower.join(", ")
    }`,
    where,
  });
}
