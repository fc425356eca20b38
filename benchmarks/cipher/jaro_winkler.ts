/**
 * Jaro–Winkler similarity and the `jaro-winkler` benchmark, the paper's soft score for the
 * figlet-font task.
 *
 * Definition (Jaro 1989; Winkler 1990, "String comparator metrics and enhanced decision rules in
 * the Fellegi-Sunter model of record linkage"): characters a_i and b_j match when equal and
 * |i − j| ≤ ⌊max(|a|, |b|)/2⌋ − 1, each character matched at most once, scanning a left to right;
 * with m matches and t half the number of matched characters out of order,
 * jaro = (m/|a| + m/|b| + (m − t)/m) / 3 (0 when m = 0, 1 for two empty strings); and
 * jaroWinkler = jaro + ℓ·p·(1 − jaro) with ℓ the common prefix length capped at 4 and p = 0.1.
 * The prefix boost applies at every jaro value (no 0.7 boost threshold, as in Apache Commons Text).
 * Checked against the published test values of jellyfish and Apache Commons Text
 * (tests/fixtures/graders/jaro_winkler.json).
 *
 * @module
 */
import { Schema } from "effect";
import type { Benchmark, Example, ParamsSchema } from "../../core/plugin.ts";
import { flag } from "../_params.ts";

/**
 * The Jaro similarity: matches within a window of ⌊max(|a|, |b|)/2⌋ − 1, transpositions halved.
 *
 * @param a One string.
 * @param b The other.
 * @returns A similarity in [0, 1]; 1 for two empty strings.
 */
export function jaro(a: string, b: string): number {
  if (a === b) return 1;
  if (a.length === 0 || b.length === 0) return 0;
  const window = Math.max(0, Math.floor(Math.max(a.length, b.length) / 2) - 1);
  const usedB = new Array<boolean>(b.length).fill(false);
  const matchedA: string[] = [];
  const hitA = new Array<boolean>(a.length).fill(false);
  for (let i = 0; i < a.length; i++) {
    const lo = Math.max(0, i - window);
    const hi = Math.min(b.length - 1, i + window);
    for (let j = lo; j <= hi; j++) {
      if (!usedB[j] && a[i] === b[j]) {
        usedB[j] = true;
        hitA[i] = true;
        matchedA.push(a[i]!);
        break;
      }
    }
  }
  const m = matchedA.length;
  if (m === 0) return 0;
  const matchedB = [...b].filter((_, j) => usedB[j]);
  let halfTranspositions = 0;
  for (let k = 0; k < m; k++) if (matchedA[k] !== matchedB[k]) halfTranspositions++;
  const t = halfTranspositions / 2;
  return (m / a.length + m / b.length + (m - t) / m) / 3;
}

/**
 * The Jaro–Winkler similarity: Jaro plus 0.1 × (common prefix length, at most 4) × (1 − Jaro).
 *
 * @example
 * ```ts ignore
 * jaroWinkler("MARTHA", "MARHTA"); // ≈ 0.9611
 * ```
 *
 * @param a One string.
 * @param b The other.
 * @returns A similarity in [0, 1].
 */
export function jaroWinkler(a: string, b: string): number {
  const j = jaro(a, b);
  let prefix = 0;
  while (prefix < Math.min(4, a.length, b.length) && a[prefix] === b[prefix]) prefix++;
  return Math.min(1, j + prefix * 0.1 * (1 - j));
}

/** Params of {@link jaroWinklerBenchmark}. */
export interface JaroWinklerParams {
  /** Compare lowercased (default true, as the paper's figfont scorer). */
  readonly ignoreCase: boolean;
  /** Drop all whitespace first, for symbol texts such as `y u g p` (default false). */
  readonly ignoreSpaces: boolean;
}

const params: ParamsSchema<JaroWinklerParams> = Schema.Struct({
  ignoreCase: flag(true),
  ignoreSpaces: flag(false),
});

/** The `jaro-winkler` benchmark: the similarity of the stripped completion to the reference. */
export const jaroWinklerBenchmark: Benchmark<JaroWinklerParams> = {
  id: "jaro-winkler",
  summary: "Jaro-Winkler similarity of completion and reference (prefix weight 0.1, prefix <= 4)",
  family: "model-weak",
  params,
  score(example: Example, completion: string, options: JaroWinklerParams): number {
    const clean = (s: string) => {
      let t = s.trim();
      if (options.ignoreCase) t = t.toLowerCase();
      return options.ignoreSpaces ? t.replace(/\s+/g, "") : t.replace(/\s+/g, " ");
    };
    return jaroWinkler(clean(completion), clean(example.reference));
  },
};
