/**
 * A cluster runner: a process that takes its share of the cluster's shards and computes the cell
 * workflows that land on them, with the same cell code as the local runner
 * (`makeCellRunner(context).run(cell)`). A cell interrupted by the death of its runner is run
 * again by the shard's next owner, which resumes it from its last checkpoint in the sweep's
 * `cells/` folder when that folder is shared (one machine, or a shared filesystem). A runner that
 * died after finishing a cell but before the workflow stored its reply left the result in the
 * progress rows; the next owner returns that instead of computing the cell again.
 *
 * @module
 */
import { Effect, Layer, Semaphore } from "effect";
import { Activity } from "effect/workflow";
import { Schema } from "effect";
import { type CellRunner, makeCellRunner } from "../core/cell.ts";
import { decodeExperiment } from "../core/config.ts";
import { ConfigError, isUserError, type UserError } from "../core/errors.ts";
import { planCells, type PlannedCell } from "../core/plan.ts";
import type { RegistryShape } from "../core/registry.ts";
import { useBackend } from "../core/backend/mod.ts";
import { type CellFailed, type CellPayload, CellWorkflow } from "./cell_workflow.ts";
import { asUserErrors, type RunnerEndpoint, runnerLayer } from "./layers.ts";
import { ensureTables, markFinished, markRunning, storedResult } from "./progress_table.ts";

/** What a runner needs. */
export interface RunnerOptions {
  /** The PostgreSQL URL. */
  readonly url: string;
  /** Where this runner listens (other runners and clients connect to it here). */
  readonly endpoint: RunnerEndpoint;
  /** Cache folder for pretrained backbones. */
  readonly cacheDir: string;
  /** How many cells this runner computes at once (the others wait their turn here). */
  readonly concurrency: number;
  /** Builds the registry for a sweep's third-party plugins (the built-ins are always there). */
  registryFor(plugins: ReadonlyArray<string>): Effect.Effect<RegistryShape, UserError>;
  /** A line of news. */
  log(line: string): void;
}

interface PlannedSweep {
  readonly cells: ReadonlyMap<string, PlannedCell>;
  readonly runner: CellRunner;
}

function failed(key: string, message: string): CellFailed {
  return { _tag: "CellFailed", key, message };
}

/**
 * The layer that registers the cell workflow on a runner and joins the cluster; `Layer.launch`
 * it to serve until interrupted.
 *
 * @param options Database, address, cache, concurrency, registry and log.
 * @returns The layer.
 */
export function cellRunnerLayer(options: RunnerOptions): Layer.Layer<never, unknown> {
  const address = `${options.endpoint.host}:${options.endpoint.port}`;
  const sweeps = new Map<string, PlannedSweep>();
  const permits = Semaphore.makeUnsafe(Math.max(1, options.concurrency));

  const plan = (payload: CellPayload) =>
    Effect.gen(function* () {
      const id = JSON.stringify([payload.config, payload.plugins, payload.out]);
      const known = sweeps.get(id);
      if (known) return known;
      const registry = yield* options.registryFor(payload.plugins);
      const raw = yield* Effect.try({
        try: () => JSON.parse(payload.config) as unknown,
        catch: () =>
          new ConfigError({ message: "The sweep's config is not JSON", where: payload.source }),
      });
      const config = yield* decodeExperiment(raw, payload.source);
      const cells = yield* planCells(config, payload.source, registry);
      let lastQuarter = -1;
      let lastStep = -1;
      const planned: PlannedSweep = {
        cells: new Map(cells.map((c) => [c.key, c])),
        runner: makeCellRunner({
          out: payload.out,
          cacheDir: options.cacheDir,
          registry,
          progress: {
            step(metrics, total) {
              // A cell's first step (step 1, or later when it resumes from a checkpoint) and
              // every quarter of training.
              const quarter = Math.floor((metrics.step / total) * 4);
              const first = metrics.step !== lastStep + 1;
              lastStep = metrics.step;
              if (first || quarter !== lastQuarter) {
                lastQuarter = quarter;
                options.log(
                  `runner ${address}: step ${metrics.step}/${total} nll ${metrics.nll.toFixed(3)}`,
                );
              }
            },
            log: (line) => options.log(`runner ${address}: ${line}`),
          },
        }),
      };
      sweeps.set(id, planned);
      return planned;
    });

  const compute = (payload: CellPayload, executionId: string) =>
    Effect.gen(function* () {
      const stored = yield* storedResult(executionId).pipe(
        Effect.orElseSucceed(() => undefined),
      );
      if (stored !== undefined) {
        options.log(
          `runner ${address}: cell ${payload.key} was finished before; its stored result is used`,
        );
        return stored;
      }
      const started = performance.now();
      yield* markRunning(executionId, address).pipe(Effect.ignore);
      options.log(`runner ${address}: cell ${payload.key} started`);
      const outcome = yield* Effect.result(
        Effect.gen(function* () {
          const sweep = yield* plan(payload);
          const cell = sweep.cells.get(payload.key);
          if (cell === undefined) {
            return yield* new ConfigError({
              message:
                `Cell ${payload.key} is not in the sweep's plan (a different probsft version?)`,
              where: payload.source,
            });
          }
          yield* useBackend(payload.backend);
          return yield* sweep.runner.run(cell);
        }),
      );
      const wallSeconds = (performance.now() - started) / 1000;
      if (outcome._tag === "Failure") {
        const message = isUserError(outcome.failure)
          ? outcome.failure.message
          : String(outcome.failure);
        yield* markFinished(executionId, { state: "failed", wallSeconds, message }).pipe(
          Effect.ignore,
        );
        options.log(`runner ${address}: cell ${payload.key} failed: ${message}`);
        return yield* Effect.fail(failed(payload.key, message));
      }
      yield* Effect.promise(() =>
        Deno.remove(`${payload.out}/cells/${payload.key}.checkpoint`).catch(() => undefined)
      );
      const result = JSON.stringify(outcome.success, null, 2);
      yield* markFinished(executionId, { state: "done", wallSeconds, result }).pipe(Effect.ignore);
      options.log(`runner ${address}: cell ${payload.key} finished in ${wallSeconds.toFixed(1)}s`);
      return result;
    });

  const workflow = CellWorkflow.toLayer((payload, executionId) =>
    Activity.make({
      name: "run-cell",
      success: Schema.String,
      error: CellWorkflow.errorSchema,
      execute: permits.withPermits(1)(compute(payload, executionId)),
    })
  );

  const tables = Layer.effectDiscard(ensureTables);
  return Layer.mergeAll(workflow, tables).pipe(
    Layer.provide(runnerLayer(options.url, options.endpoint)),
  );
}

/**
 * Serves as a runner until interrupted (Ctrl-C, SIGTERM from the caller).
 *
 * @param options Database, address, cache, concurrency, registry and log.
 * @returns Never succeeds; fails with a one-line error when the cluster cannot be joined.
 */
export function serveRunner(options: RunnerOptions): Effect.Effect<never, ConfigError> {
  return asUserErrors(options.url, Layer.launch(cellRunnerLayer(options)));
}
