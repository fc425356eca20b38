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
import { Effect, Semaphore } from "effect";
import { type CellError, type CellResult, makeCellRunner } from "./cell.ts";
import type { ExperimentConfig } from "./config.ts";
import { ConfigError, OutputError, type UnknownId, type UserError } from "./errors.ts";
import { planCells, type PlannedCell } from "./plan.ts";
import type { RegistryShape } from "./registry.ts";
import { isTemporaryName, processAlive, writeAtomic } from "./state_file.ts";
import type { StepMetrics } from "./train.ts";
import { scheduleCells } from "./_schedule.ts";
import {
  type CellWorker,
  startWorker,
  type WorkerCommand,
  type WorkerOutcome,
} from "./worker_pool.ts";
import { parentPidVariable } from "./_cell_protocol.ts";
import { trainingPlan } from "./memory_plan.ts";

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
  /**
   * A training step finished; `label` names the cell when several run at once (`jobs` > 1) and
   * is absent when they run one after another.
   */
  step(metrics: StepMetrics, total: number, label?: string): void;
  /** A line of news. */
  log(line: string): void;
  /** A cell ended (finished or failed); sent when several run at once. */
  ended?(label: string): void;
}

/** How a parallel run starts its cell workers (see {@link RunOptions.jobs}). */
export interface WorkerSpec extends WorkerCommand {
  /** Third-party plugin specifiers the workers load (as the parent did). */
  readonly plugins: ReadonlyArray<string>;
  /** The tensor backend the workers start. */
  readonly backend: string;
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
  /**
   * Cells at once. 1 (the default) runs them in this process, one after another; more runs
   * them in that many worker processes started by {@link RunOptions.worker}, with the same
   * results: a group's first cell builds (pretrains) its backbone before the group's other cells
   * start, and cells wait while the memory their plans need is not available.
   */
  readonly jobs?: number;
  /** How to start a worker process; needed when `jobs` > 1. */
  readonly worker?: WorkerSpec;
}

type RunError = CellError | ConfigError | UnknownId | OutputError | UserError;

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

