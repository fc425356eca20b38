/**
 * `huber-prob`: f(p) = φ_δ(1 − p), the Huber function of the error e = 1 − p, with
 * φ_δ(e) = e²/2 for e ≤ δ and δ(e − δ/2) beyond. Prior-leaning per the paper.
 *
 * - Descent weight: W_f(p) = p(1 − p)² when 1 − p ≤ δ, else δ·p(1 − p).
 * - Source: Li et al. 2025 (arXiv 2510.00526), App. F.2. The paper gives no δ; the default 1 is
 *   PyTorch's `HuberLoss` default (with δ ≥ 1 the quadratic piece covers all of [0, 1]).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Schema } from "effect";
import type { Objective, ParamsSchema } from "../core/plugin.ts";
import { oneMinusProbOf, positive, withDefault } from "./_common.ts";

/** Params of {@link huberProb}. */
export interface HuberProbParams {
  /** The Huber threshold δ > 0 on the error 1 − p. @default 1 */
  readonly delta: number;
}

const params: ParamsSchema<HuberProbParams> = Schema.Struct({
  delta: withDefault(positive(), 1),
});

/** φ_δ(1 − p): W(p) = p(1 − p)² inside δ, δ·p(1 − p) beyond. */
export const huberProb: Objective<HuberProbParams> = {
  id: "huber-prob",
  summary: "Huber on the error 1 - p: W(p) = p(1 - p)^2 inside delta, delta p(1 - p) beyond",
  source: "Li et al. 2025 (arXiv 2510.00526), App. F.2",
  params,
  descentWeight: (p, { delta }) => (1 - p <= delta ? p * (1 - p) * (1 - p) : delta * p * (1 - p)),
  lossAt: (p, { delta }) => {
    const e = 1 - p;
    return e <= delta ? (e * e) / 2 : delta * (e - delta / 2);
  },
  perToken: (view, { delta }) => {
    const e = oneMinusProbOf(view.logProbTarget);
    const quadratic = tf.mul(tf.square(e), 0.5);
    const linear = tf.mul(tf.sub(e, delta / 2), delta);
    return { loss: tf.where(tf.greaterEqual(tf.scalar(delta), e), quadratic, linear) };
  },
};
