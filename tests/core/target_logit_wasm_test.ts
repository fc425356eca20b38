// The target logit on the wasm backend (the default one): a target id outside the output layer,
// which only ever sits on a masked position (the linear-softmax toy's prompt symbols), reads 0
// there instead of failing the gather; ids inside read their logit.
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { startBackend } from "../../core/backend/mod.ts";
import { targetLogit } from "../../core/loss.ts";

await startBackend("wasm");

Deno.test("targetLogit() on wasm reads 0 for targets outside the vocabulary", () => {
  const logits = tf.tensor3d([[[1, 2, 3], [4, 5, 6]], [[7, 8, 9], [10, 11, 12]]]);
  const targets = tf.tensor2d([[2, 500], [0, 1]], [2, 2], "int32");
  const read = targetLogit(logits, targets);
  assert.equal(tf.getBackend(), "wasm");
  assert.deepEqual(Array.from(read.dataSync()), [3, 0, 7, 11]);
  tf.dispose([logits, targets, read]);
});
