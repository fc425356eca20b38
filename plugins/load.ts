/**
 * Loads third-party plugins by specifier (a file path or a URL), checks their shape, and reports
 * a module that does not conform by name.
 *
 * A plugin module exports a {@link Plugin} value as `default` or as `plugin`.
 *
 * @module
 */
import { Effect } from "effect";
import { PluginError } from "../core/errors.ts";
import type { Plugin } from "../core/plugin.ts";

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}

const partKeys = ["objectives", "backbones", "benchmarks", "domains"] as const;

/**
 * Checks that a value has the shape of a {@link Plugin}; returns what is wrong, or undefined.
 *
 * @param value The candidate.
 * @returns A description of the first problem, or undefined when it conforms.
 */
export function pluginShapeProblem(value: unknown): string | undefined {
  if (!isRecord(value)) return "it is not an object";
  if (typeof value.name !== "string" || value.name === "") return "it has no string `name`";
  let parts = 0;
  for (const key of partKeys) {
    const list = value[key];
    if (list === undefined) continue;
    if (!Array.isArray(list)) return `\`${key}\` is not an array`;
    for (const [i, part] of list.entries()) {
      if (!isRecord(part)) return `${key}[${i}] is not an object`;
      if (typeof part.id !== "string") return `${key}[${i}] has no string \`id\``;
      if (typeof part.summary !== "string") return `${key}[${i}] ("${part.id}") has no summary`;
      if (!isRecord(part.params) && typeof part.params !== "function") {
        return `${key}[${i}] ("${part.id}") has no params Schema`;
      }
      const hook = key === "objectives"
        ? "perToken"
        : key === "backbones"
        ? "make"
        : key === "benchmarks"
        ? "score"
        : "load";
      if (typeof part[hook] !== "function") {
        return `${key}[${i}] ("${part.id}") has no \`${hook}\` function`;
      }
      parts += 1;
    }
  }
  if (parts === 0) return "it contributes no objectives, backbones, benchmarks or domains";
  return undefined;
}

function toUrl(specifier: string): string {
  if (/^[a-z][a-z0-9+.-]*:/i.test(specifier)) return specifier;
  const base = new URL(`file://${Deno.cwd()}/`);
  return new URL(specifier, base).href;
}

/**
 * Imports a plugin module and checks its shape.
 *
 * @param specifier A file path (relative to the working directory) or a URL.
 * @returns The plugin, or a {@link PluginError} naming the specifier and what is wrong.
 */
export function loadPlugin(specifier: string): Effect.Effect<Plugin, PluginError> {
  return Effect.gen(function* () {
    const url = toUrl(specifier);
    if (url.startsWith("file:")) {
      const exists = yield* Effect.promise(() =>
        Deno.stat(new URL(url)).then(() => true, () => false)
      );
      if (!exists) {
        return yield* new PluginError({
          message: `Cannot load plugin ${specifier}: the file does not exist`,
          plugin: specifier,
        });
      }
    }
    const module = yield* Effect.tryPromise({
      try: () => import(url) as Promise<Record<string, unknown>>,
      catch: (error) =>
        new PluginError({
          message: `Cannot load plugin ${specifier}: importing it threw ${
            String((error as Error)?.message ?? error).split("\n")[0]
          }`,
          plugin: specifier,
        }),
    });
    const candidate = module.default ?? module.plugin;
    if (candidate === undefined) {
      return yield* new PluginError({
        message:
          `Cannot load plugin ${specifier}: it exports no plugin (expected a \`default\` or \`plugin\` export)`,
        plugin: specifier,
      });
    }
    const problem = pluginShapeProblem(candidate);
    if (problem !== undefined) {
      const name = isRecord(candidate) && typeof candidate.name === "string"
        ? ` "${candidate.name}"`
        : "";
      return yield* new PluginError({
        message: `Plugin${name} from ${specifier} does not conform: ${problem}`,
        plugin: specifier,
      });
    }
    return candidate as unknown as Plugin;
  });
}

/**
 * Loads several plugins in order.
 *
 * @param specifiers File paths or URLs.
 * @returns The plugins.
 */
export function loadPlugins(
  specifiers: ReadonlyArray<string>,
): Effect.Effect<ReadonlyArray<Plugin>, PluginError> {
  return Effect.forEach(specifiers, loadPlugin);
}
