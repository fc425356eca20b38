// The cluster on a real PostgreSQL server (PROBSFT_TEST_PG, set by .ci/run from .ci/postgres.sh):
// three runner processes, a tiny sweep submitted with `experiment --cluster`, one runner killed
// with SIGKILL in the middle of a cell. Every cell finishes exactly once, the killed cell resumes
// from its checkpoint on another runner, the scores equal a local run's, and submitting the same
// sweep again computes nothing. Without PROBSFT_TEST_PG the test is listed as ignored; with it
// set but the server unreachable, it fails with the reason.
import assert from "node:assert/strict";
import { Effect } from "effect";
import { SqlClient } from "effect/sql";
import { pgLayer } from "../../cluster/layers.ts";
import { tinyPreset } from "../_presets.ts";

const adminUrl = Deno.env.get("PROBSFT_TEST_PG");

const preset = tinyPreset("cluster-test", {
  seeds: [0, 1],
  steps: 48,
  checkpointEvery: 4,
  dModel: 24,
  dMlp: 48,
});

const decoder = new TextDecoder();

/** A child process whose stdout and stderr are kept as text. */
interface Child {
  readonly process: Deno.ChildProcess;
  readonly output: { text: string };
  readonly done: Promise<void>;
}

function spawn(script: string, args: string[]): Child {
  const process = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script, ...args],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = { text: "" };
  const drain = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) output.text += decoder.decode(chunk);
  };
  const done = Promise.all([drain(process.stdout), drain(process.stderr)]).then(() => undefined);
  return { process, output, done };
}

function withDatabase<A>(
  url: string,
  sql: (client: SqlClient.SqlClient) => Effect.Effect<A, unknown>,
) {
  return Effect.runPromise(
    Effect.gen(function* () {
      return yield* sql(yield* SqlClient.SqlClient);
    }).pipe(Effect.provide(pgLayer(url))) as Effect.Effect<A>,
  );
}

