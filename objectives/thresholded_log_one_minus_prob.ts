/**
 * `thresholded-log-one-minus-prob`: f(p) = log(1 − p + ε)·1{p ∈ I}, I = [τ, 1]
 * (`keep: "above"`) or [0, τ] (`keep: "below"`), ε default 10⁻³ as in the official code.
 *
 * - Descent weight: W_f(p) = p(1 − p)/(1 − p + ε)·1{p ∈ I} ≈ p on kept tokens; gated-out tokens
 *   get exactly zero gradient and leave the token-mean denominator (the gate is returned as
 *   `keep`).
 * - τ may be `{ "percentile": q }`, resolved from the base model before training (Fig. 5).
 * - Source: Li et al. 2025, "Beyond Log Likelihood" (arXiv 2510.00526), Fig. 5; keys
 *   `UnlikehoodTop-q` / `UnlikehoodBottom-q` of a later version of the official code.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Schema } from "effect";
import type { Objective, ParamsSchema } from "../core/plugin.ts";
import { nonNegative, oneMinusProbOf, probOf, withDefault } from "./_common.ts";
import {
  gateOf,
  isKept,
  numericTau,
  resolveThreshold,
  thresholdFields,
  type ThresholdParams,
} from "./threshold.ts";

/** Params of {@link thresholdedLogOneMinusProb}. */
export interface ThresholdedLogOneMinusProbParams extends ThresholdParams {
  /** ε ≥ 0 inside the log. @default 0.001 */
  readonly epsilon: number;
}

const id = "thresholded-log-one-minus-prob";

const params: ParamsSchema<ThresholdedLogOneMinusProbParams> = Schema.Struct({
  ...thresholdFields,
  epsilon: withDefault(nonNegative(), 1e-3),
});

/** log(1 − p + ε) on tokens with p ≥ τ (or p ≤ τ): W(p) ≈ p·1{p ∈ I}. */
export const thresholdedLogOneMinusProb: Objective<ThresholdedLogOneMinusProbParams> = {
  id,
  summary: "log(1 - p + eps) on tokens with p >= tau (or <= tau), kept-token mean (Fig. 5)",
  source: "Li et al. 2025 (arXiv 2510.00526), Fig. 5; official code `UnlikehoodTop/Bottom-q`",
  params,
  needs: { baseStatistics: true },
  resolve: resolveThreshold,
  descentWeight: (p, { tau, keep, epsilon }) =>
    isKept(p, numericTau(id, tau), keep) ? (p * (1 - p)) / (1 - p + epsilon) : 0,
  lossAt: (p, { tau, keep, epsilon }) =>
    isKept(p, numericTau(id, tau), keep) ? Math.log(1 - p + epsilon) : 0,
  perToken: (view, { tau, keep, epsilon }) => ({
    loss: tf.log(tf.add(oneMinusProbOf(view.logProbTarget), epsilon)),
    keep: gateOf(probOf(view.logProbTarget), numericTau(id, tau), keep),
  }),
};
