/**
 * The equivalence detector of sweeps: two objective choices whose gradients agree on random inputs
 * train identically, so a sweep that runs both spends its compute twice on one arm (DFT and
 * `neg-prob` are the known pair). The runner reports such pairs before it starts.
 *
 * @module
 */
import type { Objective } from "./plugin.ts";
import { gradientsAgree } from "./theory.ts";

/** An objective choice with its decoded params and its label in tables. */
export interface LabelledObjective {
  /** Label (id and params). */
  readonly label: string;
  /** The objective. */
  readonly part: Objective<unknown>;
  /** Its decoded params. */
  readonly params: unknown;
}

/**
 * The pairs of choices with the same gradient. Choices whose loss cannot be computed without a
 * base model (a percentile threshold not yet resolved) are left out.
 *
 * @param choices The objective choices of a sweep.
 * @returns Pairs of labels that train identically.
 */
export async function equivalentPairs(
  choices: ReadonlyArray<LabelledObjective>,
): Promise<Array<readonly [string, string]>> {
  const pairs: Array<readonly [string, string]> = [];
  for (let i = 0; i < choices.length; i++) {
    for (let j = i + 1; j < choices.length; j++) {
      const [a, b] = [choices[i]!, choices[j]!];
      try {
        if (await gradientsAgree(a.part, a.params, b.part, b.params)) {
          pairs.push([a.label, b.label]);
        }
      } catch {
        // Not computable without the base model's statistics: nothing to report.
      }
    }
  }
  return pairs;
}
