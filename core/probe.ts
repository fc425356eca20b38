/**
 * The capability probe: how much the base model already knows the SFT targets. It measures the
 * paper's likelihood estimate (Eq. 5: the mean p over all target tokens), the percentile table of
 * p, and the share of tokens with p > 0.55 (Tab. 6), places the model on the capability
 * continuum, and recommends objectives by the paper's rule (§4.3, "Objective Selection Rollout").
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { defaultChunkPositions, targetLogProbs } from "./batch_loss.ts";
import type { BaseStatistics, LanguageModel } from "./plugin.ts";
import { type EncodedPair, makeBatch } from "./sft_batches.ts";

/** The percentiles the probe reports, as the paper's ablation table (§4.3). */
export const probePercentiles: ReadonlyArray<number> = [
  0,
  5,
  10,
  20,
  30,
  40,
  50,
  60,
  70,
  80,
  90,
  100,
];

/** Where a model sits on the capability continuum. */
export type Regime = "model-strong" | "intermediate" | "model-weak";

/** What the probe measures. */
export interface ProbeResult {
  /** Eq. 5: mean p over all supervised target tokens. */
  readonly meanP: number;
  /** p at each of {@link probePercentiles}, keyed by the percentile. */
  readonly percentiles: Readonly<Record<string, number>>;
  /** Share of target tokens with p > 0.55 (the paper's Tab. 6). */
  readonly shareAbove055: number;
  /** Number of target tokens measured. */
  readonly tokens: number;
  /** The continuum position. */
  readonly regime: Regime;
  /** The objectives the paper's rule recommends there. */
  readonly recommendation: ReadonlyArray<string>;
  /** Which figures the placement used, in words. */
  readonly reason: string;
}

/** Thresholds of the placement rule. */
export const regimeThresholds = {
  /** Mean p at or above which a model is model-strong (the paper's MS models: 0.76–0.81). */
  strongMeanP: 0.7,
  /** Share of p > 0.55 required as well (the theorem's assumption K ≥ 0.70). */
  strongShare: 0.7,
  /** Mean p at or below which a model is model-weak (the paper's MW models: 0.01–0.07). */
  weakMeanP: 0.1,
} as const;

/**
 * The sorted target-token probabilities of a model on SFT pairs (no gradient).
 *
 * @param model The model.
 * @param pairs The tokenized pairs.
 * @param batchSize Rows per forward pass.
 * @returns Ascending probabilities of every supervised target token.
 */
export function targetProbabilities(
  model: LanguageModel,
  pairs: ReadonlyArray<EncodedPair>,
  batchSize = 64,
): Float32Array {
  const out: number[] = [];
  for (let start = 0; start < pairs.length; start += batchSize) {
    const batch = makeBatch(pairs.slice(start, start + batchSize), model.tokenizer.padId);
    const p = tf.tidy(() => {
      const inputs = tf.tensor2d(batch.inputs, [batch.batch, batch.time], "int32");
      const targets = tf.tensor2d(batch.targets, [batch.batch, batch.time], "int32");
      const chunk = defaultChunkPositions(batch.batch * batch.time, model.vocabSize);
      return tf.exp(targetLogProbs(model, inputs, targets, chunk)).dataSync();
    });
    batch.mask.forEach((m, i) => {
      if (m > 0) out.push(p[i]!);
    });
  }
  return Float32Array.from(out).sort();
}

/**
 * The value at a percentile of sorted values (linear interpolation, as numpy's default).
 *
 * @param sorted Ascending values.
 * @param percent In [0, 100].
 * @returns The percentile.
 */
export function quantileOf(sorted: ArrayLike<number>, percent: number): number {
  if (sorted.length === 0) return NaN;
  const position = (percent / 100) * (sorted.length - 1);
  const low = Math.floor(position);
  const high = Math.min(low + 1, sorted.length - 1);
  return sorted[low]! + (sorted[high]! - sorted[low]!) * (position - low);
}

/**
 * Base statistics for percentile thresholds.
 *
 * @param sorted Ascending target probabilities.
 * @returns The quantile lookup.
 */
export function baseStatistics(sorted: ArrayLike<number>): BaseStatistics {
  return { quantile: (percent) => quantileOf(sorted, percent) };
}

/**
 * Places a model on the continuum from its probe figures and recommends objectives.
 *
 * @param meanP Eq. 5.
 * @param shareAbove055 Share of tokens with p > 0.55.
 * @returns Regime, recommendation and the reason.
 */
export function placeOnContinuum(
  meanP: number,
  shareAbove055: number,
): Pick<ProbeResult, "regime" | "recommendation" | "reason"> {
  const t = regimeThresholds;
  const figures = `mean p ${meanP.toFixed(3)}, share p>0.55 ${shareAbove055.toFixed(3)}`;
  if (meanP >= t.strongMeanP && shareAbove055 >= t.strongShare) {
    return {
      regime: "model-strong",
      recommendation: [
        "neg-prob",
        "general-family(alpha=10)",
        "thresholded-neg-log-prob(tau=0.2)",
      ],
      reason:
        `${figures}: mean p ≥ ${t.strongMeanP} and share ≥ ${t.strongShare}, so the prior is strong; prior-leaning objectives (−p, −p^10, thresholded NLL) are recommended`,
    };
  }
  if (meanP <= t.weakMeanP) {
    return {
      regime: "model-weak",
      recommendation: ["neg-log-prob"],
      reason:
        `${figures}: mean p ≤ ${t.weakMeanP}, so the model barely knows the targets; keep NLL`,
    };
  }
  return {
    regime: "intermediate",
    recommendation: ["neg-log-prob", "neg-prob"],
    reason:
      `${figures}: between the two ends; no objective dominates there, so run a small sweep (NLL vs −p), improve data, or try adaptive objectives`,
  };
}

/**
 * Runs the probe on tokenized SFT pairs.
 *
 * @param model The base model.
 * @param pairs The tokenized SFT pairs.
 * @param batchSize Rows per forward pass (the training micro-batch, so the probe never holds
 *   more than training does). @default 64
 * @returns Figures, placement and the sorted probabilities (for percentile thresholds).
 */
export function probe(
  model: LanguageModel,
  pairs: ReadonlyArray<EncodedPair>,
  batchSize = 64,
): { readonly result: ProbeResult; readonly sorted: Float32Array } {
  const sorted = targetProbabilities(model, pairs, batchSize);
  let sum = 0;
  let above = 0;
  for (const p of sorted) {
    sum += p;
    if (p > 0.55) above += 1;
  }
  const meanP = sorted.length === 0 ? NaN : sum / sorted.length;
  const shareAbove055 = sorted.length === 0 ? NaN : above / sorted.length;
  const percentiles: Record<string, number> = {};
  for (const q of probePercentiles) percentiles[String(q)] = quantileOf(sorted, q);
  return {
    result: {
      meanP,
      percentiles,
      shareAbove055,
      tokens: sorted.length,
      ...placeOnContinuum(meanP, shareAbove055),
    },
    sorted,
  };
}
