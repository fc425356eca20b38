/**
 * `dft` (Dynamic Fine-Tuning): ℓ = −sg(p)·log p, NLL reweighted by the token's own probability
 * with no gradient through the weight.
 *
 * - Descent weight: W(p) = p(1 − p); the gradient equals that of 1 − p (`neg-prob`) on every
 *   logit (theorem test T2), although the loss value, −p·log p, differs.
 * - Source: Wu et al. 2025, "On the Generalization of SFT: An RL Perspective with Reward
 *   Rectification" (arXiv 2508.05629); code `yongliang-wu/DFT`
 *   (`loss = loss * prob_coefficients.detach()`).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Schema } from "effect";
import { stopGradient } from "../core/ops.ts";
import type { Objective, ParamsSchema } from "../core/plugin.ts";
import { probOf } from "./_common.ts";

/** Params of {@link dft}: none. */
export type DftParams = Record<string, never>;

const params: ParamsSchema<DftParams> = Schema.Record(Schema.String, Schema.Never);

/** −sg(p)·log p: the gradient of 1 − p with the value of −p·log p. */
export const dft: Objective<DftParams> = {
  id: "dft",
  summary: "DFT, -sg(p) log p: same gradient as 1 - p (Wu et al. 2025)",
  source: "Wu et al. 2025 (arXiv 2508.05629); code yongliang-wu/DFT",
  params,
  descentWeight: (p) => p * (1 - p),
  lossAt: (p) => -p * Math.log(p),
  perToken: (view) => ({
    loss: tf.neg(tf.mul(stopGradient(probOf(view.logProbTarget)), view.logProbTarget)),
  }),
};
