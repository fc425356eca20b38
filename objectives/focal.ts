/**
 * `focal`: f(p) = −(1 − p)^γ·log p, γ ≥ 0 (γ = 0 is NLL). More prior-averse than NLL.
 *
 * - Descent weight: W_f(p) = (1 − p)^γ·[(1 − p) − γ·p·log p].
 * - Source: Lin et al. 2017 (focal loss); for SFT, Rege Cambrin et al. 2024; formula and W_f from
 *   Li et al. 2025 (arXiv 2510.00526), App. F.2.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Schema } from "effect";
import type { Objective, ParamsSchema } from "../core/plugin.ts";
import { nonNegative, oneMinusProbOf, withDefault } from "./_common.ts";

/** Params of {@link focal}. */
export interface FocalParams {
  /** The focusing exponent γ ≥ 0. @default 2 */
  readonly gamma: number;
}

const params: ParamsSchema<FocalParams> = Schema.Struct({ gamma: withDefault(nonNegative(), 2) });

/** Smallest 1 − p used in (1 − p)^γ, so that its gradient stays finite at p = 1 in fp32. */
const tiny = 1e-30;

/** −(1 − p)^γ log p: W(p) = (1 − p)^γ[(1 − p) − γ p log p]. */
export const focal: Objective<FocalParams> = {
  id: "focal",
  summary: "focal, -(1 - p)^gamma log p: more prior-averse than NLL (App. F.2)",
  source: "Lin et al. 2017; Li et al. 2025 (arXiv 2510.00526), App. F.2",
  params,
  descentWeight: (p, { gamma }) => Math.pow(1 - p, gamma) * ((1 - p) - gamma * p * Math.log(p)),
  lossAt: (p, { gamma }) => -Math.pow(1 - p, gamma) * Math.log(p),
  perToken: (view, { gamma }) => {
    const oneMinusP = tf.maximum(oneMinusProbOf(view.logProbTarget), tiny);
    return { loss: tf.neg(tf.mul(tf.pow(oneMinusP, gamma), view.logProbTarget)) };
  },
};
