import "../_setup.ts";
import { Effect } from "effect";
import assert from "node:assert/strict";
import { linearSoftmaxBackbone } from "../../backbones/linear_softmax.ts";
import { SymbolTokenizer } from "../../backbones/tokenizer.ts";
import { generateAddition } from "../../benchmarks/math/addition.ts";
import { generateCipher } from "../../benchmarks/cipher/glyphs.ts";
import { generateTeacher } from "../../benchmarks/teacher/linear_teacher.ts";
import {
  knifeEdgeMargin,
  placeOnContinuum,
  probe,
  probeSample,
  regimeThresholds,
} from "../../core/probe.ts";
import { encodeExample, encodePairs } from "../../core/sft_batches.ts";
import type { Tokenizer } from "../../core/plugin.ts";

const additionParams = {
  sftExamples: 200,
  testItems: 20,
  corpusDocuments: 10,
  newFormatShare: 0.3,
  rationaleNoise: 0.1,
  answerNoise: 0.25,
  samples: 1,
  lenient: false,
  testSeed: 999,
  corpusSeed: 1000,
};

Deno.test("encodeExample() marks the math domain's separators, answer marker, brace and end token as forced", () => {
  const data = generateAddition(additionParams, 0);
  const tokenizer = new SymbolTokenizer(data.symbols!);
  let noisySeparators = 0;
  for (const example of data.sft) {
    const pair = encodeExample(example, tokenizer, "test");
    const symbols = [...example.response.split(" "), "<eos>"];
    const start = pair.ids.length - symbols.length;
    symbols.forEach((symbol, i) => {
      const forced = pair.forced![start + i] === 1;
      assert.equal(pair.supervised[start + i], 1);
      const separatorSlot = i < 27 && [1, 3, 5, 8].includes(i % 9);
      const clean = separatorSlot && symbol === ["+", "+", "=", ";"][[1, 3, 5, 8].indexOf(i % 9)];
      if (separatorSlot && !clean) noisySeparators++;
      const expected = clean || symbol === "\\boxed{" || symbol === "}" || symbol === "<eos>";
      assert.equal(forced, expected, `${example.response}: symbol ${i} (${symbol})`);
    });
    // Prompt tokens are never forced.
    for (let t = 0; t < start; t++) assert.equal(pair.forced![t], 0);
  }
  assert.ok(noisySeparators > 0, "some separators carry noise and are not forced");
});

Deno.test("encodeExample() marks no response token when decoding does not give back the response", () => {
  const inner = new SymbolTokenizer(["a", "b"]);
  // A tokenizer that normalizes: its decoding upper-cases, so character spans cannot be placed.
  const shouting: Tokenizer = {
    vocabSize: inner.vocabSize,
    eosId: inner.eosId,
    padId: inner.padId,
    encode: (text) => inner.encode(text),
    decode: (ids) => inner.decode(ids).toUpperCase(),
  };
  const example = { prompt: "a", response: "a b", forced: { spans: [[0, 1]] as const, eos: true } };
  const pair = encodeExample(example, shouting, "test");
  assert.deepEqual(Array.from(pair.forced!), [0, 0, 0, 1]);
  const plain = encodeExample(example, inner, "test");
  // <bos> a | a b <eos>: the first response token is forced, the second is not, <eos> is.
  assert.deepEqual(Array.from(plain.forced!).slice(-3), [1, 0, 1]);
});

