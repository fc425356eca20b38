/**
 * The workloads of the benchmark (issues 7 and 13): GPT-2-shaped decoders (learned positions,
 * pre-LayerNorm, tanh GELU) at four sizes, fp32:
 *
 * | size          | vocab  | d    | layers | heads | MLP  | head   | tokens per step |
 * | ------------- | ------ | ---- | ------ | ----- | ---- | ------ | --------------- |
 * | `reference`   | 512    | 128  | 2      | 4     | 512  | untied | 16 × 64         |
 * | `27m`         | 8192   | 512  | 6      | 8     | 2048 | untied | 8 × 256         |
 * | `gpt2-small`  | 50257  | 768  | 12     | 12    | 3072 | tied   | 8 × 256         |
 * | `gpt2-medium` | 50257  | 1024 | 24     | 16    | 4096 | tied   | 4 × 256         |
 *
 * One optimizer step is what `core/train.ts` does: forward, the objective through the one
 * reduction of `core/loss.ts`, backward, clipping at 1.0 and the AdamW update; with micro-batches
 * the gradients of each micro-batch's token mean are summed and divided by their number (the mean
 * over micro-batches, the official code's semantics) before the one AdamW update.
 * `bench/torch_reference.py` is the same workload in PyTorch.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { tinyConfig, Transformer, type TransformerConfig } from "../backbones/transformer.ts";
import { batchLoss, defaultChunkPositions } from "../core/batch_loss.ts";
import { accumulate } from "../core/backend/fused_kernels.ts";
import { AdamW } from "../core/optimizer.ts";
import type { Objective, Recompute, Tokenizer } from "../core/plugin.ts";
import { uniform } from "../backbones/random.ts";

/** The names of the workload sizes. */
export const sizeNames: ReadonlyArray<BenchSize> = [
  "reference",
  "27m",
  "gpt2-small",
  "gpt2-medium",
];

/** A workload size's name. */
export type BenchSize = "reference" | "27m" | "gpt2-small" | "gpt2-medium";

/** The shape of one workload size. */
export interface SizeSpec {
  /** The name. */
  readonly name: BenchSize;
  /** Vocabulary. */
  readonly vocabSize: number;
  /** Model width. */
  readonly dModel: number;
  /** Attention heads. */
  readonly nHeads: number;
  /** Blocks. */
  readonly nLayers: number;
  /** MLP width. */
  readonly dMlp: number;
  /** Positions table. */
  readonly contextLength: number;
  /** Whether the output head is the token embedding (GPT-2) or its own matrix. */
  readonly tied: boolean;
  /** Sequences per optimizer step. */
  readonly batch: number;
  /** Tokens per sequence. */
  readonly time: number;
  /** Sequences per micro-batch by default (the whole batch: no accumulation). */
  readonly microBatch: number;
  /** Timed steps per objective by default. */
  readonly steps: number;
  /** Warm-up steps by default. */
  readonly warmup: number;
}

/** Every workload size. */
export const sizes: Readonly<Record<BenchSize, SizeSpec>> = {
  reference: {
    name: "reference",
    vocabSize: 512,
    dModel: 128,
    nHeads: 4,
    nLayers: 2,
    dMlp: 512,
    contextLength: 128,
    tied: false,
    batch: 16,
    time: 64,
    microBatch: 16,
    steps: 20,
    warmup: 3,
  },
  "27m": {
    name: "27m",
    vocabSize: 8192,
    dModel: 512,
    nHeads: 8,
    nLayers: 6,
    dMlp: 2048,
    contextLength: 256,
    tied: false,
    batch: 8,
    time: 256,
    microBatch: 8,
    steps: 4,
    warmup: 1,
  },
  "gpt2-small": {
    name: "gpt2-small",
    vocabSize: 50257,
    dModel: 768,
    nHeads: 12,
    nLayers: 12,
    dMlp: 3072,
    contextLength: 1024,
    tied: true,
    batch: 8,
    time: 256,
    microBatch: 4,
    steps: 3,
    warmup: 1,
  },
  "gpt2-medium": {
    name: "gpt2-medium",
    vocabSize: 50257,
    dModel: 1024,
    nHeads: 16,
    nLayers: 24,
    dMlp: 4096,
    contextLength: 1024,
    tied: true,
    batch: 4,
    time: 256,
    microBatch: 2,
    steps: 3,
    warmup: 1,
  },
};

