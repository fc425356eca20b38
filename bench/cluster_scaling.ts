/**
 * Coordination cost of the cluster at scale, on one machine: for each N it starts N runner
 * processes on loopback against one PostgreSQL, submits a sweep of N × k cells whose backbone only
 * waits (`bench/sleep_plugin.ts`, so the two cores are not the limit) and times it from
 * submission to the last result. It reports cells per minute, the efficiency against N times a
 * single runner's throughput, the overhead per cell (runner time per cell beyond the wait), and
 * PostgreSQL's row counts; a last run at the `--kill-at` size SIGKILLs one runner mid-sweep and
 * checks that every cell still finishes.
 *
 * ```sh
 * deno task bench-cluster --cluster postgres://postgres@127.0.0.1:55432/postgres \
 *   [--runners 1,5,10,20] [--seconds 10] [--cells-per-runner 3] [--kill-at 10] [--json]
 * ```
 *
 * The URL's server must allow `CREATE DATABASE` (each size runs in a fresh database, dropped
 * afterwards) and take about 12 connections per runner (`max_connections`).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { resolve } from "node:path";
import { Effect } from "effect";
import { SqlClient } from "effect/sql";
import { pgLayer } from "../cluster/layers.ts";
import type { ExperimentConfig } from "../core/config.ts";
import { spawnCommand } from "./_child.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    cluster: { type: "string" },
    runners: { type: "string", default: "1,5,10,20" },
    seconds: { type: "string", default: "10" },
    "cells-per-runner": { type: "string", default: "3" },
    "kill-at": { type: "string", default: "10" },
    json: { type: "boolean", default: false },
  },
});
const admin = values.cluster ?? Deno.env.get("PROBSFT_CLUSTER");
if (admin === undefined || !/^postgres(ql)?:\/\//.test(admin)) {
  console.error("error: bench-cluster: give --cluster postgres://user@host:port/database");
  Deno.exit(1);
}
const sizes = values.runners.split(",").map(Number);
const seconds = Number(values.seconds);
const perRunner = Number(values["cells-per-runner"]);
const killAt = Number(values["kill-at"]);
if ([...sizes, seconds, perRunner, killAt].some((n) => !Number.isFinite(n) || n < 0)) {
  console.error(
    "error: bench-cluster: --runners, --seconds, --cells-per-runner and --kill-at are numbers",
  );
  Deno.exit(1);
}
const root = new URL("../", import.meta.url).pathname;
const plugin = resolve(root, "bench/sleep_plugin.ts");

function sql<A extends object = Record<string, unknown>>(
  url: string,
  text: string,
): Promise<ReadonlyArray<A>> {
  return Effect.runPromise(
    Effect.gen(function* () {
      return yield* (yield* SqlClient.SqlClient).unsafe<A>(text);
    }).pipe(Effect.provide(pgLayer(url))) as Effect.Effect<ReadonlyArray<A>>,
  );
}

function preset(cells: number): ExperimentConfig {
  return {
    name: `cluster-scaling-${cells}`,
    seeds: Array.from({ length: cells }, (_, i) => i),
    baseline: false,
    objectives: [{ id: "neg-log-prob" }],
    train: { batchSize: 2, checkpointEvery: 1000 },
    evaluation: { batchSize: 4, maxItems: 1 },
    domains: [{
      id: "math",
      params: { sftExamples: 8, testItems: 1, samples: 1, corpusDocuments: 4 },
      backbones: [{ id: "sleep", params: { seconds } }],
      train: { steps: 1 },
    }],
  };
}

/** A child process whose output is drained (kept only for errors). */
const spawn = (args: string[]) => spawnCommand(args, 20000);

/** One size's figures. */
interface Row {
  readonly runners: number;
  readonly killed: boolean;
  readonly cells: number;
  readonly wallSeconds: number;
  readonly cellsPerMinute: number;
  readonly overheadPerCellSeconds: number;
  readonly startSeconds: number;
  readonly rows: Record<string, number>;
}

