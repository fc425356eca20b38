/**
 * Progress rows of sweeps in PostgreSQL: which cells each sweep has, which runner runs or ran
 * each, how it ended and why it failed. They are for people (`deno task experiment --cluster` and
 * `deno task cluster-status`), for placing resubmitted cells, and they keep each finished cell's
 * result, so that a runner taking over an execution whose first runner died just after finishing
 * it does not compute the cell again (the workflow's own reply is stored a moment later).
 *
 * @module
 */
import { Effect } from "effect";
import { SqlClient } from "effect/sql";

/** A lock number (any constant) that serialises the creation of probsft's tables. */
const tablesLock = 0x70726f62;

/**
 * Creates the tables if they are missing, and adds the columns of newer versions. Several
 * processes that start at once (runners, a submission) take turns through a transaction-scoped
 * advisory lock: concurrent `CREATE TABLE IF NOT EXISTS` statements in PostgreSQL can fail with a
 * duplicate key in its catalogue.
 */
export const ensureTables: Effect.Effect<void, unknown, SqlClient.SqlClient> = Effect.gen(
  function* () {
    const sql = yield* SqlClient.SqlClient;
    yield* sql.withTransaction(Effect.gen(function* () {
      yield* sql`SELECT pg_advisory_xact_lock(${tablesLock})`;
      yield* sql`CREATE TABLE IF NOT EXISTS probsft_sweeps (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        out TEXT NOT NULL,
        cells INTEGER NOT NULL,
        submitted_at TIMESTAMPTZ NOT NULL DEFAULT now()
      )`;
      yield* sql`CREATE TABLE IF NOT EXISTS probsft_cells (
        sweep TEXT NOT NULL,
        key TEXT NOT NULL,
        execution_id TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'waiting',
        runner TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        started_at TIMESTAMPTZ,
        finished_at TIMESTAMPTZ,
        wall_seconds DOUBLE PRECISION,
        message TEXT,
        PRIMARY KEY (sweep, key)
      )`;
      yield* sql`ALTER TABLE probsft_cells ADD COLUMN IF NOT EXISTS backend TEXT`;
      yield* sql`ALTER TABLE probsft_cells ADD COLUMN IF NOT EXISTS placement TEXT`;
      yield* sql`ALTER TABLE probsft_cells ADD COLUMN IF NOT EXISTS result TEXT`;
      yield* sql`CREATE INDEX IF NOT EXISTS probsft_cells_execution ON probsft_cells (execution_id)`;
      yield* sql`CREATE INDEX IF NOT EXISTS probsft_cells_key ON probsft_cells (key, backend)`;
    }));
  },
);

/** One cell of a sweep as submitted: its workflow execution and how it was placed. */
export interface SubmittedCell {
  /** The cell key from `planCells`. */
  readonly key: string;
  /** The workflow execution id. */
  readonly executionId: string;
  /** The placement token of the execution (see `cluster/placement.ts`). */
  readonly placement: string;
}

/**
 * Records a sweep and its cells (again, if resubmitted). A cell whose execution changed (a
 * failed cell submitted again) starts over as `waiting`; the others keep their rows.
 *
 * @param sweep The sweep id, name, output folder, backend and cells.
 * @returns Nothing.
 */
export function recordSweep(sweep: {
  readonly id: string;
  readonly name: string;
  readonly out: string;
  readonly backend: string;
  readonly cells: ReadonlyArray<SubmittedCell>;
}): Effect.Effect<void, unknown, SqlClient.SqlClient> {
  return Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient;
    yield* sql`INSERT INTO probsft_sweeps (id, name, out, cells)
      VALUES (${sweep.id}, ${sweep.name}, ${sweep.out}, ${sweep.cells.length})
      ON CONFLICT (id) DO UPDATE SET out = EXCLUDED.out`;
    for (const cell of sweep.cells) {
      yield* sql`INSERT INTO probsft_cells (sweep, key, execution_id, backend, placement)
        VALUES (${sweep.id}, ${cell.key}, ${cell.executionId}, ${sweep.backend}, ${cell.placement})
        ON CONFLICT (sweep, key) DO UPDATE SET
          execution_id = EXCLUDED.execution_id, backend = EXCLUDED.backend,
          placement = EXCLUDED.placement,
          state = CASE WHEN probsft_cells.execution_id = EXCLUDED.execution_id
            THEN probsft_cells.state ELSE 'waiting' END,
          message = CASE WHEN probsft_cells.execution_id = EXCLUDED.execution_id
            THEN probsft_cells.message ELSE NULL END`;
    }
  });
}

/**
 * The executions any sweep has submitted for a cell on a backend, oldest attempt first.
 *
 * @param key The cell key.
 * @param backend The tensor backend.
 * @returns Execution ids with their placement tokens.
 */
export function priorExecutions(
  key: string,
  backend: string,
): Effect.Effect<
  ReadonlyArray<{ executionId: string; placement: string }>,
  unknown,
  SqlClient.SqlClient
> {
  return Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient;
    const rows = yield* sql<{ execution_id: string; placement: string | null }>`
      SELECT DISTINCT execution_id, placement FROM probsft_cells
      WHERE key = ${key} AND backend = ${backend} AND placement IS NOT NULL`;
    return rows
      .map((r) => ({ executionId: r.execution_id, placement: r.placement ?? "" }))
      .sort((a, b) => a.placement.localeCompare(b.placement, "en", { numeric: true }));
  });
}