/** The fixed sizes of the reference workload (and its generation benchmark). */
export const reference = {
  vocabSize: 512,
  dModel: 128,
  nHeads: 4,
  nLayers: 2,
  dMlp: 512,
  batch: 16,
  time: 64,
  /** Positions table: long enough for generation (prompt 32 + 64 new). */
  contextLength: 128,
  learningRate: 3e-4,
  generateBatch: 8,
  promptLength: 32,
  newTokens: 64,
} as const;

/** A tokenizer over plain ids whose end-of-sequence id never occurs, so every row runs to the end. */
export const benchTokenizer: Tokenizer = {
  vocabSize: reference.vocabSize,
  eosId: -1,
  padId: 0,
  encode: (text: string) => text.split(" ").filter((s) => s !== "").map(Number),
  decode: (ids: ReadonlyArray<number>) => ids.join(" "),
};

/**
 * A size's model config.
 *
 * @param size The size (default `reference`).
 * @returns The GPT-2-shaped config.
 */
export function sizeConfig(size: SizeSpec = sizes.reference): TransformerConfig {
  return tinyConfig("gpt2", size.vocabSize, {
    dModel: size.dModel,
    nHeads: size.nHeads,
    nKvHeads: size.nHeads,
    nLayers: size.nLayers,
    dMlp: size.dMlp,
    contextLength: size.contextLength,
    tieEmbeddings: size.tied,
    activation: "gelu_new",
  });
}

/**
 * The reference model's config.
 *
 * @returns The GPT-2-shaped config of the reference workload.
 */
export function referenceConfig(): TransformerConfig {
  return sizeConfig(sizes.reference);
}

/**
 * Trainable parameters of a size (weights only; tied heads counted once).
 *
 * @param size The size.
 * @returns The count.
 */
export function paramCount(size: SizeSpec): number {
  const { vocabSize: v, dModel: d, nLayers: l, dMlp: m, contextLength: c } = size;
  const block = 2 * d + (d * 3 * d + 3 * d) + (d * d + d) + 2 * d + (d * m + m) + (m * d + d);
  return v * d + c * d + l * block + 2 * d + (size.tied ? 0 : d * v);
}

/**
 * A rough peak of one micro-batch's activations and temporaries in tfjs, bytes, for the backend
 * choice: per layer the saved activations and gradients of a GPT-2 block (about 32·d + 4·MLP
 * floats per token plus 6 attention maps), and the loss over the vocabulary (logits, the one-hot
 * target, their products and gradients: about 8 floats per token and vocabulary entry). It errs
 * high: at `27m` (8 × 256 tokens) it says 2.3 GiB of activations.
 *
 * @param size The size.
 * @param microBatch Sequences per micro-batch.
 * @returns Bytes.
 */
export function activationBytes(size: SizeSpec, microBatch: number): number {
  const tokens = microBatch * size.time;
  const perLayer = tokens * (32 * size.dModel + 4 * size.dMlp) +
    6 * microBatch * size.nHeads * size.time * size.time;
  return 4 * (size.nLayers * perLayer + 8 * tokens * size.vocabSize);
}

/** A batch of the workload: random ids, every token supervised. */
export interface BenchBatch {
  /** Sequences. */
  readonly rows: number;
  /** Tokens per sequence. */
  readonly time: number;
  /** `[rows·time]` input ids. */
  readonly inputs: Int32Array;
  /** `[rows·time]` target ids (the inputs shifted by one). */
  readonly targets: Int32Array;
}

/**
 * A deterministic batch of random ids.
 *
 * @param seed The seed.
 * @param size The size (default `reference`).
 * @returns Inputs and next-token targets.
 */
export function randomBatch(seed: number, size: SizeSpec = sizes.reference): BenchBatch {
  const next = uniform(seed);
  const { batch, time, vocabSize } = size;
  const row = new Int32Array(batch * (time + 1));
  for (let i = 0; i < row.length; i++) row[i] = Math.floor(next() * vocabSize);
  const inputs = new Int32Array(batch * time);
  const targets = new Int32Array(batch * time);
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < time; t++) {
      inputs[b * time + t] = row[b * (time + 1) + t]!;
      targets[b * time + t] = row[b * (time + 1) + t + 1]!;
    }
  }
  return { rows: batch, time, inputs, targets };
}

/** A model with its optimizer, ready to step. */
export interface Trainer {
  /** The model. */
  readonly model: Transformer;
  /** AdamW with clipping at 1.0. */
  readonly optimizer: AdamW;
  /** Frees both. */
  dispose(): void;
}

