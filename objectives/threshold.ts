/**
 * Hard thresholds for the thresholded objectives (Eq. 4 of Li et al. 2025): keep a token when its
 * current probability p lies in I = [τ, 1] (`keep: "above"`) or I = [0, τ] (`keep: "below"`).
 *
 * The gate is recomputed from the current model's p at every step and returned to the core as
 * `keep`: the core treats it as a constant (no gradient) and divides by the number of kept
 * tokens, exactly as the official code overwrites its loss mask
 * (`loss_mask = loss_mask * (prob_coefficients >= q)`).
 *
 * τ is either a probability or `{ "percentile": q }`: the q-th percentile (q ∈ [0, 100]) of the
 * base model's target-token probabilities, filled in before training by the objective's
 * `resolve(params, base)` (the objective declares `needs.baseStatistics`).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Effect, Schema } from "effect";
import type { BaseStatistics, Objective, ParamsSchema } from "../core/plugin.ts";
import { unitInterval } from "./_common.ts";

/** A threshold: a probability in [0, 1], or a percentile of the base model's p in [0, 100]. */
export type Threshold = number | { readonly percentile: number };

/** Which side of τ is kept: `"above"` keeps p ≥ τ, `"below"` keeps p ≤ τ. */
export type Keep = "above" | "below";

/** The params every thresholded objective has. */
export interface ThresholdParams {
  /** The threshold τ (a probability, or a percentile of the base model's p). */
  readonly tau: Threshold;
  /** Which side of τ is trained. @default "above" */
  readonly keep: Keep;
}

/** The schema fields `tau` and `keep` (keep defaults to "above"). */
export const thresholdFields: {
  readonly tau: Schema.Codec<Threshold, unknown>;
  readonly keep: Schema.Codec<Keep, unknown>;
} = {
  tau: Schema.Union([
    unitInterval(),
    Schema.Struct({
      percentile: Schema.Finite.check(Schema.isBetween({ minimum: 0, maximum: 100 })),
    }),
  ]) as Schema.Codec<Threshold, unknown>,
  keep: Schema.Literals(["above", "below"]).pipe(
    Schema.withDecodingDefaultKey(Effect.succeed("above" as const)),
  ) as Schema.Codec<Keep, unknown>,
};

/**
 * The numeric τ of resolved params.
 *
 * @param id The objective id, named in the error.
 * @param tau The threshold.
 * @returns τ as a probability.
 * @throws Error when τ is still a percentile (the objective's `resolve` was not called).
 */
export function numericTau(id: string, tau: Threshold): number {
  if (typeof tau === "number") return tau;
  throw new Error(
    `Objective "${id}" was called with an unresolved percentile threshold ` +
      `(tau: { percentile: ${tau.percentile} }): call its resolve(params, base) with the base ` +
      `model's statistics before training`,
  );
}

/**
 * Replaces a percentile τ by the base model's p at that percentile.
 *
 * @param params Params with a threshold.
 * @param base The base model's statistics.
 * @returns The params with a numeric τ (unchanged when τ is already a number).
 */
export function resolveThreshold<P extends ThresholdParams>(params: P, base: BaseStatistics): P {
  if (typeof params.tau === "number") return params;
  const tau = Math.min(1, Math.max(0, base.quantile(params.tau.percentile)));
  return { ...params, tau };
}

/**
 * Whether a probability is kept: p ≥ τ ("above") or p ≤ τ ("below").
 *
 * @param p The probability.
 * @param tau τ.
 * @param keep The kept side.
 * @returns True when kept.
 */
export function isKept(p: number, tau: number, keep: Keep): boolean {
  return keep === "above" ? p >= tau : p <= tau;
}

/**
 * The 0/1 gate `[batch, time]` of the kept tokens, as float32.
 *
 * @param p The current probabilities.
 * @param tau τ.
 * @param keep The kept side.
 * @returns 1 where kept, 0 elsewhere.
 */
export function gateOf(p: tf.Tensor, tau: number, keep: Keep): tf.Tensor {
  // greaterEqual is the comparison with a registered (zero) gradient in tfjs; the others have
  // none and would break backpropagation through the tape.
  const kept = keep === "above" ? tf.greaterEqual(p, tau) : tf.greaterEqual(tf.scalar(tau), p);
  return tf.cast(kept, "float32");
}

/** What {@link thresholded} needs besides the base objective. */
export interface ThresholdedOptions {
  /** The id of the thresholded objective. */
  readonly id: string;
  /** Its one-line summary. */
  readonly summary: string;
  /** Where it comes from. */
  readonly source: string;
}

/**
 * The thresholded version of an objective f: f(p)·1{p ∈ I}. Its params are the base's plus
 * `tau` and `keep`; its gate is recomputed from the current p at every step and returned as
 * `keep`, so gated-out tokens get exactly zero gradient and leave the token-mean denominator.
 *
 * @param base The objective to gate (its closed forms, if any, are gated too).
 * @param baseFields The Schema fields of the base's params (none for a parameter-free base).
 * @param options Id, summary and source of the thresholded objective.
 * @returns The thresholded objective.
 */
export function thresholded<B extends object>(
  base: Objective<B>,
  baseFields: Schema.Struct.Fields,
  options: ThresholdedOptions,
): Objective<B & ThresholdParams> {
  const { id } = options;
  const params = Schema.Struct({ ...baseFields, ...thresholdFields }) as unknown as ParamsSchema<
    B & ThresholdParams
  >;
  const baseWeight = base.descentWeight;
  const baseLoss = base.lossAt;
  return {
    ...options,
    params,
    needs: { ...base.needs, baseStatistics: true },
    resolve: resolveThreshold,
    keptAt: (p: number, q: B & ThresholdParams) => isKept(p, numericTau(id, q.tau), q.keep),
    ...(baseWeight
      ? {
        descentWeight: (p: number, q: B & ThresholdParams) =>
          isKept(p, numericTau(id, q.tau), q.keep) ? baseWeight(p, q) : 0,
      }
      : {}),
    ...(baseLoss
      ? {
        lossAt: (p: number, q: B & ThresholdParams) =>
          isKept(p, numericTau(id, q.tau), q.keep) ? baseLoss(p, q) : 0,
      }
      : {}),
    perToken: (view, q) => ({
      loss: base.perToken(view, q).loss,
      keep: gateOf(tf.exp(view.logProbTarget), numericTau(id, q.tau), q.keep),
    }),
  };
}
