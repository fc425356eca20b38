import "../_setup.ts";
import { Effect, Exit, Fiber } from "effect";
import assert from "node:assert/strict";
import { applyOverrides, decodeExperiment, type ExperimentConfig } from "../../core/config.ts";
import { planCells } from "../../core/plan.ts";
import { makeRegistry } from "../../core/registry.ts";
import { type ExperimentResults, runExperiment } from "../../core/runner.ts";
import { builtins } from "../../plugins/builtins.ts";
import * as tf from "@tensorflow/tfjs";
import { tinyPreset } from "../_presets.ts";

const registry = Effect.runSync(makeRegistry([builtins]));
const quiet = { cell() {}, step() {}, log() {} };

const tiny: ExperimentConfig = tinyPreset("tiny", {
  seeds: [0, 1],
  steps: 5,
  checkpointEvery: 2,
  sftExamples: 64,
});

function run(config: ExperimentConfig, out: string) {
  return Effect.runPromise(
    runExperiment({
      config,
      source: "test",
      out,
      cacheDir: `${out}/cache`,
      registry,
      progress: quiet,
    }),
  );
}

function scoresOf(results: ExperimentResults) {
  return results.cells.map((c) => [c.key, c.scores, c.meanPAfter]);
}

Deno.test("runExperiment() runs the grid, writes each cell, and a rerun resumes to the same scores", async () => {
  const out = await Deno.makeTempDir();
  const before = tf.memory().numTensors;
  const first = await run(tiny, out);
  assert.equal(tf.memory().numTensors, before, "tensors leaked across a run");
  // Each seed builds its own base model (seedsVaryBaseModel defaults to true), so each has a base row.
  assert.equal(first.cells.length, 2 * (1 + 2));
  assert.deepEqual(first.cells.map((c) => c.baseSeed), [0, 0, 0, 1, 1, 1]);
  assert.equal(first.failures.length, 0);
  const cell = first.cells[1]!;
  assert.equal(cell.domain, "math(sftExamples=64,testItems=8,samples=2,corpusDocuments=16)");
  assert.equal(cell.objective.id, "neg-log-prob");
  assert.ok(Number.isFinite(cell.probe.meanP) && Number.isFinite(cell.primary));
  assert.equal(cell.primaryKey, "addition-test/avg@2");
  const metrics = await Deno.readTextFile(`${out}/cells/${cell.key}.metrics.jsonl`);
  assert.equal(metrics.trim().split("\n").length, 5);
  // Every scored completion is logged; their means are the cell's scores.
  for (const c of first.cells) {
    const samples = (await Deno.readTextFile(`${out}/cells/${c.key}.samples.jsonl`)).trim()
      .split("\n").map((line) =>
        JSON.parse(line) as { set: string; decoding: string; completion: string; score: number }
      );
    const sums = new Map<string, number[]>();
    for (const s of samples) {
      assert.equal(typeof s.completion, "string");
      const key = `${s.set}/${s.decoding}`;
      sums.set(key, [...(sums.get(key) ?? []), s.score]);
    }
    assert.deepEqual([...sums.keys()].sort(), Object.keys(c.scores).sort());
    for (const [key, list] of sums) {
      const mean = list.reduce((a, b) => a + b, 0) / list.length;
      assert.ok(
        Math.abs(mean - c.scores[key]!) < 1e-12,
        `${c.key} ${key}: ${mean} vs ${c.scores[key]}`,
      );
    }
  }
  // Remove one finished cell: the rerun redoes only that cell, with the same numbers.
  await Deno.remove(`${out}/cells/${first.cells[3]!.key}.json`);
  const second = await run(tiny, out);
  assert.deepEqual(scoresOf(second), scoresOf(first));
  await Deno.remove(out, { recursive: true });
});

Deno.test("runExperiment() resumed from a checkpoint gives the same scores as an uninterrupted run", async () => {
  const out = await Deno.makeTempDir();
  const reference = await run(tiny, `${out}/a`);
  // Interrupt a run after its second training cell has checkpointed (step 2 or 4 of 5).
  const config = { ...tiny };
  const partial = `${out}/b`;
  let steps = 0;
  const fiber = Effect.runFork(
    runExperiment({
      config,
      source: "test",
      out: partial,
      cacheDir: `${partial}/cache`,
      registry,
      progress: {
        ...quiet,
        step: () => {
          steps += 1;
        },
      },
    }),
  );
  while (steps < 9) await new Promise((r) => setTimeout(r, 5));
  await Effect.runPromise(Fiber.interrupt(fiber));
  const entries = [...Deno.readDirSync(`${partial}/cells`)].map((e) => e.name);
  assert.ok(entries.some((n) => n.endsWith(".checkpoint")), `a checkpoint remains: ${entries}`);
  const resumed = await run(config, partial);
  assert.deepEqual(scoresOf(resumed), scoresOf(reference));
  await Deno.remove(out, { recursive: true });
});

