// Faults during a run: SIGKILL at seeded random points (training, evaluation, writes) and a rerun
// lose no finished cell and give the same results as an uninterrupted run; half-written files are
// never taken for good ones; a full disk or a read-only output folder gives a one-line error and
// leaves the earlier results readable.
import "../_setup.ts";
import * as tf from "@tensorflow/tfjs";
import { Effect, Exit } from "effect";
import assert from "node:assert/strict";
import type { ExperimentConfig } from "../../core/config.ts";
import { isUserError } from "../../core/errors.ts";
import { makeRandom } from "../../core/random.ts";
import { makeRegistry } from "../../core/registry.ts";
import { runExperiment } from "../../core/runner.ts";
import { loadState, saveState, writeAtomic } from "../../core/state_file.ts";
import { builtins } from "../../plugins/builtins.ts";

const tiny: ExperimentConfig = {
  name: "faults",
  backend: "wasm",
  seeds: [0],
  objectives: [{ id: "neg-log-prob" }, { id: "neg-prob" }, {
    id: "general-family",
    params: { alpha: 10 },
  }],
  train: { batchSize: 4, checkpointEvery: 2, steps: 16 },
  evaluation: { batchSize: 8, maxItems: 4 },
  domains: [{
    id: "math",
    params: { sftExamples: 32, testItems: 4, samples: 2, corpusDocuments: 8 },
    backbones: [{ id: "transformer", params: { dModel: 8, nLayers: 1, nHeads: 1, dMlp: 16 } }],
  }],
};

function experiment(presetPath: string, out: string): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "main.ts", "experiment", "--preset", presetPath, "--out", out],
    stdout: "null",
    stderr: "piped",
  }).spawn();
}

type Row = [string, unknown, number];
async function rows(out: string): Promise<Row[]> {
  const results = JSON.parse(await Deno.readTextFile(`${out}/results.json`)) as {
    cells: Array<{ key: string; scores: unknown; meanPAfter: number }>;
  };
  return results.cells.map((c) => [c.key, c.scores, c.meanPAfter]);
}

