/**
 * Submitting a sweep to the cluster and following it: every planned cell becomes a cell workflow
 * execution (keyed by the cell's content hash, so resubmitting joins the running or finished
 * executions), progress is read from the progress rows, and finished cells are written to the
 * same files as a local run: `cells/<key>.json`, `results.json` and the report.
 *
 * @module
 */
import { Effect, Exit, Option } from "effect";
import { resolve } from "node:path";
import type { CellResult } from "../core/cell.ts";
import type { ExperimentConfig } from "../core/config.ts";
import { ConfigError, type UnknownId } from "../core/errors.ts";
import { planCells } from "../core/plan.ts";
import type { RegistryShape } from "../core/registry.ts";
import type { CellFailure, ExperimentResults } from "../core/runner.ts";
import { writeAtomic } from "../core/state_file.ts";
import { type CellPayload, CellWorkflow } from "./cell_workflow.ts";
import { asUserErrors, clientLayer } from "./layers.ts";
import {
  countCells,
  ensureTables,
  formatCounts,
  priorExecutions,
  recordSweep,
  type SubmittedCell,
} from "./progress_table.ts";
import { makePlacer, shardOwners } from "./placement.ts";
import { sha256Hex } from "../core/hash.ts";

/** The sweep as written to `<out>/sweep.json`, which `collect` reads. */
export interface SweepRecord {
  /** The sweep id (content hash of config, plugins and backend). */
  readonly sweep: string;
  /** The run's name. */
  readonly name: string;
  /** The cells in plan order, with their workflow execution ids. */
  readonly cells: ReadonlyArray<{ readonly key: string; readonly executionId: string }>;
}

/** What submitting a sweep needs. */
export interface SubmitOptions {
  /** The PostgreSQL URL. */
  readonly url: string;
  /** The decoded experiment. */
  readonly config: ExperimentConfig;
  /** Where it came from. */
  readonly source: string;
  /** Third-party plugin specifiers (config's and `--plugin`'s). */
  readonly plugins: ReadonlyArray<string>;
  /** The tensor backend. */
  readonly backend: string;
  /** The run's name. */
  readonly name: string;
  /** Output folder (shared with the runners for checkpoints). */
  readonly out: string;
  /** The registry (to plan the cells). */
  readonly registry: RegistryShape;
  /** A line of news. */
  log(line: string): void;
  /** Called with all finished cells whenever some finish. */
  onCell?(results: ExperimentResults): Promise<void>;
  /** Seconds between progress polls (default 2). */
  readonly pollSeconds?: number;
}

interface Outcome {
  readonly results: Map<string, CellResult>;
  readonly failures: Map<string, string>;
}

/** Polls the unfinished cells once; writes each newly finished one to `cells/<key>.json`. */
function pollCells(record: SweepRecord, out: string, outcome: Outcome) {
  return Effect.gen(function* () {
    let changed = false;
    for (const cell of record.cells) {
      if (outcome.results.has(cell.key) || outcome.failures.has(cell.key)) continue;
      const polled = yield* CellWorkflow.poll(cell.executionId);
      if (Option.isNone(polled) || polled.value._tag !== "Complete") continue;
      const exit = polled.value.exit;
      changed = true;
      if (Exit.isSuccess(exit)) {
        outcome.results.set(cell.key, JSON.parse(exit.value) as CellResult);
        yield* Effect.promise(() => writeAtomic(`${out}/cells/${cell.key}.json`, exit.value));
      } else {
        const failure = exit.cause.reasons.find((r) => r._tag === "Fail");
        outcome.failures.set(
          cell.key,
          failure && failure._tag === "Fail"
            ? (failure.error as { message: string }).message
            : `the cell's workflow died: ${String(exit.cause)}`.split("\n")[0]!,
        );
      }
    }
    return changed;
  });
}

