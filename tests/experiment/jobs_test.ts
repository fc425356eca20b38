// `deno task experiment --jobs N`: cells in worker processes give the same results.json as one
// after another; a SIGKILL of the parent leaves no worker behind and the same command resumes
// to the same scores; a killed worker fails only its cell; SIGINT stops the run and its workers;
// a bad --jobs is one line.
import { Effect, Exit } from "effect";
import assert from "node:assert/strict";
import { decodeExperiment } from "../../core/config.ts";
import { makeRegistry } from "../../core/registry.ts";
import { runExperiment } from "../../core/runner.ts";
import { builtins } from "../../plugins/builtins.ts";
import { tinyPreset } from "../_presets.ts";
import { assertOneLineError, runTask } from "../commands/_run.ts";

const preset = tinyPreset("jobs-test", { seeds: [0, 1], steps: 12, checkpointEvery: 3 });

function experiment(presetPath: string, out: string, jobs: number): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "main.ts",
      "experiment",
      "--preset",
      presetPath,
      "--out",
      out,
      "--cache",
      `${out}.cache`,
      "--jobs",
      String(jobs),
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
}

async function finish(child: Deno.ChildProcess): Promise<string> {
  const { code, stderr } = await child.output();
  const text = new TextDecoder().decode(stderr);
  assert.equal(code, 0, text);
  return text;
}

/** results.json's cells without their wall times. */
async function resultsOf(out: string): Promise<unknown[]> {
  const results = JSON.parse(await Deno.readTextFile(`${out}/results.json`)) as {
    cells: Array<Record<string, unknown>>;
  };
  return results.cells.map(({ wallSeconds: _, ...rest }) => rest);
}

/** The processes whose environment names `parent` as their parent run (Linux). */
function workersOf(parent: number): number[] {
  const found: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const environ = Deno.readTextFileSync(`/proc/${entry.name}/environ`);
      if (environ.split("\0").includes(`PROBSFT_WORKER_PARENT=${parent}`)) {
        found.push(Number(entry.name));
      }
    } catch {
      // gone, or not ours to read
    }
  }
  return found;
}

/** The processes of `pids` still there after waiting up to `ms` for them to go. */
async function survivors(pids: ReadonlyArray<number>, ms: number): Promise<number[]> {
  const alive = () => pids.filter((pid) => listing(`/proc/${pid}`).length > 0);
  const deadline = Date.now() + ms;
  while (alive().length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
  return alive();
}

function listing(path: string): string[] {
  try {
    return [...Deno.readDirSync(path)].map((e) => e.name);
  } catch {
    return [];
  }
}

/**
 * Waits (up to 120 s) until the run's first checkpoint is on disk, and lists its workers then.
 *
 * @param run The `--jobs 2` experiment.
 * @param out Its output folder.
 * @returns Whether a checkpoint appeared, and the workers' process ids at that moment.
 */
async function workersAtCheckpoint(
  run: Deno.ChildProcess,
  out: string,
): Promise<{ checkpointed: boolean; workers: number[] }> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    if (listing(`${out}/cells`).some((n) => n.endsWith(".checkpoint"))) {
      return { checkpointed: true, workers: workersOf(run.pid) };
    }
  }
  return { checkpointed: false, workers: workersOf(run.pid) };
}

Deno.test("--jobs 2 writes the same results as --jobs 1, and every cell's file", async () => {
  const dir = await Deno.makeTempDir();
  const presetPath = `${dir}/preset.json`;
  await Deno.writeTextFile(presetPath, JSON.stringify(preset));
  await finish(experiment(presetPath, `${dir}/serial`, 1));
  const log = await finish(experiment(presetPath, `${dir}/parallel`, 2));
  assert.match(log, /running up to 2 cells at once/);
  const serial = await resultsOf(`${dir}/serial`);
  assert.equal(serial.length, 6);
  assert.deepEqual(await resultsOf(`${dir}/parallel`), serial);
  const cells = (name: string) =>
    listing(`${dir}/${name}/cells`).filter((n) => n.endsWith(".json"));
  assert.deepEqual(cells("parallel").sort(), cells("serial").sort());
  assert.deepEqual(listing(`${dir}/parallel`).filter((n) => n.startsWith(".lock")), []);
  await Deno.remove(dir, { recursive: true });
});

