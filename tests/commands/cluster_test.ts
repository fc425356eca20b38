// `deno task runner` and `deno task cluster-status` as a user runs them. Without PostgreSQL
// (PROBSFT_TEST_PG unset): their command-line and connection errors are one line, exit 1, and the
// password is not printed. With PROBSFT_TEST_PG (see tests/cluster/cluster_test.ts and
// .ci/postgres.sh): in a fresh database, two runners started with no --port both join (a third
// given a port in use is refused in one line), a sweep submitted with
// `deno task experiment --cluster` is spread evenly over them, a domain whose data files are
// missing fails its cells, cluster-status shows why, and once the files exist the resubmitted
// sweep runs only the failed cells; Ctrl-C stops the runners.
import assert from "node:assert/strict";
import { Effect } from "effect";
import { SqlClient } from "effect/sql";
import { pgLayer } from "../../cluster/layers.ts";
import { assertOneLineError, repoRoot, runTask } from "./_run.ts";
import { tinyPreset } from "../_presets.ts";
import { type LoggedChild, spawnCommand } from "../../bench/_child.ts";
import type { ExperimentConfig } from "../../core/config.ts";

const adminUrl = Deno.env.get("PROBSFT_TEST_PG");
const unreachable = "postgres://x:secret@127.0.0.1:1/db";

Deno.test("deno task cluster-status and runner: bad flags and an unreachable server are one-line errors", async () => {
  const down = await runTask(["cluster-status", "--cluster", unreachable]);
  assertOneLineError(down, /cluster postgres:\/\/x:\*\*\*@127\.0\.0\.1:1\/db: .*connect/i);
  assert.ok(!down.stderr.includes("secret"), "the password is not printed");
  assertOneLineError(
    await runTask(["cluster-status", "--cluster", "http://example.org"]),
    /--cluster must be a PostgreSQL URL/,
  );
  assertOneLineError(
    await runTask(["cluster-status"], { PROBSFT_CLUSTER: "" }),
    /--cluster must be a PostgreSQL URL .*got ""/,
  );
  assertOneLineError(
    await runTask(["cluster-status", "--cluster", unreachable, "--bogus"]),
    /cluster-status: Unknown option '--bogus'/,
  );
  assertOneLineError(await runTask(["runner", "--help"]), /runner: Unknown option '--help'/);
  assertOneLineError(
    await runTask(["runner"], { PROBSFT_CLUSTER: "" }),
    /--cluster must be a PostgreSQL URL/,
  );
  assertOneLineError(
    await runTask(["runner", "--cluster", unreachable, "--port", "x"]),
    /runner: --port must be a number, got "x"/,
  );
  const runner = await runTask([
    "runner",
    "--cluster",
    unreachable,
    "--host",
    "127.0.0.1",
    "--port",
    "39999",
  ]);
  assertOneLineError(runner, /cluster postgres:\/\/x:\*\*\*@127\.0\.0\.1:1\/db: .*connect/i);
  assert.match(runner.stdout, /^runner 127\.0\.0\.1:39999: joining the cluster$/m);
  assert.ok(!(runner.stdout + runner.stderr).includes("secret"), "the password is not printed");
});

const fixture = `${repoRoot}tests/fixtures/hf/llama`;

/** The tiny math sweep plus a `jsonl` domain whose data files do not exist until the test writes them. */
function presetWith(dir: string): ExperimentConfig {
  const preset = tinyPreset("commands-cluster", {
    steps: 4,
    checkpointEvery: 2,
    sftExamples: 64,
    samples: 1,
  });
  return {
    ...preset,
    // A preset figure: `experiment collect` must draw it from the submitted config.json.
    figures: [{ title: "Score by seed", file: "by-seed.svg", x: "seed" }],
    domains: [...preset.domains, {
      id: "jsonl",
      params: {
        format: "pairs",
        train: `${dir}/pairs.jsonl`,
        test: `${dir}/pairs-test.jsonl`,
        maxNewTokens: 2,
      },
      backbones: [{ id: "hf", params: { path: fixture } }],
      train: { steps: 2 },
    }],
  };
}

function withDatabase(url: string, statement: string): Promise<unknown> {
  return Effect.runPromise(
    Effect.gen(function* () {
      return yield* (yield* SqlClient.SqlClient).unsafe(statement);
    }).pipe(Effect.provide(pgLayer(url))) as Effect.Effect<unknown>,
  );
}

function startRunner(url: string, cache: string): LoggedChild {
  return spawnCommand(["runner", "--cluster", url, "--host", "127.0.0.1", "--cache", cache]);
}

