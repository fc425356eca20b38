/**
 * The reference workload of the benchmark (issue 7): a GPT-2-shaped decoder (learned positions,
 * pre-LayerNorm, tanh GELU, untied head), vocabulary 512, d_model 128, 4 heads, 2 layers, MLP
 * 512, batch 16 × sequence 64, fp32. One step is what `core/train.ts` does: forward, the
 * objective through the one reduction of `core/loss.ts`, backward, clipping at 1.0 and the AdamW
 * update. `bench/torch_reference.py` is the same workload in PyTorch.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { tinyConfig, Transformer, type TransformerConfig } from "../backbones/transformer.ts";
import { makeTokenView, reduce } from "../core/loss.ts";
import { AdamW } from "../core/optimizer.ts";
import type { Objective, Tokenizer } from "../core/plugin.ts";
import { uniform } from "../backbones/random.ts";

/** The fixed sizes of the reference workload. */
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
 * The reference model's config.
 *
 * @returns The GPT-2-shaped config of the workload.
 */
export function referenceConfig(): TransformerConfig {
  return tinyConfig("gpt2", reference.vocabSize, {
    dModel: reference.dModel,
    nHeads: reference.nHeads,
    nKvHeads: reference.nHeads,
    nLayers: reference.nLayers,
    dMlp: reference.dMlp,
    contextLength: reference.contextLength,
    activation: "gelu_new",
  });
}

/** A batch of the workload: random ids, every token supervised. */
export interface BenchBatch {
  /** `[batch·time]` input ids. */
  readonly inputs: Int32Array;
  /** `[batch·time]` target ids (the inputs shifted by one). */
  readonly targets: Int32Array;
}

/**
 * A deterministic batch of random ids.
 *
 * @param seed The seed.
 * @returns Inputs and next-token targets.
 */
export function randomBatch(seed: number): BenchBatch {
  const next = uniform(seed);
  const { batch, time, vocabSize } = reference;
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
  return { inputs, targets };
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
 * The reference model (seeded) and its optimizer (AdamW β 0.9/0.95, weight decay 0.01, clip 1).
 *
 * @param seed Seed of the initial weights.
 * @returns The trainer.
 */
export function makeTrainer(seed = 0): Trainer {
  const model = new Transformer(referenceConfig(), { tokenizer: benchTokenizer, seed });
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
 * One training step, as `core/train.ts` runs it: forward, the objective's token mean, gradients,
 * clipping and AdamW. Reads the loss back, so the step has finished when it returns.
 *
 * @param trainer Model and optimizer.
 * @param objective The objective (`neg-log-prob`, `neg-prob`, …).
 * @param batch The batch.
 * @returns The loss and the gradient norm before clipping.
 */
export function trainStep(
  trainer: Trainer,
  objective: Objective<unknown>,
  batch: BenchBatch,
): { loss: number; gradNorm: number } {
  const { batch: rows, time } = reference;
  return tf.tidy(() => {
    const inputs = tf.tensor2d(batch.inputs, [rows, time], "int32");
    const targets = tf.tensor2d(batch.targets, [rows, time], "int32");
    const mask = tf.ones([rows, time], "float32") as tf.Tensor2D;
    const variables = [...trainer.model.variables];
    const { value, grads } = tf.variableGrads(() => {
      const logits = trainer.model.logits(inputs);
      const view = makeTokenView({ logits, targets, mask }, objective.needs ?? {});
      return reduce(objective, {}, view).loss;
    }, variables);
    const report = trainer.optimizer.apply(
      variables.map((v) => grads[v.name]!),
      reference.learningRate,
    );
    return { loss: value.dataSync()[0]!, gradNorm: report.gradNorm };
  });
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
