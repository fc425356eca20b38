/**
 * Parsing a part given on the command line: a bare id (`math`) or JSON
 * (`{"id":"pretrained","params":{"steps":300}}`).
 *
 * @module
 */
import { Effect } from "effect";
import { ConfigError } from "../core/errors.ts";
import type { PartChoice } from "../core/plugin.ts";

/**
 * Parses a part spec.
 *
 * @param flag The flag it came from (named in errors).
 * @param text The spec.
 * @returns The choice.
 */
export function parsePartSpec(flag: string, text: string): Effect.Effect<PartChoice, ConfigError> {
  const trimmed = text.trim();
  if (/^[a-z0-9]+(-[a-z0-9]+)*$/.test(trimmed)) return Effect.succeed({ id: trimmed });
  return Effect.try({
    try: () => {
      const value = JSON.parse(trimmed) as unknown;
      if (
        typeof value !== "object" || value === null || typeof (value as PartChoice).id !== "string"
      ) {
        throw new Error("expected an object with a string id");
      }
      return value as PartChoice;
    },
    catch: (error) =>
      new ConfigError({
        message: `--${flag} must be an id or JSON {"id": …, "params": {…}}, got ${
          JSON.stringify(text)
        } (${(error as Error).message.split("\n")[0]})`,
        where: "command line",
      }),
  });
}
