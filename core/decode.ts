/**
 * Decoding untrusted values with a Schema into one-line errors that give the field path and the
 * bad value: `alpha: expected a value greater than 0, got -1`.
 *
 * @module
 */
import { Effect, Exit, Schema, SchemaIssue } from "effect";
import { ConfigError, showValue } from "./errors.ts";

const formatter = SchemaIssue.makeFormatterStandardSchemaV1();

type PathKey = PropertyKey | { readonly key: PropertyKey };

function keyOf(segment: PathKey): PropertyKey {
  return typeof segment === "object" && segment !== null ? segment.key : segment;
}

function valueAt(input: unknown, path: ReadonlyArray<PathKey>): unknown {
  let value = input;
  for (const segment of path) {
    if (typeof value !== "object" || value === null) return undefined;
    value = (value as Record<PropertyKey, unknown>)[keyOf(segment)];
  }
  return value;
}

/**
 * Renders a path as dots and brackets: `objectives[0].params.alpha`.
 *
 * @param prefix The path of the decoded value itself (may be empty).
 * @param path The keys below it.
 * @returns The joined path.
 */
export function joinPath(prefix: string, path: ReadonlyArray<PathKey>): string {
  let out = prefix;
  for (const segment of path) {
    const key = keyOf(segment);
    if (typeof key === "number") out += `[${key}]`;
    else if (typeof key === "string" && !/^[A-Za-z_$][\w$-]*$/.test(key)) {
      out += `[${JSON.stringify(key)}]`; // odd keys quoted, so the path stays on one line
    } else out += out === "" ? String(key) : `.${String(key)}`;
  }
  return out;
}

function lowerFirst(text: string): string {
  return text.length === 0 ? text : text[0]!.toLowerCase() + text.slice(1);
}

/**
 * Formats a Schema failure as one line per issue joined by "; ", each with its field path and the
 * value found there.
 *
 * @param error The failure of a Schema decode.
 * @param input The value that was decoded.
 * @param prefix The field path of `input` within the whole config.
 * @returns A one-line description.
 */
export function describeSchemaError(error: unknown, input: unknown, prefix: string): string {
  if (!Schema.isSchemaError(error)) return String(error);
  const { issues } = formatter(error.issue);
  return issues.map((issue) => {
    const path = joinPath(prefix, issue.path ?? []);
    const message = lowerFirst(issue.message.split("\n")[0] ?? "");
    // An excess key is reported as "expected never" by a struct with no fields.
    if (message.startsWith("expected no excess property") || message === "expected never") {
      return `unknown key ${path === "" ? "(root)" : path}`;
    }
    if (message.startsWith("missing key")) return `${path}: missing`;
    const got = showValue(valueAt(input, issue.path ?? []));
    return `${path === "" ? "(root)" : path}: ${message}, got ${got}`;
  }).join("; ");
}

/**
 * Decodes an untrusted value, rejecting unknown keys, into a typed value or a {@link ConfigError}.
 *
 * @param schema The Schema to decode with.
 * @param input The untrusted value.
 * @param context What is being decoded and where, e.g. `params of objective "general-family"`
 *   and the field path of `input` in the config.
 * @returns The decoded value.
 */
export function decodeWith<A>(
  schema: Schema.Codec<A, unknown>,
  input: unknown,
  context: { readonly what: string; readonly where: string; readonly path?: string },
): Effect.Effect<A, ConfigError> {
  const exit = Schema.decodeUnknownExit(schema)(input, {
    onExcessProperty: "error",
    errors: "all",
  });
  if (Exit.isSuccess(exit)) return Effect.succeed(exit.value);
  const failure = exit.cause.reasons.find((reason) => reason._tag === "Fail");
  const detail = failure && failure._tag === "Fail"
    ? describeSchemaError(failure.error, input, context.path ?? "")
    : "cannot be decoded";
  return Effect.fail(
    new ConfigError({
      message: `Cannot decode ${context.what}: ${detail} (${context.where})`,
      where: context.where,
    }),
  );
}

/**
 * Synchronous {@link decodeWith}: returns the value or throws the {@link ConfigError}.
 *
 * @param schema The Schema to decode with.
 * @param input The untrusted value.
 * @param context What is decoded and where.
 * @returns The decoded value.
 */
export function decodeWithSync<A>(
  schema: Schema.Codec<A, unknown>,
  input: unknown,
  context: { readonly what: string; readonly where: string; readonly path?: string },
): A {
  const exit = Effect.runSyncExit(decodeWith(schema, input, context));
  if (Exit.isSuccess(exit)) return exit.value;
  const failure = exit.cause.reasons.find((reason) => reason._tag === "Fail");
  throw failure && failure._tag === "Fail" ? failure.error : new Error("decode failed");
}
