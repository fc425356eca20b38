/**
 * The capability probe: how much the base model already knows the SFT targets. It measures the
 * paper's likelihood estimate (Eq. 5: the mean p of the target tokens), the percentile table of
 * p, and the share of tokens with p > 0.55 (Tab. 6), places the model on the capability
 * continuum, and recommends objectives by the paper's rule (§4.3, "Objective Selection Rollout").
 *
 * Targets a domain marks as forced (`SftExample.forced`: separators, answer markers, the
 * end token, fixed by the format rather than by what the model knows) are reported apart and the
 * placement uses the rest; Eq. 5 over every target is reported as well. The probe reads every
 * SFT pair, or a uniform random sample of them with the standard error of its figures. The
 * placement says how far it sits from the nearest cut-off and flags knife-edge ones.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { defaultChunkPositions, targetLogProbs } from "./batch_loss.ts";
import type { BaseStatistics, LanguageModel } from "./plugin.ts";
import { makeRandom } from "./random.ts";
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

/** Figures of a set of target tokens. */
export interface TokenFigures {
  /** Number of target tokens. */
  readonly tokens: number;
  /** Their mean p (NaN for none). */
  readonly meanP: number;
  /** Their share with p > 0.55 (NaN for none). */
  readonly shareAbove055: number;
}

/** What the probe measures. */
export interface ProbeResult {
  /**
   * Eq. 5 on the targets the placement uses: the mean p of the supervised targets that are not
   * forced (of every supervised target when the domain marks none, or all of them).
   */
  readonly meanP: number;
  /** Standard error of {@link meanP} as an estimate of the whole SFT set's (0 when all read). */
  readonly meanPStandardError: number;
  /** Share of the placement's targets with p > 0.55 (the paper's Tab. 6). */
  readonly shareAbove055: number;
  /** Standard error of {@link shareAbove055} (0 when every pair is read). */
  readonly shareStandardError: number;
  /** p of the placement's targets at each of {@link probePercentiles}, keyed by the percentile. */
  readonly percentiles: Readonly<Record<string, number>>;
  /** Number of the placement's target tokens. */
  readonly tokens: number;
  /** The targets the domain marked as forced, reported apart. */
  readonly forced: TokenFigures;
  /** Every supervised target, forced ones included (Eq. 5 as the paper computes it). */
  readonly allTargets: TokenFigures;
  /** SFT pairs read and in the set (a uniform random sample when fewer were read). */
  readonly pairs: { readonly read: number; readonly of: number };
  /** The continuum position. */
  readonly regime: Regime;
  /** The objectives the paper's rule recommends there. */
  readonly recommendation: ReadonlyArray<string>;
  /** Which figures the placement used, in words. */
  readonly reason: string;
  /** Distance of the placement's figures to the nearest cut-off that would change it. */
  readonly cutoffDistance: number;
  /** That cut-off, in words (`mean p ≥ 0.7`). */
  readonly nearestCutoff: string;
  /**
   * Whether the placement is on a knife edge: within {@link knifeEdgeMargin} of a cut-off, or
   * within two standard errors of it when the probe read a sample.
   */
  readonly knifeEdge: boolean;
}

/**
 * The cut-offs of the placement rule. They are probsft's own: the paper gives no numeric rule
 * (its §4.3 places models by pretraining coverage and by Eq. 5, and its Tab. 5 reports Eq. 5 of
 * 0.76–0.81 for its model-strong models, 0.50–0.59 for the intermediate ones and 0.01–0.07 for
 * the model-weak ones). probsft puts its cut-offs between those reported values.
 */
export const regimeThresholds = {
  /** Mean p at or above which a model can be model-strong: between the paper's MI (≤ 0.59) and MS (≥ 0.76) values. */
  strongMeanP: 0.7,
  /**
   * Share of p > 0.55 required as well: the K ≥ 0.70 in the assumption of the paper's theorem
   * (Appendix E.1, Pr[p > 0.55] ≥ K); its Tab. 6 reports 72.8–81.2% for the MS models.
   */
  strongShare: 0.7,
  /** Mean p at or below which a model is model-weak: above the paper's MW values (≤ 0.07). */
  weakMeanP: 0.1,
} as const;

/** A placement closer than this to a cut-off is flagged as on a knife edge (probsft's choice). */
export const knifeEdgeMargin = 0.05;

/** The probabilities of one pass over SFT pairs. */
export interface TargetProbabilities {
  /** Ascending p of every supervised target (forced ones included). */
  readonly sorted: Float32Array;
  /** p of each supervised target, pair by pair, with whether it is forced. */
  readonly perPair: ReadonlyArray<{ readonly p: Float32Array; readonly forced: Uint8Array }>;
}

/**
 * The target-token probabilities of a model on SFT pairs (no gradient), pair by pair.
 *
 * @param model The model.
 * @param pairs The tokenized pairs.
 * @param batchSize Rows per forward pass.
 * @returns Per pair, the p of each supervised target and whether it is forced; and all of them sorted.
 */
