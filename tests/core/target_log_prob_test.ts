// The fused target log-probability (core/loss.ts, core/backend/target_log_prob_kernels.ts): its
// values and gradients on wasm (the SIMD loops and the JavaScript loops on the heap) and on
// cpu-blas (JavaScript) against a float64 log-softmax written out here and tfjs's composition on
// the cpu backend; ids outside the vocabulary read 0; large logits stay finite; no tensor leaks.
import "../_setup.ts";
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { onFusedBackends } from "../_fused_backends.ts";
import { targetLogProb } from "../../core/loss.ts";

const batch = 3, time = 5, vocab = 37;
const values = Array.from({ length: batch * time * vocab }, (_, i) => Math.sin(i * 12.9898) * 4);
// Row 0 of the first sequence: large logits (the shift by the max keeps exp finite).
for (let j = 0; j < vocab; j++) values[j] = 300 + j;
const ids = Array.from({ length: batch * time }, (_, i) => (i * 7) % vocab);
ids[4] = vocab + 3; // outside the vocabulary (a masked position): reads 0
ids[9] = -1;
const dyValues = Array.from({ length: batch * time }, (_, i) => Math.cos(i) + 0.5);

/** float64 log p of the target and its gradient, written out. */
function reference(): { logp: number[]; grad: number[] } {
  const logp: number[] = [], grad: number[] = [];
  for (let r = 0; r < batch * time; r++) {
    const row = values.slice(r * vocab, (r + 1) * vocab);
    const mx = Math.max(...row);
    const lse = mx + Math.log(row.reduce((s, z) => s + Math.exp(z - mx), 0));
    const id = ids[r]!;
    const inside = id >= 0 && id < vocab;
    logp.push((inside ? row[id]! : 0) - lse);
    for (let j = 0; j < vocab; j++) {
      grad.push(dyValues[r]! * ((inside && j === id ? 1 : 0) - Math.exp(row[j]! - lse)));
    }
  }
  return { logp, grad };
}

function run(): { logp: Float32Array; grad: Float32Array } {
  const logits = tf.tensor3d(values, [batch, time, vocab]);
  const targets = tf.tensor2d(ids, [batch, time], "int32");
  const dy = tf.tensor2d(dyValues, [batch, time]);
  const before = tf.memory().numTensors;
  const { value, grads } = tf.valueAndGrads((z: tf.Tensor) =>
    tf.sum(tf.mul(targetLogProb(z as tf.Tensor3D, targets), dy))
  )([logits]);
  const logp = tf.tidy(() => targetLogProb(logits, targets));
  const out = { logp: logp.dataSync() as Float32Array, grad: grads[0]!.dataSync() as Float32Array };
  tf.dispose([value, grads, logp]);
  assert.equal(tf.memory().numTensors, before, `${tf.getBackend()}: tensors leaked`);
  tf.dispose([logits, targets, dy]);
  return out;
}

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string) {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i]! - expected[i]!);
    assert.ok(
      d <= tol * Math.max(1, Math.abs(expected[i]!)),
      `${what}[${i}]: ${actual[i]} vs ${expected[i]}`,
    );
  }
}

const want = reference();

/** The kernels one forward pass runs on the active backend. */
async function kernelsRun(): Promise<string[]> {
  const logits = tf.tensor3d(values, [batch, time, vocab]);
  const targets = tf.tensor2d(ids, [batch, time], "int32");
  const info = await tf.profile(() => targetLogProb(logits, targets));
  tf.dispose([logits, targets]);
  return info.kernelNames;
}

/** The fused kernel runs on the active backend and matches the float64 reference. */
async function checkFused(): Promise<void> {
  assert.ok((await kernelsRun()).includes("ProbsftTargetLogProb"), "the fused kernel ran");
  const got = run();
  close(got.logp, want.logp, 1e-5, "logp");
  close(got.grad, want.grad, 1e-5, "grad");
}

Deno.test("targetLogProb: the cpu backend's tfjs composition matches the float64 reference", async () => {
  await tf.setBackend("cpu");
  const got = run();
  close(got.logp, want.logp, 1e-5, "logp");
  close(got.grad, want.grad, 1e-5, "grad");
});

onFusedBackends("targetLogProb: the fused kernels match the float64 reference", checkFused);
