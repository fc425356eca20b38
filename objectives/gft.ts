/**
 * `gft` (GFT's dynamic coefficient rectification): ℓ = −C(p)·log p with C = sg(p) when p < τ and
 * C = 1 otherwise: DFT on unlikely tokens, NLL on confident ones (the opposite piece-wise pattern
 * to thresholded NLL).
 *
 * - Descent weight: W(p) = p(1 − p) for p < τ, (1 − p) for p ≥ τ.
 * - Source: Gan et al. 2026, "GFT: From Imitation to Reward Fine-Tuning" (read from an indexed
 *   copy of its paper text; τ has no verified default, so it is required).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Schema } from "effect";
import { stopGradient } from "../core/ops.ts";
import type { Objective, ParamsSchema } from "../core/plugin.ts";
import { probOf, unitInterval } from "./_common.ts";

/** Params of {@link gft}. */
export interface GftParams {
  /** The switch point τ ∈ [0, 1]: below it the DFT coefficient sg(p), above it 1. */
  readonly tau: number;
}

const params: ParamsSchema<GftParams> = Schema.Struct({ tau: unitInterval() });

/** −C(p) log p, C = sg(p) below τ, 1 above. */
export const gft: Objective<GftParams> = {
  id: "gft",
  summary: "GFT rectification, -C(p) log p, C = sg(p) if p < tau else 1 (Gan et al. 2026)",
  source: "Gan et al. 2026, GFT (dynamic coefficient rectification)",
  params,
  descentWeight: (p, { tau }) => (p < tau ? p * (1 - p) : 1 - p),
  lossAt: (p, { tau }) => (p < tau ? -p * Math.log(p) : -Math.log(p)),
  perToken: (view, { tau }) => {
    const p = stopGradient(probOf(view.logProbTarget));
    const coefficient = tf.where(tf.greaterEqual(p, tau), tf.onesLike(p), p);
    return { loss: tf.neg(tf.mul(coefficient, view.logProbTarget)) };
  },
};
