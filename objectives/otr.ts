/**
 * `otr` (One-Token Rollout), experimental: at every position, draw K candidate tokens a_k from
 * π_θ(·|s_t) at a temperature (Gumbel-max, deterministic given `view.seed`), reward r_k = +1 when
 * a_k is the target and −β otherwise, and take the REINFORCE loss
 * ℓ = −(1/K)·Σ_k r_k·log π_θ(a_k|s_t) (log π at temperature 1). The −β reward penalises the
 * probability of sampled wrong tokens.
 *
 * - Stochastic: no closed-form W. With all K samples equal to the target it is NLL; a sampled
 *   wrong token a contributes β·log π(a)/K.
 * - The constants (reward values, K, temperature, whether the target is always included) are
 *   NOT verified against the paper or code: only its abstract and reviews were available. Treat
 *   results with it as exploratory.
 * - Source: Ming et al. 2025, "One-Token Rollout" (arXiv 2509.26313).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Effect, Schema } from "effect";
import { stopGradient } from "../core/ops.ts";
import type { Objective, ParamsSchema } from "../core/plugin.ts";
import { nonNegative, positive, withDefault } from "./_common.ts";

/** Params of {@link otr}. */
export interface OtrParams {
  /** K, the number of sampled tokens per position (an integer ≥ 1). @default 8 */
  readonly samples: number;
  /** The sampling temperature (> 0). @default 1 */
  readonly temperature: number;
  /** β ≥ 0: a sampled wrong token gets reward −β. @default 1 */
  readonly beta: number;
}

const params: ParamsSchema<OtrParams> = Schema.Struct({
  samples: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 1024 })).pipe(
    Schema.withDecodingDefaultKey(Effect.succeed(8)),
  ),
  temperature: withDefault(positive(), 1),
  beta: withDefault(nonNegative(), 1),
}) as ParamsSchema<OtrParams>;

/** Keeps the uniform draws off 0 and 1 so that the Gumbel noise −log(−log u) stays finite. */
const margin = 1e-7;

/** One-token rollout: REINFORCE over K sampled tokens, +1 for the target, −β otherwise. */
export const otr: Objective<OtrParams> = {
  id: "otr",
  summary: "One-token rollout (experimental): REINFORCE over K sampled tokens, +1 / -beta",
  source: "Ming et al. 2025 (arXiv 2509.26313); constants unverified",
  experimental: true,
  params,
  needs: { logits: true },
  perToken(view, { samples, temperature, beta }) {
    if (view.logits === undefined) {
      throw new Error(`Objective "otr" needs the model's logits in its token view`);
    }
    const [batch, time, vocab] = view.logits.shape;
    // Gumbel-max sampling from softmax(z / T), K draws per position, with no gradient.
    const scaled = tf.div(stopGradient(view.logits), temperature);
    const u = tf.randomUniform(
      [batch, time, samples, vocab],
      margin,
      1 - margin,
      "float32",
      view.seed,
    );
    const gumbel = tf.neg(tf.log(tf.neg(tf.log(u))));
    const drawn = tf.argMax(tf.add(tf.expandDims(scaled, 2), gumbel), -1); // [batch, time, K]
    const drawnOneHot = tf.oneHot(drawn, vocab); // [batch, time, K, vocab]
    const targetOneHot = tf.oneHot(tf.cast(view.targets, "int32"), vocab); // [batch, time, vocab]
    const hit = tf.sum(tf.mul(drawnOneHot, tf.expandDims(targetOneHot, 2)), -1); // 1 or 0
    const reward = tf.sub(tf.mul(hit, 1 + beta), beta); // +1 or −β
    const logPi = tf.logSoftmax(view.logits); // [batch, time, vocab]
    const logPiDrawn = tf.sum(tf.mul(drawnOneHot, tf.expandDims(logPi, 2)), -1); // [batch, time, K]
    return { loss: tf.neg(tf.mean(tf.mul(reward, logPiDrawn), -1)) };
  },
};
