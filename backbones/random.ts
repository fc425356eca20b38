/**
 * Seeded pseudo-random numbers in plain JavaScript, so that initialisation, batching and
 * sampling give the same values on every tensor backend.
 *
 * @module
 */
import { makeRandom } from "../core/random.ts";

/**
 * A uniform generator on [0, 1) (mulberry32).
 *
 * @param seed Any integer.
 * @returns A function that returns the next number.
 */
export function uniform(seed: number): () => number {
  return makeRandom(seed ^ 0x9E3779B9);
}

/**
 * Fills an array with N(0, std²) draws (Box–Muller).
 *
 * @param next A uniform generator from {@link uniform}.
 * @param size How many numbers.
 * @param std Standard deviation.
 * @returns The draws.
 */
export function normals(next: () => number, size: number, std: number): Float32Array {
  const out = new Float32Array(size);
  for (let i = 0; i < size; i += 2) {
    const u1 = 1 - next();
    const u2 = next();
    const r = std * Math.sqrt(-2 * Math.log(u1));
    out[i] = r * Math.cos(2 * Math.PI * u2);
    if (i + 1 < size) out[i + 1] = r * Math.sin(2 * Math.PI * u2);
  }
  return out;
}
