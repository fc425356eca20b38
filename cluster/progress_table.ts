/**
 * Progress rows of sweeps in PostgreSQL: which cells each sweep has, which runner runs or ran
 * each, and how it ended. They are for people (`deno task experiment --cluster` and
 * `deno task cluster-status`); the cells' results themselves are the workflows' stored replies.
 *
 * @module
 */
import { Effect } from "effect";
import { SqlClient } from "effect/sql";

/** Creates the tables if they are missing. */
export const ensureTables: Effect.Effect<void, unknown, SqlClient.SqlClient> = Effect.gen(
  function* () {
    const sql = yield* SqlClient.SqlClient;
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
    yield* sql`CREATE INDEX IF NOT EXISTS probsft_cells_execution ON probsft_cells (execution_id)`;
  },
);

/**
 * Records a sweep and its cells (again, if resubmitted: rows that exist are kept).
 *
 * @param sweep The sweep id, name, output folder and cells.
 * @returns Nothing.
 */
export function recordSweep(sweep: {
  readonly id: string;
  readonly name: string;
  readonly out: string;
  readonly cells: ReadonlyArray<{ readonly key: string; readonly executionId: string }>;
}): Effect.Effect<void, unknown, SqlClient.SqlClient> {
  return Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient;
    yield* sql`INSERT INTO probsft_sweeps (id, name, out, cells)
      VALUES (${sweep.id}, ${sweep.name}, ${sweep.out}, ${sweep.cells.length})
      ON CONFLICT (id) DO UPDATE SET out = EXCLUDED.out`;
    for (const cell of sweep.cells) {
      yield* sql`INSERT INTO probsft_cells (sweep, key, execution_id)
        VALUES (${sweep.id}, ${cell.key}, ${cell.executionId})
        ON CONFLICT (sweep, key) DO NOTHING`;
    }
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
  },
): Effect.Effect<void, unknown, SqlClient.SqlClient> {
  return Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient;
    yield* sql`UPDATE probsft_cells SET state = ${outcome.state}, finished_at = now(),
      wall_seconds = ${outcome.wallSeconds}, message = ${outcome.message ?? null}
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
