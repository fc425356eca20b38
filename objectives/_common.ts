/**
 * Private helpers shared by the built-in objectives: params schemas for the usual ranges and the
 * probability tensors every objective derives from `logProbTarget`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Effect, Schema } from "effect";

/** A finite number (NaN and ±Infinity rejected). */
export type NumberSchema = Schema.Codec<number, number>;

/** A finite number > 0. */
export function positive(): NumberSchema {
  return Schema.Finite.check(Schema.isGreaterThan(0));
}

/** A finite number ≥ 0. */
export function nonNegative(): NumberSchema {
  return Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0));
}

/** A finite number in [0, 1]. */
export function unitInterval(): NumberSchema {
  return Schema.Finite.check(Schema.isBetween({ minimum: 0, maximum: 1 }));
}

/**
 * A number schema with a default used when the key is absent.
 *
 * @param schema The schema.
 * @param value The default.
 * @returns The schema with the default.
 */
export function withDefault(schema: NumberSchema, value: number): NumberSchema {
  return schema.pipe(Schema.withDecodingDefaultKey(Effect.succeed(value))) as NumberSchema;
}

/**
 * p = exp(log p), fp32, differentiable.
 *
 * @param logP log p `[batch, time]`.
 * @returns p.
 */
export function probOf(logP: tf.Tensor): tf.Tensor {
  return tf.exp(logP);
}

/**
 * 1 − p computed as −expm1(log p): exact near p = 1, where `1 − exp(log p)` loses digits.
 *
 * @param logP log p `[batch, time]`.
 * @returns 1 − p.
 */
export function oneMinusProbOf(logP: tf.Tensor): tf.Tensor {
  return tf.neg(tf.expm1(logP));
}