export function pairProbabilities(
  model: LanguageModel,
  pairs: ReadonlyArray<EncodedPair>,
  batchSize = 64,
): TargetProbabilities {
  const perPair: Array<{ p: Float32Array; forced: Uint8Array }> = [];
  const all: number[] = [];
  for (let start = 0; start < pairs.length; start += batchSize) {
    const rows = pairs.slice(start, start + batchSize);
    const batch = makeBatch(rows, model.tokenizer.padId);
    const p = tf.tidy(() => {
      const inputs = tf.tensor2d(batch.inputs, [batch.batch, batch.time], "int32");
      const targets = tf.tensor2d(batch.targets, [batch.batch, batch.time], "int32");
      const chunk = defaultChunkPositions(batch.batch * batch.time, model.vocabSize);
      return tf.exp(targetLogProbs(model, inputs, targets, chunk)).dataSync();
    });
    rows.forEach((pair, row) => {
      const ps: number[] = [];
      const forced: number[] = [];
      for (let t = 0; t < pair.ids.length - 1; t++) {
        if (batch.mask[row * batch.time + t]! > 0) {
          ps.push(p[row * batch.time + t]!);
          forced.push(pair.forced?.[t + 1] ?? 0);
        }
      }
      all.push(...ps);
      perPair.push({ p: Float32Array.from(ps), forced: Uint8Array.from(forced) });
    });
  }
  return { sorted: Float32Array.from(all).sort(), perPair };
}

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
  return pairProbabilities(model, pairs, batchSize).sorted;
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
 * @param meanP Eq. 5 on the placement's targets.
 * @param shareAbove055 Share of those targets with p > 0.55.
 * @param standardError The larger standard error of the two figures (0 when every pair was read).
 * @returns Regime, recommendation, the reason, and the distance to the nearest cut-off.
 */
export function placeOnContinuum(
  meanP: number,
  shareAbove055: number,
  standardError = 0,
): Pick<
  ProbeResult,
  "regime" | "recommendation" | "reason" | "cutoffDistance" | "nearestCutoff" | "knifeEdge"
> {
  const t = regimeThresholds;
  const figures = `mean p ${meanP.toFixed(3)}, share p>0.55 ${shareAbove055.toFixed(3)}`;
  const edge = (distance: number, cutoff: string) => {
    const knifeEdge = distance < knifeEdgeMargin ||
      (Number.isFinite(standardError) && distance < 2 * standardError);
    return {
      cutoffDistance: distance,
      nearestCutoff: cutoff,
      knifeEdge,
      note: `; ${distance.toFixed(3)} from the nearest cut-off (${cutoff})${
        knifeEdge ? ": a knife edge, the placement could go either way" : ""
      }`,
    };
  };
  const strongMean = `mean p ≥ ${t.strongMeanP}`;
  const strongShare = `share ≥ ${t.strongShare}`;
  const weak = `mean p ≤ ${t.weakMeanP}`;
  if (meanP >= t.strongMeanP && shareAbove055 >= t.strongShare) {
    const byMean = meanP - t.strongMeanP;
    const byShare = shareAbove055 - t.strongShare;
    const { note, ...distance } = byMean <= byShare
      ? edge(byMean, strongMean)
      : edge(byShare, strongShare);
    return {
      regime: "model-strong",
      recommendation: [
        "neg-prob",
        "general-family(alpha=10)",
        "thresholded-neg-log-prob(tau=0.2)",
      ],
      reason:
        `${figures}: ${strongMean} and ${strongShare}, so the prior is strong; prior-leaning objectives (−p, −p^10, thresholded NLL) are recommended${note}`,
      ...distance,
    };
  }
  if (meanP <= t.weakMeanP) {
    const { note, ...distance } = edge(t.weakMeanP - meanP, weak);
    return {
      regime: "model-weak",
      recommendation: ["neg-log-prob"],
      reason: `${figures}: ${weak}, so the model barely knows the targets; keep NLL${note}`,
      ...distance,
    };
  }
  // Intermediate: model-weak below one cut-off; model-strong only past both of the others.
  const toWeak = meanP - t.weakMeanP;
  const shortMean = Math.max(0, t.strongMeanP - meanP);
  const shortShare = Math.max(0, t.strongShare - shareAbove055);
  const toStrong = Math.max(shortMean, shortShare);
  const strongCut = shortMean >= shortShare ? strongMean : strongShare;
  const { note, ...distance } = toWeak <= toStrong
    ? edge(toWeak, `mean p > ${t.weakMeanP}`)
    : edge(toStrong, strongCut);
  return {
    regime: "intermediate",
    recommendation: ["neg-log-prob", "neg-prob"],
    reason:
      `${figures}: between the two ends; no objective dominates there, so run a small sweep (NLL vs −p), improve data, or try adaptive objectives${note}`,
    ...distance,
  };
}