async function measure(n: number, kill: boolean, dir: string): Promise<Row> {
  const database = `probsft_scaling_${n}_${kill ? "k" : "c"}_${Deno.pid}`;
  await sql(admin!, `CREATE DATABASE ${database}`);
  const url = admin!.replace(/\/[^/?]*(\?|$)/, `/${database}$1`);
  const started = performance.now();
  const runners = Array.from(
    { length: n },
    () => spawn(["runner", "--cluster", url, "--host", "127.0.0.1", "--cache", `${dir}/cache`]),
  );
  try {
    // Every runner registered and healthy, and a few seconds for the shard locks to settle.
    const deadline = Date.now() + 300_000;
    while (true) {
      const healthy = await sql<{ n: string }>(
        url,
        "SELECT count(*) AS n FROM cluster_runners WHERE healthy",
      ).catch(() => [{ n: "0" }]);
      if (Number(healthy[0]!.n) >= n) break;
      if (Date.now() > deadline) throw new Error(`only ${healthy[0]!.n} of ${n} runners joined`);
      await new Promise((r) => setTimeout(r, 500));
    }
    await new Promise((r) => setTimeout(r, 5000));
    const startSeconds = (performance.now() - started) / 1000;
    const cells = n * perRunner;
    const presetPath = `${dir}/preset-${cells}.json`;
    await Deno.writeTextFile(presetPath, JSON.stringify(preset(cells)));
    const out = `${dir}/out-${n}-${kill ? "killed" : "clean"}`;
    const t0 = performance.now();
    const submit = spawn(["experiment", "--cluster", url, "--preset", presetPath, "--out", out]
      .concat(["--plugin", plugin]));
    if (kill) {
      // SIGKILL the first runner in the middle of its first cell.
      await new Promise((r) => setTimeout(r, seconds * 500 + 2000));
      runners[0]!.child.kill("SIGKILL");
    }
    const status = await submit.child.status;
    await submit.drained;
    const wallSeconds = (performance.now() - t0) / 1000;
    if (status.code !== 0) throw new Error(`the sweep failed:\n${submit.log.text}`);
    const results = JSON.parse(await Deno.readTextFile(`${out}/results.json`)) as {
      cells: unknown[];
    };
    if (results.cells.length !== cells) {
      throw new Error(`${results.cells.length} of ${cells} cells came back:\n${submit.log.text}`);
    }
    const counts = await sql<Record<string, string>>(
      url,
      `SELECT (SELECT count(*) FROM cluster_messages) AS messages,
        (SELECT count(*) FROM cluster_replies) AS replies,
        (SELECT count(*) FROM cluster_runners) AS runners,
        (SELECT count(*) FROM probsft_cells) AS cells`,
    );
    return {
      runners: n,
      killed: kill,
      cells,
      wallSeconds,
      cellsPerMinute: cells / wallSeconds * 60,
      overheadPerCellSeconds: wallSeconds * n / cells - seconds,
      startSeconds,
      rows: Object.fromEntries(Object.entries(counts[0]!).map(([k, v]) => [k, Number(v)])),
    };
  } finally {
    for (const r of runners) {
      try {
        r.child.kill("SIGTERM");
      } catch {
        // already ended
      }
    }
    for (const r of runners) {
      await r.child.status;
      await r.drained;
    }
    await sql(admin!, `DROP DATABASE ${database} WITH (FORCE)`);
  }
}

const dir = await Deno.makeTempDir({ prefix: "probsft-cluster-scaling-" });
const rows: Row[] = [];
try {
  for (const n of sizes) {
    rows.push(await measure(n, false, dir));
    if (!values.json) console.error(`${n} runner(s): ${rows.at(-1)!.wallSeconds.toFixed(1)} s`);
  }
  if (killAt > 0) rows.push(await measure(killAt, true, dir));
} finally {
  await Deno.remove(dir, { recursive: true });
}
const single = rows.find((r) => r.runners === 1 && !r.killed)?.cellsPerMinute;
const report = rows.map((r) => ({
  ...r,
  efficiency: single === undefined ? null : r.cellsPerMinute / (r.runners * single),
}));
if (values.json) {
  console.log(JSON.stringify({ seconds, cellsPerRunner: perRunner, rows: report }, null, 2));
} else {
  console.log(
    `cells wait ${seconds} s, ${perRunner} cells per runner; ${
      new Date().toISOString().slice(0, 10)
    }, ${navigator.hardwareConcurrency} cores`,
  );
  console.log(
    "| runners | cells | wall (s) | cells/min | vs N x one runner | overhead per cell (s) | runner start (s) | messages | replies |",
  );
  console.log("|---|---|---|---|---|---|---|---|---|");
  for (const r of report) {
    console.log(
      `| ${r.runners}${r.killed ? " (one SIGKILLed)" : ""} | ${r.cells} | ${
        r.wallSeconds.toFixed(1)
      } | ${r.cellsPerMinute.toFixed(1)} | ${
        r.efficiency === null ? "-" : `${(r.efficiency * 100).toFixed(0)}%`
      } | ${r.overheadPerCellSeconds.toFixed(2)} | ${
        r.startSeconds.toFixed(0)
      } | ${r.rows.messages} | ${r.rows.replies} |`,
    );
  }
}
