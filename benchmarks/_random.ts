/**
 * A small seeded random stream for the synthetic generators (mulberry32). Pure 32-bit integer
 * arithmetic, so the same seed gives the same data on every machine; `Math.random` is never used.
 *
 * @module
 */
import { makeRandom as makeUniform } from "../core/random.ts";

export { subSeed } from "../core/random.ts";

/** A deterministic stream of uniform numbers and the draws the generators need. */
export interface Random {
  /** A uniform number in [0, 1). */
  next(): number;
  /** A uniform integer in [min, max] (both inclusive). */
  int(min: number, max: number): number;
  /** True with probability `p`. */
  chance(p: number): boolean;
  /** A uniform element of a non-empty list. */
  pick<T>(items: ReadonlyArray<T>): T;
  /** A shuffled copy (Fisher–Yates). */
  shuffle<T>(items: ReadonlyArray<T>): T[];
}

/**
 * Makes a seeded stream (mulberry32).
 *
 * @param seed Any integer; it is taken modulo 2^32.
 * @returns The stream.
 */
export function makeRandom(seed: number): Random {
  const next = makeUniform(seed);
  const int = (min: number, max: number): number => min + Math.floor(next() * (max - min + 1));
  return {
    next,
    int,
    chance: (p) => next() < p,
    pick: <T>(items: ReadonlyArray<T>): T => items[Math.floor(next() * items.length)]!,
    shuffle: <T>(items: ReadonlyArray<T>): T[] => {
      const out = [...items];
      for (let i = out.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        [out[i], out[j]] = [out[j]!, out[i]!];
      }
      return out;
    },
  };
}

const consonants = "bdfgklmnprstvz";
const vowels = "aeiou";

/**
 * Makes `count` distinct pronounceable pseudo-words (consonant–vowel syllables plus a suffix),
 * none of which is in `avoid`.
 *
 * @param random The stream to draw from.
 * @param count How many words.
 * @param options Syllables per stem, a suffix list, and words to avoid.
 * @returns The words, in draw order.
 */
export function pseudoWords(
  random: Random,
  count: number,
  options: {
    readonly syllables: readonly [number, number];
    readonly suffixes: ReadonlyArray<string>;
    readonly avoid?: ReadonlySet<string>;
  },
): string[] {
  const seen = new Set(options.avoid ?? []);
  const out: string[] = [];
  for (let tries = 0; out.length < count; tries++) {
    if (tries > count * 1000) throw new Error("pseudoWords: word space exhausted");
    let word = "";
    const n = random.int(options.syllables[0], options.syllables[1]);
    for (let i = 0; i < n; i++) word += random.pick([...consonants]) + random.pick([...vowels]);
    word += random.pick(options.suffixes);
    if (seen.has(word)) continue;
    seen.add(word);
    out.push(word);
  }
  return out;
}