/**
 * A seeded model of a size and its optimizer (AdamW β 0.9/0.95, weight decay 0.01, clip 1).
 *
 * @param seed Seed of the initial weights.
 * @param size The size (default `reference`).
 * @returns The trainer.
 */
export function makeTrainer(seed = 0, size: SizeSpec = sizes.reference): Trainer {
  const model = new Transformer(sizeConfig(size), {
    tokenizer: { ...benchTokenizer, vocabSize: size.vocabSize },
    seed,
  });
  const optimizer = new AdamW(model.variables, {
    beta1: 0.9,
    beta2: 0.95,
    weightDecay: 0.01,
    clipNorm: 1,
  });
  return {
    model,
    optimizer,
    dispose: () => {
      optimizer.dispose();
      model.dispose();
    },
  };
}

/**
 * One optimizer step, as `core/train.ts` runs it: per micro-batch the forward pass, the
 * objective's token mean (core/batch_loss.ts: the LM head and loss in chunks past 128 MiB of
 * logits) and its gradients; the gradients summed over micro-batches and divided
 * by their number; clipping and AdamW. Reads the loss back, so the step has finished when it
 * returns.
 *
 * @param trainer Model and optimizer.
 * @param objective The objective (`neg-log-prob`, `neg-prob`, …).
 * @param batch The batch.
 * @param microBatch Sequences per micro-batch (default the whole batch); must divide the batch.
 * @param recompute Recompute each block's activations in the backward pass.
 * @returns The loss (mean over micro-batches) and the gradient norm before clipping.
 * @throws RangeError when `microBatch` does not divide the batch.
 */
export function trainStep(
  trainer: Trainer,
  objective: Objective<unknown>,
  batch: BenchBatch,
  microBatch: number = batch.rows,
  recompute: Recompute = false,
): { loss: number; gradNorm: number } {
  const { rows, time } = batch;
  if (!Number.isInteger(microBatch) || microBatch < 1 || rows % microBatch !== 0) {
    throw new RangeError(`micro-batch ${microBatch} does not divide the batch of ${rows}`);
  }
  const parts = rows / microBatch;
  const variables = [...trainer.model.variables];
  let sums: tf.Tensor[] | undefined;
  let loss = 0;
  for (let p = 0; p < parts; p++) {
    const from = p * microBatch * time, to = from + microBatch * time;
    const { value, grads } = tf.tidy(() => {
      const inputs = tf.tensor2d(batch.inputs.subarray(from, to), [microBatch, time], "int32");
      const targets = tf.tensor2d(batch.targets.subarray(from, to), [microBatch, time], "int32");
      const mask = tf.ones([microBatch, time], "float32") as tf.Tensor2D;
      // Each micro-batch's token mean over their number: the summed gradients are the mean's.
      return tf.variableGrads(() => {
        const mean = batchLoss(trainer.model, { inputs, targets, mask }, {
          objective,
          params: {},
          seed: 0,
          chunkPositions: defaultChunkPositions(microBatch * time, trainer.model.vocabSize),
          recompute,
        }).loss;
        return parts === 1 ? mean : tf.div(mean, parts) as tf.Scalar;
      }, variables);
    });
    loss += value.dataSync()[0]!;
    value.dispose();
    const list = variables.map((v) => grads[v.name]!);
    sums = sums === undefined ? list : sums.map((s, i) => accumulate(s, list[i]!));
  }
  const total = sums!;
  const report = trainer.optimizer.apply(total, reference.learningRate);
  tf.dispose(total);
  return { loss, gradNorm: report.gradNorm };
}

/**
 * Deterministic prompts of the generation benchmark.
 *
 * @param seed The seed.
 * @returns `generateBatch` prompts of `promptLength` ids.
 */
export function randomPrompts(seed: number): number[][] {
  const next = uniform(seed);
  return Array.from(
    { length: reference.generateBatch },
    () =>
      Array.from(
        { length: reference.promptLength },
        () => Math.floor(next() * reference.vocabSize),
      ),
  );
}

/**
 * Greedy generation of the workload (batch 8, prompt 32, 64 new tokens).
 *
 * @param model The model.
 * @param prompts The prompts.
 * @param useCache With the key/value cache (the default) or recomputing the prefix.
 * @returns New tokens produced.
 */
export async function generateTokens(
  model: Transformer,
  prompts: ReadonlyArray<ReadonlyArray<number>>,
  useCache: boolean,
): Promise<number> {
  const out = await model.generate(prompts, {
    maxNewTokens: reference.newTokens,
    temperature: 0,
    useCache,
  });
  return out.reduce((n, g) => n + g.tokenIds.length, 0);
}
