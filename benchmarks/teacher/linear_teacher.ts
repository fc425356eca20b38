/**
 * `teacher`: the linear-softmax toy of the paper notes (§11.2, "Stage A"). A fixed random linear
 * teacher labels random input points; the task is to answer a point's label.
 *
 * ```text
 * prompt:   x17        (input point 17, one symbol)
 * response: y3         (its label, one symbol; y* = argmax_j (W*ᵀ x_17)_j)
 * ```
 *
 * - Teacher: W* = `teacherScale` · N(0, 1) ∈ R^{dim × labels}, drawn from `teacherSeed`.
 * - Input points: x_i ~ N(0, I/dim), row i of {@link teacherFeatures}`(featureSeed, dim, i + 1)`.
 *   Points 0 … testItems−1 are the test set, the next `corpusDocuments` points the prior corpus,
 *   the next `sftExamples` points the SFT set, so the three are disjoint.
 * - Prior corpus: one clean document `x<i> y<y*>` per prior point (capability, not memorisation of
 *   the test points).
 * - SFT set: every SFT point with its label flipped at rate `labelNoise`: with that probability the
 *   label is replaced by a uniform draw among the *other* labels, so that the noise rate
 *   E = Pr[ỹ ≠ y*] of the theory (§7.2) is exactly `labelNoise`. The points are fixed; the run
 *   seed draws which labels flip and to what (and the symbol inventory, hence the tokenizer, is
 *   the same for every seed).
 * - Test set: held-out points with their clean labels, scored by `exact-match` greedily (primary)
 *   and, when `samples` > 0, as avg@k at temperature 1 (the sampled accuracy E[p(y*|x)] the theory's
 *   risk is about).
 *
 * **Feature convention (`core/linear_features.ts`, read by the `linear-softmax` backbone).** A
 * text never carries the feature vectors; the backbone recomputes them. The domain's `symbols` are,
 * in order:
 *
 * 1. the descriptor symbol `#features:<featureSeed>:<dim>` (it never occurs in a text);
 * 2. the descriptor symbol `#teacher:<teacherSeed>:<teacherScale>` (never in a text either);
 * 3. the label symbols `y0 … y<labels−1>` (contiguous token ids);
 * 4. the input symbols `x0 … x<N−1>`.
 *
 * Symbol `x<i>` stands for row i of `teacherFeatures(featureSeed, dim, N)` with the seed and dim
 * read from the descriptor, so the features travel with the data and a backbone cannot be built
 * with features that differ from the domain's. The teacher descriptor lets a backbone rebuild
 * W* = `teacherWeights(teacherSeed, dim, labels, teacherScale)` for the notes' capability knob
 * W0 = c·W* + N(0, 1); a backbone that only learns from the prior corpus ignores it.
 *
 * @module
 */
import { Effect, Schema } from "effect";
import type { DataError } from "../../core/errors.ts";
import type {
  BenchmarkSet,
  Decoding,
  Domain,
  DomainData,
  ParamsSchema,
  SftExample,
} from "../../core/plugin.ts";
import { nonNegativeInt, positiveInt, rate } from "../_params.ts";
import { makeRandom, subSeed } from "../_random.ts";
import {
  featureDescriptor,
  teacherDescriptor,
  teacherFeatures,
  teacherWeights,
} from "../../core/linear_features.ts";

// The feature convention this domain follows (descriptors, features, teacher), for its users.
export {
  featureDescriptor,
  featureDescriptorPrefix,
  parseFeatureDescriptor,
  parseTeacherDescriptor,
  teacherDescriptor,
  teacherDescriptorPrefix,
  teacherFeatures,
  teacherWeights,
} from "../../core/linear_features.ts";

/** Params of {@link teacher}. */
export interface TeacherParams {
  /** Input dimension d (default 64). */
  readonly dim: number;
  /** Number of labels V (default 50). */
  readonly labels: number;
  /** SFT points n (default 4000). */
  readonly sftExamples: number;
  /** Held-out test points (default 1000). */
  readonly testItems: number;
  /** Prior-corpus documents, one clean labelled point each (default 4000). */
  readonly corpusDocuments: number;
  /** Label noise rate E = Pr[ỹ ≠ y*] of the SFT set (default 0.3). */
  readonly labelNoise: number;
  /** Scale of the teacher, W* = scale · N(0, 1) (default 3). */
  readonly teacherScale: number;
  /** Samples k of the T = 1 avg@k decoding; 0 for greedy only (default 4). */
  readonly samples: number;
  /** Seed of the teacher W* (default 7). */
  readonly teacherSeed: number;
  /** Seed of the input points (default 11). */
  readonly featureSeed: number;
}

