import "../_setup.ts";
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import assert from "node:assert/strict";
import { SymbolTokenizer } from "../../backbones/tokenizer.ts";
import {
  type Family,
  initialWeights,
  tinyConfig,
  Transformer,
} from "../../backbones/transformer.ts";
import { AdamW } from "../../core/optimizer.ts";
import { targetLogProb } from "../../core/loss.ts";
import { testSymbols } from "./_domain.ts";

const tokenizer = new SymbolTokenizer(testSymbols);
const tokens = [[1, 5, 14, 6, 15, 7, 17], [1, 9, 9, 14, 4, 15, 13]];

function build(family: Family): Transformer {
  const config = tinyConfig(family, tokenizer.vocabSize, {
    nKvHeads: family === "llama" ? 2 : 4,
    contextLength: 32,
  });
  const weights = initialWeights(config, 9);
  // Scale matrices up so the logits are far from uniform (a stricter comparison).
  for (const [name, w] of weights) {
    if (name.endsWith("weight") && !name.includes("norm")) {
      for (let i = 0; i < w.length; i++) w[i]! *= 10;
    }
  }
  return new Transformer(config, { tokenizer, weights });
}

/** Full-sequence logits, and the same positions decoded one token at a time with the cache. */
function run(family: Family): { full: Float32Array; cached: Float32Array } {
  const model = build(family);
  const full = tf.tidy(() =>
    model.logits(tf.tensor2d(tokens, [2, tokens[0]!.length], "int32")).dataSync() as Float32Array
  );
  const cached = new Float32Array(full.length);
  const v = model.vocabSize;
  let cache;
  for (let t = 0; t < tokens[0]!.length; t++) {
    const out = model.step(tokens.map((r) => [r[t]!]), [[t], [t]], [0, 0], cache);
    cache?.dispose();
    cache = out.cache;
    const row = out.logits.dataSync();
    out.logits.dispose();
    for (let b = 0; b < 2; b++) {
      cached.set(row.subarray(b * v, (b + 1) * v), (b * tokens[0]!.length + t) * v);
    }
  }
  cache?.dispose();
  model.dispose();
  return { full, cached };
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

Deno.test("cpu and wasm, cached and uncached logits agree to 1e-4; a wasm training step works", async () => {
  const results: Record<string, { full: Float32Array; cached: Float32Array }> = {};
  for (const backend of ["cpu", "wasm"]) {
    await tf.setBackend(backend);
    await tf.ready();
    for (const family of ["gpt2", "llama"] as const) {
      const r = run(family);
      assert.ok(maxDiff(r.full, r.cached) < 1e-4, `${backend} ${family} cached vs uncached`);
      results[`${backend}/${family}`] = r;
    }
  }
  for (const family of ["gpt2", "llama"]) {
    const d = maxDiff(results[`cpu/${family}`]!.full, results[`wasm/${family}`]!.full);
    assert.ok(d < 1e-4, `${family}: cpu vs wasm max |Δ| = ${d}`);
  }
  // One training step on wasm: the embedding gradient needs no gather gradient kernel.
  for (const family of ["gpt2", "llama"] as const) {
    const model = build(family);
    const optimizer = new AdamW(model.variables);
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const x = tf.tensor2d(tokens.map((r) => r.slice(0, -1)), [2, 6], "int32");
      const y = tf.tensor2d(tokens.map((r) => r.slice(1)), [2, 6], "int32");
      const { value, grads } = tf.variableGrads(
        () => tf.neg(tf.mean(targetLogProb(model.logits(x), y))) as tf.Scalar,
        [...model.variables],
      );
      assert.ok(Number.isFinite(value.dataSync()[0]!));
      const report = optimizer.apply(model.variables.map((v) => grads[v.name]!), 1e-3);
      assert.ok(!report.skipped && report.gradNorm > 0);
    });
    assert.equal(tf.memory().numTensors, before, `${family}: training step leaked on wasm`);
    optimizer.dispose();
    model.dispose();
  }
  await tf.setBackend("cpu");
});

Deno.test("generation throughput on wasm: cached vs uncached (tiny gpt2, batch 8)", async () => {
  await tf.setBackend("wasm");
  await tf.ready();
  const model = build("gpt2");
  const prompts = Array.from({ length: 8 }, (_, i) => [1, 4 + (i % 10), 14, 5]);
  const options = { maxNewTokens: 24, temperature: 0 };
  const rate = async (useCache: boolean) => {
    await model.generate(prompts, { ...options, maxNewTokens: 2, useCache });
    const start = performance.now();
    const out = await model.generate(prompts, { ...options, useCache });
    const n = out.reduce((a, g) => a + g.tokenIds.length, 0);
    return { n, perSecond: n / ((performance.now() - start) / 1000), out };
  };
  const cached = await rate(true);
  const uncached = await rate(false);
  assert.deepEqual(cached.out.map((g) => g.tokenIds), uncached.out.map((g) => g.tokenIds));
  console.log(
    `tokens/s on wasm, tiny gpt2, batch 8, 4-token prompts, 24 new: cached ${
      cached.perSecond.toFixed(0)
    }, uncached ${uncached.perSecond.toFixed(0)}`,
  );
  model.dispose();
  await tf.setBackend("cpu");
});