function resultsOf(record: SweepRecord, outcome: Outcome): ExperimentResults {
  const failures: CellFailure[] = [];
  for (const [key, message] of outcome.failures) failures.push({ key, message });
  return {
    name: record.name,
    cells: record.cells.flatMap((c) => outcome.results.get(c.key) ?? []),
    failures,
  };
}

/** A cell of a submission: the execution it uses and whether that one already succeeded. */
interface Submitted extends SubmittedCell {
  readonly finished: boolean;
}

/**
 * Chooses each cell's execution: an earlier one of the same cell and backend that succeeded or
 * is still under way (any sweep's), else a new one, one attempt past the failed ones, placed on
 * the runner with the fewest cells to compute.
 */
function placeCells(payloads: ReadonlyArray<CellPayload>) {
  return Effect.gen(function* () {
    const placer = makePlacer(yield* shardOwners());
    const submitted: Submitted[] = [];
    const fresh: number[] = [];
    const attempts: number[] = [];
    let reused = 0;
    let retried = 0;
    for (const [i, payload] of payloads.entries()) {
      let done: SubmittedCell | undefined;
      let underway: SubmittedCell | undefined;
      let failedBefore = 0;
      let nextAttempt = 0;
      for (const prior of yield* priorExecutions(payload.key, payload.backend)) {
        nextAttempt = Math.max(nextAttempt, Number(prior.placement.split(".")[0]) + 1);
        const polled = yield* CellWorkflow.poll(prior.executionId);
        const complete = Option.isSome(polled) && polled.value._tag === "Complete"
          ? polled.value.exit
          : undefined;
        const cell = { key: payload.key, ...prior };
        if (complete === undefined) underway ??= cell;
        else if (Exit.isSuccess(complete)) done ??= cell;
        else failedBefore++;
      }
      if (done) {
        reused++;
        submitted.push({ ...done, finished: true });
      } else if (underway) {
        placer.count(underway.executionId);
        submitted.push({ ...underway, finished: false });
      } else {
        if (failedBefore > 0) retried++;
        fresh.push(i);
        attempts.push(nextAttempt);
        submitted.push({ key: payload.key, executionId: "", placement: "", finished: false });
      }
    }
    // Place new executions after counting the ones under way, so that they fill idle runners.
    for (const [j, i] of fresh.entries()) {
      const idOf = (placement: string) => CellWorkflow.executionId({ ...payloads[i]!, placement });
      const placement = yield* placer.place(attempts[j]!, idOf);
      submitted[i] = {
        key: payloads[i]!.key,
        executionId: yield* idOf(placement),
        placement,
        finished: false,
      };
    }
    return { submitted, reused, retried, placer };
  });
}

/**
 * Submits a sweep (or joins it, if submitted before) and follows it to the end, writing the
 * results as cells finish. Interrupting it (Ctrl-C) stops following; the sweep goes on in the
 * cluster, and `collect` gathers it later.
 *
 * @param options Database, config, output folder, registry and progress.
 * @returns All finished cells and the failures.
 */
