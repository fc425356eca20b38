/**
 * `log-one-minus-prob`: f(p) = log(1 − p + ε), the paper's "log(1−p)" objective, the most
 * prior-leaning one. ε (default 10⁻³, as in the official code) caps the weight near p = 1.
 *
 * - Descent weight: W_f(p) = p(1−p)/(1−p+ε) (= p when ε = 0, peaking at p → 1; with ε > 0 it
 *   peaks near p = 1 − √ε).
 * - Source: Li et al. 2025, "Beyond Log Likelihood" (arXiv 2510.00526), Sec. 3 (the text's
 *   "−log(1−p)" is a sign typo); key `UnlikehoodTop-q` of a later version of the official code
 *   without its gate (`log(1 - p + 1e-3)`).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Schema } from "effect";
import type { Objective, ParamsSchema } from "../core/plugin.ts";
import { nonNegative, oneMinusProbOf, withDefault } from "./_common.ts";

/** Params of {@link logOneMinusProb}. */
export interface LogOneMinusProbParams {
  /** ε ≥ 0 inside the log. @default 0.001 */
  readonly epsilon: number;
}

const params: ParamsSchema<LogOneMinusProbParams> = Schema.Struct({
  epsilon: withDefault(nonNegative(), 1e-3),
});

/** log(1 − p + ε): W(p) = p(1 − p)/(1 − p + ε) ≈ p. */
export const logOneMinusProb: Objective<LogOneMinusProbParams> = {
  id: "log-one-minus-prob",
  summary: "log(1 - p + eps): W(p) ~ p, the most prior-leaning objective",
  source: "Li et al. 2025 (arXiv 2510.00526), Sec. 3; official code `UnlikehoodTop-q` (ungated)",
  params,
  descentWeight: (p, { epsilon }) => (p * (1 - p)) / (1 - p + epsilon),
  lossAt: (p, { epsilon }) => Math.log(1 - p + epsilon),
  perToken: (view, { epsilon }) => ({
    loss: tf.log(tf.add(oneMinusProbOf(view.logProbTarget), epsilon)),
  }),
};
