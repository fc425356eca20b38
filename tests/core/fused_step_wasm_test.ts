import "../_setup.ts";
import { smallSize, twoSteps } from "../_two_steps.ts";
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import assert from "node:assert/strict";
import { disableBlas, enableBlas, fastPathsActive, setFastPaths } from "../../core/backend/mod.ts";
import type { Objective } from "../../core/plugin.ts";
import { negLogProb } from "../../objectives/neg_log_prob.ts";
import { negProb } from "../../objectives/neg_prob.ts";
import { makeTrainer, randomBatch, trainStep } from "../../bench/workload.ts";

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

const size = smallSize;

function twoStepsHere() {
  return twoSteps(makeTrainer(3, size), size);
}

Deno.test("wasm without BLAS: two training steps with fused attention and the fused AdamW match the cpu backend to 1e-4", async () => {
  await tf.setBackend("cpu");
  const reference = twoStepsHere();
  await tf.setBackend("wasm");
  disableBlas();
  setFastPaths(true);
  try {
    const fast = twoStepsHere();
    // Never in place on wasm: XNNPACK caches packed weights by tensor (a stale cache gave wrong
    // second steps when it was).
    assert.equal(fast.inPlace, false, "AdamW writes new weight tensors on wasm");
    reference.losses.forEach((x, i) =>
      assert.ok(Math.abs(fast.losses[i]! - x) < 1e-4, `loss/norm ${i}: ${fast.losses[i]} vs ${x}`)
    );
    reference.weights.forEach((w, i) => {
      const d = maxDiff(fast.weights[i]!, w);
      assert.ok(d < 1e-4, `weight ${i} after two steps: max |Δ| ${d}`);
    });
  } finally {
    setFastPaths(true);
    enableBlas();
    await tf.setBackend("cpu");
  }
});

Deno.test("wasm without BLAS: the tensor count stays flat over 20 training steps with the fused kernels", async () => {
  await tf.setBackend("wasm");
  disableBlas();
  const trainer = makeTrainer(0, size);
  const batch = randomBatch(1, size);
  try {
    for (let i = 0; i < 3; i++) trainStep(trainer, negLogProb as Objective<unknown>, batch);
    const tensors = tf.memory().numTensors;
    for (let i = 0; i < 20; i++) {
      trainStep(trainer, (i % 2 ? negProb : negLogProb) as Objective<unknown>, batch);
    }
    assert.equal(tf.memory().numTensors, tensors, "tensor count after 20 steps");
  } finally {
    trainer.dispose();
    enableBlas();
    await tf.setBackend("cpu");
  }
});

Deno.test("wasm: with the fast paths a clone shares its input's heap data and frees it with the last holder; off, it copies", async () => {
  await tf.setBackend("wasm");
  const backend = tf.backend() as unknown as { numDataIds(): number };
  try {
    for (const fast of [true, false]) {
      setFastPaths(fast);
      fastPathsActive();
      const before = backend.numDataIds();
      const x = tf.tensor2d([[1, 2, 3], [4, 5, 6]]);
      const y = tf.clone(x);
      assert.equal(y.dataId === x.dataId, fast, `fast paths ${fast}: shared data`);
      assert.equal(backend.numDataIds(), before + (fast ? 1 : 2));
      x.dispose();
      assert.deepEqual(Array.from(y.dataSync()), [1, 2, 3, 4, 5, 6], "the clone outlives x");
      y.dispose();
      assert.equal(backend.numDataIds(), before, "the heap data is freed");
    }
  } finally {
    setFastPaths(true);
    await tf.setBackend("cpu");
  }
});
