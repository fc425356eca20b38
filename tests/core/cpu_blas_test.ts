import "../_setup.ts";
import { smallSize, twoSteps } from "../_two_steps.ts";
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import {
  backendFor,
  cpuBlasName,
  cpuBlasUnavailable,
  setFastPaths,
  wasmHeapBudgetBytes,
} from "../../core/backend/mod.ts";
import { embed, geluTanh, layerNorm, linear, matMul } from "../../backbones/ops.ts";
import type { Objective } from "../../core/plugin.ts";
import { negLogProb } from "../../objectives/neg_log_prob.ts";
import { negProb } from "../../objectives/neg_prob.ts";
import { accumulate } from "../../core/backend/fused_kernels.ts";
import {
  activationBytes,
  makeTrainer,
  paramCount,
  randomBatch,
  sizes,
  trainStep,
} from "../../bench/workload.ts";

const missing = cpuBlasUnavailable();
const skip = missing !== null;
if (skip) console.log(`cpu-blas checks skipped: ${missing}`);

/** A seeded stream of uniform numbers in [−1.5, 1.5). */
function stream(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return ((s >>> 0) / 2 ** 32) * 3 - 1.5;
  };
}

function randomTensor(shape: number[], next: () => number): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({ length: n }, next), shape);
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, `lengths ${a.length} vs ${b.length}`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

/**
 * Runs `f` on cpu-blas and `ref` (default `f`) on the cpu reference; outputs must agree to 1e-4
 * (relative to the largest reference value, at least 1).
 */
async function compare(
  name: string,
  f: () => tf.Tensor[],
  ref: () => tf.Tensor[] = f,
): Promise<void> {
  await tf.setBackend("cpu");
  const reference = tf.tidy(() => ref().map((t) => ({ shape: t.shape, data: t.dataSync() })));
  await tf.setBackend(cpuBlasName);
  const before = tf.memory().numTensors;
  const fast = tf.tidy(() => f().map((t) => ({ shape: t.shape, data: t.dataSync() })));
  assert.equal(tf.memory().numTensors, before, `${name}: tensors leaked`);
  await tf.setBackend("cpu");
  reference.forEach((r, i) => {
    assert.deepEqual(fast[i]!.shape, r.shape, `${name} output ${i} shape`);
    assert.equal(fast[i]!.data.length, r.data.length, `${name} output ${i} length`);
    const scale = Math.max(1, ...Array.from(r.data as Float32Array, Math.abs));
    const d = maxDiff(fast[i]!.data, r.data) / scale;
    assert.ok(d < 1e-4, `${name} output ${i}: max relative |Δ| ${d}`);
  });
}

Deno.test({
  name:
    "cpu-blas: BatchMatMul matches the cpu backend to 1e-4 (random shapes, transposes, batch broadcast)",
  ignore: skip,
  fn: async () => {
    const next = stream(7);
    const dim = () => 1 + Math.floor((next() + 1.5) / 3 * 40);
    const leads: Array<[number[], number[]]> = [
      [[], []],
      [[3], [3]],
      [[2, 3], [2, 3]],
      [[4], []],
      [[], [5]],
      [[1], [4]],
      [[2, 1], [1, 3]],
      [[2, 1, 3], [4, 1]],
    ];
    for (const [aLead, bLead] of leads) {
      for (const ta of [false, true]) {
        for (const tb of [false, true]) {
          const m = dim(), k = dim(), n = dim();
          const aShape = [...aLead, ...(ta ? [k, m] : [m, k])];
          const bShape = [...bLead, ...(tb ? [n, k] : [k, n])];
          const seed = Math.floor((next() + 2) * 1000);
          const lead = tf.broadcast_util.assertAndGetBroadcastShape(aLead, bLead);
          const pair = () => {
            const r = stream(seed);
            return [randomTensor(aShape, r), randomTensor(bShape, r)] as const;
          };
          // tfjs's cpu kernel mis-sizes a batch broadcast from both sides ([2, 1] against
          // [1, 3]): the reference broadcasts the leading axes explicitly first.
          const full = (x: tf.Tensor) => tf.broadcastTo(x, [...lead, ...x.shape.slice(-2)]);
          await compare(
            `matMul ${aShape}×${bShape} ${ta}/${tb}`,
            () => {
              const [a, b] = pair();
              return [tf.matMul(a, b, ta, tb)];
            },
            () => {
              const [a, b] = pair();
              return [tf.matMul(full(a), full(b), ta, tb)];
            },
          );
        }
      }
    }
    await compare("matMul with an empty side", () => [
      tf.matMul(tf.zeros([0, 7]), tf.ones([7, 3])),
      tf.matMul(tf.ones([4, 0]), tf.ones([0, 3])),
    ]);
  },
});