function finishedCells(out: string): Map<string, string> {
  const done = new Map<string, string>();
  try {
    for (const entry of Deno.readDirSync(`${out}/cells`)) {
      if (!entry.name.endsWith(".json")) continue;
      const text = Deno.readTextFileSync(`${out}/cells/${entry.name}`);
      const cell = JSON.parse(text) as { key: string }; // a finished file always parses
      done.set(cell.key, text);
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return done;
}

Deno.test("SIGKILL at seeded random points, then reruns, lose no finished cell and give the same results", async () => {
  const dir = await Deno.makeTempDir();
  const presetPath = `${dir}/preset.json`;
  await Deno.writeTextFile(presetPath, JSON.stringify(tiny));
  const started = performance.now();
  const whole = await experiment(presetPath, `${dir}/whole`).output();
  assert.equal(whole.code, 0, new TextDecoder().decode(whole.stderr));
  const wholeMs = performance.now() - started;

  const out = `${dir}/killed`;
  const random = makeRandom(20251);
  let kills = 0;
  let finished = new Map<string, string>();
  for (let attempt = 0; attempt < 8; attempt++) {
    const child = experiment(presetPath, out);
    // Kill points spread over the whole run: start-up, training, evaluation and writes.
    const delay = attempt < 4 ? 300 + random() * wholeMs : Infinity;
    const timer = Number.isFinite(delay)
      ? setTimeout(() => {
        try {
          child.kill("SIGKILL");
          kills += 1;
        } catch { /* it had already exited */ }
      }, delay)
      : undefined;
    const status = await child.output();
    clearTimeout(timer);
    const now = finishedCells(out);
    for (const [key, text] of finished) {
      assert.equal(now.get(key), text, `finished cell ${key} was lost or changed by a kill`);
    }
    finished = now;
    if (status.code === 0) break;
    assert.equal(status.signal, "SIGKILL", new TextDecoder().decode(status.stderr));
    if (attempt === 2) {
      // A checkpoint cut short (as a non-atomic writer would leave it) and a stray temporary file
      // must not be resumed from: the cell starts over and the numbers stay the same.
      for (const entry of Deno.readDirSync(`${out}/cells`)) {
        if (entry.name.endsWith(".checkpoint")) {
          const path = `${out}/cells/${entry.name}`;
          const bytes = await Deno.readFile(path);
          await Deno.writeFile(path, bytes.subarray(0, Math.floor(bytes.length / 2)));
        }
      }
      await Deno.writeTextFile(`${out}/cells/x.json.tmp-1-deadbeef`, '{"key":');
    }
  }
  assert.ok(kills >= 2, `only ${kills} kills landed`);
  assert.deepEqual(await rows(out), await rows(`${dir}/whole`));
  assert.ok(![...Deno.readDirSync(`${out}/cells`)].some((e) => e.name.includes(".tmp-")));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("loadState() refuses a truncated, corrupted or missing checkpoint with a CheckpointError", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/state`;
  const w = tf.tensor([1, 2, 3, 4], [2, 2]);
  await saveState(path, [["w0", w]], { step: "3" });
  w.dispose();
  const good = await loadState(path);
  assert.equal(good.metadata.step, "3");
  for (const t of good.tensors.values()) t.dispose();
  const bytes = await Deno.readFile(path);
  const cases: Array<[string, Uint8Array, RegExp]> = [
    ["truncated", bytes.subarray(0, bytes.length - 3), /data bytes, expected 16/],
    ["header only", bytes.subarray(0, 12), /header runs past the end/],
    ["empty", new Uint8Array(0), /shorter than a header/],
    ["flipped", Uint8Array.from(bytes, (b, i) => i === bytes.length - 1 ? b ^ 1 : b), /checksum/],
  ];
  const before = tf.memory().numTensors;
  for (const [name, content, pattern] of cases) {
    await Deno.writeFile(path, content);
    await assert.rejects(() => loadState(path), (error: unknown) => {
      assert.ok(isUserError(error) && error._tag === "CheckpointError", name);
      assert.match(error.message, pattern, name);
      return true;
    });
  }
  await assert.rejects(() => loadState(`${dir}/none`), /Cannot resume from .*none/);
  assert.equal(tf.memory().numTensors, before);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a full disk stops the run with a one-line OutputError and earlier results stay readable", async () => {
  const registry = Effect.runSync(makeRegistry([builtins]));
  const out = await Deno.makeTempDir();
  const open = Deno.open;
  let finished = 0;
  // Fault injection: once a cell has finished, every new file under `out` fails as on a full disk.
  Deno.open = ((path: string | URL, options?: Deno.OpenOptions) => {
    if (finished >= 1 && String(path).startsWith(out) && options?.create) {
      return Promise.reject(new Error("No space left on device (os error 28)"));
    }
    return open(path, options);
  }) as typeof Deno.open;
  try {
    const exit = await Effect.runPromiseExit(
      runExperiment({
        config: { ...tiny, train: { ...tiny.train, steps: 4 } },
        source: "test",
        out,
        cacheDir: out,
        registry,
        progress: { cell() {}, step() {}, log() {} },
        onCell: (results) => {
          finished = results.cells.length;
          return Promise.resolve();
        },
      }),
    );
    assert.ok(Exit.isFailure(exit));
    const error = exit.cause.reasons.find((r) => r._tag === "Fail");
    assert.ok(error && error._tag === "Fail" && error.error._tag === "OutputError", String(exit));
    assert.match(error.error.message, /^Cannot write .*: No space left on device/);
    assert.ok(!error.error.message.includes("\n"));
  } finally {
    Deno.open = open;
  }
  const done = finishedCells(out); // parses every finished file
  assert.equal(done.size, 1);
  assert.ok(![...Deno.readDirSync(`${out}/cells`)].some((e) => e.name.includes(".tmp-")));
  await Deno.remove(out, { recursive: true });
});

Deno.test("writeAtomic() into a missing or read-only folder is a one-line OutputError", async () => {
  const dir = await Deno.makeTempDir();
  await assert.rejects(
    () => writeAtomic(`${dir}/no/such/folder/file.json`, "{}"),
    (error: unknown) =>
      isUserError(error) && error._tag === "OutputError" &&
      /^Cannot write .*file\.json: /.test(error.message),
  );
  await Deno.remove(dir, { recursive: true });
});

// A real read-only file system where the machine allows mounting one (root on Linux).
const canMount = Deno.build.os === "linux" && Deno.uid() === 0 &&
  new Deno.Command("mount", { args: ["--version"], stdout: "null", stderr: "null" }).outputSync()
    .success;

Deno.test({
  name: "experiment --out on a read-only file system fails with one line naming the folder",
  ignore: !canMount,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    const mounted = await new Deno.Command("mount", {
      args: ["-t", "tmpfs", "-o", "size=1m,ro", "tmpfs", dir],
      stderr: "null",
    }).output();
    if (!mounted.success) return; // not permitted here (a container without the capability)
    try {
      const presetPath = `${await Deno.makeTempDir()}/preset.json`;
      await Deno.writeTextFile(presetPath, JSON.stringify(tiny));
      const run = await experiment(presetPath, `${dir}/run`).output();
      const stderr = new TextDecoder().decode(run.stderr).trim();
      assert.equal(run.code, 1, stderr);
      const errors = stderr.split("\n").filter((line) => line.startsWith("error: "));
      assert.equal(errors.length, 1, stderr);
      assert.ok(!stderr.includes("    at "), "no stack trace");
      assert.match(errors[0]!, /^error: Cannot create .*\/run\/cells: .*Read-only file system/);
    } finally {
      await new Deno.Command("umount", { args: [dir] }).output();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
