// Fused decoding on the wasm backend (the default one): the layer kernel (with OpenBLAS) and the
// kernel chain (without) read and write the wasm heap in place; both give the plain path's tokens
// and logprobs (to 1e-4), and leave no tensors behind.
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { startBackend } from "../../core/backend/mod.ts";
import { setDecodeAttentionBlas } from "../../core/backend/decode_kernels.ts";
import { setFusedDecoding } from "../../backbones/decode_step.ts";
import type { Family } from "../../backbones/transformer.ts";
import { sharpModel } from "./_models.ts";

await startBackend("wasm");

const prompts = [[1, 5, 14, 6], [1, 9], [1, 4, 4, 4, 14, 7, 15]];

for (const family of ["gpt2", "llama"] as const satisfies ReadonlyArray<Family>) {
  for (const blas of [true, false]) {
    Deno.test(`fused decoding on wasm (${family}, ${blas ? "layer kernel" : "kernel chain"}): the plain path's tokens and logprobs`, async () => {
      assert.equal(tf.getBackend(), "wasm");
      const m = sharpModel(family, 4, {
        qkvBias: family === "llama",
        tieEmbeddings: family === "gpt2",
      });
      setDecodeAttentionBlas(blas);
      const before = tf.memory().numTensors;
      try {
        for (
          const options of [
            { maxNewTokens: 10, temperature: 0 },
            { maxNewTokens: 10, temperature: 1, seed: 2 },
          ]
        ) {
          setFusedDecoding(true);
          const fused = await m.generate(prompts, options);
          setFusedDecoding(false);
          const plain = await m.generate(prompts, options);
          assert.deepEqual(fused.map((g) => g.tokenIds), plain.map((g) => g.tokenIds));
          fused.forEach((g, i) =>
            g.logprobs.forEach((lp, j) =>
              assert.ok(Math.abs(lp - plain[i]!.logprobs[j]!) < 1e-4, `row ${i} token ${j}`)
            )
          );
        }
        assert.equal(tf.memory().numTensors, before, "decoding leaked tensors");
      } finally {
        setFusedDecoding("auto");
        setDecodeAttentionBlas(true);
        m.dispose();
      }
    });
  }
}
