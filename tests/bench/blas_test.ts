import "../_setup.ts";
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import assert from "node:assert/strict";
import {
  blasActive,
  disableBlas,
  enableBlas,
  findBlas,
  setFastPaths,
} from "../../core/backend/mod.ts";
import { embed, gelu, geluTanh, layerNorm, linear, matMul } from "../../backbones/ops.ts";
import { tinyConfig, Transformer } from "../../backbones/transformer.ts";
import { makeTokenView, reduce } from "../../core/loss.ts";
import type { Objective } from "../../core/plugin.ts";
import { negLogProb } from "../../objectives/neg_log_prob.ts";
import { negProb } from "../../objectives/neg_prob.ts";
import { benchTokenizer, makeTrainer, randomBatch, trainStep } from "../../bench/workload.ts";

const blas = findBlas();
const noBlas =
  "no BLAS (OpenBLAS is not installed and the bundled sgemm does not serve this machine): BLAS checks skipped";
console.log(`BLAS in use: ${blas === null ? "none" : blas.config}`);

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

async function on<T>(backend: string, f: () => T): Promise<T> {
  await tf.setBackend(backend);
  await tf.ready();
  return f();
}

function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sin(seed * 1.7 + i * 0.37) * 1.3;
  return out;
}

Deno.test("blas: matMul through the BLAS (OpenBLAS or the bundled sgemm) matches the cpu backend to 1e-4 (transposes, batches, broadcast)", async () => {
  if (blas === null) {
    console.log(noBlas);
    return;
  }
  const cases: Array<[number[], number[], boolean, boolean]> = [
    [[37, 19], [19, 23], false, false],
    [[19, 37], [19, 23], true, false],
    [[37, 19], [23, 19], false, true],
    [[19, 37], [23, 19], true, true],
    [[3, 5, 8, 16], [3, 5, 16, 8], false, false],
    [[3, 5, 8, 16], [3, 5, 8, 16], false, true],
    [[3, 5, 16, 8], [3, 5, 16, 8], true, false],
    [[4, 8, 16], [16, 6], false, false],
    [[1, 8, 16], [4, 16, 6], false, false],
    [[0, 7], [7, 3], false, false],
  ];
  const run = () =>
    cases.map(([sa, sb, ta, tb]) =>
      tf.tidy(() => {
        const a = tf.tensor(values(sa.reduce((x, y) => x * y, 1), 1), sa);
        const b = tf.tensor(values(sb.reduce((x, y) => x * y, 1), 2), sb);
        const y = tf.matMul(a, b, ta, tb);
        return { shape: y.shape, data: y.dataSync() };
      })
    );
  const reference = await on("cpu", run);
  enableBlas();
  const fast = await on("wasm", () => {
    assert.ok(blasActive(), "the BLAS kernel serves wasm");
    return run();
  });
  reference.forEach((r, i) => {
    assert.deepEqual(fast[i]!.shape, r.shape, `case ${i} shape`);
    assert.ok(
      maxDiff(fast[i]!.data, r.data) < 1e-4,
      `case ${i}: max |Δ| ${maxDiff(fast[i]!.data, r.data)}`,
    );
  });
});

