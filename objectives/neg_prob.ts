/**
 * `neg-prob`: f(p) = 1 − p, the paper's "−p" (the constant 1 changes nothing).
 *
 * - Descent weight: W_f(p) = −f′(p)·p·(1−p) = p(1−p), peaking at p = ½ (prior-leaning relative
 *   to NLL). Same gradient as DFT on every logit.
 * - Source: Li et al. 2025, "Beyond Log Likelihood" (arXiv 2510.00526), Eq. (3) at α = 1; key `p`
 *   of the official code (`loss = 1 - prob_coefficients`).
 *
 * @module
 */
import { Schema } from "effect";
import type { Objective, ParamsSchema } from "../core/plugin.ts";
import { oneMinusProbOf } from "./_common.ts";

/** Params of {@link negProb}: none. */
export type NegProbParams = Record<string, never>;

const params: ParamsSchema<NegProbParams> = Schema.Record(Schema.String, Schema.Never);

/** 1 − p ("−p"): W(p) = p(1 − p). */
export const negProb: Objective<NegProbParams> = {
  id: "neg-prob",
  summary: "1 - p (the paper's -p): W(p) = p(1 - p), peaks at p = 1/2",
  source: "Li et al. 2025 (arXiv 2510.00526), Eq. 3 at alpha = 1; official code `p`",
  params,
  descentWeight: (p) => p * (1 - p),
  lossAt: (p) => 1 - p,
  perToken: (view) => ({ loss: oneMinusProbOf(view.logProbTarget) }),
};
