import "../_setup.ts";
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { testBackbone } from "../../core/testing.ts";
import { transformerBackbone } from "../../backbones/parts.ts";
import { SymbolTokenizer } from "../../backbones/tokenizer.ts";
import { tinyConfig, Transformer } from "../../backbones/transformer.ts";
import { testContext, testSymbols } from "./_domain.ts";

const small = { dModel: 16, nHeads: 2, dMlp: 32, nLayers: 2, contextLength: 32 };

Deno.test("transformer backbone (gpt2 family) conforms", async () => {
  const dir = await Deno.makeTempDir();
  await testBackbone(transformerBackbone, {
    params: { family: "gpt2", ...small },
    context: testContext(dir),
  });
});

Deno.test("transformer backbone (llama family, GQA, tied) conforms", async () => {
  const dir = await Deno.makeTempDir();
  await testBackbone(transformerBackbone, {
    params: { family: "llama", ...small, nHeads: 4, nKvHeads: 2, tieEmbeddings: true },
    context: testContext(dir),
  });
});

Deno.test("Transformer init is deterministic from the seed", () => {
  const tokenizer = new SymbolTokenizer(testSymbols);
  const config = tinyConfig("llama", tokenizer.vocabSize, small);
  const [a, b, c] = [1, 1, 2].map((seed) => new Transformer(config, { tokenizer, seed }));
  const first = (m: Transformer) => Array.from(m.variables[0]!.dataSync().slice(0, 8));
  assert.deepEqual(first(a!), first(b!));
  assert.notDeepEqual(first(a!), first(c!));
  for (const m of [a, b, c]) m!.dispose();
});

Deno.test("Transformer logits are causal: later tokens do not change earlier logits", () => {
  for (const family of ["gpt2", "llama"] as const) {
    const tokenizer = new SymbolTokenizer(testSymbols);
    const model = new Transformer(tinyConfig(family, tokenizer.vocabSize, small), {
      tokenizer,
      seed: 5,
    });
    const [x, y] = tf.tidy(() => [
      Array.from(model.logits(tf.tensor2d([[4, 5, 6, 7]], [1, 4], "int32")).dataSync()),
      Array.from(model.logits(tf.tensor2d([[4, 5, 9, 9]], [1, 4], "int32")).dataSync()),
    ]);
    const v = model.vocabSize;
    assert.deepEqual(x!.slice(0, 2 * v), y!.slice(0, 2 * v));
    model.dispose();
  }
});

Deno.test("Transformer snapshot is frozen and independent of later updates", () => {
  const tokenizer = new SymbolTokenizer(testSymbols);
  const model = new Transformer(tinyConfig("gpt2", tokenizer.vocabSize, small), {
    tokenizer,
    seed: 1,
  });
  const frozen = model.snapshot();
  assert.equal(frozen.variables.length, 0);
  const ids = tf.tensor2d([[1, 4, 5]], [1, 3], "int32");
  const before = tf.tidy(() => Array.from(frozen.logits(ids).dataSync()));
  tf.tidy(() => model.variables[0]!.assign(tf.zerosLike(model.variables[0]!)));
  const after = tf.tidy(() => Array.from(frozen.logits(ids).dataSync()));
  assert.deepEqual(after, before);
  ids.dispose();
  frozen.dispose();
  model.dispose();
});
