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
import { Schema } from "effect";
import type { Objective, ParamsSchema } from "../core/plugin.ts";
import { oneMinusProbOf, probOf } from "./_common.ts";
import {
  gateOf,
  isKept,
  numericTau,
  resolveThreshold,
  thresholdFields,
  type ThresholdParams,
} from "./threshold.ts";

/** Params of {@link thresholdedNegProb}. */
export type ThresholdedNegProbParams = ThresholdParams;

const id = "thresholded-neg-prob";

const params: ParamsSchema<ThresholdedNegProbParams> = Schema.Struct(thresholdFields);

/** 1 − p on tokens with p ≥ τ (or p ≤ τ): W(p) = p(1 − p)·1{p ∈ I}. */
export const thresholdedNegProb: Objective<ThresholdedNegProbParams> = {
  id,
  summary: "1 - p on tokens with p >= tau (or <= tau), kept-token mean (Eq. 4)",
  source: "Li et al. 2025 (arXiv 2510.00526), Eq. 4; official code `OnlyTopP-q`, `OnlyBottomP-q`",
  params,
  needs: { baseStatistics: true },
  resolve: resolveThreshold,
  descentWeight: (p, { tau, keep }) => isKept(p, numericTau(id, tau), keep) ? p * (1 - p) : 0,
  lossAt: (p, { tau, keep }) => isKept(p, numericTau(id, tau), keep) ? 1 - p : 0,
  perToken: (view, { tau, keep }) => ({
    loss: oneMinusProbOf(view.logProbTarget),
    keep: gateOf(probOf(view.logProbTarget), numericTau(id, tau), keep),
  }),
};