Deno.test({
  name:
    "SIGKILL of a --jobs 2 run leaves no workers, and the same command resumes to the same scores",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const dir = await Deno.makeTempDir();
    const presetPath = `${dir}/preset.json`;
    await Deno.writeTextFile(presetPath, JSON.stringify(preset));
    await finish(experiment(presetPath, `${dir}/whole`, 1));

    const killed = experiment(presetPath, `${dir}/killed`, 2);
    const { checkpointed, workers } = await workersAtCheckpoint(killed, `${dir}/killed`);
    assert.ok(checkpointed, "the run was killed after a checkpoint");
    assert.equal(workers.length, 2, `two workers of process ${killed.pid}`);
    killed.kill("SIGKILL");
    await killed.status;
    await killed.stderr.cancel();
    assert.deepEqual(await survivors(workers, 10_000), [], "workers outlived their parent");
    // The rerun resumes a cell from the checkpoint a killed worker left.
    assert.ok(listing(`${dir}/killed/cells`).some((n) => n.endsWith(".checkpoint")));
    await finish(experiment(presetPath, `${dir}/killed`, 2));
    assert.deepEqual(await resultsOf(`${dir}/killed`), await resultsOf(`${dir}/whole`));
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name: "a worker killed mid-cell fails only its cell; the same command then finishes it",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const dir = await Deno.makeTempDir();
    const presetPath = `${dir}/preset.json`;
    await Deno.writeTextFile(presetPath, JSON.stringify(preset));
    await finish(experiment(presetPath, `${dir}/whole`, 1));
    const run = experiment(presetPath, `${dir}/out`, 2);
    const { workers } = await workersAtCheckpoint(run, `${dir}/out`);
    assert.equal(workers.length, 2, "two workers started");
    Deno.kill(workers[0]!, "SIGKILL");
    const { code, stderr } = await run.output();
    const text = new TextDecoder().decode(stderr);
    assert.equal(code, 1, text);
    assert.match(text, /cell worker \(process \d+\) was killed by SIGKILL/);
    assert.match(text, /1 cell\(s\) failed/);
    await finish(experiment(presetPath, `${dir}/out`, 2));
    assert.deepEqual(await resultsOf(`${dir}/out`), await resultsOf(`${dir}/whole`));
    await Deno.remove(dir, { recursive: true });
  },
});

/**
 * The tiny preset run in this process with `--jobs 2`, its workers started by `bash -c script`
 * (the script's arguments: `$0`, then the real worker command in `$@`).
 */
function runWithWorkers(dir: string, script: string, scriptArg: string, log: string[] = []) {
  return runExperiment({
    config: Effect.runSync(decodeExperiment(preset, "test")),
    source: "test",
    out: `${dir}/out`,
    cacheDir: `${dir}/cache`,
    registry: Effect.runSync(makeRegistry([builtins])),
    progress: { cell() {}, step() {}, log: (line) => log.push(line) },
    jobs: 2,
    worker: {
      command: "bash",
      args: ["-c", script, scriptArg, Deno.execPath(), "run", "-A", "main.ts", "cell-worker"],
      plugins: [],
      backend: "wasm",
    },
  });
}

Deno.test({
  name: "a worker killed while starting fails only the cell it was started for",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const dir = await Deno.makeTempDir();
    // The second worker process started is SIGKILLed before it is ready (as the OOM killer might).
    // (mkdir is atomic: exactly one start makes "first", exactly one other makes "second").
    const killSecond = `touch "$0/start.$$"; mkdir "$0/first" 2>/dev/null && exec "$@"; ` +
      `mkdir "$0/second" 2>/dev/null && kill -KILL $$; exec "$@"`;
    await Deno.mkdir(`${dir}/starts`);
    const log: string[] = [];
    const results = await Effect.runPromise(runWithWorkers(dir, killSecond, `${dir}/starts`, log));
    assert.equal(results.failures.length, 1, log.join("\n"));
    assert.match(
      results.failures[0]!.message,
      /^cell worker \(process \d+\) was killed by SIGKILL \(out of memory\?\) while starting for cell /,
    );
    assert.equal(results.cells.length, 5, log.join("\n"));
    const starts = listing(`${dir}/starts`).filter((n) => n.startsWith("start."));
    assert.equal(starts.length, 3, "the killed worker was replaced");
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test("a worker that exits by itself before it is ready stops the run with one line", async () => {
  const dir = await Deno.makeTempDir();
  const exit = await Effect.runPromiseExit(runWithWorkers(dir, "exit 3", "worker"));
  assert.ok(Exit.isFailure(exit));
  const error = exit.cause.reasons.find((r) => r._tag === "Fail");
  assert.ok(error && error._tag === "Fail" && error.error._tag === "ConfigError", String(exit));
  assert.match(
    error.error.message,
    /^Cannot start a cell worker: cell worker \(process \d+\) exited with status 3; --jobs 1 runs the cells in this process$/,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test({
  name: "SIGINT to a --jobs 2 run stops it with its workers (exit 130)",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const dir = await Deno.makeTempDir();
    const presetPath = `${dir}/preset.json`;
    await Deno.writeTextFile(presetPath, JSON.stringify(preset));
    const run = experiment(presetPath, `${dir}/out`, 2);
    const deadline = Date.now() + 120_000;
    let workers: number[] = [];
    while (workers.length < 2 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      workers = workersOf(run.pid);
    }
    assert.equal(workers.length, 2, "two workers started");
    run.kill("SIGINT");
    const { code, stderr } = await run.output();
    assert.equal(code, 130, new TextDecoder().decode(stderr));
    assert.deepEqual(await survivors(workers, 10_000), [], "workers outlived their parent");
    assert.ok(!new TextDecoder().decode(stderr).includes("failed"), "no cell reported failed");
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test("--jobs that is not a whole number of at least 1 is refused with one line", async () => {
  assertOneLineError(
    await runTask(["experiment", "--preset", "toy", "--jobs", "0", "--out", "/nonexistent/x"]),
    /--jobs must be a whole number of at least 1, got 0/,
  );
  assertOneLineError(
    await runTask(["experiment", "--preset", "toy", "--out", "/nonexistent/x"], {
      PROBSFT_JOBS: "1.5",
    }),
    /PROBSFT_JOBS must be a whole number of at least 1, got 1.5/,
  );
});
