/**
 * Gradient accumulation (`train.microBatchSize`): with `token-mean` aggregation an accumulated
 * step equals the unaccumulated one for any split; with the default `micro-batch-mean` (the
 * official code's mean of per-micro-batch token means) it equals it when every micro-batch has
 * the same number of supervised tokens, and differs when they do not. Compared through the
 * reported loss, the pre-clipping gradient norm and the weights after the steps.
 */
import "../_setup.ts";
import * as tf from "@tensorflow/tfjs";
import { Effect } from "effect";
import assert from "node:assert/strict";
import { SymbolTokenizer } from "../../backbones/tokenizer.ts";
import { tinyConfig, Transformer } from "../../backbones/transformer.ts";
import { cpuBlasName, cpuBlasUnavailable } from "../../core/backend/mod.ts";
import { makeRegistry } from "../../core/registry.ts";
import type { EncodedPair } from "../../core/sft_batches.ts";
import {
  batchPairs,
  paperRecipe,
  type StepMetrics,
  train,
  type TrainSettings,
} from "../../core/train.ts";
import { builtins } from "../../plugins/builtins.ts";
import { testSymbols } from "../backbones/_domain.ts";

const registry = Effect.runSync(makeRegistry([builtins]));

function pair(length: number, offset: number, promptLength: number): EncodedPair {
  const ids = Array.from({ length }, (_, i) => (i === 0 ? 1 : 4 + ((i * 3 + offset) % 12)));
  const supervised = Uint8Array.from(ids, (_, i) => (i >= promptLength ? 1 : 0));
  return { ids, supervised };
}

async function run(
  pairs: EncodedPair[],
  settings: Partial<TrainSettings>,
  objective: { id: string; params?: unknown } = { id: "neg-prob" },
): Promise<{ metrics: StepMetrics[]; weights: Float32Array[] }> {
  const tokenizer = new SymbolTokenizer(testSymbols);
  const model = new Transformer(
    tinyConfig("gpt2", tokenizer.vocabSize, { dModel: 16, nHeads: 2, nLayers: 1, dMlp: 24 }),
    { tokenizer, seed: 1 },
  );
  const { part, params } = Effect.runSync(registry.objective(objective, "test"));
  const metrics: StepMetrics[] = [];
  await Effect.runPromise(train({
    model,
    objective: part,
    params,
    pairs,
    seed: 0,
    settings: { ...paperRecipe, steps: 2, batchSize: 4, checkpointEvery: 0, ...settings },
    onStep: (m) => metrics.push(m),
  }));
  const weights = model.variables.map((v) => v.dataSync().slice() as Float32Array);
  model.dispose();
  return { metrics, weights };
}

function close(a: number, b: number, what: string, tolerance = 1e-5): void {
  assert.ok(Math.abs(a - b) <= tolerance * Math.max(1, Math.abs(a)), `${what}: ${a} vs ${b}`);
}

function sameRun(
  a: Awaited<ReturnType<typeof run>>,
  b: Awaited<ReturnType<typeof run>>,
  what: string,
): void {
  a.metrics.forEach((m, i) => {
    close(m.loss, b.metrics[i]!.loss, `${what}: loss at step ${i + 1}`);
    close(m.gradNorm, b.metrics[i]!.gradNorm, `${what}: gradient norm at step ${i + 1}`);
    close(m.nll, b.metrics[i]!.nll, `${what}: nll at step ${i + 1}`);
  });
  a.weights.forEach((w, k) =>
    w.forEach((x, i) => close(x, b.weights[k]![i]!, `${what}: weight ${k}[${i}]`))
  );
}

Deno.test("accumulation: every split equals the unaccumulated step when token counts are equal", async () => {
  const before = tf.memory().numTensors;
  // Four sequences with the same length and the same supervised count.
  const pairs = [0, 1, 2, 3].map((o) => pair(9, o, 4));
  const whole = await run(pairs, {});
  for (const microBatchSize of [1, 2]) {
    for (const lossAggregation of ["micro-batch-mean", "token-mean"] as const) {
      const split = await run(pairs, { microBatchSize, lossAggregation });
      sameRun(whole, split, `${lossAggregation}, micro-batch ${microBatchSize}`);
    }
  }
  // Micro-batches of 3 and 1 sequences hold unequal token counts: only token-mean coincides.
  sameRun(whole, await run(pairs, { microBatchSize: 3, lossAggregation: "token-mean" }), "3 + 1");
  assert.equal(tf.memory().numTensors, before, "tensors leaked");
});

Deno.test("accumulation: token-mean equals the unaccumulated step for unequal counts; micro-batch-mean does not", async () => {
  // Supervised counts 8, 1 | 2, 5: the micro-batches of two hold 9 and 7 tokens.
  const pairs = [pair(12, 0, 4), pair(6, 1, 5), pair(6, 2, 4), pair(10, 3, 5)];
  const whole = await run(pairs, {});
  const tokenMean = await run(pairs, { microBatchSize: 2, lossAggregation: "token-mean" });
  sameRun(whole, tokenMean, "token-mean, micro-batch 2");
  // Gated objective: the global mean is over kept tokens of the whole step (τ splits them).
  const gated = { id: "thresholded-neg-log-prob", params: { tau: 0.06 } };
  sameRun(
    await run(pairs, {}, gated),
    await run(
      pairs,
      { microBatchSize: 2, lossAggregation: "token-mean" },
      gated,
    ),
    "token-mean, gated",
  );
  const microMean = await run(pairs, { microBatchSize: 2 });
  const first = microMean.metrics[0]!;
  assert.ok(
    Math.abs(first.loss - whole.metrics[0]!.loss) > 1e-4 * Math.abs(whole.metrics[0]!.loss),
    `micro-batch-mean should differ: ${first.loss} vs ${whole.metrics[0]!.loss}`,
  );
  // Its loss is the mean of the two micro-batches' own token means (consecutive halves of the
  // step's seed-shuffled sequences).
  const order = batchPairs(pairs, 4, 0, 0);
  const halves = [
    await run(order.slice(0, 2), { batchSize: 2 }),
    await run(order.slice(2), { batchSize: 2 }),
  ];
  close(
    first.loss,
    (halves[0]!.metrics[0]!.loss + halves[1]!.metrics[0]!.loss) / 2,
    "mean of micro-batch means",
  );
});

Deno.test({
  name:
    "accumulation on cpu-blas (sums added in place): every split equals the cpu backend's unaccumulated step",
  ignore: cpuBlasUnavailable() !== null,
  fn: async () => {
    const pairs = [0, 1, 2, 3].map((o) => pair(9, o, 4));
    const whole = await run(pairs, {});
    await tf.setBackend(cpuBlasName);
    try {
      const before = tf.memory().numTensors;
      for (const lossAggregation of ["micro-batch-mean", "token-mean"] as const) {
        const split = await run(pairs, { microBatchSize: 1, lossAggregation });
        whole.metrics.forEach((m, i) => {
          close(m.loss, split.metrics[i]!.loss, `${lossAggregation}: loss ${i + 1}`, 1e-4);
          close(m.gradNorm, split.metrics[i]!.gradNorm, `${lossAggregation}: norm ${i + 1}`, 1e-4);
        });
        whole.weights.forEach((w, k) =>
          w.forEach((x, i) =>
            close(x, split.weights[k]![i]!, `${lossAggregation}: weight ${k}[${i}]`, 1e-4)
          )
        );
      }
      assert.equal(tf.memory().numTensors, before, "tensors leaked");
    } finally {
      await tf.setBackend("cpu");
    }
  },
});