/** Writes a finished cell's file and removes its checkpoint. */
function recordFinished(
  out: string,
  key: string,
  result: CellResult,
): Effect.Effect<void, OutputError> {
  return Effect.gen(function* () {
    yield* write(`${out}/cells/${key}.json`, JSON.stringify(result, null, 2));
    yield* Effect.promise(() => Deno.remove(`${out}/cells/${key}.checkpoint`).catch(() => {}));
  });
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
    const todo = cells.filter((c) => !finished.has(c.key));
    if (finished.size > 0) {
      progress.log(`resuming: ${finished.size} of ${cells.length} cells already finished`);
    }
    const jobs = Math.min(options.jobs ?? 1, todo.length);
    if (jobs > 1 && options.worker) {
      yield* runParallel(options, options.worker, jobs, cells.length, todo, {
        finished,
        failures,
        results,
      });
      return results();
    }
    const cellRunner = makeCellRunner({ out, cacheDir: options.cacheDir, registry, progress });
    const started = performance.now();
    let ran = 0;
    for (const [i, cell] of todo.entries()) {
      const elapsed = (performance.now() - started) / 1000;
      const eta = ran > 0 ? (elapsed / ran) * (todo.length - i) : undefined;
      progress.cell(finished.size + 1, cells.length, cell.key, eta);
      const outcome = yield* Effect.result(cellRunner.run(cell));
      ran += 1;
      if (outcome._tag === "Success") {
        finished.set(cell.key, outcome.success);
        yield* recordFinished(out, cell.key, outcome.success);
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

/** The finished cells and failures a run collects. */
interface RunState {
  readonly finished: Map<string, CellResult>;
  readonly failures: CellFailure[];
  readonly results: () => ExperimentResults;
}

const gib = 1024 ** 3;

/**
 * Memory a worker process holds besides its cell's plan: Deno, tfjs, the wasm module and the
 * domain data, evaluation batches (resident up to 1.0 GiB with the default preset's cells,
 * 2026-11-30).
 */
const workerBytes = 1 * gib;

/**
 * The bytes the workers of a parallel run may use together: `PROBSFT_WORKERS_MEMORY_MB` when
 * set, else the machine's available memory at the start less 1 GiB.
 */
function workersBudget(): number {
  const override = Number(Deno.env.get("PROBSFT_WORKERS_MEMORY_MB") ?? NaN);
  if (Number.isFinite(override) && override > 0) return override * 1024 ** 2;
  try {
    return Math.max(Deno.systemMemoryInfo().available - gib, 0);
  } catch {
    return Infinity;
  }
}

/** Plan bytes of the groups whose backbone gives its size without being built (HF folders). */
function knownPlans(
  cells: ReadonlyArray<PlannedCell>,
  backend: string,
  cacheDir: string,
): Effect.Effect<Map<string, number>> {
  return Effect.gen(function* () {
    const plans = new Map<string, number>();
    for (const cell of cells) {
      const backbone = cell.backbonePart.part;
      if (!cell.objective || plans.has(cell.group) || !backbone.footprint) continue;
      const sized = yield* Effect.result(
        backbone.footprint(cell.backbonePart.params, { seed: 0, cacheDir, log: () => {} }),
      );
      if (sized._tag === "Failure") continue;
      const footprint = sized.success;
      plans.set(
        cell.group,
        trainingPlan(footprint, cell.train, footprint.contextLength, backend).total,
      );
    }
    return plans;
  });
}

/** Wakes the lanes that wait for a cell to become startable. */
function makeSignal(): { wait(): Promise<void>; notify(): void } {
  let waiters: Array<() => void> = [];
  return {
    wait: () => new Promise<void>((resolve) => waiters.push(resolve)),
    notify() {
      const woken = waiters;
      waiters = [];
      for (const wake of woken) wake();
    },
  };
}

const gb = (bytes: number) => `${(bytes / gib).toFixed(1)} GiB`;

/**
 * Runs the unfinished cells in `jobs` worker processes (core/worker_pool.ts), in the order of
 * core/_schedule.ts, recording each finished cell as the serial runner does.
 */
function runParallel(
  options: RunOptions,
  spec: WorkerSpec,
  jobs: number,
  total: number,
  todo: ReadonlyArray<PlannedCell>,
  state: RunState,
): Effect.Effect<void, RunError> {
  const { out, progress } = options;
  return Effect.gen(function* () {
    const budget = workersBudget();
    const known = yield* knownPlans(todo, spec.backend, options.cacheDir);
    const schedule = scheduleCells(todo, { budget, perWorker: workerBytes, known });
    const setup = {
      config: JSON.stringify(options.config),
      source: options.source,
      plugins: spec.plugins,
      backend: spec.backend,
      out,
      cacheDir: options.cacheDir,
    };
    const env: Record<string, string> = { ...spec.env, [parentPidVariable]: String(Deno.pid) };
    // Each worker's OpenBLAS gets its share of the cores rather than all of them.
    if (Deno.env.get("OPENBLAS_NUM_THREADS") === undefined) {
      const cores = navigator.hardwareConcurrency ?? 1;
      env.OPENBLAS_NUM_THREADS = String(Math.max(1, Math.floor(cores / jobs)));
    }
    const command = { command: spec.command, args: spec.args, env };
    const writes = Semaphore.makeUnsafe(1);
    const wake = makeSignal();
    const started = performance.now();
    let begun = state.finished.size;
    let ran = 0;
    let memoryNoted = false;
    progress.log(`running up to ${jobs} cells at once, each in a worker process`);

    // A worker killed by a signal while starting (the OOM killer, a user's kill) fails only the
    // cell it was started for; one that exits by itself means none can start.
    const start = Effect.flatMap(
      Effect.promise(() => startWorker(command, setup, (line) => progress.log(line))),
      (started): Effect.Effect<CellWorker | { readonly killed: string }, RunError> => {
        if ("worker" in started) return Effect.succeed(started.worker);
        switch (started.failure._tag) {
          case "SetupFailed":
            return Effect.fail(started.failure.error);
          case "Killed":
            return Effect.succeed({ killed: started.failure.message });
          case "Crashed":
            return Effect.fail(
              new ConfigError({
                message:
                  `Cannot start a cell worker: ${started.failure.message}; --jobs 1 runs the cells in this process`,
                where: "--jobs",
              }),
            );
        }
      },
    );

    const finish = (cell: PlannedCell, outcome: Awaited<ReturnType<CellWorker["run"]>>) =>
      writes.withPermits(1)(Effect.gen(function* () {
        switch (outcome._tag) {
          case "Done":
            state.finished.set(cell.key, outcome.result);
            yield* recordFinished(out, cell.key, outcome.result);
            break;
          case "Failed":
            // A folder that cannot be written fails every later cell too: stop the run.
            if (outcome.error._tag === "OutputError") return yield* outcome.error;
            state.failures.push({ key: cell.key, message: outcome.error.message });
            progress.log(`cell ${cell.key} failed: ${outcome.error.message}`);
            break;
          case "Crashed":
            state.failures.push({ key: cell.key, message: outcome.message });
            progress.log(`cell ${cell.key} failed: ${outcome.message}`);
            break;
          case "Defect":
            return yield* Effect.die(new Error(`cell ${cell.key}: ${outcome.message}`));
        }
        if (options.onCell) {
          const onCell = options.onCell;
          yield* Effect.tryPromise({ try: () => onCell(state.results()), catch: outputFailure });
        }
      }));

    const lane = Effect.gen(function* () {
      let worker: CellWorker | undefined;
      yield* Effect.addFinalizer(() => Effect.sync(() => worker?.kill()));
      for (;;) {
        const woken = wake.wait();
        const cell = schedule.next();
        if (cell === undefined) {
          if (schedule.waiting === 0) break;
          if (schedule.heldByMemory && !memoryNoted) {
            memoryNoted = true;
            progress.log(
              `memory: ${schedule.running} cell(s) at once for now, not ${jobs}: the next cells' memory plans and workers (about ${
                gb(schedule.estimate(todo[0]!))
              } each) exceed the ${gb(budget)} the workers may use (PROBSFT_WORKERS_MEMORY_MB)`,
            );
          }
          yield* Effect.promise(() => woken);
          continue;
        }
        begun += 1;
        const elapsed = (performance.now() - started) / 1000;
        const left = schedule.waiting + schedule.running;
        progress.cell(begun, total, cell.key, ran > 0 ? (elapsed / ran) * left : undefined);
        // Started with its first cell (a lane that memory holds back holds no idle worker).
        const got = worker ?? (yield* start);
        let outcome: WorkerOutcome;
        if ("killed" in got) {
          outcome = {
            _tag: "Crashed",
            message: `${got.killed} while starting for cell ${cell.key}`,
          };
        } else {
          const running = worker = got;
          outcome = yield* Effect.promise(() =>
            running.run(cell.key, {
              step: (metrics, steps) => progress.step(metrics, steps, cell.key),
              built: (planBytes) => {
                schedule.built(cell, planBytes);
                wake.notify();
              },
            })
          );
        }
        ran += 1;
        schedule.ended(cell);
        progress.ended?.(cell.key);
        wake.notify();
        // A worker that died is replaced for the next cell.
        if (outcome._tag === "Crashed") worker = undefined;
        yield* finish(cell, outcome);
      }
      const done = worker;
      worker = undefined;
      if (done) yield* Effect.promise(() => done.close());
    }).pipe(Effect.scoped);

    yield* Effect.forEach(Array.from({ length: jobs }, (_, i) => i), () => lane, {
      concurrency: "unbounded",
      discard: true,
    });
  });
}
