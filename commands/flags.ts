/**
 * Command-line flag parsing shared by the commands: node:util parseArgs with its errors turned
 * into one-line ConfigErrors.
 *
 * @module
 */
import { Effect } from "effect";
import { parseArgs } from "node:util";
import { ConfigError, type UserError } from "../core/errors.ts";

/** A command: its arguments in, an Effect that fails only with user errors out. */
export type Command = (args: ReadonlyArray<string>) => Effect.Effect<void, UserError>;

/** The option specs accepted by {@link parseFlags}. */
export type FlagSpecs = Record<string, { type: "string" | "boolean"; multiple?: boolean }>;

/**
 * Parses flags strictly (unknown flags are errors).
 *
 * @param command The command name, for messages.
 * @param args The arguments after the command.
 * @param options The flags it accepts.
 * @returns The parsed values and positionals.
 */
export function parseFlags<const O extends FlagSpecs>(
  command: string,
  args: ReadonlyArray<string>,
  options: O,
): Effect.Effect<
  ReturnType<
    typeof parseArgs<{ options: O; args: string[]; allowPositionals: true; strict: true }>
  >,
  ConfigError
> {
  return Effect.try({
    try: () => parseArgs({ args: [...args], options, allowPositionals: true, strict: true }),
    catch: (error) =>
      new ConfigError({
        message: `${command}: ${(error as Error).message.split("\n")[0]}`,
        where: "command line",
      }),
  });
}

/**
 * Parses a number flag.
 *
 * @param command The command name.
 * @param flag The flag name.
 * @param value Its text, or undefined.
 * @param fallback The default.
 * @returns The number, or a ConfigError naming the flag and the value.
 */
export function numberFlag(
  command: string,
  flag: string,
  value: string | undefined,
  fallback: number,
): Effect.Effect<number, ConfigError> {
  if (value === undefined) return Effect.succeed(fallback);
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n)) {
    return Effect.fail(
      new ConfigError({
        message: `${command}: --${flag} must be a number, got ${JSON.stringify(value)}`,
        where: "command line",
      }),
    );
  }
  return Effect.succeed(n);
}
