import "../_setup.ts";
import { attentionAndGrads } from "../_attention.ts";
import * as tf from "@tensorflow/tfjs";
import { blasAttentionServes } from "../../core/backend/attention_blas.ts";
import "@tensorflow/tfjs-backend-wasm";
import assert from "node:assert/strict";
import {
  cpuBlasName,
  cpuBlasUnavailable,
  disableBlas,
  enableBlas,
  setFastPaths,
} from "../../core/backend/mod.ts";
import { causalAttention, fusedAttention } from "../../backbones/attention.ts";
import { fusedAttentionActive } from "../../core/backend/attention_kernel.ts";
import { tinyConfig, Transformer } from "../../backbones/transformer.ts";
import type { TransformerConfig } from "../../backbones/transformer.ts";
import { makeTokenView, reduce } from "../../core/loss.ts";
import type { Objective } from "../../core/plugin.ts";
import { negLogProb } from "../../objectives/neg_log_prob.ts";
import { benchTokenizer } from "../../bench/workload.ts";

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sin(seed * 1.7 + i * 0.37) * 1.3;
  return out;
}

async function on<T>(backend: string, f: () => T): Promise<T> {
  await tf.setBackend(backend);
  await tf.ready();
  return f();
}

/** The fast backends present: wasm, and cpu-blas where OpenBLAS is installed. */
const fastBackends = ["wasm", ...(cpuBlasUnavailable() === null ? [cpuBlasName] : [])];

Deno.test("causalAttention: the fused kernels match the plain composition on cpu to 1e-4 (values and gradients, MHA and GQA)", async () => {
  const cases = [
    { batch: 2, time: 7, heads: 2, kvHeads: 2, headDim: 8 },
    { batch: 3, time: 12, heads: 4, kvHeads: 2, headDim: 6 },
    { batch: 1, time: 5, heads: 3, kvHeads: 1, headDim: 5 },
    { batch: 2, time: 1, heads: 2, kvHeads: 2, headDim: 4 },
  ];
  const run = () => cases.map((c) => attentionAndGrads(c, values));
  setFastPaths(true);
  const reference = await on("cpu", () => {
    assert.equal(fusedAttentionActive(), false, "cpu runs the plain composition");
    return run();
  });
  for (const backend of fastBackends) {
    const fast = await on(backend, () => {
      assert.ok(fusedAttentionActive(), `the fused kernels serve ${backend}`);
      return run();
    });
    reference.forEach((outs, c) =>
      outs.forEach((r, i) => {
        const d = maxDiff(fast[c]![i]!, r);
        assert.ok(d < 1e-4, `${backend} case ${c} output ${i}: max |Δ| ${d}`);
      })
    );
  }
  await on("cpu", () => {});
});

Deno.test("Transformer training step: loss and every gradient with fused attention match the cpu backend to 1e-4 (gpt2, llama with GQA and rotary)", async () => {
  const configs: TransformerConfig[] = [
    tinyConfig("gpt2", 48, { dModel: 32, nHeads: 4, dMlp: 64, contextLength: 16 }),
    tinyConfig("llama", 48, { dModel: 32, nHeads: 4, nKvHeads: 2, dMlp: 64, contextLength: 16 }),
  ];
  const tokenizer = { ...benchTokenizer, vocabSize: 48 };
  const tokens = Array.from({ length: 3 * 11 }, (_, i) => (i * 13 + 5) % 48);
  const step = (config: TransformerConfig) => {
    const model = new Transformer(config, { tokenizer, seed: 3 });
    try {
      return tf.tidy(() => {
        const inputs = tf.tensor2d(tokens, [3, 11], "int32");
        const targets = tf.tensor2d(tokens.map((t) => (t * 7 + 1) % 48), [3, 11], "int32");
        // Right padding, as SFT batches have: the last positions of one row unsupervised.
        const mask = tf.tensor2d(
          Array.from({ length: 33 }, (_, i) => (i >= 8 && i < 11 ? 0 : 1)),
          [3, 11],
        );
        const { value, grads } = tf.variableGrads(
          () =>
            reduce(
              negLogProb as Objective<unknown>,
              {},
              makeTokenView({ logits: model.logits(inputs), targets, mask }),
            ).loss,
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
  setFastPaths(true);
  // The model takes the fused kernels where no BLAS serves wasm (PROBSFT_BLAS=0, a fresh machine).
  disableBlas();
  for (const config of configs) {
    const reference = await on("cpu", () => step(config));
    for (const backend of fastBackends) {
      const fast = await on(backend, () => {
        if (backend === "wasm") assert.ok(fusedAttention(), "the model takes the fused kernels");
        // On cpu-blas, wherever the BLAS kernels and the native softmax serve (attention_blas.ts).
        else assert.equal(fusedAttention(), blasAttentionServes(), "cpu-blas takes them");
        return step(config);
      });
      assert.ok(Math.abs(fast.loss - reference.loss) < 1e-4, `${config.family} ${backend} loss`);
      reference.grads.forEach((g, i) => {
        const d = maxDiff(fast.grads[i]!, g);
        assert.ok(d < 1e-4, `${config.family} ${backend} gradient ${i}: max |Δ| ${d}`);
      });
    }
  }
  enableBlas();
  await on("cpu", () => {});
});

Deno.test("causalAttention: setFastPaths(false) runs the plain tfjs composition, and the fused path keeps the tensor count flat", async () => {
  await on("wasm", () => {
    const heads = { heads: 2, kvHeads: 2, headDim: 4 };
    const q = tf.tensor3d(values(2 * 6 * 8, 1), [2, 6, 8]);
    const step = () =>
      tf.tidy(() => {
        const g = tf.grads((a: tf.Tensor) => tf.sum(causalAttention(a, a, a, heads)))([q]);
        return g[0]!.dataSync();
      });
    const kernels = async () =>
      new Set((await tf.profile(() => tf.tidy(() => step()))).kernelNames);
    setFastPaths(false);
    return kernels().then(async (plain) => {
      assert.ok(!plain.has("ProbsftCausalAttention"), "no fused kernel with the fast paths off");
      assert.ok(plain.has("Softmax"), "the plain composition runs");
      setFastPaths(true);
      const fused = await kernels();
      assert.ok(fused.has("ProbsftCausalAttention") && fused.has("ProbsftCausalAttentionGrad"));
      step();
      const before = tf.memory().numTensors;
      for (let i = 0; i < 10; i++) step();
      assert.equal(tf.memory().numTensors, before, "tensor count after 10 steps");
      q.dispose();
    });
  });
  await on("cpu", () => {});
});
