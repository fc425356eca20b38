/**
 * The registry of a command: the built-in plugin joined with the plugins named on its command line.
 *
 * @module
 */
import { Effect } from "effect";
import type { DuplicateId, PluginError } from "../core/errors.ts";
import { makeRegistry, type RegistryShape } from "../core/registry.ts";
import { builtins } from "../plugins/builtins.ts";
import { loadPlugins } from "../plugins/load.ts";

/**
 * Builds the registry from the built-in plugin and third-party plugin specifiers.
 *
 * @param specifiers File paths or URLs of plugin modules.
 * @returns The registry.
 */
export function registryWith(
  specifiers: ReadonlyArray<string>,
): Effect.Effect<RegistryShape, PluginError | DuplicateId> {
  return Effect.gen(function* () {
    const extra = yield* loadPlugins(specifiers);
    return yield* makeRegistry([builtins, ...extra]);
  });
}