Deno.test("runExperiment() refuses an --out that another live run holds or that has another config", async () => {
  const out = await Deno.makeTempDir();
  await Deno.mkdir(`${out}/cells`, { recursive: true });
  const sleeper = new Deno.Command("sleep", { args: ["30"] }).spawn();
  await Deno.writeTextFile(`${out}/.lock`, String(sleeper.pid));
  const locked = await Effect.runPromiseExit(
    runExperiment({ config: tiny, source: "test", out, cacheDir: out, registry, progress: quiet }),
  );
  sleeper.kill();
  await sleeper.status;
  assert.ok(Exit.isFailure(locked));
  assert.match(
    String(Exit.isFailure(locked) && locked.cause.reasons[0]),
    /Another run \(process \d+\) is writing into/,
  );
  await Deno.remove(`${out}/.lock`);
  await Deno.writeTextFile(`${out}/config.json`, "{}\n");
  const other = await Effect.runPromiseExit(
    runExperiment({ config: tiny, source: "test", out, cacheDir: out, registry, progress: quiet }),
  );
  assert.ok(Exit.isFailure(other));
  assert.match(
    String(Exit.isFailure(other) && other.cause.reasons[0]),
    /holds a different experiment/,
  );
  await Deno.remove(out, { recursive: true });
});

Deno.test("decodeExperiment() and applyOverrides() report the field, the value and unknown keys", async () => {
  const fail = async (raw: unknown) => {
    const exit = await Effect.runPromiseExit(decodeExperiment(raw, "presets/x.json"));
    assert.ok(Exit.isFailure(exit));
    const reason = exit.cause.reasons.find((r) => r._tag === "Fail");
    return reason && reason._tag === "Fail" ? reason.error.message : "";
  };
  assert.match(
    await fail({ ...tiny, seeds: [-1] }),
    /seeds\[0\]: expected a value greater than or equal to 0, got -1/,
  );
  assert.match(
    await fail({ ...tiny, train: { batchSize: 0 } }),
    /train\.batchSize: expected a value greater than 0, got 0/,
  );
  assert.match(await fail({ ...tiny, bogus: 1 }), /unknown key bogus/);
  assert.match(await fail({ ...tiny, train: { stepz: 3 } }), /unknown key train\.stepz/);
  const overridden = await Effect.runPromise(
    applyOverrides(tiny, ["objectives.1.params.alpha=10", "domains[0].train.steps=7", "name=x"]),
  ) as ExperimentConfig;
  assert.deepEqual(overridden.objectives[1], { id: "neg-prob", params: { alpha: 10 } });
  assert.equal(overridden.domains[0]!.train!.steps, 7);
  assert.equal(overridden.name, "x");
  const bad = await Effect.runPromiseExit(applyOverrides(tiny, ["objectives.5.id=x"]));
  assert.ok(Exit.isFailure(bad));
});

Deno.test("planCells(): seedsVaryBaseModel gives each seed its base model and base row; off, seed 0 serves all", async () => {
  const plan = (config: ExperimentConfig) => Effect.runPromise(planCells(config, "test", registry));
  const varied = await plan(tiny);
  const fixed = await plan({ ...tiny, seedsVaryBaseModel: false });
  assert.deepEqual(varied.map((c) => [c.objective?.id ?? "base", c.seed, c.baseSeed]), [
    ["base", 0, 0],
    ["neg-log-prob", 0, 0],
    ["neg-prob", 0, 0],
    ["base", 1, 1],
    ["neg-log-prob", 1, 1],
    ["neg-prob", 1, 1],
  ]);
  assert.deepEqual(fixed.map((c) => [c.objective?.id ?? "base", c.seed, c.baseSeed]), [
    ["base", 0, 0],
    ["neg-log-prob", 0, 0],
    ["neg-prob", 0, 0],
    ["neg-log-prob", 1, 0],
    ["neg-prob", 1, 0],
  ]);
  // Seed 0 is the same cell either way; a seed with its own base is a different cell.
  assert.deepEqual(varied.slice(0, 3).map((c) => c.key), fixed.slice(0, 3).map((c) => c.key));
  assert.notEqual(varied[4]!.key, fixed[3]!.key);
});
