/**
 * An example third-party plugin: the Tsallis q-logarithm objective, loaded by file path with
 * `deno task list --plugin plugins/examples/tsallis_log.ts`.
 *
 * f(p) = −ln_q p = −(p^(1−q) − 1)/(1 − q), for q in [0, 1): q → 1 is NLL, q = 0 is 1 − p.
 * Descent weight W_f(p) = p^(1−q)·(1 − p), the general family with α = 1 − q.
 * Source: Lin & Ie 2026 (arXiv 2604.25907), reparametrised as in Li et al. 2025 §9.
 *
 * A plugin is a plain value exported as `default` (or `plugin`); it imports the contracts as
 * types only, so it never registers anything at import time.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Effect, Schema } from "effect";
import type { Objective, ParamsSchema, Plugin } from "../../mod.ts";

/** Params of {@link tsallisLog}. */
export interface TsallisLogParams {
  /** The entropic index q in [0, 1). */
  readonly q: number;
}

const params: ParamsSchema<TsallisLogParams> = Schema.Struct({
  q: Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0), Schema.isLessThan(1)).pipe(
    Schema.withDecodingDefaultKey(Effect.succeed(0.5)),
  ),
});

/** −ln_q p. */
export const tsallisLog: Objective<TsallisLogParams> = {
  id: "tsallis-log",
  summary: "Tsallis q-log, -(p^(1-q) - 1)/(1 - q): NLL as q -> 1, 1 - p at q = 0",
  source: "Lin & Ie 2026 (arXiv 2604.25907)",
  params,
  descentWeight: (p, { q }) => p ** (1 - q) * (1 - p),
  lossAt: (p, { q }) => -(p ** (1 - q) - 1) / (1 - q),
  perToken: (view, { q }) => ({
    loss: tf.div(tf.sub(1, tf.exp(tf.mul(1 - q, view.logProbTarget))), 1 - q),
  }),
};

/** The example plugin. */
const plugin: Plugin = {
  name: "example-tsallis",
  objectives: [tsallisLog as Objective<unknown>],
};

export default plugin;
