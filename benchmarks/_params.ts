/**
 * Schema helpers for the generators' params: positive integers, rates in [0, 1] and flags, each
 * with a decoding default so that `{}` decodes to the documented defaults.
 *
 * @module
 */
import { Effect, Schema } from "effect";

/**
 * A positive integer param with a default.
 *
 * @param value The default.
 * @returns The field Schema.
 */
export function positiveInt(
  value: number,
): Schema.withDecodingDefaultKey<Schema.Int> {
  return Schema.Int.check(Schema.isGreaterThan(0)).pipe(
    Schema.withDecodingDefaultKey(Effect.succeed(value)),
  );
}

/**
 * A non-negative integer param with a default.
 *
 * @param value The default.
 * @returns The field Schema.
 */
export function nonNegativeInt(
  value: number,
): Schema.withDecodingDefaultKey<Schema.Int> {
  return Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)).pipe(
    Schema.withDecodingDefaultKey(Effect.succeed(value)),
  );
}

/**
 * A probability param in [0, 1] with a default.
 *
 * @param value The default.
 * @returns The field Schema.
 */
export function rate(value: number): Schema.withDecodingDefaultKey<Schema.Number> {
  return Schema.Number.check(Schema.isBetween({ minimum: 0, maximum: 1 })).pipe(
    Schema.withDecodingDefaultKey(Effect.succeed(value)),
  );
}

/**
 * A boolean param with a default.
 *
 * @param value The default.
 * @returns The field Schema.
 */
export function flag(value: boolean): Schema.withDecodingDefaultKey<Schema.Boolean> {
  return Schema.Boolean.pipe(Schema.withDecodingDefaultKey(Effect.succeed(value)));
}
