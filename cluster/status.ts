/**
 * The state of a cluster: its runners (from Effect's runner table), each sweep's cells by state
 * and runner, and the failed cells with their messages (from the progress rows).
 *
 * @module
 */
import { Effect } from "effect";
import { SqlClient } from "effect/sql";
import type { ConfigError } from "../core/errors.ts";
import { asUserErrors, pgLayer } from "./layers.ts";
import { countCells, ensureTables, failedCells, formatCounts } from "./progress_table.ts";

/**
 * Reads the cluster's state as lines of text.
 *
 * @param url The PostgreSQL URL.
 * @param sweep Only this sweep, or all.
 * @returns The lines.
 */
export function clusterStatus(
  url: string,
  sweep: string | undefined,
): Effect.Effect<string[], ConfigError> {
  return Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient;
    yield* ensureTables;
    const lines: string[] = [];
    const runners = yield* sql<{ address: string; healthy: boolean; age: string }>`
      SELECT address, healthy, extract(epoch FROM now() - last_heartbeat)::text AS age
      FROM cluster_runners ORDER BY address`.pipe(
      Effect.catch(() => Effect.succeed([])),
    );
    lines.push(`runners: ${runners.length}`);
    for (const r of runners) {
      lines.push(
        `  ${r.address} ${r.healthy ? "healthy" : "unhealthy"}, heartbeat ${
          Number(r.age).toFixed(0)
        }s ago`,
      );
    }
    const sweeps = yield* sql<{ id: string; name: string; out: string; cells: number }>`
      SELECT id, name, out, cells FROM probsft_sweeps ORDER BY submitted_at`;
    const counts = formatCounts(yield* countCells(sweep));
    const shown = sweeps.filter((s) => sweep === undefined || s.id === sweep);
    lines.push(`sweeps: ${shown.length}`);
    for (const s of shown) {
      lines.push(`  ${s.id} ${s.name} (${s.cells} cells, out ${s.out})`);
      lines.push(`    ${counts.get(s.id) ?? "no cells"}`);
    }
    const running = yield* sql<{ sweep: string; key: string; runner: string; attempts: number }>`
      SELECT sweep, key, runner, attempts FROM probsft_cells WHERE state = 'running'
      ORDER BY runner, key`;
    const shownRunning = running.filter((r) => sweep === undefined || r.sweep === sweep);
    if (shownRunning.length > 0) lines.push("running cells:");
    for (const r of shownRunning) {
      lines.push(`  ${r.runner} ${r.key} (sweep ${r.sweep}, attempt ${r.attempts})`);
    }
    const failed = yield* failedCells(sweep);
    if (failed.length > 0) lines.push("failed cells (resubmit the sweep to run them again):");
    for (const f of failed) {
      lines.push(`  ${f.key} (sweep ${f.sweep}, on ${f.runner ?? "?"}): ${f.message}`);
    }
    return lines;
  }).pipe(Effect.provide(pgLayer(url)), (effect) => asUserErrors(url, effect));
}