/**
 * The result a runner stored for an execution that finished, if any: a runner that takes over
 * an execution whose first runner died after finishing it returns this instead of computing the
 * cell again.
 *
 * @param executionId The workflow execution id.
 * @returns The cell's result as JSON, when stored.
 */
export function storedResult(
  executionId: string,
): Effect.Effect<string | undefined, unknown, SqlClient.SqlClient> {
  return Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient;
    const rows = yield* sql<{ result: string }>`SELECT result FROM probsft_cells
      WHERE execution_id = ${executionId} AND state = 'done' AND result IS NOT NULL LIMIT 1`;
    return rows[0]?.result;
  });
}

/**
 * Marks a cell as running on a runner (every sweep that holds it).
 *
 * @param executionId The workflow execution id.
 * @param runner The runner's address.
 * @returns Nothing.
 */
export function markRunning(
  executionId: string,
  runner: string,
): Effect.Effect<void, unknown, SqlClient.SqlClient> {
  return Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient;
    yield* sql`UPDATE probsft_cells SET state = 'running', runner = ${runner},
      attempts = attempts + 1, started_at = now(), finished_at = NULL, message = NULL
      WHERE execution_id = ${executionId}`;
  });
}

/**
 * Marks a cell as finished.
 *
 * @param executionId The workflow execution id.
 * @param outcome `done` or `failed`, the wall time and, for a failure, the message.
 * @returns Nothing.
 */
export function markFinished(
  executionId: string,
  outcome: {
    readonly state: "done" | "failed";
    readonly wallSeconds: number;
    readonly message?: string;
    /** The cell's result as JSON (for `done`). */
    readonly result?: string;
  },
): Effect.Effect<void, unknown, SqlClient.SqlClient> {
  return Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient;
    yield* sql`UPDATE probsft_cells SET state = ${outcome.state}, finished_at = now(),
      wall_seconds = ${outcome.wallSeconds}, message = ${outcome.message ?? null},
      result = ${outcome.result ?? null}
      WHERE execution_id = ${executionId}`;
  });
}

/** Cells of one state on one runner. */
export interface StateCount {
  /** The sweep id. */
  readonly sweep: string;
  /** The runner (null for cells that have not started). */
  readonly runner: string | null;
  /** `waiting`, `running`, `done` or `failed`. */
  readonly state: string;
  /** How many cells. */
  readonly count: number;
}

/**
 * Counts cells by sweep, runner and state.
 *
 * @param sweep Only this sweep, or all.
 * @returns The counts.
 */
export function countCells(
  sweep: string | undefined,
): Effect.Effect<ReadonlyArray<StateCount>, unknown, SqlClient.SqlClient> {
  return Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient;
    const rows = sweep === undefined
      ? yield* sql<{ sweep: string; runner: string | null; state: string; count: string }>`
        SELECT sweep, runner, state, count(*) AS count FROM probsft_cells
        GROUP BY sweep, runner, state ORDER BY sweep, runner, state`
      : yield* sql<{ sweep: string; runner: string | null; state: string; count: string }>`
        SELECT sweep, runner, state, count(*) AS count FROM probsft_cells WHERE sweep = ${sweep}
        GROUP BY sweep, runner, state ORDER BY sweep, runner, state`;
    return rows.map((r) => ({ ...r, count: Number(r.count) }));
  });
}

/**
 * Formats counts as one line per sweep: totals, then each runner's running, done and failed.
 *
 * @param counts From {@link countCells}.
 * @returns Lines, one per sweep.
 */
export function formatCounts(counts: ReadonlyArray<StateCount>): Map<string, string> {
  const bySweep = new Map<string, StateCount[]>();
  for (const c of counts) bySweep.set(c.sweep, [...(bySweep.get(c.sweep) ?? []), c]);
  const lines = new Map<string, string>();
  for (const [sweep, rows] of bySweep) {
    const total = (state: string) =>
      rows.filter((r) => r.state === state).reduce((s, r) => s + r.count, 0);
    const runners = [...new Set(rows.flatMap((r) => r.runner ?? []))].sort();
    const perRunner = runners.map((runner) => {
      const of = (state: string) =>
        rows.filter((r) => r.runner === runner && r.state === state).reduce(
          (s, r) => s + r.count,
          0,
        );
      return `${runner}: ${of("running")} running, ${of("done")} done, ${of("failed")} failed`;
    });
    lines.set(
      sweep,
      `${total("done")} done, ${total("running")} running, ${total("failed")} failed, ${
        total("waiting")
      } waiting${perRunner.length ? ` | ${perRunner.join("; ")}` : ""}`,
    );
  }
  return lines;
}

/** A failed cell and why. */
export interface FailedCell {
  /** The sweep id. */
  readonly sweep: string;
  /** The cell key. */
  readonly key: string;
  /** The runner it failed on. */
  readonly runner: string | null;
  /** The error a user reads. */
  readonly message: string;
}

/**
 * The failed cells, with their messages.
 *
 * @param sweep Only this sweep, or all.
 * @returns The failed cells, by sweep and key.
 */
export function failedCells(
  sweep: string | undefined,
): Effect.Effect<ReadonlyArray<FailedCell>, unknown, SqlClient.SqlClient> {
  return Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient;
    const rows = yield* sql<
      { sweep: string; key: string; runner: string | null; message: string | null }
    >`
      SELECT sweep, key, runner, message FROM probsft_cells WHERE state = 'failed'
      ORDER BY sweep, key`;
    return rows
      .filter((r) => sweep === undefined || r.sweep === sweep)
      .map((r) => ({ ...r, message: r.message ?? "(no message)" }));
  });
}
