/**
 * Two training steps of the bench workload's model (one with neg-log-prob at a clip of 2, one with
 * neg-prob), for tests that compare a backend's or kernel's step with a reference: the losses,
 * gradient norms and every weight after the steps.
 *
 * @module
 */
import { randomBatch, sizes, type SizeSpec, type Trainer, trainStep } from "../bench/workload.ts";
import type { Objective } from "../core/plugin.ts";
import { negLogProb } from "../objectives/neg_log_prob.ts";
import { negProb } from "../objectives/neg_prob.ts";

/** A small reference-shaped model: vocabulary 64, d_model 32, MLP 64, 4 × 12 tokens. */
export const smallSize: SizeSpec = {
  ...sizes.reference,
  vocabSize: 64,
  dModel: 32,
  dMlp: 64,
  batch: 4,
  time: 12,
};

/** What {@link twoSteps} returns. */
export interface TwoSteps {
  /** First loss, second loss, first gradient norm, second gradient norm. */
  readonly losses: ReadonlyArray<number>;
  /** Every weight after both steps. */
  readonly weights: ReadonlyArray<Float32Array>;
  /** Whether every variable kept its data id (updated in place). */
  readonly inPlace: boolean;
}

/**
 * Runs the two steps on one batch drawn with seed 5, then disposes the trainer.
 *
 * @param trainer A trainer (e.g. `makeTrainer(3, smallSize)`); disposed here.
 * @param size Its size (for the batch).
 * @returns Losses, weights and whether the update was in place.
 */
export function twoSteps(trainer: Trainer, size: SizeSpec = smallSize): TwoSteps {
  try {
    const batch = randomBatch(5, size);
    const ids = trainer.model.variables.map((v) => v.dataId);
    const first = trainStep(trainer, negLogProb as Objective<unknown>, batch, 2);
    const second = trainStep(trainer, negProb as Objective<unknown>, batch);
    return {
      losses: [first.loss, second.loss, first.gradNorm, second.gradNorm],
      weights: trainer.model.variables.map((v) => v.dataSync() as Float32Array),
      inPlace: trainer.model.variables.every((v, i) => v.dataId === ids[i]),
    };
  } finally {
    trainer.dispose();
  }
}
