/**
 * The experiment runner: plans the grid, runs each unfinished cell, and writes every finished cell
 * atomically as it completes. Rerunning the same command with the same `--out` continues from the
 * finished cells and from the running cell's last checkpoint; a lock keeps two runs out of one
 * folder. A failing cell is reported with its error and the others go on.
 *
 * @module
 */
import { Effect } from "effect";
import { type CellError, type CellResult, makeCellRunner } from "./cell.ts";
import type { ExperimentConfig } from "./config.ts";
import { ConfigError, type UnknownId } from "./errors.ts";
import { planCells } from "./plan.ts";
import type { RegistryShape } from "./registry.ts";
import { writeAtomic } from "./state_file.ts";
import type { StepMetrics } from "./train.ts";

export type { CellResult, PartRecord } from "./cell.ts";

/** A cell that failed, with the error a user reads. */
export interface CellFailure {
  /** The cell key. */
  readonly key: string;
  /** What failed. */
  readonly message: string;
}

/** The whole run. */
export interface ExperimentResults {
  /** Preset name. */
  readonly name: string;
  /** Finished cells. */
  readonly cells: ReadonlyArray<CellResult>;
  /** Cells that failed in this run. */
  readonly failures: ReadonlyArray<CellFailure>;
}

/** What the runner reports as it goes. */
export interface Progress {
  /** A cell starts (1-based index of `total`). */
  cell(index: number, total: number, label: string, remainingSeconds: number | undefined): void;
  /** A training step finished. */
  step(metrics: StepMetrics, total: number): void;
  /** A line of news. */
  log(line: string): void;
}

/** Everything a run needs. */
export interface RunOptions {
  /** The decoded experiment. */
  readonly config: ExperimentConfig;
  /** Where the config came from (for messages). */
  readonly source: string;
  /** Output folder. */
  readonly out: string;
  /** Cache folder for pretrained backbones. */
  readonly cacheDir: string;
  /** The registry. */
  readonly registry: RegistryShape;
  /** Progress reporting. */
  readonly progress: Progress;
  /** Called after each cell with all finished cells (for reports). */
  onCell?(results: ExperimentResults): Promise<void>;
}

type RunError = CellError | ConfigError | UnknownId;

function processAlive(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return Deno.build.os !== "linux";
  }
}

function acquireLock(out: string): Effect.Effect<string, ConfigError> {
  const path = `${out}/.lock`;
  return Effect.gen(function* () {
    for (let attempt = 0; attempt < 2; attempt++) {
      const created = yield* Effect.promise(async () => {
        try {
          await Deno.writeTextFile(path, String(Deno.pid), { createNew: true });
          return true;
        } catch {
          return false;
        }
      });
      if (created) return path;
      const holder = Number(
        yield* Effect.promise(() => Deno.readTextFile(path).catch(() => "0")),
      );
      if (holder > 0 && holder !== Deno.pid && processAlive(holder)) {
        return yield* new ConfigError({
          message:
            `Another run (process ${holder}) is writing into ${out}; wait for it to finish or choose another --out`,
          where: out,
        });
      }
      yield* Effect.promise(() => Deno.remove(path).catch(() => undefined));
    }
    return yield* new ConfigError({ message: `Cannot lock ${out}`, where: out });
  });
}

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(path)) as T;
  } catch {
    return undefined;
  }
}

/**
 * Runs (or resumes) an experiment.
 *
 * @param options Config, output folder, registry and progress.
 * @returns All finished cells and this run's failures.
 */
export function runExperiment(
  options: RunOptions,
): Effect.Effect<ExperimentResults, RunError> {
  const { out } = options;
  return Effect.acquireUseRelease(
    Effect.flatMap(
      Effect.promise(() => Deno.mkdir(`${out}/cells`, { recursive: true })),
      () => acquireLock(out),
    ),
    () => runLocked(options),
    (lock) => Effect.promise(() => Deno.remove(lock).catch(() => undefined)),
  );
}

function runLocked(options: RunOptions): Effect.Effect<ExperimentResults, RunError> {
  const { config, out, registry, progress } = options;
  return Effect.gen(function* () {
    const resolvedPath = `${out}/config.json`;
    const resolved = JSON.stringify(config, null, 2) + "\n";
    const previous = yield* Effect.promise(() => Deno.readTextFile(resolvedPath).catch(() => ""));
    if (previous !== "" && previous !== resolved) {
      return yield* new ConfigError({
        message:
          `${out} holds a different experiment (its config.json differs); choose another --out to start a new run`,
        where: resolvedPath,
      });
    }
    yield* Effect.promise(() => writeAtomic(resolvedPath, resolved));
    const cells = yield* planCells(config, options.source, registry);
    const finished = new Map<string, CellResult>();
    for (const cell of cells) {
      const done = yield* Effect.promise(() =>
        readJson<CellResult>(`${out}/cells/${cell.key}.json`)
      );
      if (done) finished.set(cell.key, done);
    }
    const failures: CellFailure[] = [];
    const results = (): ExperimentResults => ({
      name: config.name ?? "experiment",
      cells: cells.flatMap((c) => finished.get(c.key) ?? []),
      failures,
    });
    const cellRunner = makeCellRunner({ out, cacheDir: options.cacheDir, registry, progress });
    const started = performance.now();
    let ran = 0;
    const todo = cells.filter((c) => !finished.has(c.key));
    if (finished.size > 0) {
      progress.log(`resuming: ${finished.size} of ${cells.length} cells already finished`);
    }
    for (const [i, cell] of todo.entries()) {
      const elapsed = (performance.now() - started) / 1000;
      const eta = ran > 0 ? (elapsed / ran) * (todo.length - i) : undefined;
      progress.cell(finished.size + 1, cells.length, cell.key, eta);
      const outcome = yield* Effect.result(cellRunner.run(cell));
      ran += 1;
      if (outcome._tag === "Success") {
        finished.set(cell.key, outcome.success);
        yield* Effect.promise(() =>
          writeAtomic(`${out}/cells/${cell.key}.json`, JSON.stringify(outcome.success, null, 2))
        );
        yield* Effect.promise(() =>
          Deno.remove(`${out}/cells/${cell.key}.checkpoint`).catch(() => undefined)
        );
      } else {
        const error = outcome.failure;
        failures.push({ key: cell.key, message: error.message });
        progress.log(`cell ${cell.key} failed: ${error.message}`);
      }
      if (options.onCell) yield* Effect.promise(() => options.onCell!(results()));
    }
    return results();
  });
}