Deno.test({
  name:
    "cpu-blas: broadcast Add/Sub/Mul/Div/SquaredDifference, Transpose and Softmax match cpu to 1e-4",
  ignore: skip,
  fn: async () => {
    const pairs: Array<[number[], number[]]> = [
      [[5, 7], [5, 7]],
      [[5, 7], [7]],
      [[5, 7], [5, 1]],
      [[2, 3, 4, 5], [1, 1, 4, 5]],
      [[2, 3, 4, 5], [2, 3, 4, 1]],
      [[2, 1, 4, 1], [1, 3, 1, 5]],
      [[3, 1], [1, 6]],
      [[], [4, 3]],
      [[6], []],
      [[1], [1]],
      [[0, 3], [3]],
    ];
    const ops: Array<[string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor]> = [
      ["add", tf.add],
      ["sub", tf.sub],
      ["mul", tf.mul],
      ["div", tf.div],
      ["squaredDifference", tf.squaredDifference],
    ];
    for (const [sa, sb] of pairs) {
      for (const [name, op] of ops) {
        await compare(`${name} ${sa} ${sb}`, () => {
          const r = stream(sa.length * 31 + sb.length);
          const a = randomTensor(sa, r);
          // Keep divisors away from 0.
          const b = name === "div" ? tf.add(tf.abs(randomTensor(sb, r)), 0.5) : randomTensor(sb, r);
          return [op(a, b), op(b, a)];
        });
      }
    }
    const perms: Array<[number[], number[]]> = [
      [[5, 7], [1, 0]],
      [[70, 45], [1, 0]],
      [[2, 3, 4, 5], [0, 2, 1, 3]],
      [[2, 3, 4, 5], [0, 1, 3, 2]],
      [[2, 3, 4, 5], [3, 2, 1, 0]],
      [[2, 1, 4, 5], [1, 0, 3, 2]],
      [[3, 33, 40], [0, 2, 1]],
      [[4, 6, 5], [2, 0, 1]],
    ];
    for (const [shape, perm] of perms) {
      await compare(`transpose ${shape} ${perm}`, () => {
        const x = randomTensor(shape, stream(shape[0]! + perm[0]! * 7));
        return [tf.transpose(x, perm), tf.transpose(tf.cast(tf.mul(x, 100), "int32"), perm)];
      });
    }
    for (const shape of [[4, 9], [2, 3, 5, 17], [1, 1]]) {
      await compare(`softmax ${shape}`, () => {
        const x = tf.mul(randomTensor(shape, stream(shape.length)), 4);
        const w = randomTensor(shape, stream(99));
        return [
          tf.softmax(x),
          tf.grad((y: tf.Tensor) => tf.sum(tf.mul(tf.softmax(y), w)))(x),
        ];
      });
    }
  },
});

Deno.test({
  name:
    "cpu-blas: fused.matMul (bias as the product's first rows) matches the cpu backend to 1e-4; activations fall back",
  ignore: skip,
  fn: async () => {
    const cases: Array<
      { a: number[]; b: number[]; bias?: number[]; ta?: boolean; tb?: boolean; act?: "relu" }
    > = [
      { a: [37, 19], b: [19, 23], bias: [23] },
      { a: [19, 37], b: [23, 19], bias: [1, 23], ta: true, tb: true },
      { a: [3, 8, 5], b: [3, 5, 7], bias: [7] },
      { a: [8, 5], b: [5, 7] },
      { a: [8, 5], b: [5, 7], bias: [7], act: "relu" },
      { a: [8, 5], b: [5, 7], bias: [8, 7] },
      { a: [4, 0], b: [0, 6], bias: [6] },
    ];
    for (const [i, c] of cases.entries()) {
      await compare(`fused.matMul case ${i}`, () => {
        const r = stream(100 + i);
        return [tf.fused.matMul({
          a: randomTensor(c.a, r) as tf.Tensor2D,
          b: randomTensor(c.b, r) as tf.Tensor2D,
          ...(c.bias ? { bias: randomTensor(c.bias, r) } : {}),
          transposeA: c.ta ?? false,
          transposeB: c.tb ?? false,
          ...(c.act ? { activation: c.act } : {}),
        })];
      });
    }
  },
});

