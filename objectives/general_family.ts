/**
 * `general-family`: f_α(p) = (1 − p^α)/α, α > 0, computed in fp32 as (1 − exp(α·log p))/α so
 * that large α underflows gracefully.
 *
 * - α → 0 recovers −log p (NLL); α = 1 is 1 − p ("−p"). Convex for α ≤ 1 (prior-averse),
 *   concave for α ≥ 1 (prior-leaning).
 * - Descent weight: W_f(p) = p^α(1−p), peaking at p* = α/(1+α).
 * - Source: Li et al. 2025, "Beyond Log Likelihood" (arXiv 2510.00526), Eq. (3); key
 *   `GeneralFamily-α` of the official code (`-(exp(q·log p) - 1)/q`).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Schema } from "effect";
import type { Objective, ParamsSchema } from "../core/plugin.ts";
import { positive } from "./_common.ts";

/** Params of {@link generalFamily}. */
export interface GeneralFamilyParams {
  /** The exponent α > 0 (the paper uses 0.1–10). */
  readonly alpha: number;
}

const params: ParamsSchema<GeneralFamilyParams> = Schema.Struct({ alpha: positive() });

/** (1 − p^α)/α: W(p) = p^α(1 − p), peak at α/(1 + α). */
export const generalFamily: Objective<GeneralFamilyParams> = {
  id: "general-family",
  summary: "(1 - p^alpha)/alpha: W(p) = p^alpha (1 - p), peak at alpha/(1 + alpha) (Eq. 3)",
  source: "Li et al. 2025 (arXiv 2510.00526), Eq. 3; official code `GeneralFamily-alpha`",
  params,
  descentWeight: (p, { alpha }) => Math.pow(p, alpha) * (1 - p),
  lossAt: (p, { alpha }) => (1 - Math.exp(alpha * Math.log(p))) / alpha,
  perToken: (view, { alpha }) => ({
    loss: tf.div(tf.sub(1, tf.exp(tf.mul(view.logProbTarget, alpha))), alpha),
  }),
};
