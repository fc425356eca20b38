/**
 * `deft`: the general family f_α(p) = (1 − p^α)/α with a per-token, data-dependent α (no
 * gradient through α), interpolating between NLL on uncertain positions (α → 0) and −p on
 * confident ones (α → 1).
 *
 * - `variant: "renyi"` (default, the code's `DEFT`): α = sg(Σ_v p_v²), the Rényi-2 concentration
 *   of the model's distribution at the position; loss = −(exp(α·log p) − 1)/(α + 10⁻⁶).
 * - `variant: "cayley"` (the code's `Cayley_Trans`): d = 1 − sg(p) + 10⁻⁸,
 *   α = clamp(a₀ + (1 − a₀)·(1 − d)/(1 + d + 10⁻⁸), 0.001, 1) with a₀ = ½·(mean of sg(p) over the
 *   batch's supervised tokens); loss = −(exp(α·log p) − 1)/(α + 10⁻⁸).
 * - Descent weight for a fixed α: W(p) = p^α(1 − p) (up to the ε in the denominator). α depends
 *   on the whole distribution (or batch), so no closed-form W is declared.
 * - Needs the model's logits (the Rényi variant reads them).
 * - Source: DEFT, arXiv 2602.11424; code `luludus/DEFT` (`main_verl/trainer/fsdp_sft_trainer.py`,
 *   branches `DEFT` and `Cayley_Trans`).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Effect, Schema } from "effect";
import { stopGradient } from "../core/ops.ts";
import type { Objective, ParamsSchema } from "../core/plugin.ts";
import { probOf } from "./_common.ts";

/** Params of {@link deft}. */
export interface DeftParams {
  /** How α is computed per token. @default "renyi" */
  readonly variant: "renyi" | "cayley";
}

const params: ParamsSchema<DeftParams> = Schema.Struct({
  variant: Schema.Literals(["renyi", "cayley"]).pipe(
    Schema.withDecodingDefaultKey(Effect.succeed("renyi" as const)),
  ),
}) as ParamsSchema<DeftParams>;

/** (1 − p^α)/α with α = sg(Σ p_v²) ("renyi") or the Cayley transform of p ("cayley"). */
export const deft: Objective<DeftParams> = {
  id: "deft",
  summary: "DEFT: (1 - p^a)/a with a per-token a = sg(sum p_v^2) or its Cayley form",
  source: "DEFT (arXiv 2602.11424); code luludus/DEFT, branches DEFT and Cayley_Trans",
  params,
  needs: { logits: true },
  perToken(view, { variant }) {
    const logP = view.logProbTarget;
    let alpha: tf.Tensor;
    let epsilon: number;
    if (variant === "renyi") {
      if (view.logits === undefined) {
        throw new Error(`Objective "deft" (variant "renyi") needs the model's logits in its view`);
      }
      alpha = stopGradient(tf.sum(tf.square(tf.softmax(view.logits)), -1));
      epsilon = 1e-6;
    } else {
      const p = stopGradient(probOf(logP));
      const mask = tf.cast(view.mask, "float32");
      const meanP = tf.div(tf.sum(tf.mul(p, mask)), tf.maximum(tf.sum(mask), 1));
      const floor = tf.mul(meanP, 0.5);
      const d = tf.add(tf.sub(1, p), 1e-8);
      const local = tf.div(tf.sub(1, d), tf.add(tf.add(d, 1), 1e-8));
      alpha = tf.clipByValue(tf.add(floor, tf.mul(tf.sub(1, floor), local)), 0.001, 1);
      epsilon = 1e-8;
    }
    const loss = tf.div(tf.sub(1, tf.exp(tf.mul(alpha, logP))), tf.add(alpha, epsilon));
    return { loss };
  },
};