Deno.test("placeOnContinuum() reports the distance to the nearest cut-off and flags knife edges", () => {
  const t = regimeThresholds;
  const strong = placeOnContinuum(0.9, 0.72);
  assert.equal(strong.regime, "model-strong");
  assert.ok(Math.abs(strong.cutoffDistance - 0.02) < 1e-12);
  assert.equal(strong.nearestCutoff, `share ≥ ${t.strongShare}`);
  assert.equal(strong.knifeEdge, true);
  const weak = placeOnContinuum(0.02, 0);
  assert.equal(weak.regime, "model-weak");
  assert.ok(Math.abs(weak.cutoffDistance - 0.08) < 1e-12);
  assert.equal(weak.knifeEdge, false);
  // Intermediate short of the strong end on the share alone: the distance is that shortfall.
  const middle = placeOnContinuum(0.75, 0.6);
  assert.equal(middle.regime, "intermediate");
  assert.ok(Math.abs(middle.cutoffDistance - 0.1) < 1e-12);
  assert.equal(middle.nearestCutoff, `share ≥ ${t.strongShare}`);
  const edge = placeOnContinuum(0.683, 0.8);
  assert.equal(edge.regime, "intermediate");
  assert.ok(edge.cutoffDistance < knifeEdgeMargin && edge.knifeEdge);
  assert.match(edge.reason, /knife edge/);
  // A sampled probe: within two standard errors is a knife edge too.
  assert.equal(placeOnContinuum(0.4, 0.3, 0.2).knifeEdge, true);
  assert.equal(placeOnContinuum(0.4, 0.3, 0.01).knifeEdge, false);
});

Deno.test("probeSample() draws distinct ascending indices, all of them without a sample size", () => {
  assert.deepEqual(probeSample(5), [0, 1, 2, 3, 4]);
  const sample = probeSample(1000, { samplePairs: 100, seed: 3 });
  assert.equal(new Set(sample).size, 100);
  assert.deepEqual(sample, [...sample].sort((a, b) => a - b));
  assert.deepEqual(sample, probeSample(1000, { samplePairs: 100, seed: 3 }));
  assert.notDeepEqual(sample, probeSample(1000, { samplePairs: 100, seed: 4 }));
});

Deno.test("probe() on a sample reports a standard error that covers the whole set's value", async () => {
  const data = generateTeacher({
    dim: 16,
    labels: 10,
    sftExamples: 2000,
    testItems: 20,
    corpusDocuments: 10,
    labelNoise: 0.3,
    teacherScale: 3,
    samples: 1,
    teacherSeed: 7,
    featureSeed: 11,
  }, 0);
  const model = await Effect.runPromise(
    linearSoftmaxBackbone.make({
      capability: 2,
      initStd: 1,
      pretrainSteps: 0,
      lr: 0.1,
      batchSize: 32,
      contextLength: 8,
    }, { seed: 0, domain: data, cacheDir: "unused", log() {} }),
  );
  try {
    const pairs = encodePairs(data.sft, model.tokenizer, model.contextLength, "teacher");
    const all = probe(model, pairs, { batchSize: 64 }).result;
    assert.deepEqual(all.pairs, { read: 2000, of: 2000 });
    assert.equal(all.meanPStandardError, 0);
    assert.equal(all.forced.tokens, 2000);
    assert.equal(all.tokens, 2000);
    let covered = 0;
    for (let seed = 0; seed < 20; seed++) {
      const part = probe(model, pairs, { samplePairs: 200, seed }).result;
      assert.deepEqual(part.pairs, { read: 200, of: 2000 });
      assert.ok(part.meanPStandardError > 0 && part.shareStandardError > 0);
      if (Math.abs(part.meanP - all.meanP) <= 2 * part.meanPStandardError) covered++;
    }
    // About 95% of 2-standard-error intervals cover the whole set's value.
    assert.ok(covered >= 15, `${covered} of 20 intervals covered the full value`);
  } finally {
    model.dispose();
  }
});

Deno.test("the cipher domain marks only its end token as forced", () => {
  const data = generateCipher({
    sftExamples: 50,
    testItems: 10,
    corpusDocuments: 5,
    minLetters: 3,
    maxLetters: 5,
    glyphsPerLetter: 2,
    similarity: false,
    samples: 0,
    cipherSeed: 42,
    testSeed: 999,
    corpusSeed: 1000,
  }, 0);
  const tokenizer = new SymbolTokenizer(data.symbols!);
  for (const example of data.sft) {
    const pair = encodeExample(example, tokenizer, "test");
    const marked = Array.from(pair.forced!).flatMap((m, i) => (m ? [i] : []));
    assert.deepEqual(marked, [pair.ids.length - 1]);
  }
});