export function submitSweep(
  options: SubmitOptions,
): Effect.Effect<ExperimentResults, ConfigError | UnknownId> {
  const out = resolve(options.out);
  return Effect.gen(function* () {
    yield* Effect.promise(() => Deno.mkdir(`${out}/cells`, { recursive: true }));
    const resolvedPath = `${out}/config.json`;
    const resolved = JSON.stringify(options.config, null, 2) + "\n";
    const previous = yield* Effect.promise(() => Deno.readTextFile(resolvedPath).catch(() => ""));
    if (previous !== "" && previous !== resolved) {
      return yield* new ConfigError({
        message:
          `${options.out} holds a different experiment (its config.json differs); choose another --out to start a new run`,
        where: resolvedPath,
      });
    }
    yield* Effect.promise(() => writeAtomic(resolvedPath, resolved));
    const cells = yield* planCells(options.config, options.source, options.registry);
    const configJson = JSON.stringify(options.config);
    const sweep = (yield* Effect.promise(() =>
      sha256Hex(JSON.stringify([configJson, options.plugins, options.backend, out]))
    )).slice(0, 12);
    const payloads: CellPayload[] = cells.map((cell) => ({
      sweep,
      key: cell.key,
      config: configJson,
      source: options.source,
      plugins: [...options.plugins],
      backend: options.backend,
      out,
      placement: "",
    }));
    return yield* Effect.gen(function* () {
      yield* ensureTables;
      const { submitted, reused, retried, placer } = yield* placeCells(payloads);
      const record: SweepRecord = {
        sweep,
        name: options.name,
        cells: submitted.map(({ key, executionId }) => ({ key, executionId })),
      };
      yield* Effect.promise(() =>
        writeAtomic(`${out}/sweep.json`, JSON.stringify(record, null, 2) + "\n")
      );
      yield* recordSweep({
        id: sweep,
        name: options.name,
        out,
        backend: options.backend,
        cells: submitted,
      });
      for (const [i, payload] of payloads.entries()) {
        if (!submitted[i]!.finished) {
          yield* CellWorkflow.execute({ ...payload, placement: submitted[i]!.placement }, {
            discard: true,
          });
        }
      }
      const spread = [...placer.load].map(([runner, n]) =>
        `${runner} ${n}`
      ).join(", ");
      options.log(
        `${options.name}: sweep ${sweep}, ${cells.length} cells submitted (${reused} finished before, ${retried} failed before and submitted again)${
          spread ? `; to compute per runner: ${spread}` : ""
        }`,
      );
      const outcome: Outcome = { results: new Map(), failures: new Map() };
      let lastLine = "";
      while (outcome.results.size + outcome.failures.size < record.cells.length) {
        const changed = yield* pollCells(record, out, outcome);
        if (changed && options.onCell) {
          const results = resultsOf(record, outcome);
          yield* Effect.promise(() => options.onCell!(results));
        }
        const line = formatCounts(yield* countCells(sweep)).get(sweep) ?? "";
        if (line !== lastLine) {
          options.log(`${options.name}: ${line}`);
        }
        lastLine = line;
        if (outcome.results.size + outcome.failures.size < record.cells.length) {
          yield* Effect.sleep((options.pollSeconds ?? 2) * 1000);
        }
      }
      return resultsOf(record, outcome);
    }).pipe(
      Effect.provide(clientLayer(options.url)),
      (effect) => asUserErrors(options.url, effect),
    );
  });
}

/**
 * Collects the finished cells of a sweep submitted with `--out DIR` into that folder's
 * `cells/<key>.json` (the caller writes `results.json` and the report).
 *
 * @param url The PostgreSQL URL.
 * @param outDir The sweep's output folder (it holds `sweep.json`).
 * @returns The finished cells and failures, and how many cells are still unfinished.
 */
export function collectSweep(
  url: string,
  outDir: string,
): Effect.Effect<{ results: ExperimentResults; unfinished: number }, ConfigError> {
  const out = resolve(outDir);
  return Effect.gen(function* () {
    const record = yield* Effect.tryPromise({
      try: async () => JSON.parse(await Deno.readTextFile(`${out}/sweep.json`)) as SweepRecord,
      catch: () =>
        new ConfigError({
          message:
            `${outDir}/sweep.json is missing or unreadable: collect needs the folder a cluster sweep was submitted with (--out)`,
          where: "--out",
        }),
    });
    yield* Effect.promise(() => Deno.mkdir(`${out}/cells`, { recursive: true }));
    const outcome: Outcome = { results: new Map(), failures: new Map() };
    yield* pollCells(record, out, outcome).pipe(
      Effect.provide(clientLayer(url)),
      (effect) => asUserErrors(url, effect),
    );
    return {
      results: resultsOf(record, outcome),
      unfinished: record.cells.length - outcome.results.size - outcome.failures.size,
    };
  });
}
