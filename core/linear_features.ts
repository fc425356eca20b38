/**
 * The feature convention of linear toy domains: how a domain whose inputs are fixed random feature
 * vectors (the `teacher` domain, the paper notes' §11.2 toy) and a backbone that reads them (the
 * `linear-softmax` backbone) agree on those vectors without either importing the other.
 *
 * A text never carries feature vectors. The domain lists, among its symbols:
 *
 * 1. a feature descriptor `#features:<featureSeed>:<dim>` (it never occurs in a text): symbol
 *    `x<i>` stands for row i of {@link teacherFeatures}`(featureSeed, dim, ·)`, x_i ~ N(0, I/dim);
 * 2. optionally a teacher descriptor `#teacher:<teacherSeed>:<teacherScale>`: the linear teacher
 *    W* = {@link teacherWeights}`(teacherSeed, dim, labels, teacherScale)`, which a backbone may
 *    rebuild for the notes' capability knob W0 = c·W* + N(0, 1);
 * 3. the label symbols `y0 … y<labels−1>` (contiguous token ids) and the input symbols `x<i>`.
 *
 * Both sides compute the vectors from the descriptor with the same seeded generator, so a backbone
 * cannot be built with features that differ from the domain's.
 *
 * @module
 */
import { makeRandom, type Random, subSeed } from "./random.ts";

/** The prefix of the descriptor symbol of the feature convention (see the module doc). */
export const featureDescriptorPrefix = "#features";

/**
 * The descriptor symbol `#features:<featureSeed>:<dim>` of the feature convention.
 *
 * @param featureSeed The seed of the input points.
 * @param dim Their dimension.
 * @returns The symbol.
 */
export function featureDescriptor(featureSeed: number, dim: number): string {
  return `${featureDescriptorPrefix}:${featureSeed}:${dim}`;
}

/**
 * Reads a descriptor symbol back.
 *
 * @param symbol A symbol.
 * @returns Seed and dim, or undefined when the symbol is not a descriptor.
 */
export function parseFeatureDescriptor(
  symbol: string,
): { readonly featureSeed: number; readonly dim: number } | undefined {
  const match = /^#features:(\d+):(\d+)$/.exec(symbol);
  if (match === null) return undefined;
  return { featureSeed: Number(match[1]), dim: Number(match[2]) };
}

/** The prefix of the teacher descriptor symbol of the feature convention. */
export const teacherDescriptorPrefix = "#teacher";

/**
 * The descriptor symbol `#teacher:<teacherSeed>:<teacherScale>` of the feature convention.
 *
 * @param teacherSeed The seed of W*.
 * @param teacherScale Its scale.
 * @returns The symbol.
 */
export function teacherDescriptor(teacherSeed: number, teacherScale: number): string {
  return `${teacherDescriptorPrefix}:${teacherSeed}:${teacherScale}`;
}

/**
 * Reads a teacher descriptor symbol back.
 *
 * @param symbol A symbol.
 * @returns Seed and scale, or undefined when the symbol is not a teacher descriptor.
 */
export function parseTeacherDescriptor(
  symbol: string,
): { readonly teacherSeed: number; readonly teacherScale: number } | undefined {
  const match = /^#teacher:(\d+):([^:\s]+)$/.exec(symbol);
  if (match === null || !Number.isFinite(Number(match[2]))) return undefined;
  return { teacherSeed: Number(match[1]), teacherScale: Number(match[2]) };
}

function _normal(random: Random): number {
  const u1 = 1 - random();
  const u2 = random();
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}

/**
 * The input points: `count` rows of x ~ N(0, I/dim), row-major. Row i depends only on
 * (`featureSeed`, `dim`, i), never on `count`, so any prefix of the matrix is the same.
 *
 * @param featureSeed The seed.
 * @param dim The dimension.
 * @param count Rows.
 * @returns A `count × dim` matrix.
 */
export function teacherFeatures(featureSeed: number, dim: number, count: number): Float32Array {
  const out = new Float32Array(count * dim);
  const std = 1 / Math.sqrt(dim);
  for (let i = 0; i < count; i++) {
    const random = makeRandom(subSeed(subSeed(featureSeed, 21), i));
    for (let k = 0; k < dim; k++) out[i * dim + k] = std * _normal(random);
  }
  return out;
}

/**
 * The teacher W* = scale · N(0, 1), `dim × labels`, row-major.
 *
 * @param teacherSeed The seed.
 * @param dim Input dimension.
 * @param labels Number of labels.
 * @param scale The scale (3 in the notes).
 * @returns The matrix.
 */
export function teacherWeights(
  teacherSeed: number,
  dim: number,
  labels: number,
  scale: number,
): Float32Array {
  const random = makeRandom(subSeed(teacherSeed, 22));
  return Float32Array.from({ length: dim * labels }, () => scale * _normal(random));
}
