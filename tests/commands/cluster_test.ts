// `deno task runner` and `deno task cluster-status` as a user runs them. Without PostgreSQL
// (PROBSFT_TEST_PG unset): their command-line and connection errors are one line, exit 1, and the
// password is not printed. With PROBSFT_TEST_PG (see tests/cluster/cluster_test.ts and
// .ci/postgres.sh): in a fresh database, a runner joins, a tiny sweep submitted with
// `deno task experiment --cluster` runs on it, cluster-status shows the runner and the finished
// cells, and Ctrl-C stops the runner.
import assert from "node:assert/strict";
import { Effect } from "effect";
import { SqlClient } from "effect/sql";
import { pgLayer } from "../../cluster/layers.ts";
import { assertOneLineError, repoRoot, runTask } from "./_run.ts";
import { tinyPreset } from "../_presets.ts";

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

const preset = tinyPreset("commands-cluster", {
  steps: 4,
  checkpointEvery: 2,
  sftExamples: 64,
  samples: 1,
});

function withDatabase(url: string, statement: string): Promise<unknown> {
  return Effect.runPromise(
    Effect.gen(function* () {
      return yield* (yield* SqlClient.SqlClient).unsafe(statement);
    }).pipe(Effect.provide(pgLayer(url))) as Effect.Effect<unknown>,
  );
}

Deno.test({
  name: adminUrl === undefined
    ? "deno task runner + cluster-status on PostgreSQL (skipped: PROBSFT_TEST_PG not set)"
    : "deno task runner + cluster-status on PostgreSQL: a runner serves a sweep, status shows it",
  ignore: adminUrl === undefined,
  async fn() {
    const admin = adminUrl!;
    const database = `probsft_commands_${Deno.pid}_${Date.now() % 100000}`;
    await withDatabase(admin, `CREATE DATABASE ${database}`);
    const url = admin.replace(/\/[^/?]*(\?|$)/, `/${database}$1`);
    const dir = await Deno.makeTempDir({ prefix: "probsft-commands-cluster-" });
    const port = 36000 + Math.floor(Math.random() * 20000);
    const runner = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "main.ts",
        "runner",
        "--cluster",
        url,
        "--host",
        "127.0.0.1",
        "--port",
        String(port),
        "--cache",
        `${dir}/cache`,
      ],
      cwd: repoRoot,
      env: { NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const log = { text: "" };
    const decoder = new TextDecoder();
    const drain = async (stream: ReadableStream<Uint8Array>) => {
      for await (const chunk of stream) log.text += decoder.decode(chunk);
    };
    const drained = Promise.all([drain(runner.stdout), drain(runner.stderr)]);
    let stopped = false;
    try {
      const presetPath = `${dir}/preset.json`;
      await Deno.writeTextFile(presetPath, JSON.stringify(preset));
      const submit = await runTask([
        "experiment",
        "--cluster",
        url,
        "--preset",
        presetPath,
        "--out",
        `${dir}/out`,
      ]);
      assert.equal(submit.code, 0, `${submit.stderr}\nrunner:\n${log.text}`);
      const results = JSON.parse(await Deno.readTextFile(`${dir}/out/results.json`)) as {
        cells: Array<{ key: string; objective: { id: string } }>;
      };
      assert.equal(results.cells.length, 3);
      assert.match(log.text, new RegExp(`^runner 127\\.0\\.0\\.1:${port}: joining the cluster`));
      for (const cell of results.cells) {
        assert.match(log.text, new RegExp(`cell ${cell.key} finished`), log.text);
      }

      const status = await runTask(["cluster-status", "--cluster", url]);
      assert.equal(status.code, 0, status.stderr);
      assert.match(status.stdout, /^runners: 1$/m);
      assert.match(status.stdout, new RegExp(`127\\.0\\.0\\.1:${port} healthy`));
      assert.match(status.stdout, /^sweeps: 1$/m);
      assert.match(status.stdout, /commands-cluster \(3 cells/);
      assert.match(status.stdout, /3 done, 0 running, 0 failed, 0 waiting/);

      // Ctrl-C: the runner leaves with status 130.
      runner.kill("SIGINT");
      const exit = await Promise.race([
        runner.status,
        new Promise<null>((resolve) => setTimeout(() => resolve(null), 30_000)),
      ]);
      stopped = exit !== null;
      assert.ok(exit !== null, `the runner did not stop within 30 s of SIGINT:\n${log.text}`);
      assert.equal(exit.code, 130, log.text);
    } finally {
      if (!stopped) {
        try {
          runner.kill("SIGKILL");
        } catch {
          // already ended
        }
      }
      await runner.status;
      await drained;
      await withDatabase(admin, `DROP DATABASE ${database} WITH (FORCE)`);
      await Deno.remove(dir, { recursive: true });
    }
  },
});
