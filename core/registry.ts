/**
 * The registry of parts, built once from a list of plugins as an Effect Layer. Lookups decode a
 * part's params with that part's own Schema, so what reaches a hook is always well-typed.
 *
 * @module
 */
import { Context, Effect, Layer } from "effect";
import { decodeWith } from "./decode.ts";
import { type ConfigError, DuplicateId, UnknownId } from "./errors.ts";
import type {
  Backbone,
  Benchmark,
  Domain,
  Objective,
  Part,
  PartChoice,
  PartKind,
  Plugin,
} from "./plugin.ts";

/** A registered part with the plugin that contributed it. */
export interface Entry<T> {
  /** The part itself. */
  readonly part: T;
  /** The name of the plugin that registers it. */
  readonly plugin: string;
}

/** A part chosen by a config, with its params decoded by its own Schema. */
export interface Resolved<T> extends Entry<T> {
  /** The decoded params. */
  readonly params: unknown;
}

/** One row of `deno task list`. */
export interface Listing {
  /** Kind of part. */
  readonly kind: PartKind;
  /** Its id. */
  readonly id: string;
  /** The plugin that registers it. */
  readonly plugin: string;
  /** Its one-line summary. */
  readonly summary: string;
  /** Whether it is marked experimental. */
  readonly experimental: boolean;
}

/** The registry's interface: lookups by id, with params decoded. */
export interface RegistryShape {
  /** The plugins it was built from, in order. */
  readonly plugins: ReadonlyArray<Plugin>;
  /** Every registered part, by kind and id. */
  list(): ReadonlyArray<Listing>;
  /** The ids registered for a kind. */
  ids(kind: PartKind): ReadonlyArray<string>;
  /** Looks up an objective and decodes its params. */
  objective(
    choice: PartChoice,
    where?: string,
  ): Effect.Effect<Resolved<Objective<unknown>>, UnknownId | ConfigError>;
  /** Looks up a backbone and decodes its params. */
  backbone(
    choice: PartChoice,
    where?: string,
  ): Effect.Effect<Resolved<Backbone<unknown>>, UnknownId | ConfigError>;
  /** Looks up a benchmark and decodes its params. */
  benchmark(
    choice: PartChoice,
    where?: string,
  ): Effect.Effect<Resolved<Benchmark<unknown>>, UnknownId | ConfigError>;
  /** Looks up a domain and decodes its params. */
  domain(
    choice: PartChoice,
    where?: string,
  ): Effect.Effect<Resolved<Domain<unknown>>, UnknownId | ConfigError>;
}

/** The Registry service key. */
export const Registry: Context.Service<RegistryShape, RegistryShape> = Context.Service<
  RegistryShape
>("@probsft/core/Registry");

type Table<T> = ReadonlyMap<string, Entry<T>>;

function collect<T extends Part<unknown>>(
  kind: PartKind,
  plugins: ReadonlyArray<Plugin>,
  partsOf: (plugin: Plugin) => ReadonlyArray<T> | undefined,
): Effect.Effect<Table<T>, DuplicateId> {
  const table = new Map<string, Entry<T>>();
  for (const plugin of plugins) {
    for (const part of partsOf(plugin) ?? []) {
      const previous = table.get(part.id);
      if (previous !== undefined) {
        return Effect.fail(
          new DuplicateId({
            message:
              `Duplicate ${kind} id "${part.id}": registered by plugin "${previous.plugin}" and by plugin "${plugin.name}"`,
            kind,
            id: part.id,
            plugins: [previous.plugin, plugin.name],
          }),
        );
      }
      table.set(part.id, { part, plugin: plugin.name });
    }
  }
  return Effect.succeed(table);
}

function resolveIn<T extends Part<unknown>>(
  kind: PartKind,
  table: Table<T>,
  choice: PartChoice,
  where: string,
): Effect.Effect<Resolved<T>, UnknownId | ConfigError> {
  const entry = table.get(choice.id);
  if (entry === undefined) {
    const known = [...table.keys()].sort();
    return Effect.fail(
      new UnknownId({
        message: `Unknown ${kind} id ${JSON.stringify(choice.id)} (${where}); known ${kind} ids: ${
          known.join(", ") || "(none)"
        }`,
        kind,
        id: String(choice.id),
        known,
      }),
    );
  }
  return Effect.map(
    decodeWith(entry.part.params, choice.params ?? {}, {
      what: `params of ${kind} "${choice.id}" (plugin "${entry.plugin}")`,
      where,
      path: "params",
    }),
    (params) => ({ ...entry, params }),
  );
}

/**
 * Builds a registry from plugins; fails on a duplicate id with both plugins named.
 *
 * @param plugins The plugins, built-in first.
 * @returns The registry, or the duplicate.
 */
export function makeRegistry(
  plugins: ReadonlyArray<Plugin>,
): Effect.Effect<RegistryShape, DuplicateId> {
  return Effect.gen(function* () {
    const objectives = yield* collect("objective", plugins, (p) => p.objectives);
    const backbones = yield* collect("backbone", plugins, (p) => p.backbones);
    const benchmarks = yield* collect("benchmark", plugins, (p) => p.benchmarks);
    const domains = yield* collect("domain", plugins, (p) => p.domains);
    const tables: Record<PartKind, Table<Part<unknown>>> = {
      objective: objectives,
      backbone: backbones,
      benchmark: benchmarks,
      domain: domains,
    };
    return {
      plugins,
      list: () =>
        (Object.keys(tables) as PartKind[]).flatMap((kind) =>
          [...tables[kind].values()].map(({ part, plugin }) => ({
            kind,
            id: part.id,
            plugin,
            summary: part.summary,
            experimental: part.experimental === true,
          }))
        ),
      ids: (kind) => [...tables[kind].keys()],
      objective: (choice, where = "config") => resolveIn("objective", objectives, choice, where),
      backbone: (choice, where = "config") => resolveIn("backbone", backbones, choice, where),
      benchmark: (choice, where = "config") => resolveIn("benchmark", benchmarks, choice, where),
      domain: (choice, where = "config") => resolveIn("domain", domains, choice, where),
    };
  });
}

/**
 * The registry as a Layer, built once from the plugins.
 *
 * @param plugins The plugins, built-in first.
 * @returns A layer providing {@link Registry}.
 */
export function registryLayer(
  plugins: ReadonlyArray<Plugin>,
): Layer.Layer<RegistryShape, DuplicateId> {
  return Layer.effect(Registry, makeRegistry(plugins));
}
