/**
 * The memory plan before step 1: a plan that cannot fit (GPT-2-medium with a micro-batch of
 * 64 × 1024 on the wasm heap) is refused with one line naming the setting to lower; smaller
 * micro-batches fit; and an experiment whose cell cannot fit stops before its first step.
 */
import "../_setup.ts";
import { Effect } from "effect";
import assert from "node:assert/strict";
import {
  parameterCount,
  tinyConfig,
  transformerActivationBytes,
} from "../../backbones/transformer.ts";
import { checkPlan, type Footprint, memoryPlan, wasmLimitBytes } from "../../core/memory_plan.ts";
import { makeRegistry } from "../../core/registry.ts";
import { runExperiment } from "../../core/runner.ts";
import { builtins } from "../../plugins/builtins.ts";
import { tinyPreset } from "../_presets.ts";

/** GPT-2-medium's sizes (tied head, context 1024), without allocating its weights. */
const medium = tinyConfig("gpt2", 50257, {
  dModel: 1024,
  nLayers: 24,
  nHeads: 16,
  dMlp: 4096,
  contextLength: 1024,
  tieEmbeddings: true,
});

const stub: Footprint = {
  parameters: parameterCount(medium),
  vocabSize: medium.vocabSize,
  contextLength: medium.contextLength,
  activationBytes: (rows: number, time: number) => transformerActivationBytes(medium, rows, time),
};

Deno.test("memory plan: GPT-2-medium at 64 × 1024 on wasm is refused in one line; 1 × 256 fits", () => {
  assert.ok(Math.abs(parameterCount(medium) - 354.8e6) < 1e6, `${parameterCount(medium)}`);
  const big = memoryPlan(stub, {
    rows: 64,
    time: 1024,
    accumulating: true,
    chunkPositions: 667,
    backend: "wasm",
  });
  assert.ok(big.total > big.limit);
  assert.throws(
    () => checkPlan(big, "cell medium"),
    (error: Error) => {
      assert.match(error.message, /^cell medium cannot fit in memory before step 1: it needs /);
      assert.match(error.message, /on backend wasm/);
      assert.match(error.message, /lower train\.microBatchSize \(now 64\)/);
      assert.match(error.message, /--backend cpu-blas/);
      assert.ok(!error.message.includes("\n"));
      return true;
    },
  );
  // Weights, gradients and AdamW alone: 4 × 4 bytes per parameter (5.3 GiB): never on wasm.
  const small = memoryPlan(stub, {
    rows: 1,
    time: 256,
    accumulating: true,
    chunkPositions: 0,
    backend: "cpu",
  });
  assert.ok(small.weights + small.gradients + small.optimizer > wasmLimitBytes);
  // About 8 GiB in all: within this 24 GiB machine on the cpu backends.
  assert.ok(small.total < 12 * 1024 ** 3, `${small.total}`);
});

Deno.test("an experiment whose cell cannot fit stops before step 1 with one line", async () => {
  const registry = Effect.runSync(makeRegistry([builtins]));
  const out = await Deno.makeTempDir();
  Deno.env.set("PROBSFT_MEMORY_LIMIT_MB", "1");
  try {
    const results = await Effect.runPromise(
      runExperiment({
        config: {
          ...tinyPreset("plan", { steps: 3, checkpointEvery: 0, sftExamples: 32 }),
          baseline: false,
        },
        source: "test",
        out,
        cacheDir: `${out}/cache`,
        registry,
        progress: { cell() {}, step() {}, log() {} },
      }),
    );
    assert.equal(results.cells.length, 0);
    assert.equal(results.failures.length, 2);
    for (const failure of results.failures) {
      assert.match(failure.message, /cannot fit in memory before step 1: it needs .* of 0\.00 GiB/);
      const metrics = await Deno.readTextFile(`${out}/cells/${failure.key}.metrics.jsonl`).catch(
        () => "",
      );
      assert.equal(metrics.trim(), "", "no step ran");
    }
  } finally {
    Deno.env.delete("PROBSFT_MEMORY_LIMIT_MB");
    await Deno.remove(out, { recursive: true });
  }
});
