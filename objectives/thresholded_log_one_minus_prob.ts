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
import type { Objective } from "../core/plugin.ts";
import { nonNegative, withDefault } from "./_common.ts";
import { logOneMinusProb, type LogOneMinusProbParams } from "./log_one_minus_prob.ts";
import { thresholded, type ThresholdParams } from "./threshold.ts";

/** Params of {@link thresholdedLogOneMinusProb}. */
export interface ThresholdedLogOneMinusProbParams extends ThresholdParams, LogOneMinusProbParams {}

/** log(1 − p + ε) on tokens with p ≥ τ (or p ≤ τ): W(p) ≈ p·1{p ∈ I}. */
export const thresholdedLogOneMinusProb: Objective<ThresholdedLogOneMinusProbParams> = thresholded(
  logOneMinusProb,
  { epsilon: withDefault(nonNegative(), 1e-3) },
  {
    id: "thresholded-log-one-minus-prob",
    summary: "log(1 - p + eps) on tokens with p >= tau (or <= tau), kept-token mean (Fig. 5)",
    source: "Li et al. 2025 (arXiv 2510.00526), Fig. 5; official code `UnlikehoodTop/Bottom-q`",
  },
);