/** How the probe reads the SFT set. */
export interface ProbeOptions {
  /** Rows per forward pass (the training micro-batch, so the probe never holds more). @default 64 */
  readonly batchSize?: number;
  /** Read a uniform random sample of this many pairs instead of every pair. @default every pair */
  readonly samplePairs?: number;
  /** Seed of that sample. @default 0 */
  readonly seed?: number;
}

/**
 * The indices of the pairs a probe reads: all of them, or a uniform random sample without
 * replacement (in ascending order).
 *
 * @param count Pairs in the set.
 * @param options The sample size and seed.
 * @returns Ascending indices.
 */
export function probeSample(count: number, options: ProbeOptions = {}): number[] {
  const size = options.samplePairs;
  const all = Array.from({ length: count }, (_, i) => i);
  if (size === undefined || size >= count) return all;
  const next = makeRandom(options.seed ?? 0);
  for (let i = 0; i < size; i++) {
    const j = i + Math.floor(next() * (count - i));
    [all[i], all[j]] = [all[j]!, all[i]!];
  }
  return all.slice(0, size).sort((a, b) => a - b);
}

/**
 * The ratio estimate Σy/Σn over sampled clusters (pairs) and its standard error, with the
 * finite-population correction (0 when every pair of the set was read).
 */
function ratioEstimate(
  ys: ReadonlyArray<number>,
  ns: ReadonlyArray<number>,
  population: number,
): { readonly value: number; readonly standardError: number } {
  const m = ys.length;
  const totalN = ns.reduce((a, b) => a + b, 0);
  const value = totalN === 0 ? NaN : ys.reduce((a, b) => a + b, 0) / totalN;
  if (m >= population) return { value, standardError: 0 };
  if (m < 2 || totalN === 0) return { value, standardError: NaN };
  let squares = 0;
  for (let i = 0; i < m; i++) squares += (ys[i]! - value * ns[i]!) ** 2;
  const meanN = totalN / m;
  const variance = (1 - m / population) * squares / (m * (m - 1)) / (meanN * meanN);
  return { value, standardError: Math.sqrt(variance) };
}

function figuresOf(values: ArrayLike<number> & Iterable<number>): TokenFigures {
  let sum = 0;
  let above = 0;
  for (const p of values) {
    sum += p;
    if (p > 0.55) above += 1;
  }
  const n = values.length;
  return {
    tokens: n,
    meanP: n === 0 ? NaN : sum / n,
    shareAbove055: n === 0 ? NaN : above / n,
  };
}

/**
 * Runs the probe on tokenized SFT pairs.
 *
 * @param model The base model.
 * @param pairs The tokenized SFT pairs.
 * @param options Rows per pass (or the options: rows per pass, a random sample and its seed).
 * @returns Figures, placement, and the sorted probabilities of every supervised target read
 *   (forced ones included: percentile thresholds are over the training tokens).
 */
export function probe(
  model: LanguageModel,
  pairs: ReadonlyArray<EncodedPair>,
  options: number | ProbeOptions = {},
): { readonly result: ProbeResult; readonly sorted: Float32Array } {
  const settings: ProbeOptions = typeof options === "number" ? { batchSize: options } : options;
  const indices = probeSample(pairs.length, settings);
  const read = indices.length === pairs.length ? pairs : indices.map((i) => pairs[i]!);
  const { sorted, perPair } = pairProbabilities(model, read, settings.batchSize ?? 64);
  const forcedValues: number[] = [];
  const freeValues: number[] = [];
  for (const pair of perPair) {
    pair.p.forEach((p, i) => (pair.forced[i] ? forcedValues : freeValues).push(p));
  }
  // The placement uses the targets that are not forced (all of them when every one is).
  const useFree = freeValues.length > 0;
  const decisive = useFree ? freeValues : Array.from(sorted);
  const kept = (pair: { p: Float32Array; forced: Uint8Array }) =>
    Array.from(pair.p).filter((_, i) => !useFree || pair.forced[i] === 0);
  const perPairKept = perPair.map(kept);
  const ns = perPairKept.map((ps) => ps.length);
  const mean = ratioEstimate(
    perPairKept.map((ps) => ps.reduce((a, b) => a + b, 0)),
    ns,
    pairs.length,
  );
  const share = ratioEstimate(
    perPairKept.map((ps) => ps.filter((p) => p > 0.55).length),
    ns,
    pairs.length,
  );
  const decisiveSorted = Float32Array.from(decisive).sort();
  const percentiles: Record<string, number> = {};
  for (const q of probePercentiles) percentiles[String(q)] = quantileOf(decisiveSorted, q);
  const standardError = Math.max(mean.standardError, share.standardError);
  return {
    result: {
      meanP: mean.value,
      meanPStandardError: mean.standardError,
      shareAbove055: share.value,
      shareStandardError: share.standardError,
      percentiles,
      tokens: decisive.length,
      forced: figuresOf(forcedValues),
      allTargets: figuresOf(sorted),
      pairs: { read: read.length, of: pairs.length },
      ...placeOnContinuum(mean.value, share.value, standardError),
    },
    sorted,
  };
}
