// The attention weights under the causal mask (backbones/attention.ts maskedSoftmax, kernels in
// core/backend/causal_softmax_kernels.ts): on wasm (SIMD and JavaScript loops) and cpu-blas the
// fused kernels give the values and gradients of tfjs's composition on the cpu backend (scale,
// the additive mask of attentionMask, softmax) to 1e-5; a mask not marked causal keeps the
// composition; no tensor leaks.
import "../_setup.ts";
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { onFusedBackends } from "../_fused_backends.ts";
import { markCausal, maskedSoftmax } from "../../backbones/attention.ts";
import { attentionMask } from "../../backbones/ops.ts";

const [batch, heads, time] = [2, 3, 13];
const scale = 1 / Math.sqrt(16);
const scoreValues = Array.from(
  { length: batch * heads * time * time },
  (_, i) => Math.sin(i * 0.77) * 9,
);
const dyValues = Array.from({ length: scoreValues.length }, (_, i) => Math.cos(i * 1.3));

/** Weights and the gradient of Σ dy ⊙ weights, with a fresh (marked or unmarked) causal mask. */
async function run(
  marked: boolean,
): Promise<{ p: Float32Array; grad: Float32Array; kernels: string[] }> {
  const scores = tf.tensor4d(scoreValues, [batch, heads, time, time]);
  const dy = tf.tensor4d(dyValues, [batch, heads, time, time]);
  const mask = attentionMask(time, time, [0]);
  if (marked) markCausal(mask);
  const before = tf.memory().numTensors;
  const info = await tf.profile(() => tf.tidy(() => maskedSoftmax(scores, scale, mask)));
  const { value, grads } = tf.valueAndGrads((s: tf.Tensor) =>
    tf.sum(tf.mul(maskedSoftmax(s, scale, mask), dy))
  )([scores]);
  const p = tf.tidy(() => maskedSoftmax(scores, scale, mask));
  const out = {
    p: p.dataSync() as Float32Array,
    grad: grads[0]!.dataSync() as Float32Array,
    kernels: info.kernelNames,
  };
  tf.dispose([value, grads, p, info.result as tf.Tensor]);
  assert.equal(tf.memory().numTensors, before, `${tf.getBackend()}: tensors leaked`);
  tf.dispose([scores, dy, mask]);
  return out;
}

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string) {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(
      Math.abs(actual[i]! - expected[i]!) <= 1e-5,
      `${what}[${i}]: ${actual[i]} vs ${expected[i]}`,
    );
  }
}

await tf.setBackend("cpu");
const want = await run(true);

Deno.test("maskedSoftmax: the cpu backend runs the composition; rows sum to 1, zero above the diagonal", () => {
  assert.ok(!want.kernels.includes("ProbsftCausalSoftmax"));
  for (let row = 0; row < batch * heads * time; row++) {
    const i = row % time;
    let sum = 0;
    for (let j = 0; j < time; j++) {
      const v = want.p[row * time + j]!;
      if (j > i) assert.equal(v, 0);
      sum += v;
    }
    assert.ok(Math.abs(sum - 1) < 1e-5, `row ${row} sums to ${sum}`);
  }
});

onFusedBackends("maskedSoftmax: the fused kernels match the cpu composition", async () => {
  const got = await run(true);
  assert.ok(got.kernels.includes("ProbsftCausalSoftmax"), "the fused kernel ran");
  close(got.p, want.p, "weights");
  close(got.grad, want.grad, "gradient");
  const plain = await run(false);
  assert.ok(!plain.kernels.includes("ProbsftCausalSoftmax"), "an unmarked mask keeps tfjs");
  close(plain.p, want.p, "weights (composition)");
});
