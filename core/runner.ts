/**
 * The experiment runner: plans the grid, runs each unfinished cell, and writes every finished cell
 * atomically as it completes. Rerunning the same command with the same `--out` continues from the
 * finished cells and from the running cell's last checkpoint; a lock keeps two runs out of one
 * folder. A failing cell is reported with its error and the others go on; an output folder that
 * cannot be written (a full disk, a read-only folder) stops the run with an {@link OutputError},
 * and the files written before stay complete. A finished cell's file is only taken as finished
 * when it parses and belongs to its cell; temporary files of a killed write are removed.
 *
 * @module
 */
import { Effect } from "effect";
import { type CellError, type CellResult, makeCellRunner } from "./cell.ts";
import type { ExperimentConfig } from "./config.ts";
import { ConfigError, OutputError, type UnknownId } from "./errors.ts";
import { planCells } from "./plan.ts";
import type { RegistryShape } from "./registry.ts";
import { isTemporaryName, writeAtomic } from "./state_file.ts";
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

type RunError = CellError | ConfigError | UnknownId | OutputError;

function reasonOf(error: unknown): string {
  return String((error as Error)?.message ?? error).split("\n")[0]!;
}

function outputFailure(error: unknown): OutputError {
  if (error instanceof OutputError) return error;
  throw error; // not a write failure: a defect
}

/** Writes a file atomically, failing with an OutputError when it cannot be written. */
function write(path: string, text: string): Effect.Effect<void, OutputError> {
  return Effect.tryPromise({ try: () => writeAtomic(path, text), catch: outputFailure });
}

function processAlive(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return Deno.build.os !== "linux";
  }
}

function acquireLock(out: string): Effect.Effect<string, ConfigError | OutputError> {
  const path = `${out}/.lock`;
  return Effect.gen(function* () {
    for (let attempt = 0; attempt < 2; attempt++) {
      const created = yield* Effect.tryPromise({
        try: async () => {
          try {
            await Deno.writeTextFile(path, String(Deno.pid), { createNew: true });
            return true;
          } catch (error) {
            if (error instanceof Deno.errors.AlreadyExists) return false;
            throw error;
          }
        },
        catch: (error) =>
          new OutputError({
            message: `Cannot write ${path}: ${reasonOf(error)} (is ${out} writable?)`,
            file: path,
          }),
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

/**
 * A finished cell's file, when it is complete and is that cell's: it parses as JSON, carries the
 * cell's key and its scores. Anything else (a file from an older layout, a damaged file) is not
 * taken as finished and the cell runs again.
 */
async function readFinished(path: string, key: string): Promise<CellResult | undefined> {
  try {
    const value = JSON.parse(await Deno.readTextFile(path)) as Partial<CellResult> | null;
    const ok = typeof value === "object" && value !== null && value.key === key &&
      typeof value.scores === "object" && value.scores !== null &&
      typeof value.primaryKey === "string";
    return ok ? value as CellResult : undefined;
  } catch {
    return undefined;
  }
}

async function removeTemporaryFiles(folder: string): Promise<void> {
  for await (const entry of Deno.readDir(folder)) {
    if (entry.isFile && isTemporaryName(entry.name)) {
      await Deno.remove(`${folder}/${entry.name}`).catch(() => undefined);
    }
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
      Effect.tryPromise({
        try: () => Deno.mkdir(`${out}/cells`, { recursive: true }),
        catch: (error) =>
          new OutputError({
            message: `Cannot create ${out}/cells: ${reasonOf(error)}`,
            file: `${out}/cells`,
          }),
      }),
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
    yield* write(resolvedPath, resolved);
    yield* Effect.promise(() => removeTemporaryFiles(`${out}/cells`).catch(() => undefined));
    yield* Effect.promise(() => removeTemporaryFiles(out).catch(() => undefined));
    const cells = yield* planCells(config, options.source, registry);
    const finished = new Map<string, CellResult>();
    for (const cell of cells) {
      const done = yield* Effect.promise(() =>
        readFinished(`${out}/cells/${cell.key}.json`, cell.key)
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
        yield* write(`${out}/cells/${cell.key}.json`, JSON.stringify(outcome.success, null, 2));
        yield* Effect.promise(() =>
          Deno.remove(`${out}/cells/${cell.key}.checkpoint`).catch(() => undefined)
        );
      } else {
        const error = outcome.failure;
        // A folder that cannot be written fails every later cell too: stop the run.
        if (error._tag === "OutputError") return yield* error;
        failures.push({ key: cell.key, message: error.message });
        progress.log(`cell ${cell.key} failed: ${error.message}`);
      }
      if (options.onCell) {
        const onCell = options.onCell;
        yield* Effect.tryPromise({ try: () => onCell(results()), catch: outputFailure });
      }
    }
    return results();
  });
}
