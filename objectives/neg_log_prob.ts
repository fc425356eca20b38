/**
 * `neg-log-prob`: the negative log-likelihood, f(p) = −log p, the standard SFT objective.
 *
 * - Descent weight on the target logit: W_f(p) = −f′(p)·p·(1−p) = 1 − p (largest for unlikely
 *   tokens: "prior-averse").
 * - Source: Eq. (1) of Li et al. 2025, "Beyond Log Likelihood" (arXiv 2510.00526); the `original`
 *   branch of its official code.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Schema } from "effect";
import type { Objective, ParamsSchema } from "../core/plugin.ts";

/** Params of {@link negLogProb}: none. */
export type NegLogProbParams = Record<string, never>;

const params: ParamsSchema<NegLogProbParams> = Schema.Record(Schema.String, Schema.Never);

/** NLL, −log p. */
export const negLogProb: Objective<NegLogProbParams> = {
  id: "neg-log-prob",
  summary: "NLL, -log p: W(p) = 1 - p, weighs unlikely tokens most (Eq. 1)",
  source: "Li et al. 2025 (arXiv 2510.00526), Eq. 1; official code `original`",
  params,
  descentWeight: (p) => 1 - p,
  lossAt: (p) => -Math.log(p),
  perToken: (view) => ({ loss: tf.neg(view.logProbTarget) }),
};