async function waitForPort(runner: LoggedChild): Promise<number> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const port = /^runner 127\.0\.0\.1:(\d+): joining the cluster/m.exec(runner.log.text)?.[1];
    if (port !== undefined) return Number(port);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the runner printed no address:\n${runner.log.text}`);
}

const count = (text: string, what: string) => text.split(what).length - 1;

Deno.test({
  name: adminUrl === undefined
    ? "deno task runner + cluster-status on PostgreSQL (skipped: PROBSFT_TEST_PG not set)"
    : "deno task runner + cluster-status on PostgreSQL: two runners on one host, a sweep spread over both, failed cells rerun on resubmission",
  ignore: adminUrl === undefined,
  async fn() {
    const admin = adminUrl!;
    const database = `probsft_commands_${Deno.pid}_${Date.now() % 100000}`;
    await withDatabase(admin, `CREATE DATABASE ${database}`);
    const url = admin.replace(/\/[^/?]*(\?|$)/, `/${database}$1`);
    const dir = await Deno.makeTempDir({ prefix: "probsft-commands-cluster-" });
    // Two runners on one host with no --port: each takes a free port and advertises it.
    const runners = [startRunner(url, `${dir}/cache`), startRunner(url, `${dir}/cache`)];
    const logs = () => runners.map((r) => r.log.text).join("\n---\n");
    let stopped = false;
    try {
      const ports = await Promise.all(runners.map(waitForPort));
      assert.notEqual(ports[0], ports[1]);
      // Both registered with the cluster before the sweep is placed.
      const deadline = Date.now() + 60_000;
      while (true) {
        const rows = await withDatabase(
          url,
          "SELECT count(*) AS n FROM cluster_runners WHERE healthy",
        ).catch(() => [{ n: "0" }]) as Array<{ n: string }>;
        if (Number(rows[0]?.n) >= 2) break;
        assert.ok(Date.now() < deadline, `the runners did not both register:\n${logs()}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      // A third one asked for a port in use says so in one line.
      const clash = await runTask([
        "runner",
        "--cluster",
        url,
        "--host",
        "127.0.0.1",
        "--port",
        String(ports[0]),
      ]);
      assertOneLineError(
        clash,
        new RegExp(`port ${ports[0]} on 127\\.0\\.0\\.1 is in use.*--port`),
      );

      const presetPath = `${dir}/preset.json`;
      await Deno.writeTextFile(presetPath, JSON.stringify(presetWith(dir)));
      const submit = () =>
        runTask(["experiment", "--cluster", url, "--preset", presetPath, "--out", `${dir}/out`]);
      // The jsonl domain's files are missing: its three cells fail, the three math cells finish.
      const first = await submit();
      assert.equal(first.code, 1, `${first.stderr}\nrunners:\n${logs()}`);
      assert.match(first.stderr, /^error: 3 cell\(s\) failed; see .*report\.md$/m);
      // Spread: three cells to compute on each runner, and both compute.
      const spread = /to compute per runner: 127\.0\.0\.1:\d+ (\d+), 127\.0\.0\.1:\d+ (\d+)/
        .exec(first.stderr);
      assert.deepEqual(spread?.slice(1), ["3", "3"], first.stderr);
      for (const r of runners) assert.match(r.log.text, / started/, logs());

      const failedStatus = await runTask(["cluster-status", "--cluster", url]);
      assert.equal(failedStatus.code, 0, failedStatus.stderr);
      assert.match(failedStatus.stdout, /^runners: 2$/m);
      assert.match(failedStatus.stdout, /3 done, 0 running, 3 failed, 0 waiting/);
      assert.match(failedStatus.stdout, /^failed cells/m);
      assert.match(failedStatus.stdout, /jsonl.*pairs\.jsonl/);

      // Fixed and resubmitted: only the failed cells run again.
      const pair = (p: string, r: string) => JSON.stringify({ prompt: p, response: r }) + "\n";
      await Deno.writeTextFile(`${dir}/pairs.jsonl`, pair("a b", "c").repeat(4));
      await Deno.writeTextFile(`${dir}/pairs-test.jsonl`, pair("d e", "f"));
      const second = await submit();
      assert.equal(second.code, 0, `${second.stderr}\nrunners:\n${logs()}`);
      assert.match(second.stderr, /3 finished before, 3 failed before and submitted again/);
      const results = JSON.parse(await Deno.readTextFile(`${dir}/out/results.json`)) as {
        cells: Array<{ key: string }>;
      };
      assert.equal(results.cells.length, 6);
      for (const cell of results.cells) {
        const started = count(logs(), `cell ${cell.key} started`);
        assert.equal(started, cell.key.startsWith("jsonl") ? 2 : 1, `${cell.key}:\n${logs()}`);
        assert.equal(count(logs(), `cell ${cell.key} finished`), 1, logs());
      }

      const status = await runTask(["cluster-status", "--cluster", url]);
      assert.equal(status.code, 0, status.stderr);
      for (const port of ports) {
        assert.match(status.stdout, new RegExp(`127\\.0\\.0\\.1:${port} healthy`));
      }
      assert.match(status.stdout, /^sweeps: 1$/m);
      assert.match(status.stdout, /commands-cluster \(6 cells/);
      assert.match(status.stdout, /6 done, 0 running, 0 failed, 0 waiting/);
      assert.doesNotMatch(status.stdout, /^failed cells/m);

      // `experiment collect` into the submitted folder writes the report and the preset's figure.
      await Deno.remove(`${dir}/out/by-seed.svg`);
      await Deno.remove(`${dir}/out/report.md`);
      const collect = await runTask([
        "experiment",
        "collect",
        "--cluster",
        url,
        "--out",
        `${dir}/out`,
      ]);
      assert.equal(collect.code, 0, collect.stderr);
      assert.match(collect.stderr, /6 cells collected, 0 failed, 0 unfinished/);
      assert.match(
        await Deno.readTextFile(`${dir}/out/by-seed.svg`),
        /<title>Score by seed<\/title>/,
      );
      assert.match(await Deno.readTextFile(`${dir}/out/report.md`), /Score by seed/);

      // Ctrl-C: the runners leave with status 130.
      for (const runner of runners) {
        runner.child.kill("SIGINT");
        const exit = await Promise.race([
          runner.child.status,
          new Promise<null>((resolve) => setTimeout(() => resolve(null), 30_000)),
        ]);
        assert.ok(exit !== null, `a runner did not stop within 30 s of SIGINT:\n${logs()}`);
        assert.equal(exit.code, 130, logs());
      }
      stopped = true;
    } finally {
      for (const runner of runners) {
        if (!stopped) {
          try {
            runner.child.kill("SIGKILL");
          } catch {
            // already ended
          }
        }
        await runner.child.status;
        await runner.drained;
      }
      await withDatabase(admin, `DROP DATABASE ${database} WITH (FORCE)`);
      await Deno.remove(dir, { recursive: true });
    }
  },
});
