/**
 * Deterministic pseudo-random numbers (mulberry32), so that data order, sampling and seeds give
 * the same values on every machine.
 *
 * @module
 */

/** A seeded generator of uniform numbers in [0, 1). */
export type Random = () => number;

/**
 * A mulberry32 generator.
 *
 * @param seed Any integer.
 * @returns The generator.
 */
export function makeRandom(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Derives a sub-seed for one purpose of a generator (test set, SFT set, corpus, features), so
 * that changing one size never moves the others.
 *
 * @param seed The base seed.
 * @param salt A small integer naming the purpose.
 * @returns A 32-bit seed.
 */
export function subSeed(seed: number, salt: number): number {
  return (Math.imul(seed >>> 0, 0x9E3779B1) ^ Math.imul(salt + 1, 0x85EBCA77)) >>> 0;
}

/**
 * Combines integers into one seed (for per-cell, per-step seeds).
 *
 * @param parts Integers.
 * @returns A 32-bit seed.
 */
export function mixSeed(...parts: ReadonlyArray<number>): number {
  let h = 0x811C9DC5;
  for (const part of parts) {
    h = Math.imul(h ^ (part >>> 0), 0x01000193);
    h ^= h >>> 13;
  }
  return h >>> 0;
}

/**
 * A shuffled copy (Fisher–Yates).
 *
 * @param items The items.
 * @param seed The seed.
 * @returns A new array in a seed-determined order.
 */
export function shuffled<T>(items: ReadonlyArray<T>, seed: number): T[] {
  const out = [...items];
  const next = makeRandom(seed);
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
