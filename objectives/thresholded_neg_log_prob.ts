/**
 * `thresholded-neg-log-prob`: f(p) = −log p · 1{p ∈ I}, I = [τ, 1] (`keep: "above"`, the paper's
 * "thresholded −log(p)", τ = 0.2 in Tab. 1) or I = [0, τ] (`keep: "below"`, an ablation).
 *
 * - Descent weight: W_f(p) = (1 − p)·1{p ∈ I}; gated-out tokens get exactly zero gradient and
 *   leave the token-mean denominator (the gate is returned as `keep`).
 * - τ may be `{ "percentile": q }`, resolved from the base model before training (Fig. 5).
 * - Source: Li et al. 2025, "Beyond Log Likelihood" (arXiv 2510.00526), Eq. (4), Tab. 1, Fig. 5;
 *   keys `OnlyTopLogP-q` / `OnlyBottomLogP-q` of the official code.
 *
 * @module
 */
import type { Objective } from "../core/plugin.ts";
import { negLogProb } from "./neg_log_prob.ts";
import { thresholded, type ThresholdParams } from "./threshold.ts";

/** Params of {@link thresholdedNegLogProb}. */
export type ThresholdedNegLogProbParams = ThresholdParams;

/** −log p on tokens with p ≥ τ (or p ≤ τ): W(p) = (1 − p)·1{p ∈ I}. */
export const thresholdedNegLogProb: Objective<ThresholdedNegLogProbParams> = thresholded(
  negLogProb,
  {},
  {
    id: "thresholded-neg-log-prob",
    summary: "-log p on tokens with p >= tau (or <= tau), kept-token mean (Eq. 4)",
    source: "Li et al. 2025 (arXiv 2510.00526), Eq. 4, Tab. 1; official code `OnlyTopLogP-q`",
  },
);
