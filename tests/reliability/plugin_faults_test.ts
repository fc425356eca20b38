// A third-party objective that misbehaves while training (a wrong-shape loss, NaN, a throw, a
// loss that is non-finite on some steps) stops only its own cells, with a one-line error that
// names the objective and its plugin; the other cells finish and their results stay. Non-finite
// steps are skipped and counted; past train.maxSkippedShare the cell stops.
import * as tf from "@tensorflow/tfjs";
import { Effect, Schema } from "effect";
import assert from "node:assert/strict";
import type { ExperimentConfig } from "../../core/config.ts";
import type { Objective, Plugin } from "../../core/plugin.ts";
import { makeRegistry } from "../../core/registry.ts";
import { runExperiment } from "../../core/runner.ts";
import { useBackend } from "../../core/backend/mod.ts";
import { builtins } from "../../plugins/builtins.ts";

await Effect.runPromise(useBackend("wasm"));

function objective(id: string, perToken: Objective<unknown>["perToken"]): Objective<unknown> {
  return { id, summary: id, params: Schema.Struct({}), perToken };
}

const faulty: Plugin = {
  name: "faulty-objectives",
  objectives: [
    objective("wrong-shape", (view) => ({ loss: tf.sum(view.logProbTarget, 1) })),
    objective("all-nan", (view) => ({ loss: tf.mul(view.logProbTarget, NaN) })),
    objective("throws", () => {
      throw new Error("boom in perToken");
    }),
    // NaN on about a third of the steps (the per-step seed decides), plain NLL otherwise.
    objective("flaky-nan", (view) => ({
      loss: tf.mul(tf.neg(view.logProbTarget), view.seed % 3 === 0 ? NaN : 1),
    })),
  ],
};

const registry = Effect.runSync(makeRegistry([builtins, faulty]));
const quiet = { cell() {}, step() {}, log() {} };

function config(objectives: string[], train: ExperimentConfig["train"] = {}): ExperimentConfig {
  return {
    name: "faults",
    seeds: [0],
    baseline: false,
    objectives: objectives.map((id) => ({ id })),
    train: { batchSize: 4, checkpointEvery: 2, steps: 12, ...train },
    evaluation: { batchSize: 8, maxItems: 2 },
    domains: [{
      id: "math",
      params: { sftExamples: 16, testItems: 2, samples: 1, corpusDocuments: 8 },
      backbones: [{ id: "transformer", params: { dModel: 8, nLayers: 1, nHeads: 1, dMlp: 16 } }],
    }],
  };
}

function run(c: ExperimentConfig, out: string) {
  return Effect.runPromise(
    runExperiment({ config: c, source: "test", out, cacheDir: out, registry, progress: quiet }),
  );
}

Deno.test("a faulty objective stops its own cells with a named one-line error; the others finish", async () => {
  const out = await Deno.makeTempDir();
  const before = tf.memory().numTensors;
  const results = await run(
    config(["neg-log-prob", "wrong-shape", "all-nan", "throws", "flaky-nan", "neg-prob"]),
    out,
  );
  assert.equal(tf.memory().numTensors, before, "tensors leaked by failing cells");
  assert.deepEqual(results.cells.map((c) => c.objective.id), ["neg-log-prob", "neg-prob"]);
  const ids = ["wrong-shape", "all-nan", "throws", "flaky-nan"];
  const byId = new Map(
    ids.map((
      id,
    ) => [id, results.failures.find((f) => f.message.includes(`"${id}"`))?.message ?? ""]),
  );
  assert.equal(results.failures.length, 4);
  for (const message of byId.values()) {
    assert.ok(!message.includes("\n"), message);
    assert.match(message, /plugin "faulty-objectives"/);
  }
  assert.match(
    byId.get("wrong-shape")!,
    /Objective "wrong-shape".*shape \[4\], expected \[4,\d+\]/,
  );
  assert.match(byId.get("all-nan")!, /all-nan/);
  assert.match(byId.get("throws")!, /Objective "throws" failed at step 1: boom in perToken/);
  assert.match(
    byId.get("flaky-nan")!,
    /steps skipped for a non-finite loss or gradient, more than train\.maxSkippedShare \(0\.1\)/,
  );
  // The finished cells' files are on disk and complete.
  for (const cell of results.cells) {
    const saved = JSON.parse(await Deno.readTextFile(`${out}/cells/${cell.key}.json`));
    assert.equal(saved.key, cell.key);
  }
  await Deno.remove(out, { recursive: true });
});

Deno.test("non-finite steps are skipped and counted when under train.maxSkippedShare", async () => {
  const out = await Deno.makeTempDir();
  const results = await run(config(["flaky-nan"], { maxSkippedShare: 0.5 }), out);
  assert.equal(results.failures.length, 0, JSON.stringify(results.failures));
  const training = results.cells[0]!.training!;
  assert.equal(training.steps, 12);
  assert.ok(training.skippedSteps > 0 && training.skippedSteps <= 6, JSON.stringify(training));
  const metrics = (await Deno.readTextFile(`${out}/cells/${results.cells[0]!.key}.metrics.jsonl`))
    .trim().split("\n").map((l) => JSON.parse(l) as { skipped: boolean });
  assert.equal(metrics.filter((m) => m.skipped).length, training.skippedSteps);
  await Deno.remove(out, { recursive: true });
});
