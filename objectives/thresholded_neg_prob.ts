/**
 * `thresholded-neg-prob`: f(p) = (1 − p)·1{p ∈ I}, I = [τ, 1] (`keep: "above"`) or [0, τ]
 * (`keep: "below"`).
 *
 * - Descent weight: W_f(p) = p(1 − p)·1{p ∈ I}; gated-out tokens get exactly zero gradient and
 *   leave the token-mean denominator (the gate is returned as `keep`).
 * - τ may be `{ "percentile": q }`, resolved from the base model before training.
 * - Source: Li et al. 2025, "Beyond Log Likelihood" (arXiv 2510.00526), Eq. (4); keys
 *   `OnlyTopP-q` / `OnlyBottomP-q` of the official code.
 *
 * @module
 */
import type { Objective } from "../core/plugin.ts";
import { negProb } from "./neg_prob.ts";
import { thresholded, type ThresholdParams } from "./threshold.ts";

/** Params of {@link thresholdedNegProb}. */
export type ThresholdedNegProbParams = ThresholdParams;

/** 1 − p on tokens with p ≥ τ (or p ≤ τ): W(p) = p(1 − p)·1{p ∈ I}. */
export const thresholdedNegProb: Objective<ThresholdedNegProbParams> = thresholded(negProb, {}, {
  id: "thresholded-neg-prob",
  summary: "1 - p on tokens with p >= tau (or <= tau), kept-token mean (Eq. 4)",
  source: "Li et al. 2025 (arXiv 2510.00526), Eq. 4; official code `OnlyTopP-q`, `OnlyBottomP-q`",
});
