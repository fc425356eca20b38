/**
 * `neg-prob-power`: f(p) = −p^α/α, α > 0, the form of the convexity sweep (Fig. 6). It differs
 * from `general-family` by the constant 1/α only, so it has the same gradient.
 *
 * - Descent weight: W_f(p) = p^α(1−p), peaking at p* = α/(1+α).
 * - Source: Li et al. 2025, "Beyond Log Likelihood" (arXiv 2510.00526), Fig. 6; key
 *   `convexity-α` of a later version of the official code.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Schema } from "effect";
import type { Objective, ParamsSchema } from "../core/plugin.ts";
import { positive } from "./_common.ts";

/** Params of {@link negProbPower}. */
export interface NegProbPowerParams {
  /** The exponent α > 0 (the sweep uses 0.1–10). */
  readonly alpha: number;
}

const params: ParamsSchema<NegProbPowerParams> = Schema.Struct({ alpha: positive() });

/** −p^α/α: W(p) = p^α(1 − p), the convexity-sweep form. */
export const negProbPower: Objective<NegProbPowerParams> = {
  id: "neg-prob-power",
  summary: "-p^alpha/alpha (convexity sweep): same gradient as general-family",
  source: "Li et al. 2025 (arXiv 2510.00526), Fig. 6; official code `convexity-alpha`",
  params,
  descentWeight: (p, { alpha }) => Math.pow(p, alpha) * (1 - p),
  lossAt: (p, { alpha }) => -Math.exp(alpha * Math.log(p)) / alpha,
  perToken: (view, { alpha }) => ({
    loss: tf.div(tf.neg(tf.exp(tf.mul(view.logProbTarget, alpha))), alpha),
  }),
};