Deno.test("fast paths: fused wasm ops and their gradients match the cpu compositions to 1e-4", async () => {
  const ids = () => tf.tensor2d([[1, 5, 5, 19], [0, 3, 5, 1]], [2, 4], "int32");
  const cases: Record<string, { shapes: number[][]; f: (...xs: tf.Tensor[]) => tf.Tensor }> = {
    gelu: { shapes: [[64, 32]], f: (x) => gelu(x!) },
    geluTanh: { shapes: [[64, 32]], f: (x) => geluTanh(x!) },
    layerNorm: { shapes: [[4, 16, 32], [32], [32]], f: (x, w, b) => layerNorm(x!, w!, b!, 1e-5) },
    linear: { shapes: [[4, 16, 32], [32, 24], [24]], f: (x, w, b) => linear(x!, w!, b!) },
    matMul: { shapes: [[3, 16, 32], [3, 32, 8]], f: (a, b) => matMul(a!, b!) },
    embed: { shapes: [[20, 8]], f: (t) => embed(t!, ids()) },
    logSumExp: { shapes: [[4, 16, 30]], f: (z) => tf.logSumExp(z!, -1) },
  };
  const run = () => {
    const out: Record<string, Float32Array[]> = {};
    for (const [name, c] of Object.entries(cases)) {
      out[name] = tf.tidy(() => {
        const xs = c.shapes.map((s, i) =>
          tf.tensor(values(s.reduce((x, y) => x * y, 1), i + 3), s)
        );
        const y = c.f(...xs);
        const w = tf.tensor(values(y.size, 9), y.shape);
        const grads = tf.grads((...a: tf.Tensor[]) => tf.sum(tf.mul(c.f(...a), w)))(xs);
        return [y, ...grads].map((t) => t.dataSync() as Float32Array);
      });
    }
    return out;
  };
  const reference = await on("cpu", run);
  for (const withBlas of [false, true]) {
    if (withBlas && blas === null) continue;
    if (withBlas) enableBlas();
    else disableBlas();
    setFastPaths(true);
    const fast = await on("wasm", run);
    for (const name of Object.keys(cases)) {
      reference[name]!.forEach((r, i) => {
        const d = maxDiff(fast[name]![i]!, r);
        assert.ok(d < 1e-4, `${name} output ${i} (blas ${withBlas}): max |Δ| ${d}`);
      });
    }
  }
  enableBlas();
});

Deno.test("fast paths: a training step's gradients on wasm (+ BLAS) match the cpu backend to 1e-4", async () => {
  if (blas === null) console.log(noBlas + " (wasm fused kernels still checked)");
  enableBlas();
  setFastPaths(true);
  const config = tinyConfig("gpt2", 64, {
    dModel: 32,
    nHeads: 4,
    nKvHeads: 4,
    dMlp: 64,
    contextLength: 16,
    activation: "gelu_new",
  });
  const tokenizer = { ...benchTokenizer, vocabSize: 64 };
  const tokens = Array.from({ length: 2 * 12 }, (_, i) => (i * 13 + 5) % 64);
  const grads = (objective: Objective<unknown>) => {
    const model = new Transformer(config, { tokenizer, seed: 3 });
    try {
      return tf.tidy(() => {
        const inputs = tf.tensor2d(tokens, [2, 12], "int32");
        const targets = tf.tensor2d(tokens.map((t) => (t * 7 + 1) % 64), [2, 12], "int32");
        const mask = tf.ones([2, 12]) as tf.Tensor2D;
        const { value, grads } = tf.variableGrads(
          () =>
            reduce(objective, {}, makeTokenView({ logits: model.logits(inputs), targets, mask }))
              .loss,
          [...model.variables],
        );
        return {
          loss: value.dataSync()[0]!,
          grads: model.variables.map((v) => grads[v.name]!.dataSync() as Float32Array),
        };
      });
    } finally {
      model.dispose();
    }
  };
  for (const objective of [negLogProb, negProb] as Objective<unknown>[]) {
    const reference = await on("cpu", () => grads(objective));
    const fast = await on("wasm", () => grads(objective));
    assert.ok(Math.abs(fast.loss - reference.loss) < 1e-4, `${objective.id} loss`);
    reference.grads.forEach((g, i) => {
      const d = maxDiff(fast.grads[i]!, g);
      assert.ok(d < 1e-4, `${objective.id} gradient ${i}: max |Δ| ${d}`);
    });
  }
});

Deno.test("bench workload: the tensor count stays flat over 40 training steps on wasm", async () => {
  await on("wasm", () => {});
  enableBlas();
  const trainer = makeTrainer(0);
  const batch = randomBatch(1);
  try {
    for (let i = 0; i < 5; i++) trainStep(trainer, negLogProb as Objective<unknown>, batch);
    const tensors = tf.memory().numTensors;
    for (let i = 0; i < 40; i++) {
      trainStep(trainer, (i % 2 ? negProb : negLogProb) as Objective<unknown>, batch);
    }
    assert.equal(tf.memory().numTensors, tensors, "tensor count after 40 steps");
    // The resident set is checked by tests/reliability/soak_test.ts in a process of its own.
  } finally {
    trainer.dispose();
  }
});