const params: ParamsSchema<TeacherParams> = Schema.Struct({
  dim: positiveInt(64),
  labels: positiveInt(50).check(Schema.isGreaterThan(1)),
  sftExamples: positiveInt(4000),
  testItems: positiveInt(1000),
  corpusDocuments: positiveInt(4000),
  labelNoise: rate(0.3),
  teacherScale: Schema.Finite.check(Schema.isGreaterThan(0)).pipe(
    Schema.withDecodingDefaultKey(Effect.succeed(3)),
  ),
  samples: nonNegativeInt(4),
  teacherSeed: nonNegativeInt(7),
  featureSeed: nonNegativeInt(11),
});

/**
 * The clean labels y*_i = argmax_j (W*ᵀ x_i)_j of `count` points.
 *
 * @param features From {@link teacherFeatures}.
 * @param weights From {@link teacherWeights}.
 * @param dim Input dimension.
 * @param labels Number of labels.
 * @returns One label per point.
 */
export function teacherLabels(
  features: Float32Array,
  weights: Float32Array,
  dim: number,
  labels: number,
): Int32Array {
  const count = features.length / dim;
  const out = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    let best = 0;
    let bestValue = -Infinity;
    for (let j = 0; j < labels; j++) {
      let z = 0;
      for (let k = 0; k < dim; k++) z += features[i * dim + k]! * weights[k * labels + j]!;
      if (z > bestValue) [best, bestValue] = [j, z];
    }
    out[i] = best;
  }
  return out;
}

/**
 * Generates the `teacher` domain's data (pure and deterministic).
 *
 * @param options The params.
 * @param seed The run seed (which SFT labels flip, and to what).
 * @returns The domain data.
 */
export function generateTeacher(options: TeacherParams, seed: number): DomainData {
  const { dim, labels, testItems, corpusDocuments, sftExamples } = options;
  const total = testItems + corpusDocuments + sftExamples;
  const features = teacherFeatures(options.featureSeed, dim, total);
  const weights = teacherWeights(options.teacherSeed, dim, labels, options.teacherScale);
  const truth = teacherLabels(features, weights, dim, labels);
  const x = (i: number) => `x${i}`;
  const y = (j: number) => `y${j}`;
  const examples = Array.from({ length: testItems }, (_, i) => ({
    id: `teacher-${String(i).padStart(4, "0")}`,
    prompt: x(i),
    reference: y(truth[i]!),
  }));
  const priorCorpus = Array.from({ length: corpusDocuments }, (_, k) => {
    const i = testItems + k;
    return `${x(i)} ${y(truth[i]!)}`;
  });
  const noise = makeRandom(subSeed(seed, 23));
  const sft: SftExample[] = Array.from({ length: sftExamples }, (_, k) => {
    const i = testItems + corpusDocuments + k;
    let label = truth[i]!;
    if (noise.chance(options.labelNoise)) {
      const other = noise.int(0, labels - 2);
      label = other >= label ? other + 1 : other;
    }
    // The end token after the label is forced (the linear-softmax backbone gives it p = 1).
    return { prompt: x(i), response: y(label), forced: { eos: true } };
  });
  const decodings: Decoding[] = [{ name: "greedy", temperature: 0, samples: 1, maxNewTokens: 2 }];
  if (options.samples > 0) {
    decodings.push({
      name: `avg@${options.samples}`,
      temperature: 1,
      samples: options.samples,
      maxNewTokens: 2,
    });
  }
  const benchmarks: BenchmarkSet[] = [{
    name: "teacher-test",
    benchmark: { id: "exact-match", params: { ignoreCase: false } },
    examples,
    decodings,
  }];
  return {
    priorCorpus,
    sft,
    benchmarks,
    primary: "teacher-test/greedy",
    symbols: [
      featureDescriptor(options.featureSeed, dim),
      teacherDescriptor(options.teacherSeed, options.teacherScale),
      ...Array.from({ length: labels }, (_, j) => y(j)),
      ...Array.from({ length: total }, (_, i) => x(i)),
    ],
  };
}

/** The `teacher` domain: label points of a fixed random linear teacher (the §11.2 toy). */
export const teacher: Domain<TeacherParams> = {
  id: "teacher",
  summary:
    "label random points of a fixed linear-softmax teacher, with noisy SFT labels (the linear toy)",
  params,
  benchmarks: ["exact-match"],
  load(options: TeacherParams, seed: number): Effect.Effect<DomainData, DataError> {
    return Effect.sync(() => generateTeacher(options, seed));
  },
};
