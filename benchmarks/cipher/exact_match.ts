/**
 * `exact-match`: 1 when the completion equals the reference after trimming and collapsing runs of
 * whitespace (case-sensitive by default, as the paper's figfont scorer), else 0.
 *
 * Example item: prompt `? | ( / _ ) | =`, reference `c a t`; completion `c a t` scores 1.
 *
 * @module
 */
import { Schema } from "effect";
import type { Benchmark, Example, ParamsSchema } from "../../core/plugin.ts";
import { flag } from "../_params.ts";

/** Params of {@link exactMatch}. */
export interface ExactMatchParams {
  /** Compare lowercased (default false). */
  readonly ignoreCase: boolean;
}

const params: ParamsSchema<ExactMatchParams> = Schema.Struct({ ignoreCase: flag(false) });

/**
 * Whether two texts are equal after trimming and collapsing whitespace.
 *
 * @param completion The model's text.
 * @param reference The reference.
 * @param ignoreCase Compare lowercased.
 * @returns True when equal.
 */
export function exactlyEqual(completion: string, reference: string, ignoreCase = false): boolean {
  const clean = (s: string) => {
    const t = s.trim().replace(/\s+/g, " ");
    return ignoreCase ? t.toLowerCase() : t;
  };
  return clean(completion) === clean(reference);
}

/** The `exact-match` benchmark (model-weak cipher and synthetic general tasks). */
export const exactMatch: Benchmark<ExactMatchParams> = {
  id: "exact-match",
  summary: "completion equals the reference after trimming and collapsing whitespace",
  family: "general",
  params,
  score(example: Example, completion: string, options: ExactMatchParams): number {
    return exactlyEqual(completion, example.reference, options.ignoreCase) ? 1 : 0;
  },
};
