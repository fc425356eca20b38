/**
 * `anchored` (Anchored SFT, ASFT): ℓ = −sg(p)·log p + λ·KL(π_ref(·|ctx) ‖ π_θ(·|ctx)), the KL
 * summed over the vocabulary at every supervised position, π_ref the frozen base model.
 *
 * - Gradient: the DFT weight on the target logit, −∂ℓ/∂z_y ⊇ p(1 − p), plus the KL gradient
 *   λ(p_i − π_ref,i) on every logit i. Not a function of p alone, so no closed-form W is
 *   declared.
 * - Needs the model's logits and the reference (base) logits.
 * - Source: Zhu et al. 2025, "Anchored Supervised Fine-Tuning" (arXiv 2509.23753); code
 *   `zhuchichi56/ASFT`, `train_v2.py` (`F.kl_div(log_softmax(z), softmax(z_ref))`, summed over
 *   the vocabulary; `kl_weight` default 0.1).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Schema } from "effect";
import { stopGradient } from "../core/ops.ts";
import type { Objective, ParamsSchema } from "../core/plugin.ts";
import { nonNegative, probOf, withDefault } from "./_common.ts";

/** Params of {@link anchored}. */
export interface AnchoredParams {
  /** λ ≥ 0, the weight of the KL anchor (`kl_weight`). @default 0.1 */
  readonly lambda: number;
}

const params: ParamsSchema<AnchoredParams> = Schema.Struct({
  lambda: withDefault(nonNegative(), 0.1),
});

/** DFT plus λ·KL(π_ref ‖ π_θ) per position. */
export const anchored: Objective<AnchoredParams> = {
  id: "anchored",
  summary: "Anchored SFT: DFT + lambda KL(pi_ref || pi_theta) per position (Zhu et al. 2025)",
  source: "Zhu et al. 2025 (arXiv 2509.23753); code zhuchichi56/ASFT train_v2.py",
  params,
  needs: { logits: true, referenceLogits: true },
  perToken(view, { lambda }) {
    if (view.logits === undefined || view.referenceLogits === undefined) {
      throw new Error(
        `Objective "anchored" needs the model's logits and the reference logits in its token ` +
          `view, got ${view.logits === undefined ? "no logits" : "no reference logits"}`,
      );
    }
    const dftLoss = tf.neg(tf.mul(stopGradient(probOf(view.logProbTarget)), view.logProbTarget));
    const logQ = tf.logSoftmax(view.logits);
    const logRef = tf.logSoftmax(stopGradient(view.referenceLogits));
    const kl = tf.sum(tf.mul(tf.exp(logRef), tf.sub(logRef, logQ)), -1);
    return { loss: tf.add(dftLoss, tf.mul(kl, lambda)) };
  },
};
