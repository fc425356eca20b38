import "../_setup.ts";
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { sampleToken } from "../../backbones/generate.ts";
import { type Family, Transformer } from "../../backbones/transformer.ts";
import { sharpModel, testTokenizer } from "./_models.ts";

const tokenizer = testTokenizer;

function model(family: Family, seed = 2): Transformer {
  return sharpModel(family, seed);
}

const prompts = [[1, 5, 14, 6], [1, 9], [1, 4, 4, 4, 14, 7, 15]];

for (const family of ["gpt2", "llama"] as const) {
  Deno.test(`generate (${family}): cached equals uncached, greedy and sampled`, async () => {
    const m = model(family);
    const before = tf.memory().numTensors;
    for (const options of [{ temperature: 0 }, { temperature: 1, topP: 0.9, seed: 11 }]) {
      const cached = await m.generate(prompts, { maxNewTokens: 8, ...options });
      const uncached = await m.generate(prompts, { maxNewTokens: 8, ...options, useCache: false });
      assert.deepEqual(cached.map((g) => g.tokenIds), uncached.map((g) => g.tokenIds));
      cached.forEach((g, i) => {
        assert.equal(g.logprobs.length, g.tokenIds.length);
        g.logprobs.forEach((lp, j) => {
          assert.ok(lp <= 0 && Math.abs(lp - uncached[i]!.logprobs[j]!) < 1e-4);
        });
      });
    }
    assert.equal(tf.memory().numTensors, before, "generation leaked tensors");
    m.dispose();
  });

  Deno.test(`generate (${family}): a left-padded row equals the row alone`, async () => {
    const m = model(family);
    const batch = await m.generate(prompts, { maxNewTokens: 6 });
    for (let i = 0; i < prompts.length; i++) {
      const [alone] = await m.generate([prompts[i]!], { maxNewTokens: 6 });
      assert.deepEqual(batch[i]!.tokenIds, alone!.tokenIds, `row ${i}`);
      batch[i]!.logprobs.forEach((lp, j) => assert.ok(Math.abs(lp - alone!.logprobs[j]!) < 1e-4));
    }
    m.dispose();
  });
}

Deno.test("generate: greedy logprobs are the temperature-1 log-softmax of the logits", async () => {
  const m = model("gpt2");
  const [g] = await m.generate([prompts[0]!], { maxNewTokens: 1 });
  const expected = tf.tidy(() => {
    const logits = m.logits(tf.tensor2d([prompts[0]!], [1, 4], "int32"));
    const last = tf.slice(logits, [0, 3, 0], [1, 1, -1]).reshape([-1]);
    const logp = tf.logSoftmax(last);
    return {
      id: tf.argMax(last).dataSync()[0]!,
      lp: logp.dataSync()[tf.argMax(last).dataSync()[0]!]!,
    };
  });
  assert.equal(g!.tokenIds[0], expected.id);
  assert.ok(Math.abs(g!.logprobs[0]! - expected.lp) < 1e-5);
  m.dispose();
});

Deno.test("generate: the same seed gives the same samples, another seed differs", async () => {
  const m = model("llama");
  const run = (seed: number) =>
    m.generate([prompts[0]!, prompts[0]!], { maxNewTokens: 10, temperature: 1.5, seed });
  const [a, b, c] = [await run(1), await run(1), await run(2)];
  assert.deepEqual(a.map((g) => g.tokenIds), b.map((g) => g.tokenIds));
  assert.notDeepEqual(a.map((g) => g.tokenIds), c.map((g) => g.tokenIds));
  m.dispose();
});

Deno.test("generate: stops at EOS (excluded) and at a stop string (text cut before it)", async () => {
  const m = model("gpt2", 3);
  const [free] = await m.generate([prompts[0]!], { maxNewTokens: 12 });
  assert.ok(free!.tokenIds.length > 1);
  const target = free!.tokenIds[1]!;
  // Make the second generated token an EOS by stopping on its text.
  const stopText = tokenizer.decode([target]);
  const [stopped] = await m.generate([prompts[0]!], { maxNewTokens: 12, stop: [stopText] });
  const text = tokenizer.decode(free!.tokenIds);
  assert.equal(stopped!.text, text.slice(0, text.indexOf(stopText)));
  assert.ok(stopped!.tokenIds.length <= 1);
  const eosModel = new Transformer(m.config, {
    tokenizer,
    weights: m.weights,
    eosIds: [free!.tokenIds[0]!],
  });
  const [eos] = await eosModel.generate([prompts[0]!], { maxNewTokens: 12 });
  assert.deepEqual(eos!.tokenIds, []);
  assert.equal(eos!.text, "");
  eosModel.dispose();
  m.dispose();
});

Deno.test("generate: rejects ids outside the vocabulary and over-long requests", async () => {
  const m = model("gpt2");
  await assert.rejects(
    () => m.generate([[1, 99]], { maxNewTokens: 2 }),
    /Token id 99 at prompts\[0\]\[1\] is outside the vocabulary \(0\.\.17\)/,
  );
  await assert.rejects(() => m.generate([[1, 2]], { maxNewTokens: 60 }), /exceeds the context/);
  m.dispose();
});

Deno.test("sampleToken: top-p keeps the nucleus only", () => {
  const row = new Float32Array([5, 4, -10, -10]);
  for (let i = 0; i < 50; i++) assert.ok(sampleToken(row, 1, 0.5, i / 50) === 0);
  const seen = new Set(Array.from({ length: 50 }, (_, i) => sampleToken(row, 1, 0.99, i / 50)));
  assert.deepEqual([...seen].sort(), [0, 1]);
});