async function scores(out: string): Promise<unknown> {
  const results = JSON.parse(await Deno.readTextFile(`${out}/results.json`)) as {
    cells: Array<{ key: string; scores: unknown; meanPAfter: number; probe: unknown }>;
  };
  return results.cells.map((c) => [c.key, c.scores, c.meanPAfter, c.probe]);
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

async function waitFor(
  what: string,
  seconds: number,
  check: () => boolean,
  context: () => string,
): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  while (!check()) {
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${seconds}s waiting for ${what}:\n${context()}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

Deno.test({
  name: adminUrl === undefined
    ? "cluster: three runners, one killed mid-cell (skipped: PROBSFT_TEST_PG not set)"
    : "cluster: three runners, one killed mid-cell: every cell once, same scores as local",
  ignore: adminUrl === undefined,
  async fn() {
    const admin = adminUrl!;
    const database = `probsft_test_${Deno.pid}_${Date.now() % 100000}`;
    try {
      await withDatabase(admin, (sql) => sql.unsafe(`CREATE DATABASE ${database}`));
    } catch (error) {
      throw new Error(
        `PROBSFT_TEST_PG is set but PostgreSQL cannot be used: ${String(error)} (${
          String((error as Error).cause ?? "")
        })`,
      );
    }
    const url = admin.replace(/\/[^/?]*(\?|$)/, `/${database}$1`);
    const dir = await Deno.makeTempDir({ prefix: "probsft-cluster-" });
    const presetPath = `${dir}/preset.json`;
    await Deno.writeTextFile(presetPath, JSON.stringify(preset));
    const base = 36000 + Math.floor(Math.random() * 20000);
    const runners = [0, 1, 2].map((i) =>
      spawn("tests/cluster/_cli.ts", [
        "runner",
        "--cluster",
        url,
        "--host",
        "127.0.0.1",
        "--port",
        String(base + i),
        "--cache",
        `${dir}/cache`,
      ])
    );
    try {
      const local = spawn("main.ts", [
        "experiment",
        "--preset",
        presetPath,
        "--out",
        `${dir}/local`,
      ]);
      const localStatus = await local.process.status;
      await local.done;
      assert.equal(localStatus.code, 0, local.output.text);

      const out = `${dir}/cluster`;
      const submit = spawn("tests/cluster/_cli.ts", [
        "experiment",
        "--cluster",
        url,
        "--preset",
        presetPath,
        "--out",
        out,
      ]);
      // Kill, without warning, the first runner that is in the middle of a training cell that has
      // written a checkpoint.
      let victim = -1;
      let victimKey = "";
      const context = () =>
        [submit, ...runners].map((c) => c.output.text.split("\n").slice(-15).join("\n")).join(
          "\n---\n",
        );
      await waitFor("a runner in the middle of a checkpointed cell", 120, () => {
        for (const [i, runner] of runners.entries()) {
          const started = [...runner.output.text.matchAll(/cell (\S+) started/g)].map((m) => m[1]!);
          const key = started.at(-1);
          if (key === undefined || runner.output.text.includes(`cell ${key} finished`)) continue;
          if (exists(`${out}/cells/${key}.checkpoint`)) {
            victim = i;
            victimKey = key;
            return true;
          }
        }
        return false;
      }, context);
      runners[victim]!.process.kill("SIGKILL");
      await runners[victim]!.process.status;

      const submitStatus = await submit.process.status;
      await submit.done;
      assert.equal(submitStatus.code, 0, submit.output.text);
      assert.deepEqual(await scores(out), await scores(`${dir}/local`));

      const keys = (JSON.parse(await Deno.readTextFile(`${dir}/local/results.json`)) as {
        cells: Array<{ key: string }>;
      }).cells.map((c) => c.key);
      assert.ok(keys.length >= 5, `${keys.length} cells`);
      // The cells were spread over the three runners: counts that differ by at most one.
      const spread = /to compute per runner: (.*)$/m.exec(submit.output.text)?.[1] ?? "";
      const loads = [...spread.matchAll(/:\d+ (\d+)/g)].map((m) => Number(m[1]));
      assert.equal(loads.length, 3, submit.output.text);
      assert.equal(loads.reduce((a, b) => a + b, 0), keys.length, submit.output.text);
      assert.ok(Math.max(...loads) - Math.min(...loads) <= 1, submit.output.text);

      const logs = runners.map((r) => r.output.text).join("\n");
      for (const key of keys) {
        const finished = logs.split(`cell ${key} finished`).length - 1;
        assert.equal(finished, 1, `cell ${key} finished ${finished} times:\n${logs}`);
      }
      // The killed cell ran again elsewhere, from its checkpoint (its first step there is past 1).
      const survivor = runners.find((r, i) =>
        i !== victim && r.output.text.includes(`cell ${victimKey} started`)
      );
      assert.ok(survivor, `no other runner took over ${victimKey}:\n${logs}`);
      const after = survivor.output.text.split(`cell ${victimKey} started`)[1]!;
      const firstStep = Number(/step (\d+)\//.exec(after)?.[1]);
      assert.ok(firstStep > 1, `${victimKey} restarted from step ${firstStep}, not a checkpoint`);

      // The same sweep submitted again (into another folder) joins the finished workflows.
      const startedBefore = logs.split(" started").length;
      const again = spawn("tests/cluster/_cli.ts", [
        "experiment",
        "--cluster",
        url,
        "--preset",
        presetPath,
        "--out",
        `${dir}/again`,
      ]);
      const againStatus = await again.process.status;
      await again.done;
      assert.equal(againStatus.code, 0, again.output.text);
      assert.deepEqual(await scores(`${dir}/again`), await scores(`${dir}/local`));
      const startedAfter = runners.map((r) => r.output.text).join("\n").split(" started").length;
      assert.equal(startedAfter, startedBefore, "a resubmitted sweep computed cells again");

      const status = spawn("tests/cluster/_cli.ts", ["cluster-status", "--cluster", url]);
      assert.equal((await status.process.status).code, 0);
      await status.done;
      assert.match(
        status.output.text,
        new RegExp(`${keys.length} done, 0 running, 0 failed, 0 waiting`),
      );
    } finally {
      for (const runner of runners) {
        try {
          runner.process.kill("SIGTERM");
        } catch {
          // already ended
        }
        await runner.process.status;
        await runner.done;
      }
      await withDatabase(admin, (sql) => sql.unsafe(`DROP DATABASE ${database} WITH (FORCE)`));
      await Deno.remove(dir, { recursive: true });
    }
  },
});