Deno.test({
  name: "cpu-blas: fused ops and their gradients match the cpu compositions to 1e-4",
  ignore: skip,
  fn: async () => {
    setFastPaths(true);
    const ids = () => tf.tensor2d([[1, 5, 5, 19], [0, 3, 5, 1]], [2, 4], "int32");
    const cases: Record<string, { shapes: number[][]; f: (...xs: tf.Tensor[]) => tf.Tensor }> = {
      geluTanh: { shapes: [[63, 33]], f: (x) => geluTanh(x!) },
      layerNorm: {
        shapes: [[4, 16, 32], [32], [32]],
        f: (x, w, b) => layerNorm(x!, w!, b!, 1e-5),
      },
      linear: { shapes: [[4, 16, 32], [32, 24], [24]], f: (x, w, b) => linear(x!, w!, b!) },
      matMul: { shapes: [[3, 16, 32], [3, 32, 8]], f: (a, b) => matMul(a!, b!) },
      embed: { shapes: [[20, 8]], f: (t) => embed(t!, ids()) },
      logSumExp: { shapes: [[4, 16, 30]], f: (z) => tf.logSumExp(z!, -1) },
    };
    for (const [name, c] of Object.entries(cases)) {
      await compare(name, () => {
        const r = stream(name.length);
        const xs = c.shapes.map((s) => randomTensor(s, r));
        const y = c.f(...xs);
        const w = randomTensor(y.shape, r);
        const grads = tf.grads((...a: tf.Tensor[]) => tf.sum(tf.mul(c.f(...a), w)))(xs);
        return [y, ...grads];
      });
    }
  },
});

Deno.test({
  name:
    "cpu-blas: a training step's loss, gradients and AdamW update match the cpu backend to 1e-4",
  ignore: skip,
  fn: async () => {
    const run = () => twoSteps(makeTrainer(3, smallSize));

    await tf.setBackend("cpu");
    const reference = run();
    await tf.setBackend(cpuBlasName);
    const fast = run();
    await tf.setBackend("cpu");
    reference.losses.forEach((x, i) =>
      assert.ok(Math.abs(fast.losses[i]! - x) < 1e-4, `loss/norm ${i}: ${fast.losses[i]} vs ${x}`)
    );
    reference.weights.forEach((w, i) => {
      const d = maxDiff(fast.weights[i]!, w);
      assert.ok(d < 1e-4, `weight ${i} after two steps: max |Δ| ${d}`);
    });
  },
});

Deno.test({
  name: "cpu-blas: the tensor count stays flat over 12 accumulated training steps",
  ignore: skip,
  fn: async () => {
    await tf.setBackend(cpuBlasName);
    const trainer = makeTrainer(0);
    const batch = randomBatch(1);
    try {
      trainStep(trainer, negLogProb as Objective<unknown>, batch, 8);
      const tensors = tf.memory().numTensors;
      for (let i = 0; i < 12; i++) {
        trainStep(trainer, (i % 2 ? negProb : negLogProb) as Objective<unknown>, batch, 4);
      }
      assert.equal(tf.memory().numTensors, tensors, "tensor count after 12 steps");
    } finally {
      trainer.dispose();
      await tf.setBackend("cpu");
    }
  },
});

Deno.test({
  name:
    "cpu-blas: accumulate() adds in place into a sum it owns alone, into a new tensor otherwise",
  ignore: skip,
  fn: async () => {
    for (const backend of [cpuBlasName, "cpu"]) {
      await tf.setBackend(backend);
      const before = tf.memory().numTensors;
      const sum = tf.tensor1d([1, 2, 3, 4, 5]);
      const x = tf.tensor1d([0.5, -1, 2, 0, 10]);
      const out = accumulate(sum, x);
      assert.deepEqual(Array.from(out.dataSync()), [1.5, 1, 5, 4, 15], backend);
      assert.ok(x.isDisposed, `${backend}: the addend is consumed`);
      assert.equal(out === sum, backend === cpuBlasName, `${backend}: in place`);
      assert.equal(tf.memory().numTensors, before + 1, `${backend}: only the sum is left`);
      // A sum whose data another tensor shares is never written over.
      const shared = out.clone();
      const again = accumulate(out, tf.onesLike(out));
      assert.notEqual(again, shared);
      assert.deepEqual(Array.from(shared.dataSync()), [1.5, 1, 5, 4, 15], `${backend}: clone`);
      assert.deepEqual(Array.from(again.dataSync()), [2.5, 2, 6, 5, 16], backend);
      tf.dispose([shared, again]);
      assert.equal(tf.memory().numTensors, before, `${backend}: tensor count`);
    }
    await tf.setBackend("cpu");
  },
});

Deno.test("backendFor: wasm while the model fits the heap's budget, cpu-blas beyond, none without it", () => {
  const small = backendFor(paramCount(sizes.reference), activationBytes(sizes.reference, 16), null);
  assert.equal(small.backend, "wasm");
  const gpt2 = sizes["gpt2-small"];
  const big = backendFor(paramCount(gpt2), activationBytes(gpt2, 4), null);
  assert.equal(big.backend, cpuBlasName);
  assert.ok(big.bytes > wasmHeapBudgetBytes);
  assert.match(
    big.reason,
    /124\.4M parameters .* more than the wasm heap's 3\.0 GiB: using cpu-blas/,
  );
  const none = backendFor(paramCount(gpt2), activationBytes(gpt2, 4), "FFI is not permitted");
  assert.equal(none.backend, null);
  assert.match(none.reason, /cpu-blas cannot start \(FFI is not permitted\)/);
});
